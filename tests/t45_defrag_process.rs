//! Defragment really gives disk back: a member whose raft log spans several WAL
//! segments (64 MiB each) keeps one segment's worth after Defragment, answers with
//! the data unchanged, and a restart afterwards (snapshot + what is left of the log)
//! loses nothing. Status's dbSize is the bytes on disk throughout (compaction alone
//! gives none back, defragment does); dbSizeInUse the data held (compaction shrinks it).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;

use support::cluster::connect;
use support::Proc;

const VALUE_BYTES: usize = 1 << 20;
const PUTS: usize = 80;

/// Bytes of the WAL segments under a data dir.
fn wal_bytes(data_dir: &Path) -> u64 {
    let dir = data_dir.join("member").join("wal");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Bytes of the snapshot files under a data dir.
fn snap_bytes(data_dir: &Path) -> u64 {
    let dir = data_dir.join("member").join("snap");
    std::fs::read_dir(&dir)
        .map(|entries| {
            entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum()
        })
        .unwrap_or(0)
}

/// Status's (dbSize, dbSizeInUse).
async fn sizes(c: &mut etcd_client::Client) -> (u64, u64) {
    let s = c.status().await.expect("status");
    (s.db_size() as u64, s.raft_used_db_size() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defragment_drops_the_log_a_fresh_snapshot_covers() {
    let dir = support::temp_dir("defrag");
    let mut node = Proc::start(&dir, &["--snapshot-count", "1000000"]);
    let mut c = connect(&node).await;
    for i in 0..PUTS {
        c.put(format!("k{}", i % 4), vec![b'a' + (i % 26) as u8; VALUE_BYTES], None).await.expect("put");
    }
    c.put("last", "v", None).await.expect("put");
    let before = wal_bytes(&dir);
    assert!(before > (PUTS * VALUE_BYTES) as u64, "the log should hold every put: {before} bytes");

    let (db_before, in_use_before) = sizes(&mut c).await;
    assert_eq!(db_before, before + snap_bytes(&dir), "dbSize is the bytes on disk");
    let last = c.put("last", "v", None).await.expect("put").header().expect("header").revision();
    c.compact(last, None).await.expect("compact");
    let (db_compacted, in_use_compacted) = sizes(&mut c).await;
    assert!(
        in_use_compacted < in_use_before / 4,
        "in use after compaction: {in_use_compacted} of {in_use_before}"
    );
    assert!(db_compacted >= db_before, "compaction alone gives no disk back (as etcd's)");

    c.maintenance_client().defragment().await.expect("defragment");
    let after = wal_bytes(&dir);
    assert!(after < before / 2, "defragment kept {after} of {before} WAL bytes");
    let (db_after, in_use_after) = sizes(&mut c).await;
    assert_eq!(db_after, after + snap_bytes(&dir), "dbSize is the bytes on disk");
    assert!(db_after < db_before / 2, "dbSize after defragment: {db_after} of {db_before}");
    assert_eq!(in_use_after, in_use_compacted, "defragment keeps the data");
    let got = c.get("k3", None).await.expect("get");
    assert_eq!(got.kvs()[0].value(), vec![b'a' + ((PUTS - 1) % 26) as u8; VALUE_BYTES].as_slice());

    node.terminate();
    node.restart(&["--snapshot-count", "1000000"]);
    let mut c = connect(&node).await;
    let got = c.get("last", None).await.expect("get after restart");
    assert_eq!(got.kvs()[0].value(), b"v");
    assert_eq!(got.header().expect("header").revision(), (PUTS + 3) as i64, "revision after restart");
    let got = c.get("k0", None).await.expect("get after restart");
    assert_eq!(got.kvs()[0].value(), vec![b'a' + ((PUTS - 4) % 26) as u8; VALUE_BYTES].as_slice());
}
