//! Helpers for real-process cluster tests: etcd-client connections, retries of
//! transient errors (no leader, leader changed, transport), Status polling.

use std::future::Future;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions};

use super::Proc;

/// A single request's budget (the server's own request timeout is 7 s).
pub const CALL: Duration = Duration::from_secs(3);
/// How long a new leader may take to accept writes after the old one is killed.
pub const FAILOVER: Duration = Duration::from_secs(10);
/// How long a restarted member may take to catch up.
pub const CATCH_UP: Duration = Duration::from_secs(30);

pub struct Member {
    pub proc: Proc,
    pub client: Client,
    /// Member ID, from its response headers.
    pub id: u64,
}

pub async fn connect(p: &Proc) -> Client {
    let opts = ConnectOptions::new().with_connect_timeout(Duration::from_secs(2));
    Client::connect([p.endpoint()], Some(opts)).await.expect("connect etcd-client")
}

/// Whether an error may go away by itself while the cluster elects a leader: etcd's
/// "no leader" / "leader changed" / "request timed out" (Unavailable), or the
/// transport to the member failing.
pub fn transient(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::GRpcStatus(s) => matches!(
            s.code(),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        _ => false,
    }
}

/// Run `op` until it succeeds, retrying transient errors until `deadline`; panics
/// on any other error or at the deadline. Each attempt gets [`CALL`].
pub async fn retry<T, F, Fut>(what: &str, deadline: Instant, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, etcd_client::Error>>,
{
    let mut last = String::new();
    while Instant::now() < deadline {
        match tokio::time::timeout(CALL, op()).await {
            Ok(Ok(v)) => return v,
            Ok(Err(e)) if transient(&e) => last = format!("{e}"),
            Ok(Err(e)) => panic!("{what}: {e}"),
            Err(_) => last = format!("no answer within {CALL:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: still failing at the deadline; last error: {last}");
}

/// Put through member `m`, retrying transient errors; returns the revision.
pub async fn put(m: &Member, key: &str, value: &str, deadline: Instant) -> i64 {
    let what = format!("put {key} through {}", m.proc.member);
    let r = retry(&what, deadline, || {
        let mut c = m.client.clone();
        let (k, v) = (key.to_string(), value.to_string());
        async move { c.put(k, v, None).await }
    })
    .await;
    r.header().expect("put header").revision()
}

/// The value of `key` on member `m`, linearizable or serializable, with the header's
/// (cluster_id, revision).
pub async fn get(m: &Member, key: &str, serializable: bool) -> (Option<Vec<u8>>, u64, i64) {
    let mut opts = GetOptions::new();
    if serializable {
        opts = opts.with_serializable();
    }
    let what = format!("get {key} (serializable: {serializable}) on {}", m.proc.member);
    let r = retry(&what, Instant::now() + FAILOVER, || {
        let mut c = m.client.clone();
        let (k, o) = (key.to_string(), opts.clone());
        async move { c.get(k, Some(o)).await }
    })
    .await;
    let h = r.header().expect("range header");
    (r.kvs().first().map(|kv| kv.value().to_vec()), h.cluster_id(), h.revision())
}

/// Maintenance.Status of member `m` (one attempt).
pub async fn status(m: &Member) -> Option<etcd_client::StatusResponse> {
    let mut c = m.client.clone();
    match tokio::time::timeout(CALL, c.status()).await {
        Ok(Ok(s)) => Some(s),
        _ => None,
    }
}

/// Poll until every member of `live` (indices into `members`) names the same leader,
/// and it is one of them; returns the leader's index.
pub async fn agreed_leader(members: &[Member], live: &[usize], deadline: Instant) -> usize {
    loop {
        let mut leaders = Vec::new();
        for &i in live {
            leaders.push(status(&members[i]).await.map(|s| s.leader()).unwrap_or(0));
        }
        if leaders[0] != 0 && leaders.iter().all(|l| *l == leaders[0]) {
            if let Some(&i) = live.iter().find(|&&i| members[i].id == leaders[0]) {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "members {live:?} do not agree on a live leader: {leaders:x?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start `names.len()` members of a new static cluster on free loopback ports (all
/// spawned before any is awaited: each waits for a quorum before it serves), connect
/// to each and learn its member ID. Returns the members and `--initial-cluster`.
pub async fn start_cluster(names: &[&str], flags: &[&str]) -> (Vec<Member>, Vec<String>) {
    start_cluster_env(names, flags, &[]).await
}

/// [`start_cluster`] with extra environment variables `env` (name, value) for every
/// member.
pub async fn start_cluster_env(
    names: &[&str],
    flags: &[&str],
    env: &[(&str, &str)],
) -> (Vec<Member>, Vec<String>) {
    let ports: Vec<(u16, u16)> = names.iter().map(|_| (super::free_port(), super::free_port())).collect();
    let cluster: Vec<String> =
        names.iter().zip(&ports).map(|(n, (_, p))| format!("{n}=http://127.0.0.1:{p}")).collect();
    let mut procs: Vec<Proc> = names
        .iter()
        .zip(&ports)
        .map(|(n, &ports)| {
            let bin = std::path::Path::new(env!("CARGO_BIN_EXE_metastore"));
            Proc::spawn_member_env(bin, n, &cluster.join(","), &super::temp_dir(n), ports, flags, env)
        })
        .collect();
    for p in &mut procs {
        p.wait_ready();
    }
    let mut members = Vec::new();
    for proc in procs {
        let client = connect(&proc).await;
        let s = retry("status", Instant::now() + FAILOVER, || {
            let mut c = client.clone();
            async move { c.status().await }
        })
        .await;
        members.push(Member { proc, client, id: s.header().expect("header").member_id() });
    }
    (members, cluster)
}
