//! Creating, canceling and closing: ids, refusals and control responses, each as
//! observed on etcd 3.4.23.

use crate::error::Error;
use crate::watch::test_util::*;
use crate::watch::*;

fn created(header_revision: i64, watch_id: WatchId) -> WatchResponse {
    WatchResponse { header_revision, watch_id, created: true, ..Default::default() }
}

fn refused(header_revision: i64, reason: &str) -> WatchResponse {
    WatchResponse {
        header_revision,
        watch_id: INVALID_WATCH_ID,
        created: true,
        canceled: true,
        cancel_reason: reason.into(),
        ..Default::default()
    }
}

fn with_id(req: WatchCreateRequest, watch_id: WatchId) -> WatchCreateRequest {
    WatchCreateRequest { watch_id, ..req }
}

#[test]
fn ids_are_allocated_as_etcd_does() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let mut create = |id: WatchId| h.hub.create(s, &with_id(key("a"), id));
    assert_eq!([create(0), create(0), create(5)], [Some(0), Some(1), Some(5)]);
    assert_eq!(create(5), None, "duplicate client id");
    assert_eq!(create(-7), Some(-7), "negative client ids are used as given");
    assert_eq!(create(0), Some(2));
    assert_eq!(create(2), None, "a client id taken by the allocator");
    assert_eq!(create(0), Some(3));
    assert!(h.hub.cancel(s, 1));
    assert_eq!(h.hub.create(s, &key("a")), Some(4), "the allocator never goes back");
    assert_eq!(h.hub.create(s, &key("a")), Some(6), "5 is taken");
    assert_eq!(h.hub.create(s, &with_id(key("a"), 1)), Some(1), "a canceled id is free");
}

#[test]
fn ids_are_per_stream() {
    let mut h = Harness::new();
    let (s1, s2) = (h.hub.open_stream(), h.hub.open_stream());
    assert_eq!(h.hub.create(s1, &key("a")), Some(0));
    assert_eq!(h.hub.create(s2, &key("a")), Some(0));
}

#[test]
fn created_and_refused_responses() {
    let mut h = Harness::new();
    h.put("x", "1");
    let s = h.hub.open_stream();
    h.watch(s, with_id(key("a"), 9));
    h.hub.create(s, &with_id(key("a"), 9));
    h.hub.create(s, &range("b", "a"));
    h.hub.create(s, &range("b", "b"));
    h.hub.create(s, &from(key("a"), -1));
    assert_eq!(
        h.take(s),
        vec![
            created(2, 9),
            refused(2, ERR_DUPLICATE_WATCH_ID),
            refused(2, ERR_EMPTY_WATCHER_RANGE),
            refused(2, ERR_EMPTY_WATCHER_RANGE),
            refused(2, &Error::Compacted.message()),
        ]
    );
    assert_eq!(h.hub.synced_count() + h.hub.unsynced_count(), 1);
}

#[test]
fn empty_key_means_nul_and_from_key_is_never_empty() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let nul = h.watch(s, key(""));
    let all = h.watch(s, range("", "\0"));
    let from_z = h.watch(s, range("z", "\0"));
    h.put("\0", "1");
    h.put("a", "1");
    let out = h.take(s);
    assert_eq!(revs_keys(&event_responses(&out, nul)), vec![(2, "\0".to_string())]);
    assert_eq!(revs_keys(&event_responses(&out, all)).len(), 2);
    assert!(event_responses(&out, from_z).is_empty());
}

#[test]
fn cancel_answers_only_known_watchers() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let id = h.watch(s, key("a"));
    h.take(s);
    assert!(!h.hub.cancel(s, 99));
    assert!(h.take(s).is_empty(), "etcd sends nothing for an unknown id");
    h.put("a", "1");
    assert!(h.hub.cancel(s, id));
    let out = h.take(s);
    assert_eq!(out.len(), 2, "queued events stay before the cancel");
    assert_eq!(
        out[1],
        WatchResponse { header_revision: 2, watch_id: id, canceled: true, ..Default::default() }
    );
    h.put("a", "2");
    assert!(h.take(s).is_empty());
    assert_eq!(h.hub.synced_count(), 0);
}

#[test]
fn cancel_removes_unsynced_watchers_too() {
    let mut h = Harness::new();
    h.put("a", "1");
    let s = h.hub.open_stream();
    let id = h.watch(s, from(key("a"), 1));
    assert_eq!(h.hub.unsynced_count(), 1);
    assert!(h.hub.cancel(s, id));
    assert_eq!(h.hub.unsynced_count(), 0);
    assert_eq!(h.hub.sync_unsynced(&h.store, 10), Ok(0));
}

#[test]
fn unknown_stream() {
    let mut h = Harness::new();
    assert_eq!(h.hub.create(42, &key("a")), None);
    assert!(!h.hub.cancel(42, 0));
    assert!(h.hub.take(42, NO_SPLIT).is_empty());
    assert!(!h.hub.close_stream(42));
    assert!(h.hub.ready_streams().is_empty());
}

#[test]
fn close_stream_forgets_everything() {
    let mut h = Harness::new();
    h.put("a", "1");
    let s = h.hub.open_stream();
    h.watch(s, key("a"));
    h.watch(s, range("a", "z"));
    h.watch(s, from(key("a"), 1));
    assert_eq!((h.hub.synced_count(), h.hub.unsynced_count()), (2, 1));
    assert!(h.hub.close_stream(s));
    assert_eq!((h.hub.synced_count(), h.hub.unsynced_count(), h.hub.stream_count()), (0, 0, 0));
    h.put("a", "2");
    assert!(h.hub.ready_streams().is_empty());
}

#[test]
fn ready_streams_name_streams_with_new_output() {
    let mut h = Harness::new();
    let (s1, s2) = (h.hub.open_stream(), h.hub.open_stream());
    h.watch(s1, key("a"));
    h.watch(s2, key("b"));
    assert_eq!(h.hub.ready_streams(), vec![s1, s2]);
    assert!(h.hub.ready_streams().is_empty());
    h.put("b", "1");
    assert_eq!(h.hub.ready_streams(), vec![s2]);
}

#[test]
fn restore_catches_synced_watchers_up_from_the_new_store() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let a = h.watch(s, key("a"));
    let future = h.watch(s, from(key("a"), 10));
    h.take(s);
    // The store moves on without the hub (a snapshot from the leader).
    for v in ["1", "2", "3"] {
        let req = crate::mvcc::PutRequest { key: b("a"), value: b(v), ..Default::default() };
        h.store.put(&req, &|_| false).unwrap();
    }
    assert!(h.hub.restore(0).is_err(), "revisions never go back");
    h.hub.restore(h.rev()).unwrap();
    assert_eq!(h.hub.watcher_position(s, a), Some((WatcherState::Unsynced, 2)));
    assert_eq!(h.hub.watcher_position(s, future), Some((WatcherState::Synced, 10)));
    let out = h.sync_all(s);
    assert_eq!(revs_keys(&out), vec![(2, "a".into()), (3, "a".into()), (4, "a".into())]);
    assert_eq!(h.hub.watcher_position(s, a), Some((WatcherState::Synced, 5)));
}

/// The worked example in `hub.rs`'s module docs.
#[test]
fn worked_example_of_the_module_docs() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.put("a", "2");
    let s = h.hub.open_stream();
    assert_eq!(h.hub.create(s, &key("a")), Some(0));
    assert_eq!(h.hub.create(s, &from(key("a"), 2)), Some(1));
    assert_eq!(h.hub.create(s, &with_id(key("a"), 1)), None);
    h.hub.request_progress(s);
    h.put("a", "3");
    assert_eq!(h.hub.sync_unsynced(&h.store, 100), Ok(0));
    assert!(h.hub.cancel(s, 0));
    let out = h.take(s);
    let summary: Vec<(i64, i64, usize)> =
        out.iter().map(|r| (r.header_revision, r.watch_id, r.events.len())).collect();
    assert_eq!(summary, vec![(3, 0, 0), (3, 1, 0), (3, -1, 0), (4, 0, 1), (4, 1, 3), (4, -1, 0), (4, 0, 0)]);
    assert!(out[2].canceled && out[5].is_progress_notify() && out[6].canceled);
}
