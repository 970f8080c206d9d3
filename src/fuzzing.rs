//! The fuzz targets' bodies: one function per decoder that takes outside bytes, each
//! checking that nothing panics and what decodes behaves. `fuzz/fuzz_targets/*` call
//! them under libFuzzer (`ci/fuzz`), and `tests/t02_fuzz_corpora.rs` replays the
//! checked-in corpora (`fuzz/corpus-seed/<target>/`) through them on every `cargo
//! test`, so a finding that became a corpus file stays a regression test.
//!
//! Not an API: the names and inputs change with the targets.

use bincode::Options;
use prost::Message;

use crate::apply::{ApplyLimits, KvState, Request};
use crate::mvcc::KvStore;
use crate::proto::etcdserverpb as pb;
use crate::server::convert;

/// A target's body: any bytes in, a panic on a finding.
pub type Target = fn(&[u8]);

/// Every target, by name (the fuzz binary and corpus directory names).
pub const TARGETS: &[(&str, Target)] = &[
    ("record_decode", record_decode),
    ("snapshot_decode", snapshot_decode),
    ("snapshot_restore", snapshot_restore),
    ("kv_apply", kv_apply),
    ("peer_message", peer_message),
    ("config_parse", config_parse),
    #[cfg(not(madsim))]
    ("h2_authority", h2_authority),
    #[cfg(not(madsim))]
    ("http_input", http_input),
];

/// WAL frames: decoding never panics, and whatever decodes re-encodes to its bytes.
pub fn record_decode(data: &[u8]) {
    use crate::storage::record::{decode_frame, encode_frame};
    if let Ok(frame) = decode_frame(data) {
        let mut out = Vec::new();
        encode_frame(&mut out, frame.kind, frame.index, frame.payload);
        assert_eq!(&data[..out.len()], &out[..]);
    }
}

/// MVCC snapshot images: a decoded store re-encodes to an image that decodes to the
/// same store.
pub fn snapshot_decode(data: &[u8]) {
    if let Ok(store) = KvStore::decode_snapshot(data) {
        let again =
            KvStore::decode_snapshot(&store.encode_snapshot()).expect("a re-encoded snapshot decodes");
        assert_eq!(store, again);
        assert_eq!(store.hash(), again.hash());
    }
}

/// etcd snapshot files (bbolt + sha256 trailer) into a state, as `snapshot restore`.
pub fn snapshot_restore(data: &[u8]) {
    use crate::storage::bbolt_read::read_buckets;
    use crate::storage::etcd_import::{import_etcd_db, split_snapshot_file, ImportOptions};
    let Ok(db) = split_snapshot_file(data, true) else { return };
    let Ok(buckets) = read_buckets(db) else { return };
    if let Ok(imported) = import_etcd_db(&buckets, ApplyLimits::default(), ImportOptions::default()) {
        let image = imported.state.encode();
        let back = KvState::decode(&image, ApplyLimits::default()).expect("a restored state decodes");
        assert_eq!(back.kv, imported.state.kv);
    }
}

/// Requests as clients and peers send them, applied to one state in turn: gRPC
/// messages (protobuf) through the server's conversion and checks, and the raft
/// log's own requests (bincode, what a peer's Propose carries). The state machine
/// never panics, revisions never go back, and after every request the state's
/// snapshot decodes to the same store.
///
/// Input: records of `[kind][len: u8][len bytes]`.
pub fn kv_apply(data: &[u8]) {
    let limits = ApplyLimits::default();
    let mut state = KvState::new(limits);
    let mut rest = data;
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (body, next) = tail.split_at(len);
        rest = next;
        let before = state.kv.current_revision();
        let request = match kind % 6 {
            0 => pb::PutRequest::decode(body)
                .ok()
                .map(convert::put_request_from_pb)
                .filter(|r| crate::mvcc::check_put_request(r).is_ok())
                .map(Request::Put),
            1 => pb::DeleteRangeRequest::decode(body)
                .ok()
                .map(convert::delete_range_request_from_pb)
                .filter(|r| crate::mvcc::check_delete_request(r).is_ok())
                .map(Request::DeleteRange),
            2 => pb::TxnRequest::decode(body)
                .ok()
                .and_then(|r| convert::txn_request_from_pb(r).ok())
                .filter(|r| crate::mvcc::check_txn(r, limits.max_txn_ops).is_ok())
                .map(Request::Txn),
            3 => pb::CompactionRequest::decode(body).ok().map(|c| Request::Compact { revision: c.revision }),
            4 => {
                if let Some(r) =
                    pb::RangeRequest::decode(body).ok().and_then(|r| convert::range_request_from_pb(r).ok())
                {
                    let _ = state.kv.range(&r);
                }
                None
            }
            _ => bincode::DefaultOptions::new()
                .with_fixint_encoding()
                .with_limit(4096)
                .deserialize::<Request>(body)
                .ok(),
        };
        if let Some(request) = request {
            let _ = state.apply(&request);
        }
        assert!(state.kv.current_revision() >= before, "the revision went back");
        let image = state.encode();
        let back = KvState::decode(&image, limits).expect("the state's own snapshot decodes");
        assert_eq!(back.kv, state.kv);
    }
}

/// Peer RPC payloads (bincode of raft and member messages) from a hostile or broken
/// peer: decoding never panics. `data[0]` picks the message.
pub fn peer_message(data: &[u8]) {
    use crate::raft::network::decode;
    use crate::raft::types::TypeConfig;
    let Some((kind, body)) = data.split_first() else { return };
    match kind % 6 {
        0 => drop(decode::<openraft::raft::AppendEntriesRequest<TypeConfig>>(body)),
        1 => drop(decode::<openraft::raft::VoteRequest<TypeConfig>>(body)),
        2 => drop(decode::<Request>(body)),
        3 => drop(decode::<crate::raft::types::SnapshotMeta>(body)),
        4 => drop(decode::<openraft::raft::TransferLeaderRequest<TypeConfig>>(body)),
        _ => drop(decode::<crate::raft::types::Vote>(body)),
    }
}

/// Flags and `ETCD_*` variables (arguments are the input's lines), and etcd's YAML
/// config file (the whole input): parsing never panics.
pub fn config_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text.lines().map(str::to_string).collect();
    let no_env = |_: &str| None;
    let _ = crate::config::parse(&args, &no_env);
    // The same lines as environment variables (`NAME=value`).
    let env: Vec<(String, String)> =
        text.lines().filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let _ = crate::config::parse(&[], &lookup);
    // The whole input as etcd's YAML config file.
    let args = ["--config-file".to_string(), "fuzz.yaml".to_string()];
    let _ = crate::config::load(&args, &no_env, &|_| Ok(text.to_string()));
}

/// The HTTP/2 `:authority` rewriter: any client bytes, split anywhere, never panic,
/// and the bytes it passes on do not depend on where the reads split them.
/// `data[0]` sets the split size (1 to 16 bytes).
#[cfg(not(madsim))]
pub fn h2_authority(data: &[u8]) {
    use crate::server::h2_authority::Rewriter;
    let Some((step, input)) = data.split_first() else { return };
    let step = usize::from(step % 16) + 1;
    let run = |pieces: &mut dyn Iterator<Item = &[u8]>| -> Option<Vec<u8>> {
        let mut rw = Rewriter::new();
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        let mut drain = |rw: &mut Rewriter, out: &mut Vec<u8>| loop {
            let mut dst = tokio::io::ReadBuf::new(&mut buf);
            if rw.take(&mut dst) == 0 {
                break;
            }
            out.extend_from_slice(dst.filled());
        };
        for piece in pieces {
            rw.push(piece);
            // A protocol error ends the connection: the outputs agree up to it.
            rw.process().ok()?;
            drain(&mut rw, &mut out);
        }
        rw.finish();
        drain(&mut rw, &mut out);
        Some(out)
    };
    let whole = run(&mut std::iter::once(input));
    let split = run(&mut input.chunks(step));
    if let (Some(whole), Some(split)) = (whole, split) {
        assert_eq!(whole, split, "the rewrite depends on where the input was split ({step}-byte reads)");
    }
}

/// What the HTTP faces parse from a request: the JSON gateway's request bodies
/// (every unary request type, and a stream of watch requests), and the REST face's
/// keys, query values and precondition headers. `data[0]` picks the parser.
#[cfg(not(madsim))]
pub fn http_input(data: &[u8]) {
    use crate::server::http::{gateway, rest};
    let Some((kind, body)) = data.split_first() else { return };
    match kind % 4 {
        0 => gateway::fuzz_decode(body),
        1 => {
            if let Ok(text) = std::str::from_utf8(body) {
                if let Ok(key) = rest::percent_decode(text) {
                    assert!(key.len() <= text.len(), "decoding never grows");
                }
            }
        }
        2 => {
            let mut headers = tonic::codegen::http::HeaderMap::new();
            if let Ok(v) = tonic::codegen::http::HeaderValue::from_bytes(body) {
                headers.insert(tonic::codegen::http::header::IF_MATCH, v.clone());
                let _ = rest::precondition(&headers);
                headers.insert(tonic::codegen::http::header::IF_NONE_MATCH, v);
                assert!(rest::precondition(&headers).is_err(), "both headers at once are refused");
            }
        }
        _ => {
            let end = crate::server::concurrency::prefix_end(body);
            assert!(end.as_slice() > body || end == [0], "a prefix's end sorts after it");
        }
    }
}
