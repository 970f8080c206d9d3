//! `apply`: the deterministic state machine. A committed [`Request`] goes in, an
//! [`Applied`] result comes out; the same log gives byte-identical state (and HashKV)
//! on every member. Errors that depend only on the request and the state (a missing
//! lease, a compacted revision) are results, not failures: every member computes the
//! same one.
//!
//! No async, no I/O: the raft glue (`raft::state_machine`) calls [`KvState::apply`]
//! under a lock and serves reads from the same state.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mvcc::{
    DeleteRangeRequest, DeleteRangeResponse, Event, KvStore, PutRequest, PutResponse, TxnRequest, TxnResponse,
};

/// A write proposed through raft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact { revision: i64 },
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Put(p) => write!(f, "put(key_len={}, value_len={})", p.key.len(), p.value.len()),
            Request::DeleteRange(d) => write!(f, "delete_range(key_len={})", d.key.len()),
            Request::Txn(t) => {
                write!(f, "txn(cmp={}, then={}, else={})", t.compare.len(), t.success.len(), t.failure.len())
            }
            Request::Compact { revision } => write!(f, "compact({revision})"),
        }
    }
}

/// The outcome of a write, as the state machine computed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact,
}

/// What applying one entry produced: the store revision right after it (the
/// response header's revision) and the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub revision: i64,
    pub result: Result<Response>,
}

/// Limits that shape apply; identical on every member (they come from flags that
/// etcd also requires to match).
#[derive(Clone, Copy, Debug)]
pub struct ApplyLimits {
    pub max_txn_ops: usize,
}

impl Default for ApplyLimits {
    fn default() -> Self {
        ApplyLimits { max_txn_ops: 128 }
    }
}

/// The replicated state: the MVCC store (leases, auth and more join it later).
#[derive(Debug)]
pub struct KvState {
    pub kv: KvStore,
    pub limits: ApplyLimits,
    /// Approximate bytes held by the store (keys, values, per-version overhead):
    /// what `--quota-backend-bytes` and Status's dbSize measure.
    size_bytes: u64,
}

/// Per stored version, beyond key and value bytes (see mvcc::store's layout).
const VERSION_OVERHEAD_BYTES: u64 = 40;

fn store_size(kv: &KvStore) -> u64 {
    kv.stored_entries()
        .iter()
        .map(|e| (e.key.len() + e.stored.version.value.len()) as u64 + VERSION_OVERHEAD_BYTES)
        .sum()
}

fn events_size(events: &[Event]) -> u64 {
    events.iter().map(|e| (e.kv.key.len() + e.kv.value.len()) as u64 + VERSION_OVERHEAD_BYTES).sum()
}

/// No lease exists yet (the Lease service is its own issue): any nonzero lease ID in
/// a put is "requested lease not found", as etcd answers for an unknown lease.
fn no_leases(_id: i64) -> bool {
    false
}

impl KvState {
    pub fn new(limits: ApplyLimits) -> Self {
        KvState { kv: KvStore::new(), limits, size_bytes: 0 }
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn apply(&mut self, req: &Request) -> Applied {
        let result = match req {
            Request::Put(p) => self.kv.put(p, &no_leases).map(|(r, ev)| (Response::Put(r), ev)),
            Request::DeleteRange(d) => self.kv.delete_range(d).map(|(r, ev)| (Response::DeleteRange(r), ev)),
            Request::Txn(t) => {
                self.kv.txn(t, self.limits.max_txn_ops, &no_leases).map(|(r, ev)| (Response::Txn(r), ev))
            }
            Request::Compact { revision } => self.kv.compact(*revision).map(|()| {
                self.size_bytes = store_size(&self.kv);
                (Response::Compact, Vec::new())
            }),
        };
        let result = result.map(|(response, events)| {
            self.size_bytes += events_size(&events);
            response
        });
        Applied { revision: self.kv.current_revision(), result }
    }

    /// Snapshot of the replicated state.
    pub fn encode(&self) -> Vec<u8> {
        self.kv.encode_snapshot()
    }

    pub fn decode(bytes: &[u8], limits: ApplyLimits) -> std::result::Result<Self, Error> {
        let kv = KvStore::decode_snapshot(bytes)?;
        let size_bytes = store_size(&kv);
        Ok(KvState { kv, limits, size_bytes })
    }
}
