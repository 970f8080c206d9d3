//! [`WatchHub`]: every watcher of one member, its streams and their queued responses;
//! creating and canceling watchers, draining output, and restoring after a snapshot.
//! Feeding live events is in `notify.rs`, catch-up from history in `sync.rs`,
//! progress notifications in `progress.rs`.
//!
//! Worked example: one stream, the store at revision 3 with `a` put at 2 and 3.
//!
//! ```text
//! call                               queued on the stream (header revision, watch id)
//! create(key a)                      created            (3, 0)     synced, next 4
//! create(key a, start 2)             created            (3, 1)     unsynced, next 2
//! create(key a, watch_id 1)          refused: duplicate (3, -1)
//! request_progress()                 -                  (1 is unsynced: deferred)
//! put a -> notify(4, [put a])        events [a@4]       (4, 0)     1 is not fed live
//! sync_unsynced(store, 100)          events [a@2 a@3 a@4] (4, 1)   1 synced, next 5
//!                                    progress           (4, -1)    deferred one answered
//! cancel(0)                          canceled           (4, 0)
//! take()                             all of the above, in this order
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::watch::index::SyncedIndex;
use crate::watch::stream::Stream;
use crate::watch::types::{
    HubConfig, StreamId, WatchCreateRequest, WatchId, WatchResponse, ERR_EMPTY_WATCHER_RANGE,
    INVALID_WATCH_ID,
};
use crate::watch::watcher::{is_empty_range, Watcher, WatcherRef, WatcherState};

/// The watch state of one member: not replicated, plain data, no I/O and no clocks.
/// The state machine calls [`notify`](Self::notify) after every applied write; the
/// server opens a stream per gRPC Watch call, forwards its requests, and sends what
/// [`take`](Self::take) returns (see the module docs for the whole loop).
#[derive(Debug)]
pub struct WatchHub {
    pub(super) config: HubConfig,
    /// The last revision notified (or restored): the store's current revision.
    pub(super) revision: i64,
    next_stream_id: StreamId,
    pub(super) streams: BTreeMap<StreamId, Stream>,
    /// Watchers fed live by `notify`.
    pub(super) synced: SyncedIndex,
    /// Watchers waiting for `sync_unsynced`, in round-robin order.
    pub(super) unsynced: BTreeSet<WatcherRef>,
    /// The last unsynced watcher served, so the next round starts after it.
    pub(super) sync_cursor: Option<WatcherRef>,
    /// Streams that got output since the last `ready_streams`.
    pub(super) ready: BTreeSet<StreamId>,
}

impl WatchHub {
    /// An empty hub over a store whose current revision is `current_revision`.
    pub fn new(config: HubConfig, current_revision: i64) -> Self {
        WatchHub {
            config,
            revision: current_revision,
            next_stream_id: 1,
            streams: BTreeMap::new(),
            synced: SyncedIndex::default(),
            unsynced: BTreeSet::new(),
            sync_cursor: None,
            ready: BTreeSet::new(),
        }
    }

    /// The revision the hub was last notified of (or restored to).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    pub fn open_stream(&mut self) -> StreamId {
        let id = self.next_stream_id;
        self.next_stream_id += 1;
        self.streams.insert(id, Stream::default());
        id
    }

    /// Drops the stream, its watchers and its undelivered output; false if unknown.
    pub fn close_stream(&mut self, stream_id: StreamId) -> bool {
        let Some(stream) = self.streams.remove(&stream_id) else { return false };
        for (&watch_id, w) in &stream.watchers {
            self.forget(WatcherRef { stream: stream_id, watch_id }, w);
        }
        self.ready.remove(&stream_id);
        true
    }

    /// etcd's WatchCreateRequest. Queues the created response (header = the current
    /// revision) and returns the watcher's id, or queues etcd's refusal (watch_id -1,
    /// created + canceled + cancel_reason) and returns None: a negative start revision
    /// ("...required revision has been compacted", as etcd >= 3.5), an empty range,
    /// a duplicate id. None without a response for an unknown stream.
    ///
    /// A start revision in the past is served by [`sync_unsynced`](Self::sync_unsynced),
    /// which answers a compacted one with a compacted response after the created one;
    /// 0 means from the next revision; a future one waits, fed live, until reached.
    pub fn create(&mut self, stream_id: StreamId, req: &WatchCreateRequest) -> Option<WatchId> {
        let revision = self.revision;
        let stream = self.streams.get_mut(&stream_id)?;
        let assigned = if req.start_revision < 0 {
            Err(Error::Compacted.message())
        } else if is_empty_range(&req.key, &req.range_end) {
            Err(ERR_EMPTY_WATCHER_RANGE.to_string())
        } else {
            stream.assign_id(req.watch_id).map_err(str::to_string)
        };
        let watch_id = match assigned {
            Ok(id) => id,
            Err(cancel_reason) => {
                self.refuse(stream_id, cancel_reason);
                return None;
            }
        };
        let (next_revision, state) = match req.start_revision {
            0 => (revision + 1, WatcherState::Synced),
            start if start > revision => (start, WatcherState::Synced),
            start if crate::mutant!(DuplicateAfterReconnect) => ((start - 1).max(1), WatcherState::Unsynced),
            start => (start, WatcherState::Unsynced),
        };
        let watcher = Watcher::new(req, next_revision, state);
        let who = WatcherRef { stream: stream_id, watch_id };
        if state == WatcherState::Synced {
            self.synced.insert(who, &watcher);
        } else {
            self.unsynced.insert(who);
        }
        self.streams.get_mut(&stream_id)?.watchers.insert(watch_id, watcher);
        let created =
            WatchResponse { header_revision: revision, watch_id, created: true, ..Default::default() };
        self.enqueue(stream_id, created, false);
        Some(watch_id)
    }

    /// Refuse a create request: a response with watch ID -1, created and canceled,
    /// saying why (etcd's answer to an invalid or forbidden create).
    pub fn refuse(&mut self, stream_id: StreamId, cancel_reason: String) {
        let refusal = WatchResponse {
            header_revision: self.revision,
            watch_id: INVALID_WATCH_ID,
            created: true,
            canceled: true,
            cancel_reason,
            ..WatchResponse::default()
        };
        self.enqueue(stream_id, refusal, false);
    }

    /// etcd's WatchCancelRequest: true and a canceled response (header = current
    /// revision) if the watcher exists, compacted ones included; false and nothing
    /// queued otherwise, as etcd. Responses already queued for it stay queued.
    pub fn cancel(&mut self, stream_id: StreamId, watch_id: WatchId) -> bool {
        let Some(stream) = self.streams.get_mut(&stream_id) else { return false };
        let Some(w) = stream.watchers.remove(&watch_id) else { return false };
        self.forget(WatcherRef { stream: stream_id, watch_id }, &w);
        let canceled =
            WatchResponse { header_revision: self.revision, watch_id, canceled: true, ..Default::default() };
        self.enqueue(stream_id, canceled, false);
        self.flush_deferred_progress(stream_id);
        true
    }

    /// Every queued response of the stream, in order; responses of watchers created
    /// with `fragment` are split at `max_response_bytes` (etcd: max request bytes +
    /// 512 KiB). Call it when the gRPC stream can take more: what is not taken is what
    /// the stream's budget limits. A deferred progress request answered now comes last.
    pub fn take(&mut self, stream_id: StreamId, max_response_bytes: usize) -> Vec<WatchResponse> {
        let Some(stream) = self.streams.get_mut(&stream_id) else { return Vec::new() };
        let mut out = stream.outbox.drain(max_response_bytes);
        self.flush_deferred_progress(stream_id);
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            out.extend(stream.outbox.drain(max_response_bytes));
        }
        self.ready.remove(&stream_id);
        out
    }

    /// Streams that got output since the last call (to wake their senders).
    pub fn ready_streams(&mut self) -> Vec<StreamId> {
        std::mem::take(&mut self.ready).into_iter().collect()
    }

    /// After the store was replaced by a snapshot at `current_revision`: every synced
    /// watcher that needs a revision up to it is caught up from the new store's
    /// history instead (etcd's watchableStore.Restore). Errors if the revision would
    /// go back, which would break the ordered guarantee.
    pub fn restore(&mut self, current_revision: i64) -> Result<()> {
        if current_revision < self.revision {
            return Err(Error::Internal(format!(
                "watch: ordered guarantee: restore to revision {current_revision} after {}",
                self.revision
            )));
        }
        self.unsync_through(current_revision);
        self.revision = current_revision;
        Ok(())
    }

    /// Moves every synced watcher that needs a revision <= `through` to unsynced, its
    /// next revision made explicit (a synced watcher's may lag the hub).
    pub(super) fn unsync_through(&mut self, through: i64) {
        let hub_next = self.revision + 1;
        for (&stream_id, stream) in self.streams.iter_mut() {
            for (&watch_id, w) in stream.watchers.iter_mut() {
                if w.state != WatcherState::Synced {
                    continue;
                }
                w.next_revision = w.next_revision.max(hub_next);
                if w.next_revision <= through {
                    let who = WatcherRef { stream: stream_id, watch_id };
                    self.synced.remove(who, w);
                    self.unsynced.insert(who);
                    w.state = WatcherState::Unsynced;
                }
            }
        }
    }

    /// Queue `response` on the stream and mark it ready.
    pub(super) fn enqueue(&mut self, stream_id: StreamId, response: WatchResponse, fragment: bool) {
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.outbox.push(response, fragment);
            self.ready.insert(stream_id);
        }
    }

    /// Drop a removed watcher from the index it is in.
    fn forget(&mut self, who: WatcherRef, w: &Watcher) {
        match w.state {
            WatcherState::Synced => {
                self.synced.remove(who, w);
            }
            WatcherState::Unsynced => {
                self.unsynced.remove(&who);
            }
            WatcherState::Compacted => {}
        }
    }

    // ---- State for checkers and metrics ----

    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    pub fn synced_count(&self) -> usize {
        self.synced.len()
    }

    pub fn unsynced_count(&self) -> usize {
        self.unsynced.len()
    }

    /// Encoded bytes queued on the stream (0 for an unknown one).
    pub fn pending_bytes(&self, stream_id: StreamId) -> usize {
        self.streams.get(&stream_id).map_or(0, |s| s.outbox.pending_bytes())
    }

    /// A watcher's state and the next revision it needs (for a synced one, as the
    /// hub sees it: never below the hub's revision + 1).
    pub fn watcher_position(&self, stream_id: StreamId, watch_id: WatchId) -> Option<(WatcherState, i64)> {
        let w = self.streams.get(&stream_id)?.watchers.get(&watch_id)?;
        let next = match w.state {
            WatcherState::Synced => w.next_revision.max(self.revision + 1),
            _ => w.next_revision,
        };
        Some((w.state, next))
    }
}
