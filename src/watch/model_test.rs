//! Property test of the watch guarantees against the real store.
//!
//! Random interleavings of writes (puts, deletes, txns through [`KvStore`]), watch
//! creates (start now, in the past, compacted, in the future; random filters and
//! options; auto and client ids), cancels, compactions, snapshot restores, slow
//! streams (small budgets, not drained for a while: victims), drains (some small
//! enough to fragment), catch-up rounds and progress ticks/requests. At the end every
//! stream is drained and caught up.
//!
//! The checker replays each stream's responses in order and asserts, per watcher:
//! created/refused answers match the ids in use; the concatenated events equal the
//! committed history of its span from its start revision, filtered, each revision
//! once and in order (prev_kv may only be missing at a compaction revision, as in
//! etcd); a revision is never split across responses (fragments reassembled); every
//! event response and progress notification is a bookmark (all watched events up to
//! its header revision were sent before it); a compacted response only when the next
//! needed revision was compacted; a watcher that is neither canceled nor compacted
//! got everything. Queued bytes per stream stay within budget plus one response.
//!
//! On failure proptest prints the minimal op sequence; rerun with
//! `cargo test watch::model_test`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;

use crate::mvcc::{DeleteRangeRequest, Event, KeySpan, KvStore, PutRequest, RequestOp, TxnRequest};
use crate::watch::test_util::b;
use crate::watch::watcher::span_contains;
use crate::watch::*;

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];
const STREAMS: usize = 3;

#[derive(Clone, Debug)]
enum Start {
    Now,
    Past(u8),
    Future(u8),
}

#[derive(Clone, Debug)]
struct Create {
    stream: usize,
    key: usize,
    end: usize,
    start: Start,
    filters: (bool, bool),
    prev_kv: bool,
    progress_notify: bool,
    fragment: bool,
    watch_id: i64,
}

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8),
    Delete(usize, usize),
    Txn(Vec<(bool, usize, u8)>),
    Compact(u8),
    Restore(usize, u8),
    Create(Create),
    Cancel(usize, i64),
    Drain(usize, bool),
    Sync(usize),
    ProgressAll,
    RequestProgress(usize),
}

fn start() -> impl Strategy<Value = Start> {
    prop_oneof![3 => Just(Start::Now), 3 => any::<u8>().prop_map(Start::Past), 1 => any::<u8>().prop_map(Start::Future)]
}

fn create() -> impl Strategy<Value = Create> {
    let id = prop_oneof![4 => Just(0i64), 1 => 1i64..5];
    let filter = prop::bool::weighted(0.2);
    (0..STREAMS, 0..KEYS.len(), 0..=KEYS.len(), start(), (filter, filter), any::<[bool; 3]>(), id).prop_map(
        |(stream, key, end, start, filters, [prev_kv, progress_notify, fragment], watch_id)| Create {
            stream,
            key,
            end,
            start,
            filters,
            prev_kv,
            progress_notify,
            fragment,
            watch_id,
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..KEYS.len(), 0..=KEYS.len()).prop_map(|(k, e)| Op::Delete(k, e)),
        2 => prop::collection::vec((any::<bool>(), 0..KEYS.len(), any::<u8>()), 1..4).prop_map(Op::Txn),
        1 => any::<u8>().prop_map(Op::Compact),
        1 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, v)| Op::Restore(k, v)),
        4 => create().prop_map(Op::Create),
        1 => (0..STREAMS, 0i64..5).prop_map(|(s, id)| Op::Cancel(s, id)),
        // Stream 0 is drained rarely: it is the slow one.
        3 => (1..STREAMS, prop::bool::weighted(0.7)).prop_map(|(s, small)| Op::Drain(s, small)),
        1 => prop::bool::weighted(0.7).prop_map(|small| Op::Drain(0, small)),
        3 => (1usize..6).prop_map(Op::Sync),
        1 => Just(Op::ProgressAll),
        1 => (0..STREAMS).prop_map(Op::RequestProgress),
    ]
}

/// (key, range_end) of a span pick: end <= key: single key; end == len: from key.
fn span_of(k: usize, e: usize) -> (Vec<u8>, Vec<u8>) {
    let end = match e {
        e if e <= k => Vec::new(),
        e if e == KEYS.len() => vec![0],
        e => b(KEYS[e]),
    };
    (b(KEYS[k]), end)
}

/// Values of 0..=100 bytes, so budgets and fragment limits bite.
fn value(v: u8) -> Vec<u8> {
    vec![b'v'; usize::from(v % 101)]
}

fn put_req(k: usize, v: u8) -> PutRequest {
    PutRequest { key: b(KEYS[k]), value: value(v), ..Default::default() }
}

const SMALL_RESPONSE_BYTES: usize = 150;

/// The system under test and the record the checker reads.
struct World {
    store: KvStore,
    hub: WatchHub,
    budget: usize,
    streams: Vec<StreamId>,
    /// Every committed event, in order.
    committed: Vec<Event>,
    compactions: BTreeSet<i64>,
    checker: Checker,
}

impl World {
    fn new(budget: usize) -> Self {
        let store = KvStore::new();
        let mut hub =
            WatchHub::new(HubConfig { max_pending_bytes_per_stream: budget }, store.current_revision());
        let streams = (0..STREAMS).map(|_| hub.open_stream()).collect();
        World {
            store,
            hub,
            budget,
            streams,
            committed: Vec::new(),
            compactions: BTreeSet::new(),
            checker: Checker::default(),
        }
    }

    fn committed_write(&mut self, events: Vec<Event>, notify: bool) {
        if notify {
            self.hub.notify(self.store.current_revision(), &events).unwrap();
        }
        self.committed.extend(events);
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Put(k, v) => {
                let (_, events) = self.store.put(&put_req(*k, *v), &|_| false).unwrap();
                self.committed_write(events, true);
            }
            Op::Delete(k, e) => {
                let (key, range_end) = span_of(*k, *e);
                let (_, events) =
                    self.store.delete_range(&DeleteRangeRequest { key, range_end, prev_kv: false }).unwrap();
                self.committed_write(events, true);
            }
            Op::Txn(ops) => self.txn(ops),
            Op::Compact(x) => self.compact(*x),
            Op::Restore(k, v) => {
                let (_, events) = self.store.put(&put_req(*k, *v), &|_| false).unwrap();
                self.committed_write(events, false);
                self.hub.restore(self.store.current_revision()).unwrap();
            }
            Op::Create(c) => self.create(c),
            Op::Cancel(s, id) => {
                self.hub.cancel(self.streams[*s], *id);
            }
            Op::Drain(s, small) => self.drain(*s, if *small { SMALL_RESPONSE_BYTES } else { usize::MAX }),
            Op::Sync(n) => {
                self.hub.sync_unsynced(&self.store, *n).unwrap();
            }
            Op::ProgressAll => self.hub.progress_all(),
            Op::RequestProgress(s) => self.hub.request_progress(self.streams[*s]),
        }
        for &s in &self.streams {
            let queued = self.hub.pending_bytes(s);
            assert!(queued <= self.budget + 4096, "stream {s} holds {queued} B, budget {}", self.budget);
        }
    }

    fn txn(&mut self, ops: &[(bool, usize, u8)]) {
        let success = ops
            .iter()
            .map(|&(put, k, v)| {
                if put {
                    RequestOp::Put(put_req(k, v))
                } else {
                    RequestOp::DeleteRange(DeleteRangeRequest { key: b(KEYS[k]), ..Default::default() })
                }
            })
            .collect();
        let req = TxnRequest { compare: vec![], success, failure: vec![] };
        if let Ok((_, events)) = self.store.txn(&req, 128, &|_| false) {
            self.committed_write(events, true);
        }
    }

    fn compact(&mut self, x: u8) {
        let at = self.store.compact_revision().max(0) + 1 + i64::from(x % 4);
        if at <= self.store.current_revision() {
            self.store.compact(at).unwrap();
            self.compactions.insert(at);
        }
    }

    fn create(&mut self, c: &Create) {
        let current = self.store.current_revision();
        let start_revision = match c.start {
            Start::Now => 0,
            Start::Past(x) => 1 + i64::from(x) % current,
            Start::Future(x) => current + 1 + i64::from(x % 3),
        };
        let (key, range_end) = span_of(c.key, c.end);
        let mut filters = Vec::new();
        if c.filters.0 {
            filters.push(FilterType::NoPut);
        }
        if c.filters.1 {
            filters.push(FilterType::NoDelete);
        }
        let req = WatchCreateRequest {
            key,
            range_end,
            start_revision,
            progress_notify: c.progress_notify,
            filters,
            prev_kv: c.prev_kv,
            watch_id: c.watch_id,
            fragment: c.fragment,
        };
        self.hub.create(self.streams[c.stream], &req);
        self.checker.created(c.stream, req, current);
    }

    fn drain(&mut self, s: usize, max_bytes: usize) {
        let out = self.hub.take(self.streams[s], max_bytes);
        let ctx =
            Ctx { committed: &self.committed, compactions: &self.compactions, revision: self.hub.revision() };
        self.checker.check(s, out, max_bytes, &ctx);
    }

    /// Drain and catch up until nobody is behind.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            for s in 0..STREAMS {
                self.drain(s, usize::MAX);
            }
            if self.hub.sync_unsynced(&self.store, 7).unwrap() == 0 {
                for s in 0..STREAMS {
                    self.drain(s, usize::MAX);
                }
                return;
            }
        }
        panic!("catch-up never finished");
    }
}

// ---------------------------------------------------------------------------------
// The checker.
// ---------------------------------------------------------------------------------

struct Ctx<'a> {
    committed: &'a [Event],
    compactions: &'a BTreeSet<i64>,
    revision: i64,
}

/// One life of a watch id on a stream.
#[derive(Debug)]
struct Incarnation {
    req: WatchCreateRequest,
    /// First revision it watches.
    start: i64,
    delivered: Vec<Event>,
    /// The highest header revision it was told is complete (start - 1 at first).
    bookmark: i64,
    compacted: bool,
}

impl Incarnation {
    fn wants(&self, e: &Event) -> bool {
        let r = &self.req;
        let span = KeySpan::new(&r.key, &r.range_end);
        let filtered = match e.kind {
            crate::mvcc::EventType::Put => r.filters.contains(&FilterType::NoPut),
            crate::mvcc::EventType::Delete => r.filters.contains(&FilterType::NoDelete),
        };
        e.kv.mod_revision >= self.start && span_contains(span, &e.kv.key) && !filtered
    }

    fn expected(&self, committed: &[Event]) -> Vec<Event> {
        committed
            .iter()
            .filter(|e| self.wants(e))
            .map(|e| Event { prev_kv: if self.req.prev_kv { e.prev_kv.clone() } else { None }, ..e.clone() })
            .collect()
    }

    /// The first revision whose events it has not been sent.
    fn next_needed(&self, committed: &[Event]) -> Option<i64> {
        self.expected(committed).get(self.delivered.len()).map(|e| e.kv.mod_revision)
    }

    /// Everything it watches up to `revision` has been sent; remember that.
    fn bookmark(&mut self, revision: i64, ctx: &Ctx<'_>, what: &str) {
        let next = self.next_needed(ctx.committed);
        assert!(
            next.is_none_or(|n| n > revision),
            "bookmark: {what} at {revision} but {next:?} is unsent: {self:?}"
        );
        self.bookmark = self.bookmark.max(revision);
    }
}

#[derive(Debug, Default)]
struct StreamModel {
    /// Create requests not answered yet, with the revision at the time.
    creates: VecDeque<(WatchCreateRequest, i64)>,
    /// Ids in use (compacted ones included).
    live: BTreeMap<WatchId, Incarnation>,
    done: Vec<Incarnation>,
    /// Fragments of a response being reassembled.
    partial: Option<WatchResponse>,
}

#[derive(Debug, Default)]
struct Checker {
    streams: BTreeMap<usize, StreamModel>,
}

fn same_event(got: &Event, want: &Event, compactions: &BTreeSet<i64>) -> bool {
    got.kind == want.kind
        && got.kv == want.kv
        && (got.prev_kv == want.prev_kv
            || got.prev_kv.is_none() && compactions.contains(&got.kv.mod_revision))
}

impl Checker {
    fn created(&mut self, s: usize, req: WatchCreateRequest, revision: i64) {
        self.streams.entry(s).or_default().creates.push_back((req, revision));
    }

    fn check(&mut self, s: usize, out: Vec<WatchResponse>, max_bytes: usize, ctx: &Ctx<'_>) {
        let model = self.streams.entry(s).or_default();
        for r in out {
            let fragmenting = model.live.get(&r.watch_id).is_some_and(|i| i.req.fragment);
            if fragmenting && r.events.len() > 1 {
                assert!(response_len(&r) < max_bytes, "a fragment above the limit: {r:?}");
            }
            if let Some(whole) = model.reassemble(r) {
                model.check_one(whole, ctx);
            }
        }
    }

    fn finish(&self, ctx: &Ctx<'_>) {
        for model in self.streams.values() {
            assert!(model.creates.is_empty() && model.partial.is_none(), "unanswered creates or fragments");
            for inc in model.live.values().filter(|i| !i.compacted) {
                assert_eq!(inc.delivered.len(), inc.expected(ctx.committed).len(), "reliable: {inc:?}");
            }
        }
    }
}

impl StreamModel {
    /// Collect fragments; returns a whole response once its last part arrived.
    fn reassemble(&mut self, r: WatchResponse) -> Option<WatchResponse> {
        if let Some(mut acc) = self.partial.take() {
            assert_eq!((acc.watch_id, acc.header_revision), (r.watch_id, r.header_revision), "fragment mix");
            acc.events.extend(r.events);
            acc.fragment = r.fragment;
            if acc.fragment {
                self.partial = Some(acc);
                return None;
            }
            return Some(acc);
        }
        if r.fragment {
            let inc = self.live.get(&r.watch_id).expect("fragment for an unknown watcher");
            assert!(inc.req.fragment, "fragmented without asking");
            assert!(!r.events.is_empty());
            self.partial = Some(r);
            return None;
        }
        Some(r)
    }

    fn check_one(&mut self, r: WatchResponse, ctx: &Ctx<'_>) {
        if r.created {
            self.check_created(r);
        } else if r.compact_revision != 0 {
            let inc = self.live.get_mut(&r.watch_id).expect("compacted: unknown watcher");
            assert!(r.canceled && r.header_revision == 0 && !inc.compacted);
            let needs = inc.bookmark + 1;
            assert!(needs < r.compact_revision, "compacted at {} but needs {needs}", r.compact_revision);
            inc.compacted = true;
        } else if r.canceled {
            let inc = self.live.remove(&r.watch_id).expect("canceled an unknown watcher");
            assert!(r.header_revision <= ctx.revision);
            self.done.push(inc);
        } else if r.events.is_empty() {
            self.check_progress(&r, ctx);
        } else {
            self.check_events(r, ctx);
        }
    }

    fn check_created(&mut self, r: WatchResponse) {
        let (req, revision) = self.creates.pop_front().expect("created without a create");
        assert_eq!(r.header_revision, revision, "created carries the current revision");
        let duplicate = req.watch_id != AUTO_WATCH_ID && self.live.contains_key(&req.watch_id);
        if duplicate {
            assert_eq!(
                (r.watch_id, r.canceled, r.cancel_reason.as_str()),
                (-1, true, ERR_DUPLICATE_WATCH_ID)
            );
            return;
        }
        assert!(!r.canceled && r.watch_id >= 0 && !self.live.contains_key(&r.watch_id), "{r:?}");
        if req.watch_id != AUTO_WATCH_ID {
            assert_eq!(r.watch_id, req.watch_id);
        }
        let start = if req.start_revision == 0 { revision + 1 } else { req.start_revision };
        let inc = Incarnation { req, start, delivered: Vec::new(), bookmark: start - 1, compacted: false };
        self.live.insert(r.watch_id, inc);
    }

    fn check_progress(&mut self, r: &WatchResponse, ctx: &Ctx<'_>) {
        assert!(r.is_progress_notify() && r.header_revision <= ctx.revision, "{r:?}");
        if r.watch_id == INVALID_WATCH_ID {
            for inc in self.live.values_mut().filter(|i| !i.compacted) {
                inc.bookmark(r.header_revision, ctx, "stream progress");
            }
        } else {
            let inc = self.live.get_mut(&r.watch_id).expect("progress for an unknown watcher");
            assert!(inc.req.progress_notify && !inc.compacted);
            inc.bookmark(r.header_revision, ctx, "progress");
        }
    }

    fn check_events(&mut self, r: WatchResponse, ctx: &Ctx<'_>) {
        let inc = self.live.get_mut(&r.watch_id).expect("events for an unknown watcher");
        assert!(!inc.compacted, "events after compacted");
        let expected = inc.expected(ctx.committed);
        let at = inc.delivered.len();
        let want = expected
            .get(at..at + r.events.len())
            .unwrap_or_else(|| panic!("more events than history: {r:?}"));
        for (got, want) in r.events.iter().zip(want) {
            assert!(same_event(got, want, ctx.compactions), "got {got:?}\nwant {want:?}\nfor {inc:?}");
        }
        let last = r.events.last().map(|e| e.kv.mod_revision).unwrap_or_default();
        assert!(r.header_revision >= last && r.header_revision <= ctx.revision);
        inc.delivered.extend(r.events);
        inc.bookmark(r.header_revision, ctx, "event response");
        let split = expected.get(inc.delivered.len()).is_some_and(|e| e.kv.mod_revision == last);
        assert!(!split, "atomic: revision {last} split across responses");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 4096, ..ProptestConfig::default() })]

    #[test]
    fn every_watcher_sees_exactly_its_history(
        ops in prop::collection::vec(op(), 1..80),
        budget in prop_oneof![Just(1usize), 100usize..1500, Just(1 << 20)],
    ) {
        let mut world = World::new(budget);
        for op in &ops {
            world.apply(op);
        }
        world.settle();
        let ctx = Ctx { committed: &world.committed, compactions: &world.compactions, revision: world.hub.revision() };
        world.checker.finish(&ctx);
        prop_assert_eq!(world.hub.unsynced_count(), 0);
    }
}
