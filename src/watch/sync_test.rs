//! Catch-up from history: past start revisions, paging, compaction, the store/hub
//! contract, budgets and fairness.

use crate::error::Error;
use crate::mvcc::EventType;
use crate::watch::test_util::*;
use crate::watch::*;

#[test]
fn a_past_start_revision_catches_up_then_goes_live() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.txn(vec![put_op("a", "2"), put_op("b", "1")]);
    h.delete("a");
    let s = h.hub.open_stream();
    let id = h.watch(s, from(WatchCreateRequest { prev_kv: true, ..range("a", "z") }, 2));
    let out = h.sync_all(s);
    assert!(out[0].created);
    assert_eq!(out[0].header_revision, 4);
    assert_eq!(out.len(), 2, "catch-up sends many revisions at once");
    assert_eq!(out[1].header_revision, 4, "complete through the current revision");
    assert_eq!(revs_keys(&out), vec![(2, "a".into()), (3, "a".into()), (3, "b".into()), (4, "a".into())]);
    assert_eq!(out[1].events[3].kind, EventType::Delete);
    assert_eq!(out[1].events[3].prev_kv.as_ref().map(|p| p.value.clone()), Some(b("2")));
    assert_eq!(h.hub.watcher_position(s, id), Some((WatcherState::Synced, 5)));
    h.put("b", "2");
    assert_eq!(revs_keys(&h.take(s)), vec![(5, "b".into())]);
}

#[test]
fn pages_never_split_a_revision() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.txn(vec![put_op("a", "2"), put_op("b", "2"), put_op("c", "2")]);
    h.put("b", "3");
    let s = h.hub.open_stream();
    let id = h.watch(s, from(range("a", "z"), 2));
    h.take(s);
    assert_eq!(h.hub.sync_unsynced(&h.store, 2), Ok(1));
    let first = h.take(s);
    assert_eq!(revs_keys(&first).len(), 4, "revision 3 comes whole");
    assert_eq!(first[0].header_revision, 3, "header = the revision the page is complete through");
    assert_eq!(h.hub.watcher_position(s, id), Some((WatcherState::Unsynced, 4)));
    assert_eq!(h.hub.sync_unsynced(&h.store, 2), Ok(0));
    assert_eq!(revs_keys(&h.take(s)), vec![(4, "b".into())]);
}

#[test]
fn a_compacted_start_gets_created_then_compacted() {
    let mut h = Harness::new();
    for v in ["1", "2", "3"] {
        h.put("c", v);
    }
    h.compact(3);
    let s = h.hub.open_stream();
    let id = h.watch(s, WatchCreateRequest { watch_id: 7, ..from(key("c"), 2) });
    let out = h.sync_all(s);
    let compacted = WatchResponse { watch_id: id, canceled: true, compact_revision: 3, ..Default::default() };
    assert_eq!(out[1], compacted, "header revision 0, no reason, as etcd");
    assert_eq!(out.len(), 2);
    assert_eq!(h.hub.watcher_position(s, id).map(|p| p.0), Some(WatcherState::Compacted));
    h.put("c", "4");
    assert!(h.take(s).is_empty(), "a compacted watcher gets nothing more");
    // etcd keeps the id: recreating it is a duplicate, canceling it is answered.
    assert_eq!(h.hub.create(s, &WatchCreateRequest { watch_id: id, ..key("c") }), None);
    assert_eq!(h.take(s)[0].cancel_reason, ERR_DUPLICATE_WATCH_ID);
    assert!(h.hub.cancel(s, id));
    assert!(h.take(s)[0].canceled);
    assert_eq!(h.hub.create(s, &WatchCreateRequest { watch_id: id, ..key("c") }), Some(id));
}

#[test]
fn a_victim_behind_a_compaction_is_compacted() {
    let mut h = Harness::with_budget(1);
    let s = h.hub.open_stream();
    let id = h.watch(s, key("c"));
    h.take(s);
    h.put("c", "1"); // 2: queued on the empty stream
    h.put("c", "2"); // 3: no room, a victim needing 3
    h.put("c", "3");
    h.compact(4);
    let out = h.sync_all(s);
    assert_eq!(revs_keys(&out), vec![(2, "c".into())]);
    assert_eq!(out[1].compact_revision, 4);
    assert_eq!(h.hub.watcher_position(s, id).map(|p| p.0), Some(WatcherState::Compacted));
}

#[test]
fn starting_at_the_compaction_revision_works_without_its_prev_kv() {
    let mut h = Harness::new();
    for v in ["1", "2", "3"] {
        h.put("c", v);
    }
    h.compact(3);
    let s = h.hub.open_stream();
    h.watch(s, from(WatchCreateRequest { prev_kv: true, ..key("c") }, 3));
    let out = h.sync_all(s);
    assert_eq!(revs_keys(&out), vec![(3, "c".into()), (4, "c".into())]);
    let events = &out[1].events;
    assert_eq!(events[0].prev_kv, None, "etcd: prev_kv at the compaction revision is gone");
    assert_eq!(events[1].prev_kv.as_ref().map(|p| p.mod_revision), Some(3));
}

#[test]
fn the_store_must_be_at_the_hubs_revision() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    h.watch(s, from(key("a"), 1));
    let req = crate::mvcc::PutRequest { key: b("a"), value: b("1"), ..Default::default() };
    h.store.put(&req, &|_| false).unwrap();
    let err = h.hub.sync_unsynced(&h.store, 10).unwrap_err();
    assert!(matches!(err, Error::Internal(m) if m.contains("reliable guarantee")));
}

#[test]
fn watchers_share_the_budget_round_robin() {
    let mut h = Harness::new();
    for i in 0..4 {
        h.put("a", &i.to_string());
        h.put("b", &i.to_string());
    }
    let s = h.hub.open_stream();
    let a = h.watch(s, from(key("a"), 1));
    let b_id = h.watch(s, from(key("b"), 1));
    h.take(s);
    h.hub.sync_unsynced(&h.store, 1).unwrap();
    h.hub.sync_unsynced(&h.store, 1).unwrap();
    let out = h.take(s);
    assert_eq!(out.iter().map(|r| r.watch_id).collect::<Vec<_>>(), vec![a, b_id], "both got a turn");
    assert_eq!(h.hub.sync_unsynced(&h.store, 1000), Ok(0));
}

#[test]
fn nothing_to_read_still_syncs() {
    let mut h = Harness::new();
    h.put("x", "1");
    let s = h.hub.open_stream();
    let id = h.watch(s, from(key("a"), 1));
    assert_eq!(h.hub.sync_unsynced(&h.store, 10), Ok(0));
    assert_eq!(h.take(s).len(), 1, "only the created response");
    assert_eq!(h.hub.watcher_position(s, id), Some((WatcherState::Synced, 3)));
}
