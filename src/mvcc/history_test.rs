//! `events_between` against the events the write path emitted live: unit tests for
//! each rule, and a property test over random puts, deletes, txns and compactions.

use proptest::prelude::*;

use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::{PutRequest, RequestOp};

/// A store and every event its writes returned, in order.
#[derive(Default)]
struct Recorder {
    store: KvStore,
    live: Vec<Event>,
}

impl Recorder {
    fn put(&mut self, key: &str, value: &str) {
        let (_, events) = self.store.put(&put_req(key, value), &no_leases).unwrap();
        self.live.extend(events);
    }

    fn delete(&mut self, key: &str, end: &str) {
        let (_, events) = self.store.delete_range(&del_range(key, end)).unwrap();
        self.live.extend(events);
    }

    fn txn(&mut self, ops: Vec<RequestOp>) -> bool {
        match self.store.txn(&txn_req(vec![], ops, vec![]), 128, &no_leases) {
            Ok((_, events)) => {
                self.live.extend(events);
                true
            }
            Err(_) => false,
        }
    }

    /// Live events in `[from, to]` of keys in the span, with prev_kv cleared at the
    /// compaction revision (history cannot know it; etcd does not either).
    fn expected(&self, key: &[u8], end: &[u8], from: i64, to: i64) -> Vec<Event> {
        let compact = self.store.compact_revision();
        let in_range = |e: &&Event| e.kv.mod_revision >= from && e.kv.mod_revision <= to;
        let mut out: Vec<Event> =
            self.live.iter().filter(in_range).filter(|e| in_span(&e.kv.key, key, end)).cloned().collect();
        for e in out.iter_mut().filter(|e| e.kv.mod_revision == compact) {
            e.prev_kv = None;
        }
        out
    }
}

fn in_span(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        end => k >= key && k < end,
    }
}

fn put_op(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(put_req(key, value))
}

fn del_op(key: &str, end: &str) -> RequestOp {
    RequestOp::DeleteRange(del_range(key, end))
}

/// The module docs' worked example.
fn example() -> Recorder {
    let mut r = Recorder::default();
    r.put("a", "1");
    assert!(r.txn(vec![put_op("b", "1"), put_op("a", "2")]));
    r.delete("a", "");
    r
}

#[test]
fn worked_example() {
    let r = example();
    let page = r.store.events_between(b"a", b"\0", 2, 4, 0).unwrap();
    assert_eq!(page.through_revision, 4);
    assert_eq!(page.events, r.live);
    let kinds: Vec<_> = page.events.iter().map(|e| (e.kind, e.kv.key.clone(), e.kv.mod_revision)).collect();
    assert_eq!(
        kinds,
        vec![
            (EventType::Put, b("a"), 2),
            (EventType::Put, b("b"), 3),
            (EventType::Put, b("a"), 3),
            (EventType::Delete, b("a"), 4),
        ]
    );
    let delete = &page.events[3];
    assert_eq!(delete.kv, KeyValue { key: b("a"), mod_revision: 4, ..KeyValue::default() });
    assert_eq!(delete.prev_kv, Some(kv("a", "2", 2, 3, 2)));
}

#[test]
fn limit_never_splits_a_revision() {
    let r = example();
    let page = r.store.events_between(b"a", b"\0", 2, 4, 2).unwrap();
    assert_eq!(page.through_revision, 3);
    assert_eq!(page.events, r.live[..3].to_vec());
    let rest = r.store.events_between(b"a", b"\0", 4, 4, 2).unwrap();
    assert_eq!((rest.events, rest.through_revision), (r.live[3..].to_vec(), 4));
    // A limit of exactly the number of events is not a cut.
    assert_eq!(r.store.events_between(b"a", b"\0", 2, 4, 4).unwrap().through_revision, 4);
    // A limit of 1 still makes progress: the whole first revision.
    let first = r.store.events_between(b"a", b"\0", 3, 4, 1).unwrap();
    assert_eq!((first.events.len(), first.through_revision), (2, 3));
}

#[test]
fn spans_follow_range_conventions() {
    let r = example();
    let single = r.store.events_between(b"b", b"", 1, 4, 0).unwrap();
    assert_eq!(single.events, vec![r.live[1].clone()]);
    let between = r.store.events_between(b"a", b"b", 1, 4, 0).unwrap();
    assert_eq!(between.events.len(), 3);
    let empty = r.store.events_between(b"b", b"a", 1, 4, 0).unwrap();
    assert_eq!(empty, HistoryPage { events: vec![], through_revision: 4 });
}

#[test]
fn revision_bounds_and_errors() {
    let mut r = example();
    assert_eq!(r.store.events_between(b"a", b"\0", 1, 5, 0), Err(Error::FutureRev));
    let nothing = r.store.events_between(b"a", b"\0", 5, 4, 0).unwrap();
    assert_eq!(nothing, HistoryPage { events: vec![], through_revision: 4 });
    r.store.compact(3).unwrap();
    assert_eq!(r.store.events_between(b"a", b"\0", 2, 4, 0), Err(Error::Compacted));
    // From exactly the compaction revision: complete, but prev_kv at 3 is gone.
    let page = r.store.events_between(b"a", b"\0", 3, 4, 0).unwrap();
    assert_eq!(page.events, r.expected(b"a", b"\0", 3, 4));
    assert_eq!(page.events[1].prev_kv, None);
    assert_eq!(page.events[2].prev_kv, Some(kv("a", "2", 2, 3, 2)));
}

#[test]
fn tombstone_at_the_compaction_revision_stays() {
    let mut r = Recorder::default();
    r.put("k", "1");
    r.delete("k", "");
    r.put("k", "2");
    r.store.compact(3).unwrap();
    let page = r.store.events_between(b"k", b"", 3, 4, 0).unwrap();
    assert_eq!(page.events, r.expected(b"k", b"", 3, 4));
    assert_eq!(page.events[0].kind, EventType::Delete);
    assert_eq!(page.events[1].prev_kv, None, "a re-created key has no prev_kv");
}

#[test]
fn leases_and_versions_survive_the_rebuild() {
    let mut r = Recorder::default();
    let (_, ev) = r.store.put(&put_lease("k", "1", 7), &any_lease).unwrap();
    r.live.extend(ev);
    let keep = PutRequest { ignore_value: true, ignore_lease: true, ..put_req("k", "") };
    let (_, ev) = r.store.put(&keep, &any_lease).unwrap();
    r.live.extend(ev);
    let page = r.store.events_between(b"k", b"", 1, 3, 0).unwrap();
    assert_eq!(page.events, r.live);
    assert_eq!((page.events[1].kv.lease, page.events[1].kv.version), (7, 2));
}

// ---------------------------------------------------------------------------------
// Property: history == live.
// ---------------------------------------------------------------------------------

const KEYS: [&str; 5] = ["a", "b", "c", "d", "e"];

#[derive(Clone, Debug)]
enum Op {
    Put(usize, u8),
    Delete(usize, usize),
    Txn(Vec<(bool, usize, u8)>),
    Compact(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..KEYS.len(), 0..=KEYS.len()).prop_map(|(k, e)| Op::Delete(k, e)),
        2 => prop::collection::vec((any::<bool>(), 0..KEYS.len(), any::<u8>()), 1..4).prop_map(Op::Txn),
        1 => any::<u8>().prop_map(Op::Compact),
    ]
}

fn end_of(k: usize, e: usize) -> &'static str {
    // e <= k: single key; e == len: from key; else [k, e).
    match e {
        e if e <= k => "",
        e if e == KEYS.len() => "\0",
        e => KEYS[e],
    }
}

fn apply(r: &mut Recorder, op: &Op) {
    match op {
        Op::Put(k, v) => r.put(KEYS[*k], &v.to_string()),
        Op::Delete(k, e) => r.delete(KEYS[*k], end_of(*k, *e)),
        Op::Txn(ops) => {
            let ops = ops
                .iter()
                .map(|(put, k, v)| if *put { put_op(KEYS[*k], &v.to_string()) } else { del_op(KEYS[*k], "") })
                .collect();
            r.txn(ops);
        }
        Op::Compact(at) => {
            let current = r.store.current_revision();
            let at = r.store.compact_revision().max(0) + 1 + i64::from(*at) % 4;
            if at <= current {
                r.store.compact(at).unwrap();
            }
        }
    }
}

/// Reads `[from, to]` page by page with `limit`, checking each page on the way.
fn read_paged(s: &KvStore, key: &[u8], end: &[u8], from: i64, to: i64, limit: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let mut next = from;
    while next <= to {
        let page = s.events_between(key, end, next, to, limit).unwrap();
        assert!(page.through_revision >= next && page.through_revision <= to, "page makes progress");
        let last = page.events.last().map(|e| e.kv.mod_revision);
        let first_of_last = page.events.iter().position(|e| Some(e.kv.mod_revision) == last).unwrap_or(0);
        assert!(limit == 0 || first_of_last < limit.max(1), "only the last revision may pass the limit");
        out.extend(page.events);
        next = page.through_revision + 1;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn history_equals_live_events(
        ops in prop::collection::vec(op(), 1..40),
        (k, e) in (0..KEYS.len(), 0..=KEYS.len()),
        from_pick in any::<u16>(),
        limit in 0usize..6,
    ) {
        let mut r = Recorder::default();
        for op in &ops {
            apply(&mut r, op);
        }
        let (key, end) = (b(KEYS[k]), b(end_of(k, e)));
        let to = r.store.current_revision();
        let lowest = r.store.compact_revision().max(1);
        let from = lowest + i64::from(from_pick) % (to - lowest + 1);
        let want = r.expected(&key, &end, from, to);
        let whole = r.store.events_between(&key, &end, from, to, 0).unwrap();
        prop_assert_eq!(&whole.events, &want);
        prop_assert_eq!(whole.through_revision, to);
        prop_assert_eq!(read_paged(&r.store, &key, &end, from, to, limit), want);
        let all = r.store.events_between(b"\0", b"\0", lowest, to, 0).unwrap();
        prop_assert_eq!(all.events, r.expected(b"\0", b"\0", lowest, to));
    }
}
