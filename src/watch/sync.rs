//! Catch-up: unsynced watchers (a start revision in the past, victims of a full
//! stream, everyone after a restore) read their missed revisions from the store's
//! history (`KvStore::events_between`) until they reach the hub's revision, then go
//! back on the live path (etcd's `syncWatchers` + `moveVictims`).
//!
//! Each call serves watchers round-robin, reading at most `max_events` events in all
//! (plus the rest of the last revision read: a revision is never split), so one call
//! costs O(max_events) events of memory and the caller spreads a long catch-up over
//! several calls. A watcher whose stream is at its budget is skipped until the stream
//! is drained. One whose next revision was compacted away gets etcd's compacted
//! response (`compact_revision` = the store's, `canceled`, header revision 0) and stops;
//! its id stays taken until the client cancels it, as in etcd.
//!
//! Ordering: the store must be at the hub's revision (the caller notifies after every
//! write, before anything else reads the store). A watcher's page is then complete
//! through `through_revision`; if that is the hub's revision it joins the synced index
//! before any later `notify`, so the next revision reaches it live, exactly once.
//!
//! ```text
//! hub at 9, W unsynced next 3, max_events 4; revisions of the events in W's span:
//! 3, 4 (a txn of three), 6, 8
//! call 1: events_between(3, 9, limit 4) = [3 4 4 4] through 4  -> W next 5
//! call 2: events_between(5, 9, limit 4) = [6 8]     through 9  -> W synced, next 10
//! ```

use std::ops::Bound::{Excluded, Unbounded};

use crate::error::{Error, Result};
use crate::mvcc::KvStore;
use crate::watch::hub::WatchHub;
use crate::watch::types::WatchResponse;
use crate::watch::watcher::{WatcherRef, WatcherState};

impl WatchHub {
    /// Serve unsynced watchers from `store`'s history, reading at most `max_events`
    /// events (at least one revision). Returns how many watchers are still unsynced:
    /// call again (after draining) while it is not 0.
    ///
    /// Errors: `store` is not at the hub's revision (a write was not notified), or a
    /// history read failed.
    pub fn sync_unsynced(&mut self, store: &KvStore, max_events: usize) -> Result<usize> {
        if store.current_revision() != self.revision {
            return Err(Error::Internal(format!(
                "watch: reliable guarantee: the store is at revision {} but the hub was notified \
                 through {}: notify after every applied write",
                store.current_revision(),
                self.revision
            )));
        }
        let mut budget = max_events.max(1);
        for who in self.unsynced_round() {
            if budget == 0 {
                break;
            }
            let read = self.sync_one(store, who, budget)?;
            budget = budget.saturating_sub(read);
            self.sync_cursor = Some(who);
        }
        self.flush_all_deferred_progress();
        Ok(self.unsynced.len())
    }

    /// Unsynced watchers, starting after the last one served.
    fn unsynced_round(&self) -> Vec<WatcherRef> {
        match self.sync_cursor {
            None => self.unsynced.iter().copied().collect(),
            Some(c) => self
                .unsynced
                .range((Excluded(c), Unbounded))
                .chain(self.unsynced.range(..=c))
                .copied()
                .collect(),
        }
    }

    /// Catch one watcher up by one page; returns the events read.
    fn sync_one(&mut self, store: &KvStore, who: WatcherRef, limit: usize) -> Result<usize> {
        let stream_budget = self.config.max_pending_bytes_per_stream;
        let through_hub = self.revision;
        let Some(stream) = self.streams.get_mut(&who.stream) else { return Ok(0) };
        if stream.outbox.pending_bytes() >= stream_budget {
            return Ok(0);
        }
        let Some(w) = stream.watchers.get_mut(&who.watch_id) else { return Ok(0) };
        debug_assert_eq!(w.state, WatcherState::Unsynced);
        let compact_revision = store.compact_revision();
        if w.next_revision < compact_revision {
            w.state = WatcherState::Compacted;
            self.unsynced.remove(&who);
            let compacted = WatchResponse {
                watch_id: who.watch_id,
                canceled: true,
                compact_revision,
                ..Default::default()
            };
            stream.outbox.push(compacted, false);
            self.ready.insert(who.stream);
            return Ok(0);
        }
        let page = store.events_between(&w.key, &w.range_end, w.next_revision, through_hub, limit)?;
        let own = w.own_events(&page.events);
        if !own.is_empty() {
            w.idle_since_tick = false;
            let allow_fragment = w.fragment;
            let response = WatchResponse {
                header_revision: page.through_revision,
                watch_id: who.watch_id,
                events: own,
                ..Default::default()
            };
            stream.outbox.push(response, allow_fragment);
            self.ready.insert(who.stream);
        }
        w.next_revision = page.through_revision + 1;
        if w.next_revision > through_hub {
            w.state = WatcherState::Synced;
            self.unsynced.remove(&who);
            self.synced.insert(who, w);
        }
        Ok(page.events.len())
    }
}
