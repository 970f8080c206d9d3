//! Every fuzz target's checked-in corpus (`fuzz/seeds/<target>/*`) replayed through
//! the target's body (`metastore::fuzzing`): seeds, and every finding saved there as
//! a regression case, are checked on each `cargo test`, without libFuzzer. `ci/fuzz`
//! runs the same bodies under libFuzzer.
//!
//! The seeds are written by `write_seeds` below (ignored: run it by hand with
//! `cargo test --test t02_fuzz_corpora -- --ignored` after changing a format).

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use metastore::fuzzing::TARGETS;

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds")
}

#[test]
fn every_target_has_a_fuzz_binary_and_seeds() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
        .expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "no fuzz binary for {name}");
        let dir = seeds_dir().join(name);
        let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(n > 0, "no seeds in {}", dir.display());
    }
}

#[test]
fn corpora_replay_clean() {
    let mut replayed = 0;
    for (name, body) in TARGETS {
        let dir = seeds_dir().join(name);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries.map(|e| e.expect("dir entry").path()).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("read seed");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(
                outcome.is_ok(),
                "{name}: {} fails (replay: ci/fuzz {name} --replay {})",
                file.display(),
                file.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len(), "only {replayed} corpus files");
}

/// Writes valid inputs of each format as seeds (kept small: the fuzzer mutates them).
#[test]
#[ignore]
fn write_seeds() {
    use metastore::apply::{ApplyLimits, KvState, Request};
    use metastore::mvcc::{DeleteRangeRequest, PutRequest};
    use metastore::proto::etcdserverpb as pb;
    use prost::Message;

    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = seeds_dir().join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let put = |k: &str, v: &str| PutRequest { key: k.into(), value: v.into(), ..Default::default() };

    // WAL frames.
    let mut frame = Vec::new();
    metastore::storage::record::encode_frame(&mut frame, 1, 7, b"payload");
    write("record_decode", "frame", &frame);

    // MVCC and state images.
    let mut state = KvState::new(ApplyLimits::default());
    state.apply(&Request::Put(put("a", "1")));
    state.apply(&Request::Put(put("b", "2")));
    state.apply(&Request::DeleteRange(DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() }));
    state.apply(&Request::Put(put("a", "3")));
    write("snapshot_decode", "store", &state.kv.encode_snapshot());

    // An etcd 3.4 snapshot file (bbolt + sha256).
    let etcd = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/testdata/etcd-3.4.23.snapshot"),
    )
    .expect("etcd snapshot fixture");
    write("snapshot_restore", "etcd-3.4.23", &etcd);

    // kv_apply records: [kind][len][body].
    let mut records = Vec::new();
    let mut record = |kind: u8, body: Vec<u8>| {
        records.push(kind);
        records.push(body.len() as u8);
        records.extend_from_slice(&body);
    };
    record(
        0,
        pb::PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() }.encode_to_vec(),
    );
    record(
        0,
        pb::PutRequest { key: b"k2".to_vec(), value: b"w".to_vec(), prev_kv: true, ..Default::default() }
            .encode_to_vec(),
    );
    let txn = pb::TxnRequest {
        compare: vec![pb::Compare {
            key: b"k".to_vec(),
            target: pb::compare::CompareTarget::Version as i32,
            result: pb::compare::CompareResult::Greater as i32,
            target_union: Some(pb::compare::TargetUnion::Version(0)),
            ..Default::default()
        }],
        success: vec![pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                key: b"t".to_vec(),
                value: b"x".to_vec(),
                ..Default::default()
            })),
        }],
        failure: vec![],
    };
    record(2, txn.encode_to_vec());
    record(
        4,
        pb::RangeRequest { key: b"\0".to_vec(), range_end: b"\0".to_vec(), ..Default::default() }
            .encode_to_vec(),
    );
    record(1, pb::DeleteRangeRequest { key: b"k".to_vec(), ..Default::default() }.encode_to_vec());
    record(3, pb::CompactionRequest { revision: 3, physical: false }.encode_to_vec());
    record(5, bincode::serialize(&Request::LeaseGrant { id: 5, ttl_s: 10 }).unwrap());
    write("kv_apply", "mixed", &records);

    // Peer messages.
    let mut propose = vec![2u8];
    propose.extend(bincode::serialize(&Request::Put(put("p", "q"))).unwrap());
    write("peer_message", "propose", &propose);

    // Flags, environment and a config file.
    write(
        "config_parse",
        "flags",
        b"--name\nm1\n--listen-client-urls\nhttp://127.0.0.1:2379\n--snapshot-count=100\nETCD_DEBUG=true\n",
    );
    write("config_parse", "yaml", b"name: m1\ndata-dir: /tmp/x\nclient-transport-security:\n  cert-file: a.crt\n  key-file: a.key\nquota-backend-bytes: 1024\n");

    // HTTP/2 with prior knowledge: preface, SETTINGS, a HEADERS frame (literal
    // :authority), split into 3-byte reads.
    let mut h2 = vec![2u8];
    h2.extend_from_slice(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let block: &[u8] = &[
        0x83, 0x86, 0x41, 0x0e, b'1', b'2', b'7', b'.', b'0', b'.', b'0', b'.', b'1', b':', b'2', b'3', b'7',
        b'9', 0x84,
    ];
    h2.extend_from_slice(&[0, 0, block.len() as u8, 1, 4 | 1, 0, 0, 0, 1]);
    h2.extend_from_slice(block);
    write("h2_authority", "preface-headers", &h2);

    // Gateway JSON ([0][chunk size][body]; a stream of watch requests too), REST inputs.
    write("http_input", "json-put", b"\x00\x05{\"key\":\"Zm9v\",\"value\":\"YmFy\",\"lease\":\"7\"}");
    write("http_input", "json-watch-stream", b"\x00\x03{\"create_request\":{\"key\":\"YQ==\",\"range_end\":\"AA==\"}} {\"cancel_request\":{\"watch_id\":\"1\"}} null");
    write("http_input", "percent", b"\x01dir/a%20b%2Fc");
    write("http_input", "if-match", b"\x02W/\"12\"");
    write("http_input", "prefix", b"\x03a\xff");
}
