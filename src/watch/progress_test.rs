//! Progress notifications: periodic ones to idle synced watchers, requested ones for
//! the whole stream once it is synced; both are bookmarks.

use crate::watch::test_util::*;
use crate::watch::*;

fn progress(header_revision: i64, watch_id: WatchId) -> WatchResponse {
    WatchResponse { header_revision, watch_id, ..Default::default() }
}

fn notify(req: WatchCreateRequest) -> WatchCreateRequest {
    WatchCreateRequest { progress_notify: true, ..req }
}

/// The etcd 3.4.23 run in `progress.rs`'s docs, one tick at a time.
#[test]
fn periodic_progress_goes_to_idle_watchers_that_asked() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    let p = h.watch(s, notify(key("p")));
    let q = h.watch(s, notify(key("q")));
    h.watch(s, key("q"));
    h.take(s);
    h.put("p", "1");
    h.hub.progress_all();
    let out = h.take(s);
    assert_eq!(out[1..], [progress(2, q)], "p had events since the last tick");
    h.hub.progress_all();
    assert_eq!(h.take(s), vec![progress(2, p), progress(2, q)]);
    assert!(out[0].events.len() == 1 && out[0].watch_id == p);
}

#[test]
fn no_periodic_progress_while_unsynced() {
    let mut h = Harness::new();
    h.put("a", "1");
    let s = h.hub.open_stream();
    let id = h.watch(s, notify(from(key("a"), 2)));
    h.take(s);
    h.hub.progress_all();
    assert!(h.take(s).is_empty());
    h.sync_all(s);
    h.hub.progress_all();
    h.hub.progress_all();
    assert_eq!(h.take(s), vec![progress(2, id)]);
}

#[test]
fn requested_progress_is_immediate_when_synced() {
    let mut h = Harness::new();
    let s = h.hub.open_stream();
    h.hub.request_progress(s);
    assert_eq!(h.take(s), vec![progress(1, INVALID_WATCH_ID)], "even with no watchers, as etcd 3.4");
    h.watch(s, key("a"));
    h.put("a", "1");
    h.hub.request_progress(s);
    let out = h.take(s);
    assert_eq!(out.last(), Some(&progress(2, INVALID_WATCH_ID)));
    assert_eq!(out.len(), 3, "created, event, progress");
}

#[test]
fn requested_progress_waits_for_catch_up() {
    let mut h = Harness::new();
    h.put("g", "1");
    h.put("g", "2");
    let s = h.hub.open_stream();
    h.watch(s, from(key("g"), 2));
    h.hub.request_progress(s);
    h.hub.request_progress(s);
    assert_eq!(h.take(s).len(), 1, "only created: etcd 3.4.23 would send progress 3 here");
    let out = h.sync_all(s);
    assert_eq!(revs_keys(&out).len(), 2);
    assert_eq!(out.last(), Some(&progress(3, INVALID_WATCH_ID)), "after the events, once");
    assert_eq!(out.iter().filter(|r| r.is_progress_notify()).count(), 1);
}

#[test]
fn requested_progress_after_a_catch_up_without_events() {
    // etcd issue 17507: a past-start watcher whose history has no events for it.
    let mut h = Harness::new();
    h.put("bar", "1");
    let s = h.hub.open_stream();
    h.watch(s, from(key("foo"), 2));
    h.hub.request_progress(s);
    h.take(s);
    assert_eq!(h.sync_all(s), vec![progress(2, INVALID_WATCH_ID)]);
}

#[test]
fn canceling_the_unsynced_watcher_releases_the_request() {
    let mut h = Harness::new();
    h.put("a", "1");
    let s = h.hub.open_stream();
    let id = h.watch(s, from(key("a"), 2));
    h.hub.request_progress(s);
    h.take(s);
    h.hub.cancel(s, id);
    assert_eq!(h.take(s)[1], progress(2, INVALID_WATCH_ID));
}

#[test]
fn a_deferred_request_waits_for_room() {
    let mut h = Harness::with_budget(1);
    let s = h.hub.open_stream();
    h.watch(s, key("a"));
    h.hub.request_progress(s);
    let out = h.take(s);
    assert_eq!(out.len(), 2, "created, then the progress the drain made room for");
    assert_eq!(out[1], progress(1, INVALID_WATCH_ID));
}
