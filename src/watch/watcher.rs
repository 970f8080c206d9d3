//! One watcher: what it watches (key span, filters, options), where it stands (the
//! next revision it still needs, and whether it is fed live or caught up from
//! history), and how it turns the store's events into its own.
//!
//! ```text
//!            create(start = 0 or > current)           create(start <= current)
//!                        |                                      |
//!                        v          stream over budget          v
//!                     Synced  ----------------------------->  Unsynced
//!       (notify feeds it live) <-----------------------------  (sync_unsynced reads
//!                                 caught up to the current      history for it)
//!                                 revision                       |
//!                                                                | next_revision <
//!                                                                v compact_revision
//!                                                             Compacted (id kept
//!                                                             until canceled, as etcd)
//! ```

use crate::mvcc::{Event, EventType, KeySpan};
use crate::watch::types::{FilterType, StreamId, WatchCreateRequest, WatchId};

/// Names one watcher across the hub; orders watchers by stream, then id, which fixes
/// the order in which a revision's responses are queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatcherRef {
    pub stream: StreamId,
    pub watch_id: WatchId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatcherState {
    /// In the hub's synced index: fed by `notify`.
    Synced,
    /// Waiting for `sync_unsynced` to read history from `next_revision` on.
    Unsynced,
    /// Told its history was compacted; inert, its id stays taken until canceled.
    Compacted,
}

#[derive(Clone, Debug)]
pub struct Watcher {
    /// Normalised: never empty (an empty key means `"\0"`, as in etcd).
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub no_put: bool,
    pub no_delete: bool,
    pub prev_kv: bool,
    pub progress_notify: bool,
    pub fragment: bool,
    /// The first revision this watcher has not been sent yet. For a synced watcher it
    /// may lag the hub (events of other keys do not move it): its real next revision
    /// is `max(next_revision, hub revision + 1)`.
    pub next_revision: i64,
    pub state: WatcherState,
    /// No events were queued since the last progress tick (etcd's `progress[id]`).
    pub idle_since_tick: bool,
}

impl Watcher {
    /// A watcher for `req` (already validated), needing revisions from `next_revision`.
    pub fn new(req: &WatchCreateRequest, next_revision: i64, state: WatcherState) -> Self {
        Watcher {
            key: normalized_key(&req.key),
            range_end: req.range_end.clone(),
            no_put: req.filters.contains(&FilterType::NoPut),
            no_delete: req.filters.contains(&FilterType::NoDelete),
            prev_kv: req.prev_kv,
            progress_notify: req.progress_notify,
            fragment: req.fragment,
            next_revision,
            state,
            idle_since_tick: true,
        }
    }

    pub fn span(&self) -> KeySpan<'_> {
        KeySpan::new(&self.key, &self.range_end)
    }

    /// Whether the filters let `event` through.
    pub fn wants(&self, event: &Event) -> bool {
        match event.kind {
            EventType::Put => !self.no_put,
            EventType::Delete => !self.no_delete,
        }
    }

    /// This watcher's copy of `events`: filtered, `prev_kv` dropped unless asked for.
    pub fn own_events<'e>(&self, events: impl IntoIterator<Item = &'e Event>) -> Vec<Event> {
        events
            .into_iter()
            .filter(|e| self.wants(e))
            .map(|e| {
                let prev_kv = if self.prev_kv { e.prev_kv.clone() } else { None };
                Event { kind: e.kind, kv: e.kv.clone(), prev_kv }
            })
            .collect()
    }
}

/// etcd's recvLoop: "\x00 is the smallest key".
pub fn normalized_key(key: &[u8]) -> Vec<u8> {
    if key.is_empty() {
        vec![0]
    } else {
        key.to_vec()
    }
}

/// etcd's `ErrEmptyWatcherRange` test: a real `range_end` (not empty, not `"\0"`) at
/// or below the key.
pub fn is_empty_range(key: &[u8], range_end: &[u8]) -> bool {
    !matches!(range_end, [] | [0]) && normalized_key(key).as_slice() >= range_end
}

/// Whether `key` is in the span (RangeRequest conventions).
pub fn span_contains(span: KeySpan<'_>, key: &[u8]) -> bool {
    match span {
        KeySpan::Single(k) => key == k,
        KeySpan::From(k) => key >= k,
        KeySpan::Between(k, end) => key >= k && key < end,
    }
}
