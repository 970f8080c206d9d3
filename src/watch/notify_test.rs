//! The live path: matching, one response per revision, filters, prev_kv, future
//! start revisions, the notify contract, and victims of a full stream.

use crate::error::Error;
use crate::mvcc::{Event, EventType};
use crate::watch::test_util::*;
use crate::watch::*;

#[test]
fn single_key_and_range_watchers_get_matching_events() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let a = h.watch(s, key("a"));
    let ab = h.watch(s, range("a", "c"));
    let from_b = h.watch(s, range("b", "\0"));
    h.take(s);
    h.put("a", "1");
    h.put("b", "1");
    h.put("z", "1");
    let out = h.take(s);
    assert_eq!(revs_keys(&event_responses(&out, a)), vec![(2, "a".into())]);
    assert_eq!(revs_keys(&event_responses(&out, ab)), vec![(2, "a".into()), (3, "b".into())]);
    assert_eq!(revs_keys(&event_responses(&out, from_b)), vec![(3, "b".into()), (4, "z".into())]);
    assert!(out.iter().all(|r| r.header_revision == r.events[0].kv.mod_revision), "live header = revision");
}

#[test]
fn a_txn_is_one_response_in_request_order() {
    let mut h = Harness::new();
    h.put("c", "0");
    let s = h.hub.open_stream();
    let all = h.watch(s, range("a", "z"));
    let only_c = h.watch(s, key("c"));
    h.take(s);
    let live = h.txn(vec![put_op("b", "1"), put_op("a", "1"), del_op("c")]);
    let out = h.take(s);
    assert_eq!(out.len(), 2, "one response per watcher");
    assert_eq!(out[0].watch_id, all);
    assert_eq!(
        out[0].events.iter().map(|e| e.kv.key.clone()).collect::<Vec<_>>(),
        vec![b("b"), b("a"), b("c")]
    );
    assert_eq!(out[0].events.len(), live.len());
    assert_eq!(out[1].watch_id, only_c);
    assert_eq!(out[1].events[0].kind, EventType::Delete);
}

#[test]
fn filters_drop_events_and_silence_empty_batches() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let no_put = h.watch(s, WatchCreateRequest { filters: vec![FilterType::NoPut], ..key("a") });
    let no_del = h.watch(s, WatchCreateRequest { filters: vec![FilterType::NoDelete], ..key("a") });
    h.take(s);
    h.put("a", "1");
    h.delete("a");
    let out = h.take(s);
    assert_eq!(revs_keys(&event_responses(&out, no_put)), vec![(3, "a".into())]);
    assert_eq!(revs_keys(&event_responses(&out, no_del)), vec![(2, "a".into())]);
    assert_eq!(out.len(), 2, "a batch filtered to nothing sends nothing");
    assert_eq!(h.hub.watcher_position(s, no_put), Some((WatcherState::Synced, 4)));
}

#[test]
fn prev_kv_only_when_asked() {
    let mut h = Harness::new();
    h.put("a", "1");
    let s = h.hub.open_stream();
    let plain = h.watch(s, key("a"));
    let with_prev = h.watch(s, WatchCreateRequest { prev_kv: true, ..key("a") });
    h.take(s);
    let live = h.put("a", "2");
    let out = h.take(s);
    assert_eq!(event_responses(&out, plain)[0].events[0].prev_kv, None);
    assert_eq!(event_responses(&out, with_prev)[0].events, live);
    assert!(live[0].prev_kv.is_some());
}

#[test]
fn future_start_revision_waits() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let id = h.watch(s, from(key("a"), 4));
    assert_eq!(h.take(s)[0].header_revision, 1, "created carries the current revision");
    for v in ["1", "2", "3", "4"] {
        h.put("a", v);
    }
    assert_eq!(revs_keys(&event_responses(&h.take(s), id)), vec![(4, "a".into()), (5, "a".into())]);
}

#[test]
fn notify_contract() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    h.watch(s, key("a"));
    h.take(s);
    let events = h.put("a", "1");
    let err = h.hub.notify(2, &events).unwrap_err();
    assert!(matches!(err, Error::Internal(m) if m.contains("ordered guarantee")));
    let err = h.hub.notify(3, &events).unwrap_err();
    assert!(matches!(err, Error::Internal(m) if m.contains("atomic guarantee")));
    assert_eq!(h.hub.notify(9, &[]), Ok(()), "a write that changed nothing");
    assert_eq!(h.hub.revision(), 2);
    assert_eq!(h.take(s).len(), 1, "failed notifies queued nothing");
}

#[test]
fn a_revision_gap_catches_up_from_the_store() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let id = h.watch(s, key("a"));
    h.take(s);
    let put = |v: &str| crate::mvcc::PutRequest { key: b("a"), value: b(v), ..Default::default() };
    h.store.put(&put("1"), &|_| false).unwrap(); // 2, never notified
    let (_, events) = h.store.put(&put("2"), &|_| false).unwrap(); // 3
    h.hub.notify(3, &events).unwrap();
    assert_eq!(h.hub.watcher_position(s, id), Some((WatcherState::Unsynced, 2)));
    assert_eq!(revs_keys(&h.sync_all(s)), vec![(2, "a".into()), (3, "a".into())]);
}

fn put_sized(h: &mut Harness, k: &str, value_len: usize) -> Vec<Event> {
    h.put(k, &"v".repeat(value_len))
}

#[test]
fn a_full_stream_makes_victims_that_lose_nothing() {
    let mut h = Harness::with_budget(100);
    let (slow, fast) = (h.hub.open_stream(), h.hub.open_stream());
    let w = h.watch(slow, key("a"));
    let other = h.watch(fast, key("a"));
    h.take(slow);
    h.take(fast);
    for _ in 0..6 {
        put_sized(&mut h, "a", 150);
        h.take(fast);
    }
    let queued = h.hub.pending_bytes(slow);
    assert!(queued < 250, "one response over the budget at most: {queued}");
    assert_eq!(h.hub.watcher_position(slow, w), Some((WatcherState::Unsynced, 3)));
    assert_eq!(h.hub.watcher_position(fast, other).map(|p| p.0), Some(WatcherState::Synced));
    assert_eq!(h.hub.sync_unsynced(&h.store, 100), Ok(1), "no catch-up into a full stream");
    let mut out = h.take(slow);
    out.extend(h.sync_all(slow));
    let revs: Vec<i64> = revs_keys(&out).into_iter().map(|(r, _)| r).collect();
    assert_eq!(revs, (2..=7).collect::<Vec<_>>(), "every revision once, in order");
    assert_eq!(h.hub.watcher_position(slow, w), Some((WatcherState::Synced, 8)));
    put_sized(&mut h, "a", 1);
    assert_eq!(revs_keys(&h.take(slow)), vec![(8, "a".into())], "live again");
}

#[test]
fn one_response_always_fits_an_empty_stream() {
    let mut h = Harness::with_budget(10);
    let s = h.hub.open_stream();
    let w = h.watch(s, key("a"));
    h.take(s);
    put_sized(&mut h, "a", 1000);
    assert_eq!(h.hub.watcher_position(s, w).map(|p| p.0), Some(WatcherState::Synced));
    assert_eq!(h.take(s)[0].events.len(), 1);
}
