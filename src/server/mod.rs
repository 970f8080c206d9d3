//! `server`: etcd's gRPC API over tonic. Translates protobuf to core requests
//! (`convert`), core errors to etcd's gRPC codes and messages, and fills response
//! headers. Holds no state of its own beyond streams.
//!
//! Services served now: KV, Watch, Lease, Cluster, Maintenance (Status, Hash, HashKV,
//! Alarm list, MoveLeader; the rest answer Unimplemented until their issues land).
//! Lock and Election (server-side recipes over leases and txns). Auth (users, roles,
//! permissions; every service checks the caller's identity, see `auth`).

pub mod auth;
pub mod cluster;
pub mod concurrency;
pub mod convert;
#[cfg(not(madsim))]
pub mod cork;
pub mod election;
#[cfg(not(madsim))]
pub mod h2_authority;
#[cfg(not(madsim))]
pub mod http;
#[cfg(not(madsim))]
pub mod jwt;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
#[cfg(not(madsim))]
pub mod oversize;
pub mod quota;
pub mod snapshot;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::proto::etcdserverpb::ResponseHeader;
use crate::raft::RaftNode;

/// The version we report in Status, `/version`, `/metrics` and the readiness lines:
/// the etcd release whose own end-to-end suite MetaStore passes (it checks the
/// version in `/metrics`). Where semantics differ between 3.4 and 3.5 MetaStore
/// follows 3.5 (docs/compat.md lists each case).
pub const SERVER_VERSION: &str = "3.4.23";
/// The cluster version (major.minor), as etcd's "enabled capabilities" line shows it.
pub const CLUSTER_VERSION: &str = "3.4";

/// What every service handler shares.
pub struct Context {
    pub node: RaftNode,
    pub cluster_id: u64,
    pub member_id: u64,
    pub max_request_bytes: usize,
    /// `--max-concurrent-streams` (see `http::router`).
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-interval` and `--grpc-keepalive-timeout`: HTTP/2 pings on
    /// an idle client connection, closed when one goes unanswered (0: none).
    pub keepalive: (Duration, Duration),
    pub quota_backend_bytes: u64,
    /// How long a proposal may wait before "etcdserver: request timed out".
    pub request_timeout: Duration,
    /// Grants ask for at least this TTL (etcd's minimum: 1.5 election timeouts).
    pub min_lease_ttl_s: i64,
    /// Tokens, password hashing, certificate identities.
    pub auth: auth::AuthSettings,
    /// This member's clock (token lifetimes).
    pub clock: crate::env::Clock,
}

pub type Ctx = Arc<Context>;

impl Context {
    pub fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(self.header_value(revision))
    }

    pub fn header_value(&self, revision: i64) -> ResponseHeader {
        ResponseHeader {
            cluster_id: self.cluster_id,
            member_id: self.member_id,
            revision,
            raft_term: self.node.term(),
        }
    }

    /// Linearizable read barrier (ReadIndex), within the request timeout.
    pub async fn read_barrier(&self) -> Result<(), tonic::Status> {
        if crate::mutant!(ReadWithoutReadIndex) {
            return Ok(());
        }
        match tokio::time::timeout(self.request_timeout, self.node.read_barrier_batched(self.request_timeout))
            .await
        {
            Ok(r) => r.map_err(status),
            Err(_) => Err(status(Error::Timeout)),
        }
    }

    /// Header at the current store revision.
    pub fn current_header(&self) -> Option<ResponseHeader> {
        let rev = self.node.state().read().kv.current_revision();
        self.header(rev)
    }
}

/// Core error → gRPC status with etcd's code and message.
pub use crate::error::status;

/// Run a proposal with the request timeout.
pub async fn propose(
    ctx: &Context,
    req: crate::apply::Request,
) -> Result<crate::apply::Applied, tonic::Status> {
    match tokio::time::timeout(ctx.request_timeout, ctx.node.propose_within(req, ctx.request_timeout)).await {
        Ok(Ok(applied)) => Ok(applied),
        Ok(Err(e)) => Err(status(e)),
        Err(_) => Err(status(Error::Timeout)),
    }
}

/// Bind `$addr`, spawn `$router` on it until `$shutdown` turns true, accepting
/// connections as `$accept` (a [`crate::tls::Accept`]) says; evaluates to
/// `Ok((bound_addr, join_handle))`. (A macro: tonic's router types differ between
/// the real and the simulated build.)
macro_rules! spawn_router {
    ($router:expr, $addr:expr, $accept:expr, $shutdown:expr, $what:literal) => {{
        let router = $router;
        let addr = $addr;
        let accept: crate::tls::Accept = $accept;
        let shutdown: crate::shutdown::Shutdown = $shutdown;
        let signal = async move { shutdown.wait().await };
        #[cfg(not(madsim))]
        {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("listen on {addr} ({} URL): {e}", $what))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            // Plaintext or TLS (see `tls`); then accept a full URL as `:authority`,
            // as etcd does (see `h2_authority`); responses leave in bursts (see `cork`).
            let incoming = tokio_stream::StreamExt::map(crate::tls::incoming(listener, accept, $what), |conn| {
                conn.map(|c| crate::server::cork::Corked::new(crate::server::h2_authority::AuthorityFix::new(c)))
            });
            let handle = tokio::spawn(async move {
                if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
                    tracing::error!(error = %e, concat!($what, " server stopped"));
                }
            });
            Ok((bound, handle))
        }
        #[cfg(madsim)]
        {
            // Always `Accept::Plain`: the TLS modes cannot be made in this build.
            let _ = accept;
            let handle = tokio::spawn(async move {
                if let Err(e) = router.serve_with_shutdown(addr, signal).await {
                    tracing::error!(error = %e, concat!($what, " server stopped"));
                }
            });
            Ok((addr, handle))
        }
    }};
}

/// Bind `addr` and serve every registered service on it until `shutdown` turns true.
/// Returns the bound address (a port of 0 picks a free one) and the server task.
pub async fn serve(
    ctx: Ctx,
    addr: std::net::SocketAddr,
    accept: crate::tls::Accept,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    use crate::proto::etcdserverpb::cluster_server::ClusterServer;
    use crate::proto::etcdserverpb::kv_server::KvServer;
    use crate::proto::etcdserverpb::maintenance_server::MaintenanceServer;

    // etcd lets gRPC frames be 512 KiB larger than --max-request-bytes, so that an
    // oversized request reaches the server and gets "request is too large".
    let max_msg = ctx.max_request_bytes.saturating_add(512 * 1024);
    let kv = KvServer::new(kv::KvService { ctx: ctx.clone() });
    let maint = MaintenanceServer::new(maintenance::MaintenanceService { ctx: ctx.clone() });
    let cluster = ClusterServer::new(cluster::ClusterService { ctx: ctx.clone() });
    let lease =
        crate::proto::etcdserverpb::lease_server::LeaseServer::new(lease::LeaseService { ctx: ctx.clone() });
    let watcher =
        crate::proto::etcdserverpb::watch_server::WatchServer::new(watch::WatchService { ctx: ctx.clone() });
    let lock = crate::proto::v3lockpb::lock_server::LockServer::new(lock::LockService { ctx: ctx.clone() });
    let election =
        crate::proto::v3electionpb::election_server::ElectionServer::new(election::ElectionService {
            ctx: ctx.clone(),
        });
    let auth =
        crate::proto::etcdserverpb::auth_server::AuthServer::new(auth::AuthService { ctx: ctx.clone() });
    // Over that limit, etcd's code and message rather than tonic's (see `oversize`).
    #[cfg(not(madsim))]
    let (kv, maint, cluster) = (
        oversize::EtcdOversize(kv.max_decoding_message_size(max_msg).max_encoding_message_size(usize::MAX)),
        oversize::EtcdOversize(
            maint.max_decoding_message_size(max_msg).max_encoding_message_size(usize::MAX),
        ),
        oversize::EtcdOversize(cluster.max_decoding_message_size(max_msg)),
    );
    // etcd's receive limit is the whole server's: every service has it.
    #[cfg(not(madsim))]
    let (lease, watcher, lock, election, auth) = (
        oversize::EtcdOversize(lease.max_decoding_message_size(max_msg)),
        oversize::EtcdOversize(
            watcher.max_decoding_message_size(max_msg).max_encoding_message_size(usize::MAX),
        ),
        oversize::EtcdOversize(lock.max_decoding_message_size(max_msg)),
        oversize::EtcdOversize(election.max_decoding_message_size(max_msg)),
        oversize::EtcdOversize(auth.max_decoding_message_size(max_msg)),
    );
    // Real build: gRPC and HTTP (the JSON gateway, health, metrics; see `http`) on one
    // port, HTTP/1.1 and HTTP/2 alike.
    #[cfg(not(madsim))]
    let router = {
        let grpc = tonic::service::Routes::new(kv)
            .add_service(maint)
            .add_service(cluster)
            .add_service(lease)
            .add_service(watcher)
            .add_service(lock)
            .add_service(election)
            .add_service(auth);
        let app = http::router(ctx.clone(), grpc.into_axum_router(), ctx.max_concurrent_streams);
        // Metrics count gRPC calls only: the layer lets the HTTP face pass uncounted.
        tonic::transport::Server::builder()
            .accept_http1(true)
            .max_concurrent_streams(Some(ctx.max_concurrent_streams))
            .http2_keepalive_interval((!ctx.keepalive.0.is_zero()).then_some(ctx.keepalive.0))
            .http2_keepalive_timeout((!ctx.keepalive.1.is_zero()).then_some(ctx.keepalive.1))
            .layer(crate::metrics::GrpcLayer)
            .add_routes(tonic::service::Routes::from(app))
    };
    #[cfg(madsim)]
    let _ = max_msg;
    #[cfg(madsim)]
    let router = tonic::transport::Server::builder()
        .add_service(kv)
        .add_service(maint)
        .add_service(cluster)
        .add_service(lease)
        .add_service(watcher)
        .add_service(lock)
        .add_service(election)
        .add_service(auth);
    spawn_router!(router, addr, accept, shutdown, "client")
}

/// Serve a `--listen-metrics-urls` listener: `/metrics` and `/health` only, over
/// HTTP/1.1 or HTTP/2.
#[cfg(not(madsim))]
pub async fn serve_metrics(
    ctx: Ctx,
    addr: std::net::SocketAddr,
    accept: crate::tls::Accept,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    let app = http::metrics_router(ctx);
    let router =
        tonic::transport::Server::builder().accept_http1(true).add_routes(tonic::service::Routes::from(app));
    spawn_router!(router, addr, accept, shutdown, "metrics")
}

/// Serve the peer (raft transport) service on `addr` until `shutdown` turns true.
pub async fn serve_peer(
    node: crate::raft::RaftNode,
    addr: std::net::SocketAddr,
    accept: crate::tls::Accept,
    shutdown: crate::shutdown::Shutdown,
) -> Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>), String> {
    use crate::proto::metastorepeerpb::raft_peer_server::RaftPeerServer;
    // Peers' messages are bounded (see `raft::network::peer_message_limit`); a
    // larger one is refused (OutOfRange) before it is held whole.
    #[cfg(not(madsim))]
    let limit = node.peer_message_limit();
    let svc = RaftPeerServer::new(crate::raft::peer_service::PeerService { node });
    #[cfg(not(madsim))]
    let svc = svc.max_decoding_message_size(limit).max_encoding_message_size(usize::MAX);
    let router = tonic::transport::Server::builder().add_service(svc);
    spawn_router!(router, addr, accept, shutdown, "peer")
}
