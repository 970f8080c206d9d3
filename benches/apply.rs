//! State-machine micro-benchmarks (criterion; numbers in docs/performance.md): what a
//! member does with entries once raft committed them.
//!
//! - `apply/puts/100`: 100 committed puts (overwrites of 10k keys, 128 B values)
//!   through `apply::KvState::apply_with_events` and `WatchHub::notify` with no
//!   watchers, as `raft::state_machine` applies them (minus its locks).
//! - `apply/cas_txns/100`: the same with Kubernetes' compare-mod_revision-then-put txns.
//! - `watch_fanout/notify/*`: one put delivered to 1,000 watchers of its key, on one
//!   stream or on 1,000 streams (one watcher each); `notify_take/*` also drains every
//!   stream as the gRPC side does.

// A benchmark reads the wall clock (criterion's iter_custom measures with Instant).
#![allow(clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{cas_txn, put_req, VALUE_BYTES};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use metastore::apply::{ApplyLimits, KvState, Request};
use metastore::mvcc::{Event, EventType, KeyValue};
use metastore::watch::{HubConfig, StreamId, WatchCreateRequest, WatchHub};

const LIVE_KEYS: usize = 10_000;
const BATCH: usize = 100;
const WATCHERS: usize = 1_000;
/// What the gRPC side passes to `take`: etcd's default request limit plus overhead.
const MAX_RESPONSE_BYTES: usize = 2 << 20;

fn key(i: usize) -> Vec<u8> {
    format!("/registry/pods/default/pod-{i:08}").into_bytes()
}

/// A state machine holding key(i) for every i < LIVE_KEYS (put at revision i + 2),
/// and its watch hub.
fn filled() -> (KvState, WatchHub) {
    let mut state = KvState::new(ApplyLimits::default());
    for i in 0..LIVE_KEYS {
        state.apply(&Request::Put(put_req(key(i)))).result.expect("fill put");
    }
    let hub = WatchHub::new(HubConfig::default(), state.kv.current_revision());
    (state, hub)
}

/// Apply a batch as `raft::state_machine::apply_normal` does: apply, then notify.
fn apply_batch(state: &mut KvState, hub: &mut WatchHub, batch: &[Request]) {
    for req in batch {
        let (applied, events) = state.apply_with_events(req);
        black_box(&applied);
        if !events.is_empty() {
            hub.notify(applied.revision, &events).expect("notify in revision order");
        }
    }
}

/// Compact all history through the state machine (untimed, between samples).
fn compact_all(state: &mut KvState) {
    let revision = state.kv.current_revision();
    if revision > state.kv.compact_revision() {
        state.apply(&Request::Compact { revision }).result.expect("compact");
    }
}

fn bench_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply");
    group.throughput(Throughput::Elements(BATCH as u64));

    let (mut state, mut hub) = filled();
    let mut cursor = 0;
    group.bench_function(BenchmarkId::new("puts", BATCH), |b| {
        b.iter_custom(|iters| {
            compact_all(&mut state);
            let mut make = || {
                cursor = (cursor + 1) % LIVE_KEYS;
                Request::Put(put_req(key(cursor)))
            };
            let batches: Vec<Vec<Request>> =
                (0..iters).map(|_| (0..BATCH).map(|_| make()).collect()).collect();
            let start = Instant::now();
            for batch in batches {
                apply_batch(&mut state, &mut hub, &batch);
            }
            start.elapsed()
        })
    });

    let (mut state, mut hub) = filled();
    let mut mod_revisions: Vec<i64> = (0..LIVE_KEYS as i64).map(|i| i + 2).collect();
    group.bench_function(BenchmarkId::new("cas_txns", BATCH), |b| {
        b.iter_custom(|iters| {
            compact_all(&mut state);
            let mut revision = state.kv.current_revision();
            let mut make = || {
                cursor = (cursor + 1) % LIVE_KEYS;
                let req = Request::Txn(cas_txn(key(cursor), mod_revisions[cursor]));
                revision += 1;
                mod_revisions[cursor] = revision;
                req
            };
            let batches: Vec<Vec<Request>> =
                (0..iters).map(|_| (0..BATCH).map(|_| make()).collect()).collect();
            let start = Instant::now();
            for batch in batches {
                apply_batch(&mut state, &mut hub, &batch);
            }
            let elapsed = start.elapsed();
            assert_eq!(state.kv.current_revision(), revision, "every CAS succeeded");
            elapsed
        })
    });
    group.finish();
}

/// A hub with WATCHERS watchers of `key`, spread evenly over `streams` streams.
fn hub_with_watchers(key: &[u8], streams: usize) -> (WatchHub, Vec<StreamId>) {
    let mut hub = WatchHub::new(HubConfig::default(), 1);
    let ids: Vec<StreamId> = (0..streams).map(|_| hub.open_stream()).collect();
    let req = WatchCreateRequest { key: key.to_vec(), ..Default::default() };
    for i in 0..WATCHERS {
        hub.create(ids[i % streams], &req).expect("watcher created");
    }
    drain(&mut hub);
    assert_eq!(hub.synced_count(), WATCHERS);
    (hub, ids)
}

/// Take every ready stream's output, as the gRPC side does after a wake-up.
fn drain(hub: &mut WatchHub) -> usize {
    let mut responses = 0;
    for stream in hub.ready_streams() {
        responses += hub.take(stream, MAX_RESPONSE_BYTES).len();
    }
    responses
}

fn put_event(key: &[u8], revision: i64) -> Event {
    let kv = KeyValue {
        key: key.to_vec(),
        create_revision: 2,
        mod_revision: revision,
        version: revision - 1,
        value: vec![b'v'; VALUE_BYTES],
        lease: 0,
    };
    Event { kind: EventType::Put, kv, prev_kv: None }
}

fn bench_watch_fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch_fanout");
    group.throughput(Throughput::Elements(WATCHERS as u64));
    let key = key(42);
    for streams in [1, WATCHERS] {
        let label = format!("{WATCHERS}w_{streams}s");

        let (mut hub, _) = hub_with_watchers(&key, streams);
        group.bench_function(BenchmarkId::new("notify", &label), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let events = [put_event(&key, hub.revision() + 1)];
                    let start = Instant::now();
                    hub.notify(events[0].kv.mod_revision, &events).expect("notify");
                    elapsed += start.elapsed();
                    assert_eq!(drain(&mut hub), WATCHERS, "one response per watcher");
                }
                elapsed
            })
        });

        let (mut hub, _) = hub_with_watchers(&key, streams);
        group.bench_function(BenchmarkId::new("notify_take", &label), |b| {
            b.iter_custom(|iters| {
                let events: Vec<[Event; 1]> =
                    (1..=iters as i64).map(|i| [put_event(&key, hub.revision() + i)]).collect();
                let start = Instant::now();
                for ev in &events {
                    hub.notify(ev[0].kv.mod_revision, ev).expect("notify");
                    black_box(drain(&mut hub));
                }
                start.elapsed()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_apply, bench_watch_fanout);
criterion_main!(benches);
