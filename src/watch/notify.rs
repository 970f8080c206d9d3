//! The live path: after every applied write the state machine hands the write's
//! events to [`WatchHub::notify`], which queues them for the synced watchers that
//! match (etcd's `watchableStore.notify`).
//!
//! Per revision and watcher, one response holds all of that revision's events it
//! wants, in the write's order (a txn stays whole). A watcher whose stream has no room
//! for that response becomes a victim: it leaves the live path with `next_revision` =
//! this revision, and `sync_unsynced` later reads that revision and the following ones
//! from the store. Nothing is dropped and nothing is sent twice: a watcher is fed
//! either live or from history, never both, and it moves back to the live path only
//! once history brought it to the hub's revision.
//!
//! Worked example: stream budget 100 bytes, watcher W on "a", nothing drained.
//!
//! ```text
//! notify(5, [put a])   W's queue empty: queued (always room for one)  W next 6
//! notify(6, [put a])   queue 70 B + 70 B > 100: W becomes a victim       W next 6
//! notify(7, [put a])   W is not synced: skipped                       W next 6
//! take()               the response for 5
//! sync_unsynced(..)    reads 6..=7 from the store, one response        W synced, next 8
//! ```

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::mvcc::Event;
use crate::watch::fragment;
use crate::watch::hub::WatchHub;
use crate::watch::types::WatchResponse;
use crate::watch::watcher::{WatcherRef, WatcherState};

impl WatchHub {
    /// The events one write produced, all at `revision` (a txn's together, in
    /// order). Empty `events` (a write that changed nothing) is a no-op.
    ///
    /// Errors, changing nothing: `revision` not above the last one notified (ordered
    /// guarantee), an event at another revision (atomic guarantee). A revision that
    /// skips some (the hub missed writes) is not an error: every synced watcher is
    /// then caught up from the store, which holds the missed revisions.
    ///
    /// ```
    /// # use metastore::mvcc::{KvStore, PutRequest};
    /// # use metastore::watch::{HubConfig, WatchHub, WatchCreateRequest};
    /// let mut store = KvStore::new();
    /// let mut hub = WatchHub::new(HubConfig::default(), store.current_revision());
    /// let s = hub.open_stream();
    /// let id = hub.create(s, &WatchCreateRequest { key: b"a".to_vec(), ..Default::default() }).unwrap();
    /// let put = PutRequest { key: b"a".to_vec(), value: b"1".to_vec(), ..Default::default() };
    /// let (_, events) = store.put(&put, &|_| false).unwrap();
    /// hub.notify(store.current_revision(), &events).unwrap();
    /// let out = hub.take(s, 2 << 20);
    /// assert!(out[0].created);
    /// assert_eq!((out[1].watch_id, out[1].header_revision, out[1].events.len()), (id, 2, 1));
    /// ```
    pub fn notify(&mut self, revision: i64, events: &[Event]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        if revision <= self.revision {
            return Err(Error::Internal(format!(
                "watch: ordered guarantee: notify at revision {revision} after {}",
                self.revision
            )));
        }
        if let Some(e) = events.iter().find(|e| e.kv.mod_revision != revision) {
            return Err(Error::Internal(format!(
                "watch: atomic guarantee: event at revision {} notified with revision {revision}",
                e.kv.mod_revision
            )));
        }
        if revision > self.revision + 1 {
            self.unsync_through(revision);
        }
        self.revision = revision;
        for (who, picked) in self.match_events(events) {
            self.deliver_live(who, revision, picked.into_iter().map(|i| &events[i]));
        }
        Ok(())
    }

    /// For each synced watcher any event matches: the indexes of its events, in order.
    fn match_events(&self, events: &[Event]) -> BTreeMap<WatcherRef, Vec<usize>> {
        let mut batches: BTreeMap<WatcherRef, Vec<usize>> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            for who in self.synced.watchers_of(&e.kv.key) {
                batches.entry(who).or_default().push(i);
            }
        }
        batches
    }

    /// Queue one revision's events for a synced watcher, or make it a victim.
    fn deliver_live<'e>(&mut self, who: WatcherRef, revision: i64, events: impl Iterator<Item = &'e Event>) {
        let budget = self.config.max_pending_bytes_per_stream;
        let Some(stream) = self.streams.get_mut(&who.stream) else { return };
        let Some(w) = stream.watchers.get_mut(&who.watch_id) else { return };
        if w.next_revision > revision {
            return; // a future start revision not reached yet
        }
        let own = w.own_events(events);
        if own.is_empty() || (crate::mutant!(DropWatchEvent) && revision % 16 == 0) {
            w.next_revision = revision + 1;
            return;
        }
        let response = WatchResponse {
            header_revision: revision,
            watch_id: who.watch_id,
            events: own,
            ..Default::default()
        };
        if !stream.outbox.has_room(fragment::response_len(&response), budget) {
            w.next_revision = revision;
            w.state = WatcherState::Unsynced;
            self.synced.remove(who, w);
            self.unsynced.insert(who);
            return;
        }
        w.next_revision = revision + 1;
        w.idle_since_tick = false;
        let allow_fragment = w.fragment;
        stream.outbox.push(response, allow_fragment);
        self.ready.insert(who.stream);
    }
}
