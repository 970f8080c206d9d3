//! Core micro-benchmarks (run: `cargo bench --bench core`): MVCC put and range
//! throughput, and WAL group-commit throughput on the real disk. Prints ops/s; no
//! assertions (speed is measured here, never in tests).

#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock and a temp dir

use std::sync::Arc;
use std::time::Instant;

use metastore::env::fs_disk::FsDisk;
use metastore::mvcc::{KvStore, PutRequest, RangeRequest};
use metastore::storage::{Wal, WalOptions};

fn report(name: &str, ops: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!("{name:<40} {ops:>9} ops in {secs:>7.3} s = {:>12.0} ops/s", ops as f64 / secs);
}

fn mvcc_put(n: u64) -> KvStore {
    let mut store = KvStore::new();
    let start = Instant::now();
    for i in 0..n {
        let req = PutRequest {
            key: format!("key/{:08}", i % 10_000).into_bytes(),
            value: vec![b'v'; 128],
            ..Default::default()
        };
        let _ = store.put(&req, &|_| false);
    }
    report("mvcc put (10k keys, 128 B values)", n, start);
    store
}

fn mvcc_range(store: &KvStore, n: u64) {
    let start = Instant::now();
    for i in 0..n {
        let req = RangeRequest { key: format!("key/{:08}", i % 10_000).into_bytes(), ..Default::default() };
        let _ = store.range(&req);
    }
    report("mvcc range (single key)", n, start);
}

fn wal_group_commit(batch: u64, batches: u64) {
    let dir = std::env::temp_dir().join(format!("metastore-bench-wal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let disk: Arc<dyn metastore::env::Disk> = Arc::new(FsDisk::new());
    let Ok((mut wal, _)) = Wal::open(disk, &dir, WalOptions::default()) else {
        println!("wal: cannot open {}", dir.display());
        return;
    };
    let payload = vec![7u8; 256];
    let start = Instant::now();
    for b in 0..batches {
        for i in 0..batch {
            let _ = wal.append(1, b * batch + i, &payload);
        }
        let _ = wal.sync();
    }
    report(&format!("wal append+fdatasync (batch {batch}, 256 B)"), batch * batches, start);
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let store = mvcc_put(200_000);
    mvcc_range(&store, 200_000);
    wal_group_commit(1, 200);
    wal_group_commit(64, 200);
}
