//! Progress notifications: event-less responses whose header revision R is a
//! bookmark, "you have been sent every event you watch up to R". They are only ever
//! queued for a watcher that is synced, after everything it was sent, at the hub's
//! revision; so no event at or below R can follow one.
//!
//! Two kinds, as etcd:
//!
//! * Periodic ([`WatchHub::progress_all`], etcd's `--experimental-watch-progress-notify-
//!   interval` ticker): each synced watcher created with `progress_notify` that had no
//!   events queued since the previous tick gets one with its own watch id. Skipped when
//!   its stream is at its budget (etcd drops it when the channel is full).
//! * Requested ([`WatchHub::request_progress`], a WatchProgressRequest): one response
//!   for the whole stream, watch id -1, sent when every watcher of the stream is synced.
//!   If one is not, it is deferred until all are (checked after each catch-up, cancel
//!   and drain), and repeated requests meanwhile collapse into one: etcd >= 3.5.8
//!   semantics. etcd 3.4.23 answers at once even while a watcher is catching up, and we
//!   observed it send progress at 12 followed by catch-up events at 11 and 12, which
//!   breaks the bookmark; we do not copy that.
//!
//! Observed on etcd 3.4.23 with a 2 s interval and watchers 1 (key p, progress_notify),
//! 2 (key q, progress_notify), 3 (key q, no progress_notify), a put on p every 0.5 s:
//!
//! ```text
//! events for 1 at 18 19 20 21     tick: progress for 2 (hdr 21) only
//! events for 1 at 22 .. 25        tick: progress for 2 (hdr 25) only
//! (puts stop)                     tick: progress for 2 and for 1 (hdr 29); never for 3
//! ```

use crate::watch::fragment::response_len;
use crate::watch::hub::WatchHub;
use crate::watch::types::{StreamId, WatchResponse, INVALID_WATCH_ID};
use crate::watch::watcher::WatcherState;

impl WatchHub {
    /// One periodic progress tick (see the module docs).
    pub fn progress_all(&mut self) {
        let revision = self.revision;
        let budget = self.config.max_pending_bytes_per_stream;
        for (&stream_id, stream) in self.streams.iter_mut() {
            let mut due = Vec::new();
            for (&watch_id, w) in stream.watchers.iter_mut().filter(|(_, w)| w.progress_notify) {
                if w.idle_since_tick && w.state == WatcherState::Synced {
                    due.push(watch_id);
                }
                w.idle_since_tick = true;
            }
            for watch_id in due {
                let progress = progress_response(revision, watch_id);
                if stream.outbox.has_room(response_len(&progress), budget) {
                    stream.outbox.push(progress, false);
                    self.ready.insert(stream_id);
                }
            }
        }
        self.flush_all_deferred_progress();
    }

    /// A WatchProgressRequest on the stream: answered now if every watcher is synced,
    /// else once they are (see the module docs).
    pub fn request_progress(&mut self, stream_id: StreamId) {
        if let Some(stream) = self.streams.get_mut(&stream_id) {
            stream.progress_deferred = true;
            self.flush_deferred_progress(stream_id);
        }
    }

    /// Answer every deferred progress request that can be now.
    pub(super) fn flush_all_deferred_progress(&mut self) {
        let deferred: Vec<StreamId> =
            self.streams.iter().filter(|(_, s)| s.progress_deferred).map(|(id, _)| *id).collect();
        for stream_id in deferred {
            self.flush_deferred_progress(stream_id);
        }
    }

    /// Answer the stream's deferred progress request if it can be now.
    pub(super) fn flush_deferred_progress(&mut self, stream_id: StreamId) {
        let revision = self.revision;
        let budget = self.config.max_pending_bytes_per_stream;
        let Some(stream) = self.streams.get_mut(&stream_id) else { return };
        if !stream.progress_deferred || !stream.all_synced() {
            return;
        }
        let progress = progress_response(revision, INVALID_WATCH_ID);
        if stream.outbox.has_room(response_len(&progress), budget) {
            stream.outbox.push(progress, false);
            stream.progress_deferred = false;
            self.ready.insert(stream_id);
        }
    }
}

fn progress_response(revision: i64, watch_id: i64) -> WatchResponse {
    WatchResponse { header_revision: revision, watch_id, ..Default::default() }
}
