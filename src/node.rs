//! The embedding API: start a MetaStore node in-process from a [`Config`] and a
//! [`Disk`], serve etcd's gRPC API on its client URLs, stop it cleanly.
//!
//! On-disk layout under `--data-dir` (as etcd's): `member/wal/` (raft log segments;
//! in `--wal-dir` itself when that is given), `member/snap/` (state snapshots),
//! `member/vote`, `member/identity` (member and cluster IDs fixed at bootstrap,
//! checked on every start).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::apply::{ApplyLimits, MemberAttrs, Request};
use crate::config::Config;
use crate::env::{Clock, Disk};
use crate::ids;
use crate::raft::{ClusterInfo, MemberInfo, RaftConfig, RaftNode};
use crate::server::{self, Context, Ctx};
use crate::shutdown::Shutdown;
use crate::storage::meta;
use crate::tls::{self, PeerTls, TlsSetup};

/// Who this data directory belongs to; written once at bootstrap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub name: String,
    pub member_id: u64,
    pub cluster_id: u64,
    pub cluster_token: String,
}

pub struct Node {
    pub ctx: Ctx,
    shutdown: Shutdown,
    servers: Vec<tokio::task::JoinHandle<()>>,
    /// Addresses actually bound, in `--listen-client-urls` order (one per address:
    /// `http://` and `https://` on one port share it).
    pub client_addrs: Vec<SocketAddr>,
    /// `/metrics` reads this member's figures while it runs.
    _metrics: crate::metrics::NodeRegistration,
}

/// Group `--initial-cluster` by member name: name → peer URLs.
fn initial_members(cfg: &Config) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, url) in &cfg.initial_cluster {
        by_name.entry(name.clone()).or_default().push(url.clone());
    }
    by_name
}

/// Work out this member's identity on a fresh bootstrap, checking the flags as etcd
/// does.
pub(crate) fn bootstrap_identity(cfg: &Config) -> Result<(Identity, BTreeMap<u64, MemberInfo>), String> {
    let by_name = initial_members(cfg);
    let Some(own_urls) = by_name.get(&cfg.name) else {
        return Err(format!("couldn't find local name {:?} in the initial cluster configuration", cfg.name));
    };
    let mut own_sorted = own_urls.clone();
    own_sorted.sort();
    let mut adv_sorted = cfg.initial_advertise_peer_urls.clone();
    adv_sorted.sort();
    if own_sorted != adv_sorted {
        return Err(format!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={}",
            cfg.name,
            own_urls.join(","),
            cfg.initial_advertise_peer_urls.join(",")
        ));
    }
    let mut members = BTreeMap::new();
    for (name, urls) in &by_name {
        let id = ids::member_id(urls, &cfg.initial_cluster_token);
        let client_urls = if *name == cfg.name { cfg.advertise_client_urls.clone() } else { vec![] };
        members.insert(id, MemberInfo { name: name.clone(), peer_urls: urls.clone(), client_urls });
    }
    let member_ids: Vec<u64> = members.keys().copied().collect();
    let identity = Identity {
        name: cfg.name.clone(),
        member_id: ids::member_id(own_urls, &cfg.initial_cluster_token),
        cluster_id: ids::cluster_id(&member_ids),
        cluster_token: cfg.initial_cluster_token.clone(),
    };
    Ok((identity, members))
}

fn load_identity(disk: &dyn Disk, path: &Path) -> Result<Option<Identity>, String> {
    match meta::load_small_file(disk, path) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => bincode::deserialize(&bytes)
            .map(Some)
            .map_err(|e| format!("{}: corrupt member identity: {e}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// `metastore snapshot restore`: make `cfg.data_dir` the data dir of member
/// `cfg.name` of a new cluster whose members are `--initial-cluster` (checked as a
/// bootstrap checks them), holding `state`, with an empty `--wal-dir` if one is given.
/// Never touches an existing data dir or WAL dir. Every
/// member restored from the same state with the same cluster flags gets the same
/// snapshot and membership (see `raft::restore`); starting `metastore` on it with
/// those flags serves the state.
pub fn restore_data_dir(
    cfg: &Config,
    disk: &dyn Disk,
    state: &crate::apply::KvState,
) -> Result<Identity, String> {
    let data_dir = Path::new(&cfg.data_dir);
    if disk.exists(data_dir) {
        return Err(format!("data-dir {:?} exists", cfg.data_dir));
    }
    if !cfg.wal_dir.is_empty() && disk.exists(Path::new(&cfg.wal_dir)) {
        return Err(format!("wal-dir {:?} exists", cfg.wal_dir));
    }
    write_restored_member(cfg, disk, state)
}

/// The writing half of [`restore_data_dir`], on directories the caller has checked:
/// the restored snapshot, an empty `--wal-dir`, then the identity (last, so that a
/// crash before it leaves a data dir that is restored again, not one that starts).
pub(crate) fn write_restored_member(
    cfg: &Config,
    disk: &dyn Disk,
    state: &crate::apply::KvState,
) -> Result<Identity, String> {
    let data_dir = Path::new(&cfg.data_dir);
    let (identity, mut members) = bootstrap_identity(cfg)?;
    // Alike on every member; each publishes its client URLs once it serves.
    for m in members.values_mut() {
        m.client_urls.clear();
    }
    let member_dir = data_dir.join("member");
    disk.create_dir_all(&member_dir).map_err(|e| format!("create {}: {e}", member_dir.display()))?;
    crate::raft::restore::write_restored_snapshot(disk, &member_dir, state, members)?;
    if !cfg.wal_dir.is_empty() {
        // Empty, as etcd's restore leaves it save for its first records: the member's
        // log starts after the restored snapshot.
        let wal_dir = cfg.wal_dir_path();
        disk.create_dir_all(&wal_dir).map_err(|e| format!("create {}: {e}", wal_dir.display()))?;
    }
    let id_path = member_dir.join("identity");
    let bytes = bincode::serialize(&identity).map_err(|e| e.to_string())?;
    meta::save_small_file(disk, &id_path, &bytes).map_err(|e| format!("write {}: {e}", id_path.display()))?;
    Ok(identity)
}

/// A member that has started before and is now given `--wal-dir` must find its log
/// there: if `<member>/wal` holds segments and the dedicated directory holds none,
/// starting would forget the log (and the votes it implies), so refuse.
fn check_wal_location(disk: &dyn Disk, cfg: &Config, member_dir: &Path) -> Result<(), String> {
    let default_dir = member_dir.join("wal");
    let wal_dir = cfg.wal_dir_path();
    let has_segments =
        |dir: &Path| disk.list_dir(dir).is_ok_and(|names| names.iter().any(|n| n.ends_with(".wal")));
    if wal_dir != default_dir && has_segments(&default_dir) && !has_segments(&wal_dir) {
        return Err(format!(
            "the raft log is in {} but --wal-dir is {:?}: move its segments there, or start without --wal-dir",
            default_dir.display(),
            cfg.wal_dir
        ));
    }
    Ok(())
}

/// Publish this member's name and client URLs through raft (what MemberList shows),
/// retrying until it succeeds or `within` passes.
async fn publish(node: &RaftNode, member_id: u64, cfg: &Config, within: Duration) {
    let attrs = MemberAttrs { name: cfg.name.clone(), client_urls: cfg.advertise_client_urls.clone() };
    if node.state().read().members.get(&member_id) == Some(&attrs) {
        return;
    }
    let attempt = async {
        loop {
            let req = Request::Publish { member_id, attrs: attrs.clone() };
            match node.propose(req).await {
                // Applied on the leader; wait until it is applied here too, so that
                // "published" means this member's own MemberList shows it.
                Ok(_) => {
                    while node.state().read().members.get(&member_id) != Some(&attrs) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "publish failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    if tokio::time::timeout(within, attempt).await.is_err() {
        tracing::warn!("could not publish member attributes yet");
    }
}

/// Peer URLs of the other members named in --initial-cluster.
fn other_peer_urls(cfg: &Config) -> Vec<String> {
    cfg.initial_cluster.iter().filter(|(name, _)| *name != cfg.name).map(|(_, url)| url.clone()).collect()
}

/// Ask the member at `url` who is in its cluster.
async fn ask_members(url: &str, tls: &PeerTls) -> Result<ClusterInfo, String> {
    let mut client = crate::raft::network::connect(url, tls).await?;
    let msg = crate::proto::metastorepeerpb::RaftMessage { data: vec![], cluster_id: 0 };
    let resp = tokio::time::timeout(Duration::from_secs(2), client.members(msg))
        .await
        .map_err(|_| format!("{url}: no answer"))?
        .map_err(|s| format!("{url}: {}", s.message()))?;
    crate::raft::network::decode(&resp.into_inner().data)
}

/// Joining an existing cluster (`--initial-cluster-state existing`, no data yet): ask
/// the other members for the cluster and find ourselves in it by peer URLs (the
/// member must have been added first, as with etcd's `member add`).
async fn join_identity(cfg: &Config, tls: &PeerTls) -> Result<Identity, String> {
    let mut own = cfg.initial_advertise_peer_urls.clone();
    own.sort();
    let peers = other_peer_urls(cfg);
    if peers.is_empty() {
        return Err("--initial-cluster-state=existing needs the other members in --initial-cluster".into());
    }
    let deadline = Duration::from_millis(cfg.election_timeout_ms.max(100) * 30);
    let attempt = async {
        let mut last_error = String::new();
        loop {
            for url in &peers {
                match ask_members(url, tls).await {
                    Ok(info) => {
                        let me = info.members.iter().find(|m| {
                            let mut urls = m.info.peer_urls.clone();
                            urls.sort();
                            urls == own
                        });
                        let Some(me) = me else {
                            return Err(format!(
                                "member {} (peer URLs {}) is not in the cluster of {url}: add it first \
                                 (etcdctl member add)",
                                cfg.name,
                                own.join(",")
                            ));
                        };
                        return Ok(Identity {
                            name: cfg.name.clone(),
                            member_id: me.id,
                            cluster_id: info.cluster_id,
                            cluster_token: cfg.initial_cluster_token.clone(),
                        });
                    }
                    Err(e) => last_error = e,
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            tracing::debug!(error = %last_error, "no member answered yet; retrying");
        }
    };
    tokio::time::timeout(deadline, attempt)
        .await
        .map_err(|_| format!("could not reach any member of the cluster to join ({})", peers.join(",")))?
}

/// Refuse to start next to members of another cluster (a data dir or token from a
/// different cluster): ask each peer once, briefly; silence is not an error.
async fn check_peers_cluster(cfg: &Config, identity: &Identity, tls: &PeerTls) -> Result<(), String> {
    let asks = other_peer_urls(cfg).into_iter().map(|url| async move { (ask_members(&url, tls).await, url) });
    for (answer, url) in futures::future::join_all(asks).await {
        if let Ok(info) = answer {
            if info.cluster_id != identity.cluster_id {
                return Err(format!(
                    "cluster ID mismatch: this member belongs to cluster {:x}, the member at {url} to {:x} \
                     (a data dir or --initial-cluster-token from another cluster?)",
                    identity.cluster_id, info.cluster_id
                ));
            }
        }
    }
    Ok(())
}

/// The figures `/metrics` reads from this member on each scrape.
fn metrics_sample(ctx: &Context) -> crate::metrics::NodeSample {
    let rs = ctx.node.status();
    let on_disk = ctx.node.disk_bytes();
    let (watch_streams, watchers, slow_watchers) = {
        let hub = ctx.node.state().watch_hub();
        let slow = hub.unsynced_count() as u64;
        (hub.stream_count() as u64, hub.synced_count() as u64 + slow, slow)
    };
    let state = ctx.node.state().read();
    crate::metrics::NodeSample {
        member_id: ctx.member_id,
        has_leader: rs.leader.is_some(),
        is_leader: rs.is_leader,
        is_learner: rs.is_learner,
        committed_index: rs.committed_index,
        applied_index: rs.applied_index,
        quota_backend_bytes: ctx.quota_backend_bytes,
        db_size_bytes: on_disk.max(state.size_bytes()),
        db_size_in_use_bytes: state.size_bytes(),
        live_keys: state.live_keys(),
        current_revision: state.kv.current_revision(),
        compact_revision: state.kv.compact_revision(),
        watch_streams,
        watchers,
        slow_watchers,
    }
}

impl Node {
    /// Start a node: open or bootstrap its data, start raft, wait for a leader,
    /// start serving clients.
    pub async fn start(cfg: &Config, disk: Arc<dyn Disk>) -> Result<Node, String> {
        Node::start_with_clock(cfg, disk, Clock::new()).await
    }

    /// [`Node::start`] with this member's clock (the simulator skews it).
    pub async fn start_with_clock(cfg: &Config, disk: Arc<dyn Disk>, clock: Clock) -> Result<Node, String> {
        Node::start_observed(cfg, disk, clock, |_| {}).await
    }

    /// [`Node::start_with_clock`], handing the raft node to `on_raft` as soon as raft
    /// runs, before the member has joined (the simulator watches it from there).
    pub async fn start_observed(
        cfg: &Config,
        disk: Arc<dyn Disk>,
        clock: Clock,
        on_raft: impl FnOnce(&RaftNode),
    ) -> Result<Node, String> {
        let member_dir = PathBuf::from(&cfg.data_dir).join("member");
        disk.create_dir_all(&member_dir).map_err(|e| format!("create {}: {e}", member_dir.display()))?;
        let id_path = member_dir.join("identity");
        let tls = TlsSetup::load(cfg, disk.as_ref())?;
        #[cfg(not(madsim))]
        let tls_reloader = tls::Reloader::new(cfg, &tls);
        let auth_settings = server::auth::AuthSettings::from_config(cfg, disk.as_ref())?;
        let mut stored = load_identity(disk.as_ref(), &id_path)?;
        if stored.is_none() {
            stored = crate::snapshot_cmd::adopt_etcd_restore(cfg, disk.as_ref(), &member_dir)?;
        }
        let (identity, members, fresh) = match stored {
            Some(id) => (id, BTreeMap::new(), false),
            None if cfg.initial_cluster_state_new => {
                let (id, members) = bootstrap_identity(cfg)?;
                (id, members, true)
            }
            None => (join_identity(cfg, &tls.peer_client).await?, BTreeMap::new(), true),
        };
        if !fresh && identity.name != cfg.name {
            tracing::warn!(stored = %identity.name, flag = %cfg.name, "data dir belongs to another member name");
        }
        if !fresh {
            check_wal_location(disk.as_ref(), cfg, &member_dir)?;
        }
        check_peers_cluster(cfg, &identity, &tls.peer_client).await?;
        let raft_cfg = RaftConfig {
            member_id: identity.member_id,
            cluster_id: identity.cluster_id,
            strict_reconfig_check: cfg.strict_reconfig_check,
            bootstrap: fresh && !members.is_empty(),
            initial_members: members,
            heartbeat_interval_ms: cfg.heartbeat_interval_ms.max(1),
            election_timeout_ms: cfg.election_timeout_ms.max(1),
            snapshot_count: cfg.snapshot_count,
            limits: ApplyLimits { max_txn_ops: cfg.max_txn_ops },
            clock: clock.clone(),
            peer_tls: tls.peer_client.clone(),
            wal_dir: cfg.wal_dir_path(),
            max_request_bytes: cfg.max_request_bytes,
            quota_backend_bytes: cfg.quota_backend_bytes,
        };
        let node = RaftNode::start(disk.clone(), &member_dir, raft_cfg).await?;
        on_raft(&node);
        if fresh {
            let bytes = bincode::serialize(&identity).map_err(|e| e.to_string())?;
            meta::save_small_file(disk.as_ref(), &id_path, &bytes)
                .map_err(|e| format!("write {}: {e}", id_path.display()))?;
        }
        let shutdown = Shutdown::new();
        let mut servers = Vec::new();
        #[cfg(not(madsim))]
        if let Some(reloader) = tls_reloader {
            let (disk, stop) = (disk.clone(), shutdown.clone());
            servers.push(crate::env::spawn(reloader.run(disk, stop)));
        }
        for (addr, accept) in tls::listeners(&cfg.listen_peer_urls, tls.peer_server.as_ref(), "peer-")? {
            let (_bound, handle) = server::serve_peer(node.clone(), addr, accept, shutdown.clone()).await?;
            servers.push(handle);
        }
        // As etcd: serve clients once the member has joined a cluster with a leader.
        let leader_wait = Duration::from_millis(cfg.election_timeout_ms.max(100) * 50);
        let join = async {
            if let Err(e) = node.wait_for_leader(leader_wait).await {
                tracing::warn!(error = %e, "no leader yet; serving clients anyway (they get \"no leader\")");
            } else {
                publish(&node, identity.member_id, cfg, leader_wait).await;
                node.follow_leadership().await;
            }
        };
        // Raft may stop on a fatal error (a failed log write) before the member has
        // joined: then starting has failed, and the caller exits (to be restarted)
        // rather than wait out the joining deadlines with a dead raft.
        tokio::select! {
            () = join => {}
            fatal = node.wait_fatal() => {
                shutdown.trigger();
                for h in servers {
                    let _ = h.await;
                }
                return Err(format!("raft stopped while starting: {fatal}"));
            }
        }
        if cfg.initial_corrupt_check {
            if let Err(e) = node.initial_corrupt_check().await {
                shutdown.trigger();
                for h in servers {
                    let _ = h.await;
                }
                return Err(e);
            }
        }
        if cfg.corrupt_check_interval_ms > 0 {
            let (checker, stop) = (node.clone(), shutdown.clone());
            let every = Duration::from_millis(cfg.corrupt_check_interval_ms);
            servers.push(crate::env::spawn(async move { checker.run_corrupt_checker(every, stop).await }));
        }
        if cfg.auto_promote_learners {
            let (promoter, stop) = (node.clone(), shutdown.clone());
            let every = Duration::from_millis(cfg.heartbeat_interval_ms.max(1) * 5);
            servers.push(crate::env::spawn(async move { promoter.run_learner_promoter(every, stop).await }));
        }
        let ctx = Arc::new(Context {
            node,
            cluster_id: identity.cluster_id,
            member_id: identity.member_id,
            max_request_bytes: cfg.max_request_bytes,
            max_concurrent_streams: cfg.max_concurrent_streams,
            keepalive: (
                Duration::from_millis(cfg.grpc_keepalive_interval_ms),
                Duration::from_millis(cfg.grpc_keepalive_timeout_ms),
            ),
            quota_backend_bytes: cfg.quota_backend_bytes,
            request_timeout: Duration::from_millis(5000 + 2 * cfg.election_timeout_ms),
            min_lease_ttl_s: crate::lease::min_lease_ttl_s(
                cfg.election_timeout_ms,
                cfg.heartbeat_interval_ms,
            ),
            auth: auth_settings,
            clock: clock.clone(),
        });
        let (sweep_ctx, sweep_stop) = (ctx.clone(), shutdown.clone());
        servers.push(crate::env::spawn(server::auth::run_token_sweeper(sweep_ctx, sweep_stop)));
        let lessor_node = ctx.node.clone();
        let lessor_stop = shutdown.clone();
        servers.push(crate::env::spawn(async move { lessor_node.run_lessor(lessor_stop).await }));
        if let Some(policy) = cfg.auto_compaction {
            let (node, stop) = (ctx.node.clone(), shutdown.clone());
            servers
                .push(crate::env::spawn(async move { node.run_auto_compactor(policy, clock, stop).await }));
        }
        let progress = Duration::from_millis(cfg.watch_progress_notify_interval_ms);
        let (watch_state, watch_stop) = (ctx.node.state().clone(), shutdown.clone());
        servers.push(crate::env::spawn(server::watch::run_watch_sync(watch_state, progress, watch_stop)));
        let mut client_addrs = Vec::new();
        for (addr, accept) in tls::listeners(&cfg.listen_client_urls, tls.client.as_ref(), "")? {
            let (bound, handle) = server::serve(ctx.clone(), addr, accept, shutdown.clone()).await?;
            client_addrs.push(bound);
            servers.push(handle);
        }
        crate::metrics::set_extensive(cfg.metrics_extensive);
        #[cfg(not(madsim))]
        for (addr, accept) in tls::listeners(&cfg.listen_metrics_urls, tls.client.as_ref(), "")? {
            let (_bound, handle) = server::serve_metrics(ctx.clone(), addr, accept, shutdown.clone()).await?;
            servers.push(handle);
        }
        let metrics_ctx = ctx.clone();
        let _metrics = crate::metrics::register_node(move || metrics_sample(&metrics_ctx));
        Ok(Node { ctx, shutdown, servers, client_addrs, _metrics })
    }

    pub fn member_id(&self) -> u64 {
        self.ctx.member_id
    }

    pub fn cluster_id(&self) -> u64 {
        self.ctx.cluster_id
    }

    /// Resolves once this member has been removed from the cluster (etcd then stops).
    pub async fn wait_removed(&self) {
        self.ctx.node.wait_removed().await
    }

    /// Resolves if raft stops on a fatal error (e.g. an fsync failed: the WAL can no
    /// longer promise durability). The process should then exit and be restarted.
    pub async fn wait_fatal(&self) -> String {
        self.ctx.node.wait_fatal().await
    }

    /// Stop serving, let in-flight requests finish or fail, stop raft (its WAL is
    /// synced on every acknowledged append). As etcd: in-flight calls get up to a
    /// request timeout; streams that are still open then (a watch, a keep-alive, a
    /// campaign whose client waits on us) are cut rather than waited for.
    pub async fn stop(self) {
        self.shutdown.trigger();
        let servers = self.servers;
        let aborts: Vec<_> = servers.iter().map(|h| h.abort_handle()).collect();
        let drained = async {
            for h in servers {
                let _ = h.await;
            }
        };
        if tokio::time::timeout(self.ctx.request_timeout, drained).await.is_err() {
            tracing::warn!(
                timeout = ?self.ctx.request_timeout,
                "client streams still open after the request timeout; closing them"
            );
            for a in aborts {
                a.abort();
            }
        }
        self.ctx.node.shutdown().await;
    }
}
