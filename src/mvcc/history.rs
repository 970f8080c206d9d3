//! History walks: the changes ([`Event`]s) a key span saw between two revisions,
//! rebuilt from the stored versions so that they equal, field for field, the events
//! the write path (`write.rs`) returned when those changes were made. Watch catch-up
//! (a watcher whose start revision is in the past, or one that fell behind) reads
//! here instead of keeping its own event log.
//!
//! # Rebuilding an event
//!
//! A stored version is a put, or (last of a generation that is not the current one) a
//! tombstone. Its event is:
//!
//! ```text
//! put        PUT    kv = the version (create_revision, mod_revision, version, value, lease)
//! tombstone  DELETE kv = {key, mod_revision = the delete's main revision, all else 0}
//! prev_kv    the version stored just before it, unless that is a tombstone (the key
//!            did not exist) or was compacted away
//! ```
//!
//! Compaction removes only a prefix of a key's history and keeps the newest version at
//! or below the compaction revision, so for every event above `compact_revision` the
//! previous version is still stored and `prev_kv` is exact. An event *at*
//! `compact_revision` is still there but its previous version is not: its `prev_kv` is
//! None, exactly as etcd reports it (etcd reads prev_kv at `mod_revision - 1`, which is
//! compacted).
//!
//! # Worked example
//!
//! ```text
//! rev 2  put a=1                       a @ 2.0
//! rev 3  txn { put b=1; put a=2 }      b @ 3.0, a @ 3.1
//! rev 4  delete a                      a @ 4.0 (tombstone)
//!
//! events_between("a", "\0", 2, 4, 0)   all keys >= "a", no limit
//!   2.0 PUT    a=1 create 2 ver 1
//!   3.0 PUT    b=1 create 3 ver 1
//!   3.1 PUT    a=2 create 2 ver 2     prev a=1
//!   4.0 DELETE a   mod 4              prev a=2
//!   through_revision 4
//!
//! events_between("a", "\0", 2, 4, 2)   limit 2: the two oldest events are 2.0 and 3.0;
//!   2.0, 3.0, 3.1                      revision 3 is never cut, so 3.1 comes too
//!   through_revision 3                 (a caller continues from 4)
//!
//! after compact(3):
//! events_between("a", "\0", 3, 4, 0)   3.1's prev (a @ 2.0) is gone: prev_kv None
//! events_between("a", "\0", 2, 4, 0)   Err(Compacted): 2 < compact_revision
//! ```
//!
//! # Cost
//!
//! Each key of the span is visited once and its stored versions are walked oldest
//! first up to the page end, so a call costs O(keys in span + their versions up to
//! the page end) time. With a limit, a first pass keeps the `limit` oldest revisions
//! in a heap (O(limit) memory) to find where the page ends; the page itself holds at
//! most `limit` events plus the rest of its last revision.

use std::collections::BinaryHeap;

use crate::error::{Error, Result};
use crate::mvcc::key_index::StoredRef;
use crate::mvcc::range::KeySpan;
use crate::mvcc::revision::Revision;
use crate::mvcc::store::KvStore;
use crate::mvcc::types::{Event, EventType, KeyValue};

/// Events of one span in revision order, and how far they are complete.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Sorted by (main, sub) revision: a transaction's events in request order.
    pub events: Vec<Event>,
    /// Every event of the span with main revision in `[from_revision,
    /// through_revision]` is in `events`, and none above it: continue from
    /// `through_revision + 1`. Equals `to_revision` unless the limit cut the page.
    pub through_revision: i64,
}

impl KvStore {
    /// The events of keys in `(key, range_end)` (RangeRequest conventions) with main
    /// revision in `[from_revision, to_revision]`, as the write path emitted them (see
    /// the module docs). `limit` > 0 caps the page at `limit` events plus the rest of
    /// the last revision (a revision is never split); 0 means no limit.
    ///
    /// Errors: Compacted (`from_revision < compact_revision`; reading from exactly the
    /// compaction revision is allowed, as in etcd's watch), FutureRev (`to_revision >
    /// current_revision`).
    ///
    /// ```
    /// # use metastore::mvcc::{KvStore, PutRequest, EventType};
    /// let mut s = KvStore::new();
    /// let put = |k: &str| PutRequest { key: k.into(), value: b"v".to_vec(), ..Default::default() };
    /// let (_, live) = s.put(&put("a"), &|_| false).unwrap();
    /// s.put(&put("b"), &|_| false).unwrap();
    /// let page = s.events_between(b"a", b"", 2, 3, 0).unwrap();
    /// assert_eq!(page.events, live); // only key "a": its put at revision 2
    /// assert_eq!(page.through_revision, 3);
    /// assert_eq!(page.events[0].kind, EventType::Put);
    /// ```
    pub fn events_between(
        &self,
        key: &[u8],
        range_end: &[u8],
        from_revision: i64,
        to_revision: i64,
        limit: usize,
    ) -> Result<HistoryPage> {
        if to_revision > self.current_revision {
            return Err(Error::FutureRev);
        }
        if from_revision < self.compact_revision {
            return Err(Error::Compacted);
        }
        let from = from_revision.max(1);
        if from > to_revision {
            return Ok(HistoryPage { events: Vec::new(), through_revision: to_revision });
        }
        let span = KeySpan::new(key, range_end);
        let through = if limit == 0 { to_revision } else { self.page_end(span, from, to_revision, limit) };
        let mut found: Vec<(Revision, Event)> = Vec::new();
        for (key, ki) in span.iter(&self.index) {
            let mut prev: Option<StoredRef<'_>> = None;
            for stored in ki.stored() {
                let rev = stored.version.mod_revision;
                if rev.main > through {
                    break;
                }
                if rev.main >= from {
                    found.push((rev, rebuild_event(key, &stored, prev.as_ref())));
                }
                prev = Some(stored);
            }
        }
        found.sort_unstable_by_key(|(rev, _)| *rev);
        check_page(&found, from, through)?;
        Ok(HistoryPage { events: found.into_iter().map(|(_, e)| e).collect(), through_revision: through })
    }

    /// The main revision at which a page of at most `limit` events (plus the rest of
    /// its last revision) starting at `from` ends: the newest of the `limit` oldest
    /// revisions in range, or `to` when the range holds no more than `limit` events.
    fn page_end(&self, span: KeySpan<'_>, from: i64, to: i64, limit: usize) -> i64 {
        let mut oldest: BinaryHeap<Revision> = BinaryHeap::with_capacity(limit.saturating_add(1).min(4096));
        let mut total = 0usize;
        for (_, ki) in span.iter(&self.index) {
            for stored in ki.stored() {
                let rev = stored.version.mod_revision;
                if rev.main > to {
                    break;
                }
                if rev.main < from {
                    continue;
                }
                total += 1;
                oldest.push(rev);
                if oldest.len() > limit {
                    oldest.pop();
                }
            }
        }
        match oldest.peek() {
            Some(newest) if total > limit => newest.main,
            _ => to,
        }
    }
}

/// The event a stored version stands for; `prev` is the version stored before it.
fn rebuild_event(key: &[u8], stored: &StoredRef<'_>, prev: Option<&StoredRef<'_>>) -> Event {
    let prev_kv = prev.filter(|p| !p.tombstone).map(|p| p.version.to_key_value(key, false));
    if stored.tombstone {
        let kv = KeyValue {
            key: key.to_vec(),
            mod_revision: stored.version.mod_revision.main,
            ..KeyValue::default()
        };
        Event { kind: EventType::Delete, kv, prev_kv }
    } else {
        Event { kind: EventType::Put, kv: stored.version.to_key_value(key, false), prev_kv }
    }
}

/// Read-back check: strictly increasing revisions inside `[from, through]`.
fn check_page(found: &[(Revision, Event)], from: i64, through: i64) -> Result<()> {
    let mut last: Option<Revision> = None;
    for (rev, _) in found {
        if rev.main < from || rev.main > through || last.is_some_and(|l| l >= *rev) {
            return Err(Error::Internal(format!(
                "mvcc: history walk broke revision order: {rev} after {last:?} in [{from}, {through}]"
            )));
        }
        last = Some(*rev);
    }
    Ok(())
}

#[cfg(test)]
#[path = "history_test.rs"]
mod history_test;
