//! Revisions: the logical clock of the MVCC store.
//!
//! Every write transaction that changes something gets one new *main* revision; its
//! individual changes are numbered by *sub* revision, 0, 1, 2, ... in the order they
//! were made. Revisions are ordered by `main`, then by `sub`.
//!
//! Worked example, starting from a fresh store (whose revision is 1, as in etcd):
//!
//! ```text
//! request                               changes written        store revision after
//! ------------------------------------  ---------------------  --------------------
//! (fresh store)                         -                      1
//! put a=1                               a @ 2.0                2
//! txn { put b=1; put c=1; delete a }    b @ 3.0, c @ 3.1,      3
//!                                       a @ 3.2 (tombstone)
//! delete z (z does not exist)           -                      3   (no-op: no bump)
//! txn { range a }                       -                      3   (read-only)
//! put b=2                               b @ 4.0                4
//! ```
//!
//! `b`'s KeyValue after the last put has `create_revision = 3`, `mod_revision = 4`,
//! `version = 2`. `KeyValue` carries only main revisions; sub revisions order changes
//! inside one transaction (events, hashing, the per-key history).

use serde::{Deserialize, Serialize};

/// One point in the store's history: `main` is the transaction, `sub` the change
/// within it. The derived ordering compares `main` first, then `sub`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// Length of a revision in etcd's backend key layout (`main` BE, `_`, `sub` BE).
pub const REVISION_BYTES_LEN: usize = 8 + 1 + 8;

impl Revision {
    pub const fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// etcd's backend key for this revision: 8 bytes big-endian `main`, the byte `_`,
    /// 8 bytes big-endian `sub`. Used so that [`hash_kv`](super::KvStore::hash_kv)
    /// hashes the same bytes etcd does.
    pub fn to_etcd_bytes(self) -> [u8; REVISION_BYTES_LEN] {
        let mut out = [0u8; REVISION_BYTES_LEN];
        out[..8].copy_from_slice(&self.main.to_be_bytes());
        out[8] = b'_';
        out[9..].copy_from_slice(&self.sub.to_be_bytes());
        out
    }
}

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.main, self.sub)
    }
}

#[cfg(test)]
#[path = "revision_test.rs"]
mod revision_test;
