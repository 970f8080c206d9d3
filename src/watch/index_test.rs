//! The synced index: lookups by key, ranges, removal and its count.

use crate::watch::index::SyncedIndex;
use crate::watch::test_util::*;
use crate::watch::watcher::{Watcher, WatcherRef, WatcherState};
use crate::watch::WatchCreateRequest;

fn watcher(req: WatchCreateRequest) -> Watcher {
    Watcher::new(&req, 1, WatcherState::Synced)
}

fn at(watch_id: i64) -> WatcherRef {
    WatcherRef { stream: 1, watch_id }
}

#[test]
fn lookups_follow_span_conventions() {
    let mut index = SyncedIndex::default();
    let spans = [key("b"), range("a", "c"), range("b", "\0"), range("c", "d"), key("")];
    let watchers: Vec<Watcher> = spans.into_iter().map(watcher).collect();
    for (i, w) in watchers.iter().enumerate() {
        index.insert(at(i as i64), w);
    }
    assert_eq!(index.len(), 5);
    let found = |k: &str| index.watchers_of(k.as_bytes()).map(|r| r.watch_id).collect::<Vec<_>>();
    assert_eq!(found("b"), vec![0, 1, 2], "single-key watchers first, then ranges in insertion order");
    assert_eq!(found("a"), vec![1]);
    assert_eq!(found("c"), vec![2, 3], "range_end is exclusive");
    assert_eq!(found("zz"), vec![2]);
    assert_eq!(found("\0"), vec![4], "an empty key watches \"\\0\"");
}

#[test]
fn remove_is_exact_and_counted() {
    let mut index = SyncedIndex::default();
    let (single, ranged) = (watcher(key("k")), watcher(range("a", "z")));
    index.insert(at(1), &single);
    index.insert(at(2), &single);
    index.insert(at(3), &ranged);
    assert!(index.remove(at(1), &single));
    assert!(!index.remove(at(1), &single), "already gone");
    assert!(!index.remove(at(9), &ranged), "never there");
    assert_eq!(index.watchers_of(b"k").map(|r| r.watch_id).collect::<Vec<_>>(), vec![2, 3]);
    assert!(index.remove(at(2), &single) && index.remove(at(3), &ranged));
    assert_eq!(index.len(), 0);
    assert_eq!(index.watchers_of(b"k").count(), 0);
}
