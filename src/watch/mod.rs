//! Watch: delivery of the KV store's changes to watchers (etcd's
//! server/storage/mvcc watchable store plus the bookkeeping of v3rpc's watch stream),
//! sans I/O: no async, no clocks, no sockets. Per member, not replicated.
//!
//! Owns: streams and their watchers ([`WatchHub`]), watch id allocation, matching
//! events to watchers, per-stream queues of [`WatchResponse`]s with a byte budget,
//! catch-up of watchers from the store's history, compaction cancels, progress
//! notifications and fragmentation. Does not own: the gRPC stream (the server moves
//! requests in and responses out), the header's cluster id / member id / raft term,
//! auth checks (refuse before calling [`WatchHub::create`]), timers (the server calls
//! [`WatchHub::progress_all`] on its progress interval and [`WatchHub::sync_unsynced`]
//! on a short one, etcd uses 100 ms), and the history itself (the store's
//! [`KvStore::events_between`](crate::mvcc::KvStore::events_between)).
//!
//! # The loop
//!
//! ```text
//! state machine  apply write -> hub.notify(rev, &events)             (every write)
//!                install snapshot -> hub.restore(store rev)
//! server         open_stream / create / cancel / request_progress   (client requests)
//!                ready_streams() -> take(stream, max bytes) -> send  (when writable)
//!                sync_unsynced(&store, max_events) while it returns > 0, and on a timer
//!                progress_all()                                      (progress interval)
//! ```
//!
//! The store must be at the hub's revision whenever `sync_unsynced` reads it: notify
//! in the same critical section as the apply.
//!
//! # Guarantees (etcd's watch API)
//!
//! For each watcher, the concatenated events of its responses are exactly the
//! committed changes of its key span from its start revision on, filtered, each
//! revision once, in order (ordered, unique, reliable); a revision's events for a
//! watcher are never split across responses, except into fragments of one response
//! when the watcher asked for it (atomic); a progress notification or an event
//! response at header revision R means every watched change <= R has been sent
//! (bookmarkable), so a client resumes at R + 1 (resumable). The one loss is etcd's:
//! a watcher that needs a compacted revision gets a compacted response and stops.
//!
//! # Memory bounds
//!
//! * Per stream, queued responses hold at most `max_pending_bytes_per_stream`
//!   ([`HubConfig`]) encoded bytes, plus one response: one revision's events for one
//!   watcher on the live path, or one catch-up page. A live response that does not fit
//!   turns its watcher into a victim (state only, no events kept); a full stream gets
//!   no catch-up pages and no periodic progress.
//! * A catch-up call reads at most `max_events` events plus the rest of the last
//!   revision; `events_between` holds O(`max_events`) revisions while it picks them.
//! * Per watcher: its key span and a few words. A compacted watcher keeps its id (and
//!   span) until the client cancels it or closes the stream, as in etcd.
//! * Nothing grows with history: victims and unsynced watchers hold a revision, not
//!   events; the store's history is what they read.
//!
//! # etcd behaviours kept (observed on etcd 3.4.23)
//!
//! * Auto ids count 0, 1, 2, ... per stream skipping ids in use; a client id (any
//!   nonzero, negative too) is used as given; a duplicate is refused with watch_id -1,
//!   created + canceled, "mvcc: duplicate watch ID provided on the WatchStream".
//! * `key >= range_end` is refused the same way with "mvcc: watcher range is empty";
//!   an empty key means "\0".
//! * The created response carries the current revision; a start revision below the
//!   compaction revision gets created, then a compacted response (compact_revision =
//!   the store's, canceled, header revision 0, no reason); starting exactly at the
//!   compaction revision works (events there have no prev_kv). A compacted watcher's
//!   id stays taken: recreating it is a duplicate, canceling it answers canceled.
//! * A future start revision is fed live from that revision on.
//! * Canceling an unknown id sends nothing.
//! * Catch-up responses carry many revisions at once; live ones one revision each,
//!   with that revision in the header.
//!
//! Deliberate differences: a negative start revision is refused at create with
//! "etcdserver: mvcc: required revision has been compacted" (etcd >= 3.5; 3.4.23
//! accepts it and then sends a compacted response); a requested progress waits until
//! the stream is synced (etcd >= 3.5.8; see `progress.rs`); a catch-up response's
//! header is the revision it is complete through (etcd 3.4 puts the current revision
//! there even when the page is partial).

mod fragment;
mod hub;
mod index;
mod notify;
mod progress;
mod stream;
mod sync;
mod types;
mod watcher;

pub use fragment::{event_len, response_len};
pub use hub::WatchHub;
pub use types::*;
pub use watcher::WatcherState;

#[cfg(test)]
mod fragment_test;
#[cfg(test)]
mod hub_test;
#[cfg(test)]
mod index_test;
#[cfg(test)]
mod model_test;
#[cfg(test)]
mod notify_test;
#[cfg(test)]
mod progress_test;
#[cfg(test)]
mod sync_test;
#[cfg(test)]
mod test_util;
