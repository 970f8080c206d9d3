//! The lessor: the leader's lease clock around the sans-IO [`LeaseExpiry`], and the
//! loop that turns its decisions into raft proposals.
//!
//! Every member has one; only the leader's is *primary*. A member becomes primary
//! once it leads and has applied everything committed before its term (a ReadIndex
//! round proves that), and stops being primary as soon as it does not lead. The
//! state machine tells it about applied grants and revokes ([`Lessor::on_applied`]).
//! Every [`TICK`] the primary proposes a Revoke for each expired lease and a
//! Checkpoint for remaining TTLs worth keeping (see `lease::expiry`).
//!
//! Time is this member's [`Clock`] (skew and drift set by the simulator): expiry is
//! decided by the leader's clock only.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::node::{LeaderCall, RaftNode, Retry, LEADER_WAIT};
use crate::apply::{Applied, Request, Response};
use crate::env::Clock;
use crate::error::Error;
use crate::lease::{
    ExpiryConfig, LeaseExpiry, Renewal, CHECKPOINT_BATCH_MAX, EXPIRED_BATCH_MAX, LESSOR_TICK_MS,
};
use crate::shutdown::Shutdown;

/// How often the primary looks for expired leases and due checkpoints.
pub const TICK: Duration = Duration::from_millis(LESSOR_TICK_MS);
/// How often a member checks whether it should be promoted or demoted: a new leader
/// answers KeepAlive only once promoted, so this is most of its delay.
const LEADERSHIP_POLL: Duration = Duration::from_millis(20);

pub struct Lessor {
    expiry: Mutex<LeaseExpiry>,
    clock: Clock,
    /// A new primary extends every lease by this much (etcd: the election timeout).
    extend_ms: u64,
}

impl Lessor {
    pub fn new(clock: Clock, election_timeout_ms: u64) -> Self {
        Lessor {
            expiry: Mutex::new(LeaseExpiry::new(ExpiryConfig::etcd_defaults(election_timeout_ms))),
            clock,
            extend_ms: election_timeout_ms,
        }
    }

    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now_ms()).unwrap_or(0)
    }

    fn expiry(&self) -> MutexGuard<'_, LeaseExpiry> {
        self.expiry.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_primary(&self) -> bool {
        self.expiry().is_primary()
    }

    /// Hook from the state machine: an entry was applied.
    pub fn on_applied(&self, req: &Request, applied: &Applied) {
        match (req.unwrapped(), &applied.result) {
            (Request::LeaseGrant { id, .. }, Ok(Response::LeaseGrant { ttl_s, .. })) => {
                let now = self.now_ms();
                self.expiry().on_grant(*id, *ttl_s, now);
            }
            // A revoke refused for want of permission leaves the lease as it was.
            (Request::LeaseRevoke { id }, Ok(_) | Err(crate::error::Error::LeaseNotFound)) => {
                self.expiry().on_revoke(*id)
            }
            _ => {}
        }
    }

    /// Remaining TTL in whole seconds (etcd truncates), if primary and known.
    pub fn time_to_live_s(&self, id: i64) -> Option<i64> {
        let now = self.now_ms();
        self.expiry().time_to_live_s(id, now)
    }
}

/// A lease call a member hands to the leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeaseCall {
    Renew(i64),
    TimeToLive(i64),
}

impl RaftNode {
    /// KeepAlive (Renew) or remaining TTL on the leader, from any member.
    pub async fn lease_call(&self, call: LeaseCall) -> Result<i64, Error> {
        let local = |call| self.lease_call_local(call);
        self.on_leader(LeaderCall::Lease, call, LEADER_WAIT, Retry::Always, local).await
    }

    /// The leader's part of [`RaftNode::lease_call`]. A leader not yet promoted (it
    /// is applying its predecessors' entries) is waited for, briefly.
    pub async fn lease_call_local(&self, call: LeaseCall) -> Result<i64, Error> {
        for _ in 0..100 {
            if self.shared.lessor.is_primary() || self.leader() != Some(self.member_id) {
                break;
            }
            tokio::time::sleep(LEADERSHIP_POLL).await;
        }
        match call {
            LeaseCall::Renew(id) => self.lease_renew_local(id).await,
            LeaseCall::TimeToLive(id) => self.lease_ttl_local(id),
        }
    }

    /// KeepAlive on the leader: the lease's granted TTL, 0 if unknown or expired.
    /// Errors: LeaderChanged if this member is not (yet) the primary lessor.
    pub async fn lease_renew_local(&self, id: i64) -> Result<i64, Error> {
        for _ in 0..3 {
            if self.leader() != Some(self.member_id) {
                return Err(Error::LeaderChanged);
            }
            if crate::mutant!(KeepAliveNoExtend) {
                let ttl = self.shared.read().leases.get(id).map(|l| l.ttl_s());
                return Ok(ttl.unwrap_or(0));
            }
            let renewal = {
                let state = self.shared.read();
                let now = self.shared.lessor.now_ms();
                self.shared.lessor.expiry().renew(&state.leases, id, now)
            };
            match renewal {
                Renewal::Renewed { ttl_s } => return Ok(ttl_s),
                Renewal::NotFound | Renewal::Expired => return Ok(0),
                Renewal::NotPrimary => return Err(Error::LeaderChanged),
                Renewal::NeedsCheckpointClear => {
                    let clear = Request::LeaseCheckpoint { checkpoints: vec![(id, 0)] };
                    self.propose_local(clear).await?;
                }
            }
        }
        Err(Error::Timeout)
    }

    /// Remaining TTL on the leader (seconds), -1 if the lease is unknown.
    pub fn lease_ttl_local(&self, id: i64) -> Result<i64, Error> {
        if !self.shared.lessor.is_primary() {
            // A leader not yet promoted (or a deposed one): the client retries.
            return Err(Error::LeaderChanged);
        }
        if !self.shared.read().leases.contains(id) {
            return Ok(-1);
        }
        Ok(self.shared.lessor.time_to_live_s(id).unwrap_or(0).max(0))
    }

    /// Run the lessor until `shutdown`: promote / demote with leadership, propose
    /// revokes of expired leases and checkpoints.
    pub async fn run_lessor(&self, shutdown: Shutdown) {
        let stop = shutdown.wait();
        tokio::pin!(stop);
        let polls_per_tick = (TICK.as_millis() / LEADERSHIP_POLL.as_millis()).max(1) as u64;
        let mut polls: u64 = 0;
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(LEADERSHIP_POLL) => {}
            }
            polls += 1;
            if self.follow_leadership().await && polls % polls_per_tick == 0 {
                self.lessor_tick();
            }
        }
    }

    /// Promote or demote with leadership; whether this member is the primary. (Called
    /// once before a member serves clients, so that a leader's first grants are
    /// timed by a primary, as etcd's lessor is promoted when it becomes leader.)
    pub async fn follow_leadership(&self) -> bool {
        let lessor = &self.shared.lessor;
        if self.leader() != Some(self.member_id) {
            if crate::mutant!(FollowerExpiresLeases) {
                if !lessor.is_primary() {
                    let state = self.shared.read();
                    lessor.expiry().promote(lessor.now_ms(), &state.leases, 0);
                }
                return true;
            }
            if lessor.is_primary() {
                lessor.expiry().demote();
                tracing::info!("lessor demoted");
            }
            return false;
        }
        if lessor.is_primary() {
            return true;
        }
        // Applied everything committed before this term: the store is complete.
        if self.leader_read_index().await.is_err() {
            return false;
        }
        let state = self.shared.read();
        let now = lessor.now_ms();
        lessor.expiry().promote(now, &state.leases, lessor.extend_ms);
        tracing::info!(leases = state.leases.len(), "lessor promoted");
        true
    }

    /// The primary's periodic work: revoke expired leases, checkpoint remaining TTLs.
    fn lessor_tick(&self) {
        let lessor = &self.shared.lessor;
        let now = lessor.now_ms();
        let (expired, checkpoints) = {
            let mut expiry = lessor.expiry();
            (expiry.expired(now, EXPIRED_BATCH_MAX), expiry.checkpoints(now, CHECKPOINT_BATCH_MAX))
        };
        for id in expired {
            let node = self.clone();
            crate::env::spawn(async move {
                let revoke = Request::LeaseRevoke { id };
                let result = if crate::mutant!(FollowerExpiresLeases) {
                    node.propose(revoke).await
                } else {
                    node.propose_local(revoke).await
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, lease = %format!("{id:x}"), "revoke of expired lease failed");
                }
            });
        }
        if !checkpoints.is_empty() {
            let node = self.clone();
            crate::env::spawn(async move {
                if let Err(e) = node.propose_local(Request::LeaseCheckpoint { checkpoints }).await {
                    tracing::debug!(error = %e, "lease checkpoint failed");
                }
            });
        }
    }
}
