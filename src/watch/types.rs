//! The watch API's request and response, independent of protobuf and gRPC: field for
//! field etcd's `WatchCreateRequest` and `WatchResponse` (as `mvcc::types` mirrors the
//! KV messages), plus the hub's configuration and etcd's watch error texts.

use crate::mvcc::Event;

/// One gRPC Watch stream, as numbered by [`WatchHub::open_stream`](super::WatchHub::open_stream).
pub type StreamId = u64;

/// A watcher's id, unique within its stream (etcd's `WatchID`).
pub type WatchId = i64;

/// `watch_id` 0 in a create request: the hub picks one (etcd's `AutoWatchID`).
pub const AUTO_WATCH_ID: WatchId = 0;

/// The id of a response that belongs to no watcher: a refused create, or a progress
/// notification for the whole stream (etcd's `InvalidWatchID`).
pub const INVALID_WATCH_ID: WatchId = -1;

/// etcd's `mvcc.ErrWatcherDuplicateID` text: the requested id is in use on the stream.
pub const ERR_DUPLICATE_WATCH_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";

/// etcd's `mvcc.ErrEmptyWatcherRange` text: `range_end` is set and `key >= range_end`.
pub const ERR_EMPTY_WATCHER_RANGE: &str = "mvcc: watcher range is empty";

/// etcd's `WatchCreateRequest.FilterType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterType {
    /// Drop put events.
    NoPut,
    /// Drop delete events.
    NoDelete,
}

/// etcd's WatchCreateRequest. `range_end` follows RangeRequest's conventions: empty =
/// the single `key`, `"\0"` = every key >= `key`, else `[key, range_end)`. An empty
/// `key` means `"\0"`, as in etcd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchCreateRequest {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    /// First revision to report (inclusive); 0 = from the next write on.
    pub start_revision: i64,
    /// Ask for a progress notification on every idle tick of [`WatchHub::progress_all`](super::WatchHub::progress_all).
    pub progress_notify: bool,
    pub filters: Vec<FilterType>,
    /// Fill each event's `prev_kv`.
    pub prev_kv: bool,
    /// 0 = the hub picks ([`AUTO_WATCH_ID`]); any other value is used as given.
    pub watch_id: WatchId,
    /// Allow a response above the caller's size limit to be split (see `fragment.rs`).
    pub fragment: bool,
}

/// etcd's WatchResponse, minus the header fields the hub does not know (cluster id,
/// member id, raft term): the server adds those.
///
/// Kinds, as the server sends them:
///
/// ```text
/// created    created=true, watch_id (INVALID_WATCH_ID + canceled + cancel_reason if refused)
/// events     watch_id, events (one or more whole revisions, oldest first)
/// compacted  watch_id, canceled=true, compact_revision, header_revision 0 (as etcd)
/// canceled   watch_id, canceled=true (answer to a cancel request)
/// progress   watch_id (or INVALID_WATCH_ID for the whole stream), no events
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchResponse {
    /// The header's revision. For events and progress it is a bookmark: the watcher
    /// has been sent every event it watches with revision <= header_revision.
    pub header_revision: i64,
    pub watch_id: WatchId,
    pub created: bool,
    pub canceled: bool,
    pub compact_revision: i64,
    pub cancel_reason: String,
    /// More responses with the rest of these events follow.
    pub fragment: bool,
    pub events: Vec<Event>,
}

impl WatchResponse {
    /// An event-less, non-control response: a progress notification.
    pub fn is_progress_notify(&self) -> bool {
        self.events.is_empty()
            && !self.created
            && !self.canceled
            && self.compact_revision == 0
            && !self.fragment
            && self.cancel_reason.is_empty()
    }
}

/// The hub's memory budget (see the bounds in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubConfig {
    /// Encoded bytes of responses a stream may hold undrained. A synced watcher whose
    /// next response would pass it is taken off the live path (a victim) and caught
    /// up from history once the stream drains; one response may always be queued on an
    /// empty stream, so a revision larger than the budget still gets through.
    pub max_pending_bytes_per_stream: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        // About etcd's 128-response watch channel of small events, and one response at
        // etcd's default size limit (1.5 MiB request + 512 KiB gRPC overhead).
        HubConfig { max_pending_bytes_per_stream: 2 * 1024 * 1024 }
    }
}
