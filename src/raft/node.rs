//! `RaftNode`: the raft group as the rest of the crate sees it. Proposals in,
//! applied results out; ReadIndex for linearizable reads; status for headers and
//! Maintenance.Status. No openraft type crosses this boundary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ReadPolicy, ServerState};
use openraft_rt::WatchReceiver;

use super::log_store::LogStore;
use super::network::Network;
use super::state_machine::{SmShared, StateMachine};
use super::types::{MemberInfo, Raft};
use crate::apply::{Applied, ApplyLimits, Request};
use crate::env::Disk;
use crate::error::Error;

/// What a node needs to start its raft group.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub member_id: u64,
    /// Members to bootstrap with, if this is a fresh, intended bootstrap.
    pub initial_members: BTreeMap<u64, MemberInfo>,
    pub bootstrap: bool,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_count: u64,
    pub limits: ApplyLimits,
}

/// A point-in-time view of the raft state (for response headers and Status).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftStatus {
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    pub is_leader: bool,
    pub is_learner: bool,
}

#[derive(Clone)]
pub struct RaftNode {
    raft: Raft,
    shared: Arc<SmShared>,
    member_id: u64,
}

fn write_error(e: RaftError<super::types::TypeConfig, ClientWriteError<super::types::TypeConfig>>) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) if f.leader_id.is_none() => Error::NoLeader,
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => Error::LeaderChanged,
        RaftError::APIError(other) => {
            tracing::warn!(error = %other, "proposal failed");
            Error::LeaderChanged
        }
        RaftError::Fatal(f) => {
            tracing::error!(error = %f, "raft stopped");
            Error::Stopped
        }
    }
}

impl RaftNode {
    /// Open the log and state machine under `dir` and start raft. Bootstraps only
    /// when `cfg.bootstrap` and the log has never held anything: re-initialising a
    /// node that has data would be a split-brain hazard.
    pub async fn start(disk: Arc<dyn Disk>, dir: &Path, cfg: RaftConfig) -> Result<RaftNode, String> {
        let log = LogStore::open(disk.clone(), dir)
            .map_err(|e| format!("open raft log in {}: {e}", dir.display()))?;
        let sm = StateMachine::open(disk, dir, cfg.limits)
            .map_err(|e| format!("open snapshot in {}: {e}", dir.display()))?;
        let shared = sm.shared();
        let pristine = log.is_pristine() && shared.applied_index() == 0;
        let election = cfg.election_timeout_ms.max(2 * cfg.heartbeat_interval_ms + 1);
        let rc = openraft::Config {
            cluster_name: "metastore".into(),
            heartbeat_interval: cfg.heartbeat_interval_ms,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_count.max(1)),
            max_in_snapshot_log_to_keep: cfg.snapshot_count.clamp(1, 5000),
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft config: {e}"))?;
        let raft = Raft::new(cfg.member_id, Arc::new(rc), Network, log, sm)
            .await
            .map_err(|e| format!("start raft: {e}"))?;
        if cfg.bootstrap && pristine {
            raft.initialize(cfg.initial_members.clone()).await.map_err(|e| format!("bootstrap raft: {e}"))?;
        }
        Ok(RaftNode { raft, shared, member_id: cfg.member_id })
    }

    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    /// The replicated state, for local reads.
    pub fn state(&self) -> &Arc<SmShared> {
        &self.shared
    }

    /// Propose a write and wait until it is committed and applied.
    pub async fn propose(&self, req: Request) -> Result<Applied, Error> {
        let resp = self.raft.client_write(req).await.map_err(write_error)?;
        Ok(resp.data)
    }

    /// ReadIndex: confirm leadership with a quorum and wait until the local state
    /// machine has applied everything committed before the read began.
    pub async fn read_index(&self) -> Result<(), Error> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(_) => Ok(()),
            Err(RaftError::Fatal(_)) => Err(Error::Stopped),
            Err(RaftError::APIError(e)) => {
                tracing::debug!(error = %e, "read index failed");
                Err(Error::NoLeader)
            }
        }
    }

    pub fn status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        RaftStatus {
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index.unwrap_or(0),
            committed_index: m
                .cluster_committed
                .as_ref()
                .or(m.local_committed.as_ref())
                .map(|l| l.index)
                .unwrap_or(0),
            applied_index: m.last_applied.as_ref().map(|l| l.index).unwrap_or(0),
            is_leader: m.state == ServerState::Leader,
            is_learner: m.state == ServerState::Learner,
        }
    }

    /// Members as raft knows them (id → info), voters and learners alike.
    pub fn members(&self) -> Vec<(u64, MemberInfo, bool)> {
        let m = self.raft.metrics().borrow_watched().clone();
        let cfg = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = cfg.voter_ids().collect();
        cfg.nodes().map(|(id, info)| (*id, info.clone(), !voters.contains(id))).collect()
    }

    /// Wait until some member leads, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, Error> {
        let poll = async {
            loop {
                if let Some(l) = self.status().leader {
                    return l;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(timeout, poll).await.map_err(|_| Error::NoLeader)
    }

    /// Resolves when raft has stopped on a fatal error (a storage failure, say),
    /// with its description. A node in that state must be restarted: etcd exits.
    pub async fn wait_fatal(&self) -> String {
        let mut rx = self.raft.metrics();
        loop {
            if let Err(fatal) = &rx.borrow_watched().running_state {
                return fatal.to_string();
            }
            if rx.changed().await.is_err() {
                return "raft metrics channel closed".to_string();
            }
        }
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }
}
