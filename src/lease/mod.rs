//! Leases (etcd's server/lease lessor), sans I/O: no async, no clock, no file. Time
//! comes in as `now_ms`, milliseconds of the caller's monotonic clock.
//!
//! Owns two halves, as etcd's lessor does implicitly:
//! - [`LeaseStore`], replicated: granted TTLs, checkpointed remaining TTLs, attached
//!   keys. Lives in the raft state machine and its snapshots; deterministic.
//! - [`LeaseExpiry`], leader-local: a deadline per lease on the leader's clock, the
//!   expired-lease queue and the checkpoint schedule. Its decisions enter the log as
//!   proposals (Revoke, Checkpoint); it never changes the store itself.
//!
//! Does not own: deleting a revoked lease's keys (the apply layer deletes what
//! [`LeaseStore::revoke`] returns, in one mvcc revision), choosing the clock, rate
//! limits and retries of proposals, or forwarding KeepAlive / TimeToLive to the
//! leader.
//!
//! # The apply layer's part
//!
//! ```text
//! Grant{id, ttl_s}        store.grant(id, ttl_s, min_lease_ttl_s(..))?   then expiry.on_grant(id, granted, now_ms)
//! Revoke{id}              keys = store.revoke(id)?; delete keys (one revision); expiry.on_revoke(id)
//! Checkpoint{[(id, r)]}   store.checkpoint(id, r) for each
//! put event               store.on_put(key, kv.lease, prev_kv.lease or 0)
//! delete event            store.on_delete(key, prev_kv.lease)
//! ```
//! The leader picks a grant's ID before proposing ([`pick_lease_id`]); ID 0 at apply
//! is `NotFound`, as in etcd.
//!
//! # Worked example
//!
//! Election timeout 1 s (so min TTL 2 s and promotion extension 1 s), checkpoint
//! interval 3 s (etcd's default is 5 min; shortened to show it). Lease L, 10 s.
//!
//! ```text
//! t=0     leader A applies Grant{L, 10}       store L{ttl 10, remaining 0}; A: deadline 10.0
//!                                             checkpoint due at 3.0 (10 s > one interval)
//! t=3.0   A.checkpoints(3000)                 remaining ceil(7.0) = 7 < 10 -> propose (L, 7)
//!         applied                             store L{ttl 10, remaining 7}
//! t=4.0   KeepAlive: A.renew(L)               store has a checkpoint -> NeedsCheckpointClear
//!         propose Checkpoint{L, 0}, applied   store L{ttl 10, remaining 0}
//!         A.renew(L) again                    Renewed{ttl_s: 10}; deadline 14.0
//! t=6.0   A.checkpoints(6000)                 remaining ceil(8.0) = 8 -> (L, 8), applied
//! t=6.5   A crashes. B wins, applies the log, and at t=7.5 on its clock:
//!         B.promote(7500, store, 1000)        deadline 7.5 + 8 + 1 = 16.5 (>= A's 14.0)
//!                                             (without the checkpoint: 7.5 + 10 + 1 = 18.5)
//! t=8.0   TimeToLive on B                     remaining 8.5 s -> TTL 8 (truncated), grantedTTL 10
//! t=16.5  B.expired(16500, 500) = [L]         B proposes Revoke{L}; apply deletes L's keys in
//!                                             one revision and calls B.on_revoke(L)
//! ```
//!
//! A renewal never acknowledges while a checkpoint is stored or in flight, and
//! checkpoints round up, so a leader never expires a lease before `ttl_s` after its
//! last acknowledged renewal (or grant), whatever the leader changes.

mod error;
mod expiry;
mod store;

#[cfg(test)]
mod expiry_test;
#[cfg(test)]
mod prop_test;
#[cfg(test)]
mod store_test;

pub use error::LeaseError;
pub use expiry::{ExpiryConfig, LeaseExpiry, Renewal};
pub use store::{Lease, LeaseStore};

/// The largest TTL a grant may ask for (etcd's `MaxLeaseTTL`).
pub const MAX_LEASE_TTL_S: i64 = 9_000_000_000;

/// etcd's default checkpoint interval (`--experimental-lease-checkpoint-interval`).
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 5 * 60 * 1000;

/// How often etcd's lessor looks for expired leases and due checkpoints.
pub const LESSOR_TICK_MS: u64 = 500;

/// Expired leases etcd hands over per tick (`leaseRevokeRate / 2`, 1000 per second).
pub const EXPIRED_BATCH_MAX: usize = 500;

/// Checkpoints etcd puts in one LeaseCheckpoint entry (`maxLeaseCheckpointBatchSize`).
pub const CHECKPOINT_BATCH_MAX: usize = 1000;

/// The minimum lease TTL, as etcd computes it: 1.5 election timeouts, counted in whole
/// heartbeat ticks (`(3 * electionTicks / 2) * heartbeat`), rounded up to seconds.
/// 1000 ms / 100 ms gives 2 s (etcd grants 2 s for a 1 s request). At least 1.
pub fn min_lease_ttl_s(election_timeout_ms: u64, heartbeat_interval_ms: u64) -> i64 {
    let heartbeat_ms = heartbeat_interval_ms.max(1);
    let election_ticks = election_timeout_ms / heartbeat_ms;
    let min_ttl_ms = (3 * election_ticks / 2).saturating_mul(heartbeat_ms);
    i64::try_from(min_ttl_ms.div_ceil(1000)).unwrap_or(MAX_LEASE_TTL_S).max(1)
}

/// A fresh lease ID for a grant that asked for ID 0, picked by the leader before it
/// proposes: `seed` (a random u64) with the sign bit cleared, as etcd does with its
/// request-ID generator; if that is 0 or taken, the next candidates are a bijective
/// mix of `seed + k * golden ratio` (a walk over all of u64), so a free one is found.
/// A grant applied in between may still take it: apply then answers `Exists`.
pub fn pick_lease_id(seed: u64, store: &LeaseStore) -> i64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
    let positive = |x: u64| (x & i64::MAX as u64) as i64;
    let mut id = positive(seed);
    let mut state = seed;
    while id == 0 || store.contains(id) {
        state = state.wrapping_add(GOLDEN);
        id = positive(mix64(state));
    }
    id
}

/// A bijection on u64 that scatters bits (the splitmix64 finaliser).
fn mix64(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
