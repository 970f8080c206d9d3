//! The synced watchers, indexed for `notify`: which watchers want an event on key K?
//!
//! ```text
//! by_key  BTreeMap<key, [WatcherRef]>   single-key watchers: one O(log n) lookup
//! ranges  [(start, end?, WatcherRef)]   range watchers (end None = to the last key):
//!                                       a scan, O(range watchers) per event
//! ```
//!
//! etcd keeps range watchers in an interval tree; a list is simpler and enough while
//! range watchers number in the hundreds. Entries keep insertion order, so the
//! watchers of a key are always found in the same order (replayable simulation).

use std::collections::BTreeMap;

use crate::mvcc::KeySpan;
use crate::watch::watcher::{span_contains, Watcher, WatcherRef};

#[derive(Clone, Debug)]
struct RangeEntry {
    start: Box<[u8]>,
    /// None: every key >= start.
    end: Option<Box<[u8]>>,
    who: WatcherRef,
}

#[derive(Clone, Debug, Default)]
pub struct SyncedIndex {
    by_key: BTreeMap<Box<[u8]>, Vec<WatcherRef>>,
    ranges: Vec<RangeEntry>,
    len: usize,
}

impl SyncedIndex {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn insert(&mut self, who: WatcherRef, w: &Watcher) {
        match w.span() {
            KeySpan::Single(key) => self.by_key.entry(key.into()).or_default().push(who),
            KeySpan::From(start) => self.ranges.push(RangeEntry { start: start.into(), end: None, who }),
            KeySpan::Between(start, end) => {
                self.ranges.push(RangeEntry { start: start.into(), end: Some(end.into()), who })
            }
        }
        self.len += 1;
    }

    /// Removes `who` (indexed under `w`'s span); false if it was not there.
    pub fn remove(&mut self, who: WatcherRef, w: &Watcher) -> bool {
        let removed = match w.span() {
            KeySpan::Single(key) => {
                let Some(list) = self.by_key.get_mut(key) else { return false };
                let before = list.len();
                list.retain(|r| *r != who);
                let removed = before - list.len();
                if list.is_empty() {
                    self.by_key.remove(key);
                }
                removed
            }
            _ => {
                let before = self.ranges.len();
                self.ranges.retain(|e| e.who != who);
                before - self.ranges.len()
            }
        };
        self.len -= removed;
        removed > 0
    }

    /// Every synced watcher whose span holds `key`, single-key ones first.
    pub fn watchers_of<'a>(&'a self, key: &'a [u8]) -> impl Iterator<Item = WatcherRef> + 'a {
        let singles = self.by_key.get(key).into_iter().flatten().copied();
        let ranges = self.ranges.iter().filter(move |e| entry_contains(e, key)).map(|e| e.who);
        singles.chain(ranges)
    }
}

fn entry_contains(e: &RangeEntry, key: &[u8]) -> bool {
    let span = match &e.end {
        None => KeySpan::From(&e.start),
        Some(end) => KeySpan::Between(&e.start, end),
    };
    span_contains(span, key)
}
