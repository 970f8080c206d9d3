//! [`LeaseExpiry`]: the leader-local half of leases. Not replicated, not in snapshots.
//!
//! Owns each lease's deadline on this leader's monotonic clock (`now_ms`), the queue
//! of leases to report as expired, and the schedule of remaining-TTL checkpoints. It
//! decides; the caller proposes (Revoke, Checkpoint) and applies the outcome to
//! [`LeaseStore`], then calls the hooks here ([`LeaseExpiry::on_grant`],
//! [`LeaseExpiry::on_revoke`]) so both halves stay in step.
//!
//! ```text
//! LeaseExpiry (primary = this node leads and has applied every earlier-term entry)
//!   timers: BTreeMap<id, Timers>             one per lease of the store
//!     deadline_ms                            the lease dies when now_ms >= deadline_ms
//!     revisit_ms   >= deadline_ms            next time `expired` may report it
//!     checkpoint_due_ms: Option<u64>         next time `checkpoints` looks at it
//!     checkpoint_in_flight                   a nonzero checkpoint was emitted since the last renewal
//!   revisit_queue:    BTreeSet<(revisit_ms, id)>         `expired`: O(k log n) for k leases
//!   checkpoint_queue: BTreeSet<(checkpoint_due_ms, id)>  `checkpoints`: same
//! ```
//!
//! Checkpoint rule (etcd's, made periodic): a lease whose deadline is more than one
//! `checkpoint_interval_ms` away is looked at every interval; if its remaining time,
//! rounded *up* to whole seconds, is below its granted TTL, `(id, remaining_ttl_s)` is
//! worth proposing. Rounding up and the promotion's `extend_ms` make a new leader's
//! deadline no earlier than the old one's. Leases shorter than an interval are never
//! checkpointed: a leader change gives them at most `ttl + extend` more.

use std::collections::{BTreeMap, BTreeSet};

use super::store::LeaseStore;

const MS_PER_S: u64 = 1000;

/// Timing knobs of the leader's lease bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryConfig {
    /// A lease reported by [`LeaseExpiry::expired`] is reported again this much later
    /// if its revoke has not been applied by then (etcd: the request timeout, 5 s + 2 ×
    /// election timeout).
    pub revoke_retry_ms: u64,
    /// Period of remaining-TTL checkpoints (etcd: 5 minutes). 0 turns them off.
    pub checkpoint_interval_ms: u64,
}

impl ExpiryConfig {
    /// etcd 3.4's values for a given election timeout.
    pub fn etcd_defaults(election_timeout_ms: u64) -> Self {
        ExpiryConfig {
            revoke_retry_ms: 5_000 + 2 * election_timeout_ms,
            checkpoint_interval_ms: super::DEFAULT_CHECKPOINT_INTERVAL_MS,
        }
    }
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig::etcd_defaults(1_000)
    }
}

/// The answer to a KeepAlive on the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed: the deadline is now + `ttl_s` (the granted TTL, which KeepAlive returns).
    Renewed { ttl_s: i64 },
    /// The store holds (or this leader has proposed) a checkpoint for the lease. As
    /// etcd 3.4 does, propose `Checkpoint { id, remaining_ttl_s: 0 }`, wait until it is
    /// applied, then call `renew` again: acknowledging first would let a later leader
    /// count from the stale checkpoint and expire the lease before `ttl_s`.
    NeedsCheckpointClear,
    /// Past its deadline, revoke pending: not renewed. etcd waits for the revoke and
    /// answers TTL 0, as for an unknown lease.
    Expired,
    /// Unknown lease: KeepAlive answers TTL 0 (no error).
    NotFound,
    /// Not the primary: forward to the leader.
    NotPrimary,
}

#[derive(Clone, Copy, Debug)]
struct Timers {
    ttl_s: i64,
    deadline_ms: u64,
    revisit_ms: u64,
    checkpoint_due_ms: Option<u64>,
    checkpoint_in_flight: bool,
}

/// Deadlines of every lease, on the leader only.
#[derive(Clone, Debug)]
pub struct LeaseExpiry {
    config: ExpiryConfig,
    primary: bool,
    timers: BTreeMap<i64, Timers>,
    revisit_queue: BTreeSet<(u64, i64)>,
    checkpoint_queue: BTreeSet<(u64, i64)>,
}

fn ttl_ms(ttl_s: i64) -> u64 {
    u64::try_from(ttl_s).unwrap_or(0).saturating_mul(MS_PER_S)
}

fn signed_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl LeaseExpiry {
    pub fn new(config: ExpiryConfig) -> Self {
        LeaseExpiry {
            config,
            primary: false,
            timers: BTreeMap::new(),
            revisit_queue: BTreeSet::new(),
            checkpoint_queue: BTreeSet::new(),
        }
    }

    pub fn config(&self) -> ExpiryConfig {
        self.config
    }

    pub fn is_primary(&self) -> bool {
        self.primary
    }

    /// Leases with a deadline (0 unless primary).
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }

    /// Becomes the primary. Call once this leader has applied every entry of earlier
    /// terms (etcd promotes on applying the leader's first, empty entry), so `store`
    /// holds every committed grant, revoke and checkpoint. Every lease gets deadline
    /// `now_ms + effective TTL + extend_ms` (etcd passes the election timeout as the
    /// extension): a new leader never expires a lease before the old one would have.
    pub fn promote(&mut self, now_ms: u64, store: &LeaseStore, extend_ms: u64) {
        self.clear();
        self.primary = true;
        for (id, lease) in store.iter() {
            let deadline_ms =
                now_ms.saturating_add(ttl_ms(lease.effective_ttl_s())).saturating_add(extend_ms);
            self.track(id, lease.ttl_s(), deadline_ms, now_ms);
        }
    }

    /// Stops being the primary: forgets every deadline.
    pub fn demote(&mut self) {
        self.clear();
        self.primary = false;
    }

    /// Hook: a grant was applied with `granted_ttl_s` (what [`LeaseStore::grant`]
    /// returned). No-op unless primary.
    pub fn on_grant(&mut self, id: i64, granted_ttl_s: i64, now_ms: u64) {
        if self.primary {
            self.track(id, granted_ttl_s, now_ms.saturating_add(ttl_ms(granted_ttl_s)), now_ms);
        }
    }

    /// Hook: a revoke was applied (by a client or for expiry).
    pub fn on_revoke(&mut self, id: i64) {
        self.untrack(id);
    }

    /// KeepAlive on the leader; see [`Renewal`] for what to answer.
    pub fn renew(&mut self, store: &LeaseStore, id: i64, now_ms: u64) -> Renewal {
        if !self.primary {
            return Renewal::NotPrimary;
        }
        let Some(lease) = store.get(id) else {
            self.untrack(id);
            return Renewal::NotFound;
        };
        if !self.timers.contains_key(&id) {
            // A grant whose hook was missed: track it as a promotion would (no extension).
            let deadline_ms = now_ms.saturating_add(ttl_ms(lease.effective_ttl_s()));
            self.track(id, lease.ttl_s(), deadline_ms, now_ms);
        }
        let Some(t) = self.timers.get_mut(&id) else { return Renewal::NotFound };
        if t.deadline_ms <= now_ms {
            return Renewal::Expired;
        }
        if lease.remaining_ttl_s() > 0 || t.checkpoint_in_flight {
            t.checkpoint_in_flight = false;
            return Renewal::NeedsCheckpointClear;
        }
        let deadline_ms = now_ms.saturating_add(ttl_ms(lease.ttl_s()));
        self.revisit_queue.remove(&(t.revisit_ms, id));
        self.revisit_queue.insert((deadline_ms, id));
        *t = Timers { ttl_s: lease.ttl_s(), deadline_ms, revisit_ms: deadline_ms, ..*t };
        self.maybe_schedule_checkpoint(id, now_ms);
        Renewal::Renewed { ttl_s: lease.ttl_s() }
    }

    /// Up to `max` leases past their deadline, earliest first, to propose as Revokes
    /// (etcd: at most 500 per 500 ms). A reported lease is reported again only after
    /// `revoke_retry_ms` if [`LeaseExpiry::on_revoke`] has not removed it by then.
    pub fn expired(&mut self, now_ms: u64, max: usize) -> Vec<i64> {
        let mut ids = Vec::new();
        if !self.primary {
            return ids;
        }
        let retry_at_ms = now_ms.saturating_add(self.config.revoke_retry_ms.max(1));
        while ids.len() < max {
            let Some(&(revisit_ms, id)) = self.revisit_queue.first() else { break };
            if revisit_ms > now_ms {
                break;
            }
            self.revisit_queue.pop_first();
            let Some(t) = self.timers.get_mut(&id) else { continue };
            assert!(t.deadline_ms <= revisit_ms, "lease {id:x} revisited before its deadline");
            t.revisit_ms = retry_at_ms;
            self.revisit_queue.insert((retry_at_ms, id));
            ids.push(id);
        }
        ids
    }

    /// Up to `max` `(id, remaining_ttl_s)` checkpoints that are due, to propose in one
    /// LeaseCheckpoint entry (etcd batches up to 1000). See the module doc for the rule.
    pub fn checkpoints(&mut self, now_ms: u64, max: usize) -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        if !self.primary {
            return out;
        }
        while out.len() < max {
            let Some(&(due_ms, id)) = self.checkpoint_queue.first() else { break };
            if due_ms > now_ms {
                break;
            }
            self.checkpoint_queue.pop_first();
            let Some(t) = self.timers.get_mut(&id) else { continue };
            t.checkpoint_due_ms = None;
            if t.deadline_ms > now_ms {
                let remaining_ttl_s = signed_ms((t.deadline_ms - now_ms).div_ceil(MS_PER_S));
                if remaining_ttl_s < t.ttl_s {
                    t.checkpoint_in_flight = true;
                    out.push((id, remaining_ttl_s));
                }
            }
            self.maybe_schedule_checkpoint(id, now_ms);
        }
        out
    }

    /// The lease's deadline on this leader's clock, if primary and known.
    pub fn deadline_ms(&self, id: i64) -> Option<u64> {
        self.timers.get(&id).map(|t| t.deadline_ms)
    }

    /// Time left before the deadline, negative once past it.
    pub fn remaining_ms(&self, id: i64, now_ms: u64) -> Option<i64> {
        self.deadline_ms(id).map(|d| signed_ms(d).saturating_sub(signed_ms(now_ms)))
    }

    /// TimeToLive's `TTL`: remaining seconds truncated toward zero, as etcd's
    /// `int64(Remaining().Seconds())` (9 right after a 10 s grant; -1 only once more
    /// than a second past the deadline). None: not primary or unknown lease.
    pub fn time_to_live_s(&self, id: i64, now_ms: u64) -> Option<i64> {
        self.remaining_ms(id, now_ms).map(|ms| ms / MS_PER_S as i64)
    }

    /// The earliest time `expired` or `checkpoints` can return something, for a
    /// runtime that sleeps until then.
    pub fn next_wakeup_ms(&self) -> Option<u64> {
        let revisit = self.revisit_queue.first().map(|(t, _)| *t);
        let checkpoint = self.checkpoint_queue.first().map(|(t, _)| *t);
        revisit.into_iter().chain(checkpoint).min()
    }

    /// For checkers: when primary, exactly the store's leases have timers, and both
    /// queues index the timers.
    pub fn check_against(&self, store: &LeaseStore) -> Result<(), String> {
        if self.primary && !self.timers.keys().copied().eq(store.ids()) {
            return Err("the leader's deadlines and the store disagree on which leases exist".into());
        }
        if !self.primary && !self.timers.is_empty() {
            return Err("a non-primary holds lease deadlines".into());
        }
        let revisits: BTreeSet<(u64, i64)> = self.timers.iter().map(|(id, t)| (t.revisit_ms, *id)).collect();
        let checkpoints: BTreeSet<(u64, i64)> =
            self.timers.iter().filter_map(|(id, t)| t.checkpoint_due_ms.map(|d| (d, *id))).collect();
        if revisits != self.revisit_queue || checkpoints != self.checkpoint_queue {
            return Err("a lease queue does not match the lease timers".into());
        }
        match self.timers.iter().find(|(_, t)| t.revisit_ms < t.deadline_ms) {
            Some((id, _)) => Err(format!("lease {id:x} would be revisited before its deadline")),
            None => Ok(()),
        }
    }

    fn clear(&mut self) {
        self.timers.clear();
        self.revisit_queue.clear();
        self.checkpoint_queue.clear();
    }

    fn track(&mut self, id: i64, ttl_s: i64, deadline_ms: u64, now_ms: u64) {
        self.untrack(id);
        let t = Timers {
            ttl_s,
            deadline_ms,
            revisit_ms: deadline_ms,
            checkpoint_due_ms: None,
            checkpoint_in_flight: false,
        };
        self.timers.insert(id, t);
        self.revisit_queue.insert((deadline_ms, id));
        self.maybe_schedule_checkpoint(id, now_ms);
    }

    fn untrack(&mut self, id: i64) {
        if let Some(t) = self.timers.remove(&id) {
            self.revisit_queue.remove(&(t.revisit_ms, id));
            if let Some(due_ms) = t.checkpoint_due_ms {
                self.checkpoint_queue.remove(&(due_ms, id));
            }
        }
    }

    fn maybe_schedule_checkpoint(&mut self, id: i64, now_ms: u64) {
        let interval_ms = self.config.checkpoint_interval_ms;
        let Some(t) = self.timers.get_mut(&id) else { return };
        if interval_ms == 0 || t.checkpoint_due_ms.is_some() {
            return;
        }
        if t.deadline_ms.saturating_sub(now_ms) > interval_ms {
            let due_ms = now_ms.saturating_add(interval_ms);
            t.checkpoint_due_ms = Some(due_ms);
            self.checkpoint_queue.insert((due_ms, id));
        }
    }
}
