//! One Watch stream: its watchers by id (etcd's `watchStream`), the id allocator, and
//! the queue of responses waiting for the server to send them, with its byte count.
//!
//! Id allocation, as etcd's `watchStream.Watch` (observed on etcd 3.4.23): a request
//! for id 0 gets the lowest id >= `next_auto_id` not in use, and `next_auto_id` moves
//! past it; any other id (negative ones too) is used as given if free. Ids of
//! canceled watchers are free again, but the allocator never goes back:
//!
//! ```text
//! create(0) -> 0   create(0) -> 1   create(5) -> 5   create(0) -> 2
//! create(2) -> refused (duplicate)  cancel(1)        create(0) -> 3
//! create(0) -> 4   create(0) -> 6 (5 is taken)       create(1) -> 1
//! ```

use std::collections::{BTreeMap, VecDeque};

use crate::watch::fragment;
use crate::watch::types::{WatchId, WatchResponse, AUTO_WATCH_ID, ERR_DUPLICATE_WATCH_ID};
use crate::watch::watcher::{Watcher, WatcherState};

/// A queued response and what the drain needs to know about it.
#[derive(Clone, Debug)]
struct Pending {
    response: WatchResponse,
    /// The watcher asked for fragmentation when this was queued.
    fragment: bool,
    bytes: usize,
}

/// The responses of one stream waiting to be sent, and their encoded size.
#[derive(Clone, Debug, Default)]
pub struct Outbox {
    pending: VecDeque<Pending>,
    pending_bytes: usize,
}

impl Outbox {
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Whether a response of `bytes` fits: always on an empty queue, else within
    /// `budget`.
    pub fn has_room(&self, bytes: usize, budget: usize) -> bool {
        self.pending_bytes == 0 || self.pending_bytes.saturating_add(bytes) <= budget
    }

    /// Queue `response`; `fragment` = its watcher allows splitting it.
    pub fn push(&mut self, response: WatchResponse, fragment: bool) {
        let bytes = fragment::response_len(&response);
        self.pending_bytes += bytes;
        self.pending.push_back(Pending { response, fragment, bytes });
    }

    /// Every queued response in order, fragmented ones split at `max_response_bytes`.
    pub fn drain(&mut self, max_response_bytes: usize) -> Vec<WatchResponse> {
        let mut out = Vec::with_capacity(self.pending.len());
        for p in self.pending.drain(..) {
            self.pending_bytes -= p.bytes;
            if p.fragment {
                out.extend(fragment::split(p.response, max_response_bytes));
            } else {
                out.push(p.response);
            }
        }
        debug_assert_eq!(self.pending_bytes, 0, "pending byte count drifted");
        out
    }
}

#[derive(Clone, Debug, Default)]
pub struct Stream {
    pub watchers: BTreeMap<WatchId, Watcher>,
    next_auto_id: WatchId,
    pub outbox: Outbox,
    /// A progress request waits for every watcher to be synced (etcd >= 3.5.8).
    pub progress_deferred: bool,
}

impl Stream {
    /// The id a create request for `requested` gets, or etcd's refusal text.
    pub fn assign_id(&mut self, requested: WatchId) -> Result<WatchId, &'static str> {
        if requested != AUTO_WATCH_ID {
            return if self.watchers.contains_key(&requested) {
                Err(ERR_DUPLICATE_WATCH_ID)
            } else {
                Ok(requested)
            };
        }
        while self.watchers.contains_key(&self.next_auto_id) {
            self.next_auto_id = self.next_auto_id.saturating_add(1);
        }
        let id = self.next_auto_id;
        self.next_auto_id = self.next_auto_id.saturating_add(1);
        Ok(id)
    }

    /// Every live watcher is fed live (compacted ones will never get more, so a
    /// bookmark holds for them trivially).
    pub fn all_synced(&self) -> bool {
        self.watchers.values().all(|w| w.state != WatcherState::Unsynced)
    }
}
