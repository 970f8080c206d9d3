//! The asynchronous half of member changes and leadership transfer on [`RaftNode`]:
//! gather the leader's [`View`], check the change with [`membership::plan`], run it
//! through openraft (joint consensus for voter changes), forward it to the leader
//! when this member does not lead. Also: what a joining member asks for
//! ([`RaftNode::cluster_info`]) and how a member learns it was removed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::ChangeMembers;
use openraft_rt::{Instant as _, WatchReceiver};

use super::membership::{self, ChangeOutcome, ClusterInfo, MemberChange, MemberRecord, Plan, View};
use super::node::{LeaderCall, RaftNode, Retry, LEADER_WAIT};
use crate::error::Error;

/// A voter counts as connected if the leader heard from it within this (etcd's
/// health interval).
const CONNECTED_WITHIN: Duration = Duration::from_secs(5);

impl RaftNode {
    /// Members as raft knows them now (the latest membership, committed or not).
    pub fn members(&self) -> Vec<MemberRecord> {
        let membership = self.raft.metrics().borrow_watched().membership_config.clone();
        let cfg = membership.membership();
        let voters: BTreeSet<u64> = cfg.voter_ids().collect();
        cfg.nodes()
            .map(|(id, info)| MemberRecord { id: *id, info: info.clone(), is_learner: !voters.contains(id) })
            .collect()
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo { cluster_id: self.cluster_id, members: self.members() }
    }

    /// Is `id` unknown to both the applied and the latest membership, once this member
    /// has a membership at all? (Then it was removed, or never belonged.)
    pub fn is_removed_member(&self, id: u64) -> bool {
        let applied = self.shared.membership();
        if applied.log_id().is_none() {
            return false;
        }
        let latest = self.raft.metrics().borrow_watched().membership_config.clone();
        applied.membership().get_node(&id).is_none() && latest.membership().get_node(&id).is_none()
    }

    /// Resolves once this member has been removed from the cluster: its own applied
    /// membership no longer holds it, or a peer said so.
    pub async fn wait_removed(&self) {
        loop {
            if self.removed.load(Ordering::SeqCst) || self.is_removed_member(self.member_id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Run a member change on the leader (forwarded there if this member does not lead).
    pub async fn change_members(&self, change: MemberChange) -> Result<ChangeOutcome, Error> {
        let local = |change| self.change_members_local(change);
        self.on_leader(LeaderCall::ChangeMembers, change, LEADER_WAIT, Retry::UntilSent, local).await
    }

    /// The leader's part of a member change: check, then change membership and wait
    /// until the new membership is committed.
    pub async fn change_members_local(&self, change: MemberChange) -> Result<ChangeOutcome, Error> {
        let view = self.view()?;
        let plan = membership::plan(&change, &view)?;
        tracing::info!(?change, ?plan, "changing membership");
        let (members, retain) = match plan.clone() {
            Plan::AddLearner(id, info) => (ChangeMembers::AddNodes(BTreeMap::from([(id, info)])), false),
            Plan::AddVoter(id, info) => (ChangeMembers::AddVoters(BTreeMap::from([(id, info)])), false),
            Plan::RemoveVoter(id) => (ChangeMembers::RemoveVoters(BTreeSet::from([id])), false),
            Plan::RemoveLearner(id) => (ChangeMembers::RemoveNodes(BTreeSet::from([id])), false),
            Plan::SetNode(id, info) => (ChangeMembers::SetNodes(BTreeMap::from([(id, info)])), false),
            Plan::Promote(id) => (ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
        };
        match plan {
            // A lone voter adding a second: the joint configuration needs the new
            // member's vote, which it cannot give before it starts, and it starts only
            // once the change is reported. etcd commits the change under the old
            // configuration and then waits for the new member just the same; here the
            // change is reported once the leader has appended it, and commits when
            // the new member joins.
            Plan::AddVoter(id, _) if view.voters.len() == 1 => {
                let raft = self.raft.clone();
                let mut change =
                    crate::env::spawn(async move { raft.change_membership(members, retain).await });
                loop {
                    tokio::select! {
                        done = &mut change => {
                            done.map_err(|e| Error::Internal(format!("membership change task: {e}")))?
                                .map_err(super::node::write_error)?;
                            break;
                        }
                        () = tokio::time::sleep(Duration::from_millis(10)) => {
                            if self.members().iter().any(|m| m.id == id) {
                                tracing::warn!(
                                    member = %format!("{id:x}"),
                                    "added a second voter: writes wait until it joins"
                                );
                                break;
                            }
                        }
                    }
                }
            }
            _ => {
                self.raft.change_membership(members, retain).await.map_err(super::node::write_error)?;
            }
        }
        // The change is committed; the membership this member reports (raft's
        // metrics) may trail it by a moment. Answer with the membership that
        // includes the change, as etcd does (a removed member is no longer listed).
        let reflects = |members: &[MemberRecord]| match &plan {
            Plan::RemoveVoter(id) | Plan::RemoveLearner(id) => members.iter().all(|m| m.id != *id),
            Plan::Promote(id) | Plan::AddVoter(id, _) => members.iter().any(|m| m.id == *id && !m.is_learner),
            Plan::AddLearner(id, _) => members.iter().any(|m| m.id == *id),
            Plan::SetNode(id, info) => members.iter().any(|m| m.id == *id && m.info == *info),
        };
        let mut members = self.members();
        for _ in 0..200 {
            if reflects(&members) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            members = self.members();
        }
        let concerned = match plan {
            Plan::AddLearner(id, _) | Plan::AddVoter(id, _) | Plan::SetNode(id, _) | Plan::Promote(id) => {
                members.iter().find(|m| m.id == id).cloned()
            }
            Plan::RemoveVoter(_) | Plan::RemoveLearner(_) => None,
        };
        Ok(ChangeOutcome { member: concerned, members })
    }

    /// What the leader knows about the cluster, for checking a change.
    fn view(&self) -> Result<View, Error> {
        let published = self.shared.read().members.clone();
        let rx = self.raft.metrics();
        let m = rx.borrow_watched();
        if m.current_leader != Some(self.member_id) {
            return Err(Error::LeaderChanged);
        }
        let cfg = m.membership_config.membership();
        let voters: BTreeSet<u64> = cfg.voter_ids().collect();
        let nodes = cfg.nodes().map(|(id, n)| (*id, n.clone())).collect();
        let heard = |id: &u64| -> bool {
            *id == self.member_id
                || m.heartbeat
                    .as_ref()
                    .and_then(|h| h.get(id).cloned().flatten())
                    .is_some_and(|at| at.elapsed() <= CONNECTED_WITHIN)
        };
        let started = voters.iter().filter(|id| published.contains_key(id) && heard(id)).copied().collect();
        let matched = m
            .replication
            .as_ref()
            .map(|r| r.iter().map(|(id, l)| (*id, l.as_ref().map(|l| l.index).unwrap_or(0))).collect())
            .unwrap_or_default();
        Ok(View {
            voters,
            nodes,
            started,
            matched,
            leader_last_index: m.last_log_index.unwrap_or(0),
            strict: self.strict_reconfig_check,
        })
    }

    /// `--auto-promote-learners`: while this member leads, promote each learner as
    /// soon as MemberPromote's own checks ([`membership::plan`]: its log within 90% of
    /// the leader's, enough started voters under the strict check) would let an
    /// operator promote it. Checked every `every` until `stop`.
    pub async fn run_learner_promoter(&self, every: Duration, stop: crate::shutdown::Shutdown) {
        // The last failure logged, so that one that repeats is logged once.
        let mut last_failure: Option<(u64, String)> = None;
        loop {
            tokio::select! {
                () = stop.wait() => return,
                () = tokio::time::sleep(every) => {}
            }
            if self.leader() != Some(self.member_id) {
                continue;
            }
            for id in self.promotable_learners() {
                match self.change_members_local(MemberChange::Promote { id }).await {
                    Ok(_) => {
                        tracing::info!(member = %format!("{id:x}"), "promoted a learner that is in sync");
                        last_failure = None;
                    }
                    Err(e) => {
                        let failure = Some((id, e.to_string()));
                        if failure != last_failure {
                            tracing::warn!(member = %format!("{id:x}"), error = %e, "auto-promotion failed");
                            last_failure = failure;
                        }
                    }
                }
            }
        }
    }

    /// The learners MemberPromote would promote now (none unless this member leads).
    fn promotable_learners(&self) -> Vec<u64> {
        let Ok(view) = self.view() else { return Vec::new() };
        view.nodes
            .keys()
            .filter(|id| !view.voters.contains(id))
            .filter(|id| membership::plan(&MemberChange::Promote { id: **id }, &view).is_ok())
            .copied()
            .collect()
    }

    /// Hand leadership to `target` (a voter) and wait until it leads. Only the leader
    /// may (etcd: "not leader").
    pub async fn move_leader(&self, target: u64) -> Result<(), Error> {
        if self.leader() != Some(self.member_id) {
            return Err(Error::NotLeader);
        }
        let is_voter = self.members().iter().any(|m| m.id == target && !m.is_learner);
        if !is_voter {
            return Err(Error::BadLeaderTransferee);
        }
        if target == self.member_id {
            return Ok(());
        }
        self.raft.trigger().transfer_leader(target).await.map_err(|_| Error::Stopped)?;
        let wait = async {
            while self.leader() != Some(target) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let limit = Duration::from_millis(self.election_timeout_ms * 5);
        tokio::time::timeout(limit, wait).await.map_err(|_| Error::LeaderTransferTimeout)
    }
}
