//! A store and a hub kept in step, and request builders, for the watch unit tests.

use crate::mvcc::{DeleteRangeRequest, Event, KvStore, PutRequest, RequestOp, TxnRequest};
use crate::watch::{HubConfig, StreamId, WatchCreateRequest, WatchHub, WatchId, WatchResponse};

/// Far above any test response: no fragmentation unless a test asks for it.
pub const NO_SPLIT: usize = usize::MAX;

pub fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Watch one key from now on.
pub fn key(k: &str) -> WatchCreateRequest {
    WatchCreateRequest { key: b(k), ..Default::default() }
}

/// Watch `[k, end)` (`end` "\0": every key >= k) from now on.
pub fn range(k: &str, end: &str) -> WatchCreateRequest {
    WatchCreateRequest { key: b(k), range_end: b(end), ..Default::default() }
}

pub fn from(req: WatchCreateRequest, start_revision: i64) -> WatchCreateRequest {
    WatchCreateRequest { start_revision, ..req }
}

pub fn put_op(k: &str, v: &str) -> RequestOp {
    RequestOp::Put(PutRequest { key: b(k), value: b(v), ..Default::default() })
}

pub fn del_op(k: &str) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest { key: b(k), ..Default::default() })
}

/// A store and a hub; every write is notified, as the state machine does.
pub struct Harness {
    pub store: KvStore,
    pub hub: WatchHub,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_budget(HubConfig::default().max_pending_bytes_per_stream)
    }

    pub fn with_budget(max_pending_bytes_per_stream: usize) -> Self {
        let store = KvStore::new();
        let hub = WatchHub::new(HubConfig { max_pending_bytes_per_stream }, store.current_revision());
        Harness { store, hub }
    }

    pub fn rev(&self) -> i64 {
        self.store.current_revision()
    }

    fn notify(&mut self, events: Vec<Event>) -> Vec<Event> {
        self.hub.notify(self.store.current_revision(), &events).unwrap();
        events
    }

    pub fn put(&mut self, k: &str, v: &str) -> Vec<Event> {
        let req = PutRequest { key: b(k), value: b(v), ..Default::default() };
        let (_, events) = self.store.put(&req, &|_| false).unwrap();
        self.notify(events)
    }

    pub fn delete(&mut self, k: &str) -> Vec<Event> {
        let (_, events) =
            self.store.delete_range(&DeleteRangeRequest { key: b(k), ..Default::default() }).unwrap();
        self.notify(events)
    }

    pub fn txn(&mut self, ops: Vec<RequestOp>) -> Vec<Event> {
        let req = TxnRequest { compare: vec![], success: ops, failure: vec![] };
        let (_, events) = self.store.txn(&req, 128, &|_| false).unwrap();
        self.notify(events)
    }

    pub fn compact(&mut self, at: i64) {
        self.store.compact(at).unwrap();
    }

    /// Create a watcher on `s`, expecting success.
    pub fn watch(&mut self, s: StreamId, req: WatchCreateRequest) -> WatchId {
        self.hub.create(s, &req).expect("create refused")
    }

    pub fn take(&mut self, s: StreamId) -> Vec<WatchResponse> {
        self.hub.take(s, NO_SPLIT)
    }

    /// Catch everyone up (draining `s` between rounds) and return what `s` got.
    pub fn sync_all(&mut self, s: StreamId) -> Vec<WatchResponse> {
        let mut out = Vec::new();
        for _ in 0..1000 {
            let left = self.hub.sync_unsynced(&self.store, 1000).unwrap();
            out.extend(self.take(s));
            if left == 0 {
                return out;
            }
        }
        panic!("catch-up did not finish");
    }
}

/// (mod_revision, key) of every event, in order.
pub fn revs_keys(out: &[WatchResponse]) -> Vec<(i64, String)> {
    out.iter()
        .flat_map(|r| r.events.iter())
        .map(|e| (e.kv.mod_revision, String::from_utf8_lossy(&e.kv.key).into_owned()))
        .collect()
}

/// Responses for `watch_id` that carry events.
pub fn event_responses(out: &[WatchResponse], watch_id: WatchId) -> Vec<WatchResponse> {
    out.iter().filter(|r| r.watch_id == watch_id && !r.events.is_empty()).cloned().collect()
}
