//! [`LeaseStore`]: the replicated half of leases, part of the raft state machine.
//!
//! Owns every lease's granted TTL, its last checkpointed remaining TTL and the keys
//! attached to it, and the snapshot encoding of all of it. It holds no deadline and
//! reads no clock: when a lease dies is the leader's business ([`super::LeaseExpiry`]),
//! and reaches this store only as a committed revoke. Every operation is a function of
//! the store and its arguments, so replicas applying the same log stay identical, and
//! every failing operation leaves the store unchanged.
//!
//! ```text
//! LeaseStore
//!   leases: BTreeMap<i64, Lease>        by ID (nonzero; negative IDs are legal, as in etcd)
//!     Lease.ttl_s: i64                  granted TTL, already raised to the minimum TTL
//!     Lease.remaining_ttl_s: i64        last checkpoint, 0 = none (use ttl_s)
//!     Lease.keys: BTreeSet<Vec<u8>>     attached keys; a key is attached to at most one lease
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::LeaseError;
use super::MAX_LEASE_TTL_S;
use crate::error::Error;

/// One lease as the state machine knows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    ttl_s: i64,
    remaining_ttl_s: i64,
    keys: BTreeSet<Vec<u8>>,
}

impl Lease {
    /// The granted TTL (what Grant, KeepAlive and TimeToLive's `grantedTTL` report).
    pub fn ttl_s(&self) -> i64 {
        self.ttl_s
    }

    /// The last checkpointed remaining TTL; 0 means none.
    pub fn remaining_ttl_s(&self) -> i64 {
        self.remaining_ttl_s
    }

    /// What a new leader counts from: the checkpoint if one is set, else the granted
    /// TTL (etcd's `Lease.RemainingTTL()`).
    pub fn effective_ttl_s(&self) -> i64 {
        if self.remaining_ttl_s > 0 {
            self.remaining_ttl_s
        } else {
            self.ttl_s
        }
    }

    /// Attached keys, ascending.
    pub fn keys(&self) -> &BTreeSet<Vec<u8>> {
        &self.keys
    }
}

/// The replicated lease table. Plain data: no I/O, no clock, no lock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseStore {
    leases: BTreeMap<i64, Lease>,
}

impl LeaseStore {
    pub fn new() -> Self {
        LeaseStore::default()
    }

    /// Applies a LeaseGrant. `min_ttl_s` comes from [`super::min_lease_ttl_s`]; shorter
    /// TTLs (zero and negative included) are raised to it, and never below 1 s whatever
    /// `min_ttl_s` says. Returns the granted TTL.
    ///
    /// Checks in etcd's order: ID 0 is `NotFound` (the leader must pick an ID before
    /// proposing, see [`super::pick_lease_id`]), then `TtlTooLarge`, then `Exists`.
    pub fn grant(&mut self, id: i64, ttl_s: i64, min_ttl_s: i64) -> Result<i64, LeaseError> {
        if id == 0 {
            return Err(LeaseError::NotFound);
        }
        if ttl_s > MAX_LEASE_TTL_S {
            return Err(LeaseError::TtlTooLarge);
        }
        if self.leases.contains_key(&id) {
            return Err(LeaseError::Exists);
        }
        let ttl_s = ttl_s.max(min_ttl_s).max(1);
        self.leases.insert(id, Lease { ttl_s, remaining_ttl_s: 0, keys: BTreeSet::new() });
        Ok(ttl_s)
    }

    /// Applies a LeaseRevoke: removes the lease and returns its keys, ascending. The
    /// apply layer deletes them from the KV store in one revision (in this order, as
    /// etcd sorts them so every member hashes the same).
    pub fn revoke(&mut self, id: i64) -> Result<Vec<Vec<u8>>, LeaseError> {
        let lease = self.leases.remove(&id).ok_or(LeaseError::NotFound)?;
        Ok(lease.keys.into_iter().collect())
    }

    /// Applies one entry of a LeaseCheckpoint. An unknown ID is ignored, as etcd
    /// ignores it (the lease may have been revoked since); returns whether it existed.
    /// 0 clears the checkpoint (what a renewal proposes); a negative value clears too.
    pub fn checkpoint(&mut self, id: i64, remaining_ttl_s: i64) -> bool {
        match self.leases.get_mut(&id) {
            Some(lease) => {
                lease.remaining_ttl_s = remaining_ttl_s.max(0);
                true
            }
            None => false,
        }
    }

    /// Attaches `key` to lease `id`. The caller detaches it from its previous lease
    /// (see [`LeaseStore::on_put`]).
    pub fn attach(&mut self, id: i64, key: &[u8]) -> Result<(), LeaseError> {
        let lease = self.leases.get_mut(&id).ok_or(LeaseError::NotFound)?;
        lease.keys.insert(key.to_vec());
        Ok(())
    }

    /// Detaches `key` from lease `id`; returns whether it was attached. A missing lease
    /// is not an error: a revoke removes the lease before the apply layer deletes its
    /// keys, and those deletes detach from the lease that is already gone.
    pub fn detach(&mut self, id: i64, key: &[u8]) -> bool {
        self.leases.get_mut(&id).is_some_and(|lease| lease.keys.remove(key))
    }

    /// Follows a put event: `key` now carries `lease` (0 = none) and carried
    /// `prev_lease` (0 = none or new key). Fails, changing nothing, if `lease` does not
    /// exist; mvcc checked that before writing, so a failure is a broken invariant.
    pub fn on_put(&mut self, key: &[u8], lease: i64, prev_lease: i64) -> Result<(), LeaseError> {
        if lease != 0 && !self.leases.contains_key(&lease) {
            return Err(LeaseError::NotFound);
        }
        if prev_lease != 0 {
            self.detach(prev_lease, key);
        }
        if lease != 0 {
            self.attach(lease, key)?;
        }
        Ok(())
    }

    /// Follows a delete event of a key that carried `prev_lease` (0 = none).
    pub fn on_delete(&mut self, key: &[u8], prev_lease: i64) {
        if prev_lease != 0 {
            self.detach(prev_lease, key);
        }
    }

    /// The lease for TimeToLive (granted TTL, keys).
    pub fn get(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    pub fn contains(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Lease IDs ascending, for Leases (LeaseLeases).
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.leases.keys().copied()
    }

    /// Every lease, by ascending ID.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Lease)> + '_ {
        self.leases.iter().map(|(id, lease)| (*id, lease))
    }

    pub fn len(&self) -> usize {
        self.leases.len()
    }

    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }

    /// Snapshot bytes (bincode of the table).
    pub fn encode_snapshot(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec cannot fail.
        bincode::serialize(self).unwrap_or_default()
    }

    /// Reads [`LeaseStore::encode_snapshot`]'s bytes back and checks the invariants.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Self, Error> {
        let corrupt = |what: String| Error::Internal(format!("lease snapshot is corrupt: {what}"));
        let store: LeaseStore = bincode::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
        store.check_invariants().map_err(corrupt)?;
        Ok(store)
    }

    /// What every replica relies on: nonzero IDs, granted TTLs in 1..=MAX, no negative
    /// checkpoint, each key attached to at most one lease.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut owner: BTreeMap<&[u8], i64> = BTreeMap::new();
        for (&id, lease) in &self.leases {
            if id == 0 {
                return Err("lease ID 0 is stored (IDs must be nonzero)".into());
            }
            if !(1..=MAX_LEASE_TTL_S).contains(&lease.ttl_s) {
                return Err(format!("lease {id:x} has granted TTL {}s outside 1..=MAX", lease.ttl_s));
            }
            if lease.remaining_ttl_s < 0 {
                return Err(format!("lease {id:x} has negative checkpoint {}s", lease.remaining_ttl_s));
            }
            for key in &lease.keys {
                if let Some(other) = owner.insert(key, id) {
                    return Err(format!("a key is attached to both lease {other:x} and lease {id:x}"));
                }
            }
        }
        Ok(())
    }
}
