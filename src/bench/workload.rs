//! The workloads: one [`Worker`] per client, set up before the clock starts
//! ([`Worker::setup`]: a watch created, a lease granted), then driven one request at
//! a time ([`Worker::request`], which returns the latency in µs or the error), then
//! cleaned up ([`Worker::finish`]: the lease revoked).

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::Streaming;
use tonic::transport::Channel;

use super::args::{Args, Op};
use super::keys::{key, KeyChooser, Rng};
use super::now;
use super::report::micros;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_client::KvClient;
use crate::proto::etcdserverpb::lease_client::LeaseClient;
use crate::proto::etcdserverpb::watch_client::WatchClient;

/// How long one request (or one setup step) may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// TTL of the leases of `lease-keepalive`.
const LEASE_TTL_S: i64 = 60;

/// One client's connection and workload state.
pub struct Worker {
    op: Op,
    kv: KvClient<Channel>,
    keys: KeyChooser,
    value: Vec<u8>,
    read_pct: u32,
    rng: Rng,
    stream: Option<StreamState>,
}

/// The open stream of a `watch-latency` or `lease-keepalive` client.
enum StreamState {
    Watch {
        key: Vec<u8>,
        events: Streaming<pb::WatchResponse>,
        _requests: mpsc::Sender<pb::WatchRequest>,
    },
    Lease {
        client: LeaseClient<Channel>,
        id: i64,
        requests: mpsc::Sender<pb::LeaseKeepAliveRequest>,
        replies: Streaming<pb::LeaseKeepAliveResponse>,
    },
}

/// `fut` within [`REQUEST_TIMEOUT`], any failure as text.
async fn timed<T, E: std::fmt::Display>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Err(_) => Err(format!("{what}: no answer within {REQUEST_TIMEOUT:?}")),
    }
}

impl Worker {
    /// Client number `client` on `channel`: open its watch or lease; an error here
    /// is a setup failure.
    pub async fn setup(args: &Args, client: usize, channel: Channel) -> Result<Worker, String> {
        let keys =
            KeyChooser { key_size: args.key_size, key_space: args.key_space, sequential: args.seq_keys };
        let mut w = Worker {
            op: args.op,
            kv: KvClient::new(channel.clone()),
            keys,
            value: vec![b'v'; args.val_size],
            read_pct: args.read_pct,
            rng: Rng::new(client as u64),
            stream: None,
        };
        w.stream = match args.op {
            Op::WatchLatency => Some(open_watch(channel, key(client as u64, args.key_size)).await?),
            Op::LeaseKeepalive => Some(open_lease(channel).await?),
            _ => None,
        };
        Ok(w)
    }

    /// Request number `n` (over all clients): its latency in µs, or the error.
    pub async fn request(&mut self, n: u64) -> Result<u32, String> {
        let start = now();
        match self.op {
            Op::Put => self.put(n).await?,
            Op::Range { serializable } => self.range(n, serializable).await?,
            Op::TxnPut => self.txn_put(n).await?,
            Op::Delete => {
                let key = self.keys.pick(n, &mut self.rng);
                let req = pb::DeleteRangeRequest { key, ..Default::default() };
                timed("delete", self.kv.delete_range(req)).await?;
            }
            Op::Mixed => {
                if self.rng.below(100) < u64::from(self.read_pct) {
                    self.range(n, false).await?
                } else {
                    self.put(n).await?
                }
            }
            Op::WatchLatency => return self.watch_round().await,
            Op::LeaseKeepalive => self.keepalive_round().await?,
        }
        Ok(micros(start.elapsed()))
    }

    /// Revoke the lease of a `lease-keepalive` client; close streams.
    pub async fn finish(self) -> Result<(), String> {
        if let Some(StreamState::Lease { mut client, id, .. }) = self.stream {
            timed("lease revoke", client.lease_revoke(pb::LeaseRevokeRequest { id })).await?;
        }
        Ok(())
    }

    async fn put(&mut self, n: u64) -> Result<(), String> {
        let key = self.keys.pick(n, &mut self.rng);
        let req = pb::PutRequest { key, value: self.value.clone(), ..Default::default() };
        timed("put", self.kv.put(req)).await.map(drop)
    }

    async fn range(&mut self, n: u64, serializable: bool) -> Result<(), String> {
        let key = self.keys.pick(n, &mut self.rng);
        let req = pb::RangeRequest { key, serializable, ..Default::default() };
        timed("range", self.kv.range(req)).await.map(drop)
    }

    async fn txn_put(&mut self, n: u64) -> Result<(), String> {
        let key = self.keys.pick(n, &mut self.rng);
        let req = pb::TxnRequest {
            compare: vec![pb::Compare {
                result: pb::compare::CompareResult::Less as i32,
                target: pb::compare::CompareTarget::Mod as i32,
                key: key.clone(),
                target_union: Some(pb::compare::TargetUnion::ModRevision(i64::MAX)),
                ..Default::default()
            }],
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key,
                    value: self.value.clone(),
                    ..Default::default()
                })),
            }],
            failure: vec![],
        };
        let resp = timed("txn", self.kv.txn(req)).await?.into_inner();
        if !resp.succeeded {
            return Err("txn: the compare mod_revision < i64::MAX failed".into());
        }
        Ok(())
    }

    /// Put the client's own key and wait for its watch event; the latency is from
    /// the put's start to the event's arrival (which may come before the put's answer).
    async fn watch_round(&mut self) -> Result<u32, String> {
        let Some(StreamState::Watch { key, events, .. }) = &mut self.stream else {
            return Err("watch-latency: no watch stream".into());
        };
        let req = pb::PutRequest { key: key.clone(), value: self.value.clone(), ..Default::default() };
        let start = now();
        let put = timed("put", self.kv.put(req));
        let event = timed("watch", async {
            loop {
                match events.message().await {
                    Ok(Some(r)) if r.canceled => return Err(format!("watch canceled: {}", r.cancel_reason)),
                    Ok(Some(r)) if !r.events.is_empty() => return Ok(micros(start.elapsed())),
                    Ok(Some(_)) => continue,
                    Ok(None) => return Err("the stream ended".to_string()),
                    Err(e) => return Err(e.to_string()),
                }
            }
        });
        let (put, event) = tokio::join!(put, event);
        put?;
        event
    }

    async fn keepalive_round(&mut self) -> Result<(), String> {
        let Some(StreamState::Lease { id, requests, replies, .. }) = &mut self.stream else {
            return Err("lease-keepalive: no keep-alive stream".into());
        };
        let id = *id;
        requests.send(pb::LeaseKeepAliveRequest { id }).await.map_err(|_| "keep-alive: the stream closed")?;
        match timed("keep-alive", replies.message()).await? {
            Some(r) if r.ttl > 0 => Ok(()),
            Some(_) => Err(format!("keep-alive: lease {id:x} no longer exists")),
            None => Err("keep-alive: the stream ended".into()),
        }
    }
}

async fn open_watch(channel: Channel, key: Vec<u8>) -> Result<StreamState, String> {
    let (tx, rx) = mpsc::channel(4);
    let create = pb::WatchCreateRequest { key: key.clone(), ..Default::default() };
    let req =
        pb::WatchRequest { request_union: Some(pb::watch_request::RequestUnion::CreateRequest(create)) };
    tx.send(req).await.map_err(|_| "watch: the request stream closed")?;
    let mut events =
        timed("watch", WatchClient::new(channel).watch(ReceiverStream::new(rx))).await?.into_inner();
    match timed("watch create", events.message()).await? {
        Some(r) if r.created && !r.canceled => Ok(StreamState::Watch { key, events, _requests: tx }),
        Some(r) => Err(format!("watch create: not created: {}", r.cancel_reason)),
        None => Err("watch create: the stream ended".into()),
    }
}

async fn open_lease(channel: Channel) -> Result<StreamState, String> {
    let mut client = LeaseClient::new(channel);
    let grant = pb::LeaseGrantRequest { ttl: LEASE_TTL_S, id: 0 };
    let granted = timed("lease grant", client.lease_grant(grant)).await?.into_inner();
    if !granted.error.is_empty() {
        return Err(format!("lease grant: {}", granted.error));
    }
    let (requests, rx) = mpsc::channel(4);
    let replies =
        timed("lease keep-alive", client.lease_keep_alive(ReceiverStream::new(rx))).await?.into_inner();
    Ok(StreamState::Lease { client, id: granted.id, requests, replies })
}
