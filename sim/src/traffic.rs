//! Traffic: an etcd gRPC client (madsim-tonic) doing puts on a small key space and
//! two-key txns, recording every op's invocation and outcome. A timeout or an error
//! is an *unknown* outcome: the write may or may not have happened; NOSPACE's
//! "database space exceeded" alone is a definite refusal ([`Outcome::Refused`]).

use std::time::Duration;

use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::kv_client::KvClient;
use tonic::transport::Channel;

/// Keys written only by pair txns, always together with the same value.
pub const PAIR_A: &[u8] = b"pair/a";
pub const PAIR_B: &[u8] = b"pair/b";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    Put { key: Vec<u8> },
    PairTxn,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged, with the header revision.
    Ok { revision: i64 },
    /// Failed or timed out: may or may not have taken effect.
    Unknown { reason: String },
    /// Refused before it could take effect: "database space exceeded" while NOSPACE
    /// stands (the quota check refuses before proposing, apply refuses without
    /// changing anything, and a write is never proposed twice).
    Refused { reason: String },
}

/// etcd's message for a write NOSPACE refuses.
pub const NOSPACE_MESSAGE: &str = "etcdserver: mvcc: database space exceeded";

/// Whether an error is a definite refusal (see [`Outcome::Refused`]).
pub fn is_refusal(status: &tonic::Status) -> bool {
    status.message() == NOSPACE_MESSAGE
}

#[derive(Clone, Debug)]
pub struct Op {
    pub id: u64,
    pub kind: OpKind,
    pub value: Vec<u8>,
    pub outcome: Outcome,
    /// Simulated nanoseconds when the call was made and when it ended.
    pub invoke_ns: u64,
    pub return_ns: u64,
}

pub async fn connect(url: &str) -> Option<KvClient<Channel>> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).ok()?;
    let channel = tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await.ok()?.ok()?;
    Some(KvClient::new(channel))
}

pub fn put_op(key: &[u8], value: &[u8]) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            ..Default::default()
        })),
    }
}

/// Run one op against `url` with a timeout, reconnecting as a real client would.
pub async fn run_op(
    client: &mut Option<KvClient<Channel>>,
    url: &str,
    kind: &OpKind,
    value: &[u8],
) -> Outcome {
    if client.is_none() {
        *client = connect(url).await;
    }
    let Some(c) = client.as_mut() else {
        return Outcome::Unknown { reason: "connect failed".into() };
    };
    let call = async {
        match kind {
            OpKind::Put { key } => c
                .put(pb::PutRequest { key: key.clone(), value: value.to_vec(), ..Default::default() })
                .await
                .map(|r| r.into_inner().header.map(|h| h.revision).unwrap_or(-1)),
            OpKind::PairTxn => c
                .txn(pb::TxnRequest {
                    compare: vec![],
                    success: vec![put_op(PAIR_A, value), put_op(PAIR_B, value)],
                    failure: vec![],
                })
                .await
                .map(|r| r.into_inner().header.map(|h| h.revision).unwrap_or(-1)),
        }
    };
    match tokio::time::timeout(Duration::from_secs(3), call).await {
        Ok(Ok(revision)) => Outcome::Ok { revision },
        Ok(Err(status)) => {
            *client = None;
            let reason = format!("{:?}: {}", status.code(), status.message());
            if is_refusal(&status) {
                Outcome::Refused { reason }
            } else {
                Outcome::Unknown { reason }
            }
        }
        Err(_) => {
            *client = None;
            Outcome::Unknown { reason: "timeout".into() }
        }
    }
}

/// Compact the history at `revision` through `url` (one try, with a timeout).
pub async fn compact(url: &str, revision: i64) -> Result<(), String> {
    let mut c = connect(url).await.ok_or("connect failed")?;
    match tokio::time::timeout(
        Duration::from_secs(3),
        c.compact(pb::CompactionRequest { revision, physical: false }),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(s)) => Err(s.message().to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// Read every key (linearizable), retrying until the store answers or `deadline`.
pub async fn read_all(url: &str, deadline: Duration) -> Result<(i64, Vec<(Vec<u8>, Vec<u8>, i64)>), String> {
    let start = tokio::time::Instant::now();
    let mut last_err = String::new();
    while start.elapsed() < deadline {
        if let Some(mut c) = connect(url).await {
            let req = pb::RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
            match tokio::time::timeout(Duration::from_secs(3), c.range(req)).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    let rev = r.header.map(|h| h.revision).unwrap_or(-1);
                    return Ok((
                        rev,
                        r.kvs.into_iter().map(|kv| (kv.key, kv.value, kv.mod_revision)).collect(),
                    ));
                }
                Ok(Err(s)) => last_err = format!("{:?}: {}", s.code(), s.message()),
                Err(_) => last_err = "timeout".into(),
            }
        } else {
            last_err = "connect failed".into();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("store did not answer a read within {deadline:?}: {last_err}"))
}

/// HashKV of one member at `revision`: (hash, compact_revision), retrying until
/// `deadline`.
pub async fn hash_kv(url: &str, revision: i64, deadline: Duration) -> Result<(u32, i64), String> {
    use metastore::proto::etcdserverpb::maintenance_client::MaintenanceClient;
    let start = tokio::time::Instant::now();
    let mut last_err = String::new();
    while start.elapsed() < deadline {
        if let Ok(endpoint) = tonic::transport::Endpoint::from_shared(url.to_string()) {
            if let Ok(Ok(channel)) = tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await {
                let mut c = MaintenanceClient::new(channel);
                match tokio::time::timeout(Duration::from_secs(3), c.hash_kv(pb::HashKvRequest { revision }))
                    .await
                {
                    Ok(Ok(r)) => {
                        let r = r.into_inner();
                        return Ok((r.hash, r.compact_revision));
                    }
                    Ok(Err(s)) => last_err = format!("{:?}: {}", s.code(), s.message()),
                    Err(_) => last_err = "timeout".into(),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("{url} did not answer HashKV within {deadline:?}: {last_err}"))
}

type MaintenanceClient = metastore::proto::etcdserverpb::maintenance_client::MaintenanceClient<Channel>;

/// One member's Status (one try, with timeouts), and the client that asked.
async fn status(url: &str) -> Result<(MaintenanceClient, pb::StatusResponse), String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
    let channel = tokio::time::timeout(Duration::from_secs(1), endpoint.connect())
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let mut c = MaintenanceClient::new(channel);
    let r = tokio::time::timeout(Duration::from_secs(2), c.status(pb::StatusRequest {}))
        .await
        .map_err(|_| "status timeout".to_string())?
        .map_err(|s| s.message().to_string())?;
    Ok((c, r.into_inner()))
}

/// The index in `urls` of a member that says it leads, if one answers.
pub async fn find_leader(urls: &[String]) -> Option<usize> {
    for (i, url) in urls.iter().enumerate() {
        if let Ok((_, s)) = status(url).await {
            if s.header.map(|h| h.member_id) == Some(s.leader) {
                return Some(i);
            }
        }
    }
    None
}

/// Ask the cluster to hand leadership to the member at `target_url` (etcd's
/// MoveLeader, sent to the current leader as etcdctl does). Ok(true) if it moved.
pub async fn move_leader(urls: &[String], target_url: &str) -> Result<bool, String> {
    let (_, target) = status(target_url).await?;
    let target_id = target.header.map(|h| h.member_id).unwrap_or(0);
    if target.leader == target_id {
        return Ok(false);
    }
    for url in urls {
        let Ok((mut c, s)) = status(url).await else { continue };
        if s.header.map(|h| h.member_id) != Some(s.leader) {
            continue;
        }
        let req = pb::MoveLeaderRequest { target_id };
        return match tokio::time::timeout(Duration::from_secs(5), c.move_leader(req)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(s)) => Err(s.message().to_string()),
            Err(_) => Err("move leader timeout".into()),
        };
    }
    Err("no leader found".into())
}
