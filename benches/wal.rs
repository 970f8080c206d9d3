//! WAL micro-benchmark on the real disk (criterion; numbers in docs/performance.md):
//! `wal_group_commit/records/{1,10,100}` appends a batch of ~300 B records (a raft
//! entry holding a small put) and makes it durable with one write + fdatasync
//! (`Wal::sync`), through `env::fs_disk::FsDisk`. Throughput is records/s.
//!
//! The WAL lives in a fresh directory under `std::env::temp_dir()` (so on whatever
//! device that is: set TMPDIR to measure another one), removed at the end.

// A benchmark makes and removes its own temp dir with std::fs; FsDisk does the rest.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use metastore::env::fs_disk::FsDisk;
use metastore::env::Disk;
use metastore::storage::{Wal, WalOptions};

const RECORD_PAYLOAD_BYTES: usize = 300;
/// Any kind byte: the WAL does not interpret it.
const RECORD_KIND: u8 = 1;

/// A temp dir that removes itself, also when a benchmark panics.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("metastore-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench_wal(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_group_commit");
    // An fdatasync takes milliseconds on a VM disk: fewer, longer samples.
    group.sample_size(20);
    let tmp = TempDir::new("wal");
    let disk: Arc<dyn Disk> = Arc::new(FsDisk::new());
    let (mut wal, replayed) = Wal::open(disk, &tmp.0, WalOptions::default()).expect("open the WAL");
    assert!(replayed.is_empty(), "a fresh WAL dir");
    let payload = vec![0x5a_u8; RECORD_PAYLOAD_BYTES];
    let mut index = 0_u64;

    for batch in [1_u64, 10, 100] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(BenchmarkId::new("records", batch), |b| {
            b.iter(|| {
                for _ in 0..batch {
                    index += 1;
                    wal.append(RECORD_KIND, index, &payload).expect("append");
                }
                let report = wal.sync().expect("write + fdatasync");
                assert_eq!(report.records as u64, batch);
            })
        });
    }
    group.finish();
    let stats = wal.stats();
    println!("wal: {} segment(s) written under {}", stats.segment_count, tmp.0.display());
}

criterion_group!(benches, bench_wal);
criterion_main!(benches);
