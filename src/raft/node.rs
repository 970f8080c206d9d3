//! `RaftNode`: the raft group as the rest of the crate sees it. Proposals in,
//! applied results out; ReadIndex for linearizable reads; status for headers and
//! Maintenance.Status. No openraft type crosses this boundary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, LinearizableReadError, RaftError};
use openraft::{ReadPolicy, ServerState};
use openraft_rt::WatchReceiver;

use super::lessor::Lessor;
use super::log_store::LogStore;
use super::network::{self, Network};
use super::state_machine::{SmShared, StateMachine};
use super::types::{MemberInfo, Raft, TypeConfig};
use crate::apply::{Applied, ApplyLimits, Request};
use crate::env::Disk;
use crate::error::Error;
use crate::proto::metastorepeerpb::RaftMessage;

/// How long a proposal waits for some member to lead before "no leader".
pub const LEADER_WAIT: Duration = Duration::from_secs(3);

/// What a node needs to start its raft group.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub member_id: u64,
    pub cluster_id: u64,
    /// etcd's --strict-reconfig-check.
    pub strict_reconfig_check: bool,
    /// Members to bootstrap with, if this is a fresh, intended bootstrap.
    pub initial_members: BTreeMap<u64, MemberInfo>,
    pub bootstrap: bool,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_count: u64,
    pub limits: ApplyLimits,
    /// This member's clock (leases expire by the leader's).
    pub clock: crate::env::Clock,
    /// How to reach `https://` peer URLs.
    pub peer_tls: crate::tls::PeerTls,
    /// The WAL's directory: `<dir>/wal` unless `--wal-dir` moves it (etcd's
    /// `WALDir`, see [`crate::config::Config::wal_dir_path`]).
    pub wal_dir: std::path::PathBuf,
    /// `--max-request-bytes`: sizes the largest raft entry and so the largest peer
    /// message this member accepts (see [`network::peer_message_limit`]).
    pub max_request_bytes: usize,
    /// `--quota-backend-bytes`: sizes the largest snapshot a peer may send (see
    /// [`network::max_snapshot_bytes`]).
    pub quota_backend_bytes: u64,
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
    pub(super) raft: Raft,
    pub(super) shared: Arc<SmShared>,
    pub(super) member_id: u64,
    pub(super) cluster_id: u64,
    pub(super) strict_reconfig_check: bool,
    pub(super) election_timeout_ms: u64,
    /// `--max-request-bytes`, see [`RaftConfig::max_request_bytes`].
    pub(super) max_request_bytes: usize,
    /// The largest snapshot a peer may send this member, in bytes.
    pub(super) max_snapshot_bytes: u64,
    pub(super) leaders: LeaderClients,
    /// Set by the network when a peer says we were removed.
    pub(super) removed: Arc<AtomicBool>,
    /// Linearizable reads waiting for a shared ReadIndex round (`read_batch`).
    pub(super) reads: Arc<super::read_batch::ReadBatch>,
    /// Where this member's data lies on disk, for [`RaftNode::disk_bytes`].
    files: Arc<DataFiles>,
}

/// The directories of a member's files: snapshots and WAL segments.
struct DataFiles {
    disk: Arc<dyn Disk>,
    dirs: Vec<std::path::PathBuf>,
}

type WriteError = RaftError<TypeConfig, ClientWriteError<TypeConfig>>;

/// A failed local proposal as etcd reports it.
pub(super) fn write_error(e: WriteError) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) if f.leader_id.is_none() => Error::NoLeader,
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => Error::LeaderChanged,
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(_)) => Error::LeaderChanged,
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

/// Cached channels to leaders, by peer URL (a forwarded write must not pay a new
/// connection). A channel that fails is dropped and made again on the next call.
#[derive(Clone, Default)]
pub(super) struct LeaderClients {
    cluster_id: u64,
    tls: crate::tls::PeerTls,
    by_url: Arc<std::sync::Mutex<std::collections::HashMap<String, PeerClient>>>,
}

type PeerClient = crate::proto::metastorepeerpb::raft_peer_client::RaftPeerClient<tonic::transport::Channel>;

impl LeaderClients {
    async fn get(&self, url: &str) -> Result<PeerClient, Error> {
        if let Some(c) = self.by_url.lock().unwrap_or_else(|p| p.into_inner()).get(url) {
            return Ok(c.clone());
        }
        let c = network::connect(url, &self.tls).await.map_err(|e| {
            tracing::debug!(error = %e, "leader unreachable");
            Error::NoLeader
        })?;
        self.by_url.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string(), c.clone());
        Ok(c)
    }

    fn forget(&self, url: &str) {
        self.by_url.lock().unwrap_or_else(|p| p.into_inner()).remove(url);
    }

    /// Call the leader's peer service and decode its answer.
    pub(super) async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        leader: &MemberInfo,
        data: Vec<u8>,
        call: LeaderCall,
    ) -> Result<T, Error> {
        let (url, client) = self.connect(leader).await?;
        self.call(url, client, data, call).await
    }

    /// A channel to the leader's peer service. Err(NoLeader) means nothing was sent.
    async fn connect<'a>(&self, leader: &'a MemberInfo) -> Result<(&'a str, PeerClient), Error> {
        let url = leader.peer_urls.first().ok_or(Error::NoLeader)?;
        Ok((url, self.get(url).await?))
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        mut client: PeerClient,
        data: Vec<u8>,
        call: LeaderCall,
    ) -> Result<T, Error> {
        let msg = RaftMessage { data, cluster_id: self.cluster_id };
        let resp = match call {
            LeaderCall::Propose => client.propose(msg).await,
            LeaderCall::ReadIndex => client.read_index(msg).await,
            LeaderCall::ChangeMembers => client.change_members(msg).await,
            LeaderCall::Lease => client.lease(msg).await,
            LeaderCall::HashKv => client.hash_kv(msg).await,
        };
        let resp = resp.map_err(|s| {
            tracing::debug!(status = %s, "leader call failed");
            self.forget(url);
            Error::LeaderChanged
        })?;
        network::decode::<T>(&resp.into_inner().data).map_err(Error::Internal)
    }
}

/// Whether [`RaftNode::on_leader`] tries a call again after the leader it was
/// sent to stepped down or could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    /// A write: never sent twice (only the search for a leader, before anything is
    /// sent, goes on); the failure is the client's answer, as etcd's "leader changed".
    UntilSent,
    /// A read or a lease renewal: nothing a second try could do twice.
    Always,
}

/// The follower→leader calls (and the corruption checks' member→member one).
#[derive(Clone, Copy, Debug)]
pub(super) enum LeaderCall {
    Propose,
    ReadIndex,
    ChangeMembers,
    Lease,
    HashKv,
}

impl RaftNode {
    /// Open the log and state machine under `dir` and start raft. Bootstraps only
    /// when `cfg.bootstrap` and the log has never held anything: re-initialising a
    /// node that has data would be a split-brain hazard.
    pub async fn start(disk: Arc<dyn Disk>, dir: &Path, cfg: RaftConfig) -> Result<RaftNode, String> {
        let log = LogStore::open(disk.clone(), dir, &cfg.wal_dir)
            .map_err(|e| format!("open raft log in {}: {e}", cfg.wal_dir.display()))?;
        let election = cfg.election_timeout_ms.max(2 * cfg.heartbeat_interval_ms + 1);
        let lessor = Lessor::new(cfg.clock.clone(), election);
        let files =
            Arc::new(DataFiles { disk: disk.clone(), dirs: vec![dir.join("snap"), cfg.wal_dir.clone()] });
        let sm = StateMachine::open(disk, dir, cfg.limits, lessor)
            .map_err(|e| format!("open snapshot in {}: {e}", dir.display()))?;
        let shared = sm.shared();
        #[cfg(madsim)]
        log.speculate_into(sm.clone());
        let pristine = log.is_pristine() && shared.applied_index() == 0;
        let rc = openraft::Config {
            cluster_name: "metastore".into(),
            heartbeat_interval: cfg.heartbeat_interval_ms,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(cfg.snapshot_count.max(1)),
            max_in_snapshot_log_to_keep: cfg.snapshot_count.clamp(1, 5000),
            // A restarted leader must win a new election, as in etcd. openraft's
            // default restores it as leader of its old term at once; but our commit
            // index is only a hint on disk and the state machine is rebuilt from a
            // snapshot, so the restored leader's read index (max of its old term's
            // noop and that stale hint) can miss writes it acknowledged before the
            // restart: linearizable reads would return stale data. (Found twice: by the
            // 3-member process test and by the cluster simulation, seed 50.)
            enable_leader_restore: Some(crate::mutant!(LeaderRestore)),
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("raft config: {e}"))?;
        let removed = Arc::new(AtomicBool::new(false));
        let network =
            Network { cluster_id: cfg.cluster_id, removed: removed.clone(), tls: cfg.peer_tls.clone() };
        let raft = Raft::new(cfg.member_id, Arc::new(rc), network, log, sm)
            .await
            .map_err(|e| format!("start raft: {e}"))?;
        #[cfg(not(madsim))]
        count_leader_changes(&raft);
        if cfg.bootstrap && pristine {
            raft.initialize(cfg.initial_members.clone()).await.map_err(|e| format!("bootstrap raft: {e}"))?;
        }
        Ok(RaftNode {
            raft,
            shared,
            member_id: cfg.member_id,
            cluster_id: cfg.cluster_id,
            strict_reconfig_check: cfg.strict_reconfig_check,
            election_timeout_ms: election,
            max_request_bytes: cfg.max_request_bytes,
            max_snapshot_bytes: network::max_snapshot_bytes(cfg.quota_backend_bytes),
            leaders: LeaderClients {
                cluster_id: cfg.cluster_id,
                tls: cfg.peer_tls.clone(),
                ..Default::default()
            },
            removed,
            reads: Default::default(),
            files,
        })
    }

    /// Bytes this member's data takes on disk now: its snapshot files and WAL
    /// segments (etcd's dbSize is its bolt file's size). Other files there (an
    /// adopted etcd `db`, temp files) are not counted. A file removed while being
    /// counted counts as nothing.
    pub fn disk_bytes(&self) -> u64 {
        let DataFiles { disk, dirs } = self.files.as_ref();
        let mut dirs: Vec<&std::path::PathBuf> = dirs.iter().collect();
        dirs.dedup();
        dirs.iter()
            .filter_map(|dir| Some((dir, disk.list_dir(dir).ok()?)))
            .flat_map(|(dir, names)| {
                // MetaStore's own files only (not an adopted etcd `db`, not temp files).
                let ours =
                    |n: &String| n.ends_with(".wal") || (n.starts_with("snapshot-") && n.ends_with(".snap"));
                names.into_iter().filter(ours).map(move |n| dir.join(n))
            })
            .filter_map(|path| disk.file_len(&path).ok())
            .sum()
    }

    pub fn member_id(&self) -> u64 {
        self.member_id
    }

    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    /// The replicated state, for local reads.
    pub fn state(&self) -> &Arc<SmShared> {
        &self.shared
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Propose a write and wait until it is committed and applied, on this member if
    /// it leads, else through the leader (transparently, as etcd forwards). While no
    /// member leads, waits up to [`LEADER_WAIT`] for one.
    pub async fn propose(&self, req: Request) -> Result<Applied, Error> {
        self.propose_within(req, LEADER_WAIT).await
    }

    /// [`RaftNode::propose`], waiting up to `wait` in all for a leader that takes
    /// the write: while no member leads, or the one this member believes leads
    /// cannot be reached (it died, and the others have not yet elected another),
    /// it tries again, as etcd holds a request until a leader takes it. Only when
    /// nothing was sent: a write that may have reached a leader is never sent twice.
    pub async fn propose_within(&self, req: Request, wait: Duration) -> Result<Applied, Error> {
        let proposal = crate::metrics::Proposal::start();
        let result = self.propose_routed(req, wait).await;
        proposal.finish(result.is_ok());
        result
    }

    /// The largest snapshot a peer may stream to this member.
    pub fn max_snapshot_bytes(&self) -> u64 {
        self.max_snapshot_bytes
    }

    /// The largest message this member's peer port accepts.
    pub fn peer_message_limit(&self) -> usize {
        network::peer_message_limit(self.max_request_bytes)
    }

    /// [`RaftNode::propose_within`], uncounted.
    async fn propose_routed(&self, req: Request, wait: Duration) -> Result<Applied, Error> {
        // An entry no peer would accept would stall replication for good: refuse it
        // here (the client port's own limit on the request's protobuf size comes
        // first; this only catches an encoding that grows past it).
        let size = bincode::serialized_size(&req).map_err(|e| Error::Internal(e.to_string()))?;
        if size > network::max_entry_bytes(self.max_request_bytes) as u64 {
            return Err(Error::RequestTooLarge);
        }
        let local = |req| self.propose_local_indexed(req);
        let (applied, index) =
            self.on_leader(LeaderCall::Propose, req, wait, Retry::UntilSent, local).await?;
        // As etcd's member waits for its own apply: what this member serves next (a
        // serializable read, a watch from a revision) sees the write.
        self.wait_applied(index).await?;
        Ok(applied)
    }

    /// Run a call on the leader: `local(msg)` when this member leads, else `call`
    /// with `msg` sent to the leader's peer service (encoded only then). The one path every follower→leader
    /// call takes (writes, read indexes, member changes, lease calls), with one
    /// policy: up to `wait` to find a leader to send to (while none leads, or the one
    /// believed to lead cannot be reached: nothing is sent while looking), then one
    /// send; `retry` says whether a try that failed because the leader stepped down
    /// or went away is made again (each again with up to `wait`). The caller's
    /// request timeout bounds it all.
    pub(super) async fn on_leader<M, T, F, Fut>(
        &self,
        call: LeaderCall,
        msg: M,
        wait: Duration,
        retry: Retry,
        local: F,
    ) -> Result<T, Error>
    where
        M: serde::Serialize + Clone,
        T: serde::de::DeserializeOwned,
        F: Fn(M) -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        loop {
            let target =
                tokio::time::timeout(wait, self.find_leader()).await.map_err(|_| Error::NoLeader)??;
            let result = match target {
                // Tried once: the message moves (a write is not copied).
                None if retry == Retry::UntilSent => return local(msg).await,
                None => local(msg.clone()).await,
                Some((url, client)) => {
                    let data = network::encode(&msg).map_err(Error::Internal)?;
                    self.leaders.call::<Result<T, Error>>(&url, client, data, call).await.and_then(|r| r)
                }
            };
            match result {
                Err(Error::NoLeader | Error::LeaderChanged) if retry == Retry::Always => {
                    self.pause_for_election().await
                }
                other => return other,
            }
        }
    }

    /// The leader to send to: None when this member leads, else a channel to the
    /// leader's peer service. Waits (without end: the caller bounds it) while no
    /// member leads or the leader cannot be reached.
    async fn find_leader(&self) -> Result<Option<(String, PeerClient)>, Error> {
        loop {
            if let Some(leader) = self.leader() {
                if leader == self.member_id {
                    return Ok(None);
                }
                if let Some(info) = self.member_info(leader) {
                    match self.leaders.connect(&info).await {
                        Ok((url, client)) => return Ok(Some((url.to_string(), client))),
                        Err(Error::NoLeader) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            self.pause_for_election().await;
        }
    }

    /// Linearizable read barrier on any member: the leader's read index (ReadIndex
    /// on the leader, asked of it from a follower), then wait until this member has
    /// applied past it. Tried again while no member leads, the leader cannot be
    /// reached or it stepped down (a read has no effects), as etcd holds a
    /// linearizable read until a leader answers. Unbounded: the caller's request
    /// timeout ends it.
    pub async fn read_index_waiting(&self) -> Result<(), Error> {
        let local = |()| self.leader_read_index();
        let index = self.on_leader(LeaderCall::ReadIndex, (), LEADER_WAIT, Retry::Always, local).await?;
        self.wait_applied(index).await
    }

    /// A short wait before trying a leader again (a tenth of an election timeout).
    async fn pause_for_election(&self) {
        tokio::time::sleep(Duration::from_millis((self.election_timeout_ms / 10).clamp(10, 100))).await;
    }

    pub(super) fn member_info(&self, id: u64) -> Option<MemberInfo> {
        let membership = self.raft.metrics().borrow_watched().membership_config.clone();
        membership.membership().get_node(&id).cloned()
    }

    /// Propose on this member only (the peer service's Propose: never a second hop).
    pub async fn propose_local(&self, req: Request) -> Result<Applied, Error> {
        self.propose_local_indexed(req).await.map(|(applied, _)| applied)
    }

    /// [`RaftNode::propose_local`] with the log index the write was applied at.
    pub async fn propose_local_indexed(&self, req: Request) -> Result<(Applied, u64), Error> {
        self.raft.client_write(req).await.map(|resp| (resp.data, resp.log_id.index)).map_err(write_error)
    }

    /// ReadIndex on the leader: confirm leadership with a quorum, wait until applied
    /// up to the commit index at the start of the read; return that index.
    pub async fn leader_read_index(&self) -> Result<u64, Error> {
        match self.raft.ensure_linearizable(ReadPolicy::ReadIndex).await {
            Ok(read) => Ok(read.index()),
            Err(RaftError::Fatal(_)) => Err(Error::Stopped),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(_))) => Err(Error::LeaderChanged),
            Err(RaftError::APIError(e)) => {
                tracing::debug!(error = %e, "read index failed");
                Err(Error::NoLeader)
            }
        }
    }

    /// Wait until the local state machine has applied `index`. Err(Stopped) if raft
    /// stops first: the state may be behind, and a read must not be served from it.
    async fn wait_applied(&self, index: u64) -> Result<(), Error> {
        let mut rx = self.raft.metrics();
        loop {
            let (applied, running) = {
                let m = rx.borrow_watched();
                (m.last_applied.as_ref().map(|l| l.index).unwrap_or(0), m.running_state.is_ok())
            };
            if applied >= index {
                return Ok(());
            }
            if !running || rx.changed().await.is_err() {
                return Err(Error::Stopped);
            }
        }
    }

    /// Current raft term (every response header carries it: read without copying
    /// the whole metrics).
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow_watched().current_term
    }

    /// The member this one believes leads, if any.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow_watched().current_leader
    }

    pub fn status(&self) -> RaftStatus {
        status_of(&self.raft.metrics().borrow_watched())
    }

    /// Call `visit` with the raft status now and after every change, until it
    /// returns false or raft stops.
    pub async fn watch_status(&self, mut visit: impl FnMut(RaftStatus) -> bool) {
        let mut rx = self.raft.metrics();
        loop {
            let status = status_of(&rx.borrow_watched());
            if !visit(status) || rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Wait until some member leads, up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, Error> {
        let poll = async {
            loop {
                if let Some(l) = self.leader() {
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

/// Count each new leader this member sees (`etcd_server_leader_changes_seen_total`):
/// a member, not "none", other than the last one seen (so the same leader again after
/// a spell without one counts, as in etcd). Real build only: the simulator's members
/// share the counters and never read them, and a task of its own would change every
/// seed's schedule.
#[cfg(not(madsim))]
fn count_leader_changes(raft: &Raft) {
    let mut rx = raft.metrics();
    crate::env::spawn(async move {
        let mut last = None;
        loop {
            let leader = rx.borrow_watched().current_leader;
            if leader.is_some() && leader != last {
                crate::metrics::leader_changed();
            }
            last = leader;
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
}

/// The status `m` describes.
fn status_of(m: &openraft::RaftMetrics<TypeConfig>) -> RaftStatus {
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
