//! `metrics`: Prometheus metrics under etcd's names, types and labels, so that etcd's
//! Grafana dashboards and alerts read a MetaStore member unchanged. [`render`] writes
//! them in the text exposition format 0.0.4 ([`CONTENT_TYPE`]) for `/metrics`.
//!
//! Recording needs no plumbing: counters are process-wide statics (relaxed atomics:
//! no lock, no allocation, no label hashing on any request path), and what the node
//! already knows (leader, indexes, sizes) is not recorded at all but read from it on
//! each scrape, through the sampler the node registers at start ([`register_node`]).
//! One process serves one member; in-process tests and the simulator that run
//! several members in one process share the counters (the simulator never reads
//! them; the sampler is the latest registered node's).
//!
//! What each metric measures here (etcd's meaning unless said):
//!
//! | metric | type | source |
//! |---|---|---|
//! | `etcd_server_has_leader`, `_is_leader`, `_is_learner` | gauge | raft status, on scrape |
//! | `etcd_server_leader_changes_seen_total` | counter | raft saw a new leader (a member, not "none", other than the last one seen) |
//! | `etcd_server_proposals_committed_total` | gauge | raft commit index, on scrape (a gauge in etcd too) |
//! | `etcd_server_proposals_applied_total` | gauge | applied index, on scrape |
//! | `etcd_server_proposals_pending` | gauge | proposals this member is waiting on (its own, or forwarded to the leader) |
//! | `etcd_server_proposals_failed_total` | counter | proposals that failed: no leader, leader changed, stopped, timed out or abandoned |
//! | `etcd_server_health_success`, `etcd_server_health_failures` | untyped | `/health` answers, healthy or not. Counters in etcd, under these names without `_total`; prometheus-client adds `_total` to every counter, so they are written untyped to keep etcd's names |
//! | `etcd_server_quota_backend_bytes` | gauge | `--quota-backend-bytes` |
//! | `etcd_server_version{server_version}`, `etcd_cluster_version{cluster_version}`, `etcd_server_id{server_id}` | gauge | 1 on the label |
//! | `etcd_mvcc_db_total_size_in_bytes`, `..._in_use_in_bytes` | gauge | the store's size as Status reports `dbSize` (both alike: no free pages) |
//! | `etcd_debugging_mvcc_keys_total` | gauge | live keys (not deleted) |
//! | `etcd_debugging_mvcc_current_revision`, `_compact_revision` | gauge | the store's revisions |
//! | `etcd_debugging_mvcc_watch_stream_total`, `_watcher_total`, `_slow_watcher_total` | gauge | the watch hub: streams, watchers, watchers not on the live path |
//! | `etcd_mvcc_{range,put,delete}_total` | counter | ops applied on this member (in txns too) and ranges served by it; see [`kv_applied`] |
//! | `etcd_mvcc_txn_total` | counter | txns applied or served read-only (etcd counts any mvcc txn of two ops or more) |
//! | `etcd_disk_wal_fsync_duration_seconds` | histogram | each fdatasync of a WAL batch |
//! | `etcd_disk_backend_commit_duration_seconds` | histogram | each write of the state to disk: a snapshot saved (temp file, fsync, rename, dir fsync; [`backend_commit`]) |
//! | `etcd_network_peer_round_trip_time_seconds{To}` | histogram | heartbeats (empty AppendEntries) answered by each peer |
//! | `etcd_network_client_grpc_{sent,received}_bytes_total` | counter | gRPC message payload bytes on the client port |
//! | `grpc_server_{started,handled,msg_received,msg_sent}_total` | counter | per method (and code), see [`grpc`] |
//! | `grpc_server_handling_seconds` | histogram | `--metrics extensive` only, per method |
//! | `process_*` | | the OS's figures ([`crate::env::proc_stats`]) |
//!
//! A scrape before the node has started has no node figures: those families are left
//! out rather than shown as zeros.

mod collect;
pub mod grpc;
#[cfg(not(madsim))]
mod grpc_layer;
pub mod histogram;

#[cfg(not(madsim))]
pub use grpc_layer::{CountedBody, GrpcLayer, GrpcMetrics, ResponseFuture};

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use prometheus_client::registry::Registry;

use crate::apply::{Applied, Request, Response};
use crate::mvcc::{ResponseOp, TxnResponse};
use histogram::{exponential, Histogram};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The metrics as Prometheus text (format 0.0.4), `# HELP` and `# TYPE` before each
/// family.
pub fn render() -> String {
    let mut out = String::with_capacity(192 * 1024);
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, registry());
    out
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(collect::registry)
}

static EXTENSIVE: AtomicBool = AtomicBool::new(false);

/// `--metrics extensive`: also time every gRPC call (`grpc_server_handling_seconds`).
/// `basic` (the default) leaves that histogram out, as etcd does.
pub fn set_extensive(extensive: bool) {
    EXTENSIVE.store(extensive, Ordering::Relaxed);
}

pub fn is_extensive() -> bool {
    EXTENSIVE.load(Ordering::Relaxed)
}

// ---- what the node knows, read on each scrape ----

/// The node's figures at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSample {
    pub member_id: u64,
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    pub committed_index: u64,
    pub applied_index: u64,
    pub quota_backend_bytes: u64,
    pub db_size_bytes: u64,
    pub db_size_in_use_bytes: u64,
    pub live_keys: u64,
    pub current_revision: i64,
    pub compact_revision: i64,
    /// Watch streams open on this member.
    pub watch_streams: u64,
    /// Watchers on them.
    pub watchers: u64,
    /// Watchers behind the live path (catching up from history, or parked because
    /// their stream's client does not read).
    pub slow_watchers: u64,
}

type Sampler = Arc<dyn Fn() -> NodeSample + Send + Sync>;

/// The registered sampler and its registration's token.
static NODE: Mutex<Option<(u64, Sampler)>> = Mutex::new(None);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Keeps a node's sampler registered; dropping it (the node stopped) unregisters it.
#[derive(Debug)]
#[must_use = "the sampler is unregistered when this is dropped"]
pub struct NodeRegistration {
    token: u64,
}

/// Make `sample` the source of the node figures until the returned registration is
/// dropped (a later registration replaces it).
pub fn register_node(sample: impl Fn() -> NodeSample + Send + Sync + 'static) -> NodeRegistration {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    *NODE.lock().unwrap_or_else(|p| p.into_inner()) = Some((token, Arc::new(sample)));
    NodeRegistration { token }
}

impl Drop for NodeRegistration {
    fn drop(&mut self) {
        let mut node = NODE.lock().unwrap_or_else(|p| p.into_inner());
        if node.as_ref().is_some_and(|(token, _)| *token == self.token) {
            *node = None;
        }
    }
}

/// The registered node's figures now, if a node is registered.
fn node_sample() -> Option<NodeSample> {
    let sampler = NODE.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|(_, s)| s.clone())?;
    Some(sampler())
}

// ---- server ----

static LEADER_CHANGES: AtomicU64 = AtomicU64::new(0);
static PROPOSALS_PENDING: AtomicI64 = AtomicI64::new(0);
static PROPOSALS_FAILED: AtomicU64 = AtomicU64::new(0);

static HEALTH_SUCCESS: AtomicU64 = AtomicU64::new(0);
static HEALTH_FAILURES: AtomicU64 = AtomicU64::new(0);

/// `/health` answered: healthy or not (etcd counts its `/health` checks only, not
/// `/livez` or `/readyz`).
pub fn health_checked(healthy: bool) {
    let counter = if healthy { &HEALTH_SUCCESS } else { &HEALTH_FAILURES };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Raft saw a new leader.
pub fn leader_changed() {
    LEADER_CHANGES.fetch_add(1, Ordering::Relaxed);
}

/// A proposal this member waits on: pending until [`Proposal::finish`]; one dropped
/// unfinished (its caller gave up: a timeout) failed.
#[derive(Debug)]
#[must_use = "a proposal dropped at once counts as failed"]
pub struct Proposal {
    open: bool,
}

impl Proposal {
    pub fn start() -> Proposal {
        PROPOSALS_PENDING.fetch_add(1, Ordering::Relaxed);
        Proposal { open: true }
    }

    /// It was applied (`ok`) or failed.
    pub fn finish(mut self, ok: bool) {
        self.close(ok);
    }

    fn close(&mut self, ok: bool) {
        if std::mem::replace(&mut self.open, false) {
            PROPOSALS_PENDING.fetch_sub(1, Ordering::Relaxed);
            if !ok {
                PROPOSALS_FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Proposal {
    fn drop(&mut self) {
        self.close(false);
    }
}

// ---- mvcc ----

static RANGES: AtomicU64 = AtomicU64::new(0);
static PUTS: AtomicU64 = AtomicU64::new(0);
static DELETES: AtomicU64 = AtomicU64::new(0);
static TXNS: AtomicU64 = AtomicU64::new(0);

/// An entry was applied on this member: count its mvcc operations (a refused
/// request counts none; a txn counts itself and the ops of the branch it took,
/// nested txns included).
pub fn kv_applied(req: &Request, applied: &Applied) {
    let Ok(response) = &applied.result else { return };
    match (req.unwrapped(), response) {
        (Request::Put(_), Response::Put(_)) => _ = PUTS.fetch_add(1, Ordering::Relaxed),
        (Request::DeleteRange(_), Response::DeleteRange(_)) => _ = DELETES.fetch_add(1, Ordering::Relaxed),
        (Request::Txn(_), Response::Txn(t)) => txn_served(t),
        _ => {}
    }
}

/// A Range was served by this member.
pub fn range_served() {
    RANGES.fetch_add(1, Ordering::Relaxed);
}

/// A txn ran (applied, or served read-only by this member).
pub fn txn_served(resp: &TxnResponse) {
    TXNS.fetch_add(1, Ordering::Relaxed);
    count_ops(resp);
}

fn count_ops(resp: &TxnResponse) {
    for op in &resp.responses {
        let counter = match op {
            ResponseOp::Range(_) => &RANGES,
            ResponseOp::Put(_) => &PUTS,
            ResponseOp::DeleteRange(_) => &DELETES,
            ResponseOp::Txn(inner) => {
                count_ops(inner);
                continue;
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

// ---- disk and network ----

/// etcd's disk histograms: 1 ms to 8.192 s, doubling.
type DiskHistogram = Histogram<14>;
const DISK_BUCKETS: [f64; 14] = exponential(0.001, 2.0);

static WAL_FSYNC: DiskHistogram = Histogram::new(DISK_BUCKETS);
static BACKEND_COMMIT: DiskHistogram = Histogram::new(DISK_BUCKETS);

/// One fdatasync of a WAL batch took `elapsed`.
pub fn wal_fsync(elapsed: Duration) {
    WAL_FSYNC.observe(elapsed);
}

/// The state was written to disk (a snapshot saved durably) in `elapsed`. etcd's
/// backend commits its bbolt transaction every 100 ms; ours lives in memory, made
/// durable by the WAL, and reaches a file only as a snapshot: that write is our
/// backend commit.
pub fn backend_commit(elapsed: Duration) {
    BACKEND_COMMIT.observe(elapsed);
}

/// etcd's round-trip histogram: 0.1 ms to 3.2768 s, doubling.
type RttHistogram = Histogram<16>;
const RTT_BUCKETS: [f64; 16] = exponential(0.0001, 2.0);

/// Round trips by peer ID, in the order first seen.
static PEER_RTT: Mutex<Vec<(u64, Arc<RttHistogram>)>> = Mutex::new(Vec::new());

/// Where round trips to one peer are recorded (take it once per connection: the
/// lookup locks, recording does not).
#[derive(Clone, Debug)]
pub struct PeerRtt(Arc<RttHistogram>);

pub fn peer_rtt(peer_id: u64) -> PeerRtt {
    let mut peers = PEER_RTT.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, h)) = peers.iter().find(|(id, _)| *id == peer_id) {
        return PeerRtt(h.clone());
    }
    let h = Arc::new(Histogram::new(RTT_BUCKETS));
    peers.push((peer_id, h.clone()));
    PeerRtt(h)
}

impl PeerRtt {
    pub fn observe(&self, elapsed: Duration) {
        self.0.observe(elapsed);
    }
}

/// Measures a duration on the runtime's monotonic clock. In simulation it measures
/// nothing (zero): simulated disks and networks take no time worth a histogram.
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    #[cfg(not(madsim))]
    start: tokio::time::Instant,
}

impl Timer {
    pub fn start() -> Timer {
        Timer {
            #[cfg(not(madsim))]
            start: tokio::time::Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        #[cfg(not(madsim))]
        {
            self.start.elapsed()
        }
        #[cfg(madsim)]
        {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
#[path = "metrics_test.rs"]
mod metrics_test;

#[cfg(test)]
#[path = "grpc_test.rs"]
mod grpc_test;
