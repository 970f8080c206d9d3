//! MVCC micro-benchmarks (criterion; numbers in docs/performance.md):
//!
//! - `mvcc_put/new_key`: a put of a key the store has never seen (the store holds
//!   100k..1M keys of 128 B values).
//! - `mvcc_put/overwrite`: a put over one of 10k live keys (history compacted before
//!   each sample, so each key holds a handful of versions).
//! - `mvcc_range/single_key`, `mvcc_range/prefix_100`: a read of one key, and of a
//!   prefix holding 100 keys, out of 10k.
//! - `mvcc_txn/cas_mod_revision_put`: Kubernetes' optimistic update,
//!   `if mod_revision(k) == r then put(k) else get(k)`, on the success path; and
//!   `cas_stale_get`, the failure path (a stale `r`: the txn only reads).
//!
//! Requests are built before the timer starts (`iter_custom`): only the store's work
//! is measured, including dropping its response.

// A benchmark reads the wall clock (criterion's iter_custom measures with Instant).
#![allow(clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{cas_txn, put_req};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use metastore::mvcc::{KvStore, RangeRequest};

const LIVE_KEYS: usize = 10_000;
const MAX_TXN_OPS: usize = 128;

fn no_lease(_: i64) -> bool {
    false
}

fn key(i: usize) -> Vec<u8> {
    format!("/registry/pods/default/pod-{i:08}").into_bytes()
}

/// A store holding `keys` keys (one version each), written in order.
fn filled_store(keys: usize) -> KvStore {
    let mut store = KvStore::new();
    for i in 0..keys {
        store.put(&put_req(key(i)), &no_lease).expect("fill put");
    }
    store
}

/// Forget all history (keeps each sample's per-key version count small, as etcd's
/// periodic compaction does).
fn compact_all(store: &mut KvStore) {
    if store.current_revision() > store.compact_revision() {
        store.compact(store.current_revision()).expect("compact before a sample");
    }
}

/// Time `op` over requests made by `make`, built before the timer starts.
fn timed<R>(iters: u64, mut make: impl FnMut() -> R, mut op: impl FnMut(R)) -> Duration {
    let reqs: Vec<R> = (0..iters).map(|_| make()).collect();
    let start = Instant::now();
    for req in reqs {
        op(req);
    }
    start.elapsed()
}

fn bench_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("mvcc_put");
    group.throughput(Throughput::Elements(1));

    const NEW_KEYS_FROM: usize = 100_000;
    const NEW_KEYS_UNTIL: usize = 1_000_000;
    let mut store = filled_store(NEW_KEYS_FROM);
    let mut next_key = NEW_KEYS_FROM;
    group.bench_function("new_key", |b| {
        b.iter_custom(|iters| {
            if store.key_count() + iters as usize > NEW_KEYS_UNTIL {
                store = filled_store(NEW_KEYS_FROM);
                next_key = NEW_KEYS_FROM;
            }
            let make = || {
                next_key += 1;
                put_req(key(next_key))
            };
            timed(iters, make, |req| drop(black_box(store.put(&req, &no_lease))))
        })
    });

    let mut store = filled_store(LIVE_KEYS);
    let mut cursor = 0;
    group.bench_function("overwrite", |b| {
        b.iter_custom(|iters| {
            compact_all(&mut store);
            let make = || {
                cursor = (cursor + 1) % LIVE_KEYS;
                put_req(key(cursor))
            };
            timed(iters, make, |req| drop(black_box(store.put(&req, &no_lease))))
        })
    });
    group.finish();
}

fn bench_range(c: &mut Criterion) {
    let mut group = c.benchmark_group("mvcc_range");
    group.throughput(Throughput::Elements(1));

    let store = filled_store(LIVE_KEYS);
    let mut cursor = 0;
    group.bench_function("single_key", |b| {
        b.iter_custom(|iters| {
            let make = || {
                cursor = (cursor + 7919) % LIVE_KEYS;
                RangeRequest { key: key(cursor), ..Default::default() }
            };
            timed(iters, make, |req| drop(black_box(store.range(&req))))
        })
    });

    // key(i) for i in [100 p, 100 p + 100) share the prefix key(100 p) minus its last
    // two digits: `.../pod-000012` holds pods 1200..1299.
    let prefixes = LIVE_KEYS / 100;
    let prefix_req = |p: usize| {
        let mut prefix = key(p * 100);
        prefix.truncate(prefix.len() - 2);
        let mut range_end = prefix.clone();
        *range_end.last_mut().expect("non-empty prefix") += 1;
        RangeRequest { key: prefix, range_end, ..Default::default() }
    };
    let check = store.range(&prefix_req(12)).expect("prefix range");
    assert_eq!(check.count, 100, "a prefix holds 100 keys");
    let mut cursor = 0;
    group.bench_function(BenchmarkId::new("prefix", 100), |b| {
        b.iter_custom(|iters| {
            let make = || {
                cursor = (cursor + 37) % prefixes;
                prefix_req(cursor)
            };
            timed(iters, make, |req| drop(black_box(store.range(&req))))
        })
    });
    group.finish();
}

fn bench_txn(c: &mut Criterion) {
    let mut group = c.benchmark_group("mvcc_txn");
    group.throughput(Throughput::Elements(1));

    let mut store = filled_store(LIVE_KEYS);
    // filled_store put key(i) at revision i + 2.
    let mut mod_revisions: Vec<i64> = (0..LIVE_KEYS as i64).map(|i| i + 2).collect();
    let mut cursor = 0;
    group.bench_function("cas_mod_revision_put", |b| {
        b.iter_custom(|iters| {
            compact_all(&mut store);
            // Each txn succeeds and takes the next revision: predict it while building.
            let mut revision = store.current_revision();
            let make = || {
                cursor = (cursor + 1) % LIVE_KEYS;
                let req = cas_txn(key(cursor), mod_revisions[cursor]);
                revision += 1;
                mod_revisions[cursor] = revision;
                req
            };
            let elapsed = timed(iters, make, |req| {
                let (resp, _events) = store.txn(&req, MAX_TXN_OPS, &no_lease).expect("txn");
                debug_assert!(resp.succeeded);
                black_box(resp);
            });
            assert_eq!(store.current_revision(), revision, "every CAS succeeded");
            elapsed
        })
    });

    group.bench_function("cas_stale_get", |b| {
        b.iter_custom(|iters| {
            let make = || {
                cursor = (cursor + 1) % LIVE_KEYS;
                cas_txn(key(cursor), 1)
            };
            timed(iters, make, |req| drop(black_box(store.txn(&req, MAX_TXN_OPS, &no_lease))))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_put, bench_range, bench_txn);
criterion_main!(benches);
