//! Peer network: openraft's `RaftNetworkV2` over gRPC (`proto/peer/peer.proto`) to
//! each member's first peer URL. Messages are bincode of openraft's types.
//!
//! Every call carries a timeout (openraft's soft TTL for the RPC): under madsim a
//! clogged link drops packets silently, and in production a dead peer must not stall
//! replication. On any transport failure the cached channel is dropped and the next
//! call reconnects; openraft backs off on `Unreachable`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;

use super::state_machine::Snapshot;
use super::types::{LogId, MemberInfo, TypeConfig, Vote};
use crate::proto::metastorepeerpb::raft_peer_client::RaftPeerClient;
use crate::proto::metastorepeerpb::{RaftMessage, SnapshotChunk};
use crate::tls::PeerTls;

/// Snapshot data travels in chunks of this many bytes.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// Entries one AppendEntries message carries, in encoded bytes: as many as fit, at
/// least one whatever its size (etcd's `MaxSizePerMsg` is 1 MiB). The rest follow in
/// the next message. The simulation cuts at 4 KiB, so that batches are cut (and
/// the rest sent after a partial success) in every seed.
#[cfg(not(madsim))]
pub const APPEND_BATCH_BYTES: usize = 2 << 20;
#[cfg(madsim)]
pub const APPEND_BATCH_BYTES: usize = 4 << 10;

/// The largest encoded raft entry a member proposes for `--max-request-bytes`: the
/// request's own bound, twice over (bincode writes integers at full width where
/// protobuf writes varints), plus room for a transaction's fixed-size fields.
pub fn max_entry_bytes(max_request_bytes: usize) -> usize {
    max_request_bytes.saturating_mul(2).saturating_add(256 << 10)
}

/// The largest message a member's peer port accepts: a full AppendEntries batch
/// plus one entry of the largest size (the batch may end on it), plus the message's
/// own fields. Every message a member sends fits: batches are cut at
/// [`APPEND_BATCH_BYTES`], snapshots travel in [`SNAPSHOT_CHUNK_BYTES`] chunks, and
/// a forwarded proposal is one entry.
pub fn peer_message_limit(max_request_bytes: usize) -> usize {
    APPEND_BATCH_BYTES.saturating_add(max_entry_bytes(max_request_bytes)).saturating_add(64 << 10)
}
/// The largest snapshot a member takes from a peer: a store within the quota
/// encodes to about its size, twice over for what a write past the alarm adds, plus
/// room for leases, auth and members. A stream that passes it is refused (held
/// whole in memory until installed, it must not grow without end).
pub fn max_snapshot_bytes(quota_backend_bytes: u64) -> u64 {
    quota_backend_bytes.saturating_mul(2).saturating_add(64 << 20)
}

/// How long to wait for a TCP/gRPC connection to a peer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What peers answer a member that is no longer in their cluster (etcd's text).
pub const REMOVED_MESSAGE: &str = "the member has been permanently removed from the cluster";

#[derive(Clone, Default)]
pub struct Network {
    /// Stamped on every message; peers of another cluster refuse them.
    pub cluster_id: u64,
    /// Set when a peer says this member was removed from the cluster.
    pub removed: Arc<AtomicBool>,
    /// How to reach `https://` peer URLs.
    pub tls: PeerTls,
}

/// A connection to one peer, (re)made on demand.
pub struct Peer {
    target: u64,
    url: Option<String>,
    client: Option<RaftPeerClient<Channel>>,
    cluster_id: u64,
    removed: Arc<AtomicBool>,
    tls: PeerTls,
    /// Heartbeat round trips to this peer (`etcd_network_peer_round_trip_time_seconds`).
    rtt: crate::metrics::PeerRtt,
}

/// Connect to `url` with a timeout (over TLS for an `https://` URL).
pub async fn connect(url: &str, tls: &PeerTls) -> Result<RaftPeerClient<Channel>, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(url)).await {
        Ok(Ok(channel)) => {
            let client = RaftPeerClient::new(channel);
            // Answers are as large as what was asked: a forwarded Txn's ranges may
            // return more than tonic's default 4 MiB, as a client port's may.
            #[cfg(not(madsim))]
            let client = client.max_decoding_message_size(usize::MAX);
            Ok(client)
        }
        Ok(Err(e)) => Err(format!("connect {url}: {e}")),
        Err(_) => Err(format!("connect {url}: timed out")),
    }
}

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serialize(value).map_err(|e| format!("encode: {e}"))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::deserialize(bytes).map_err(|e| format!("decode: {e}"))
}

fn unreachable(target: u64, msg: impl std::fmt::Display) -> Unreachable<TypeConfig> {
    Unreachable::from_string(format!("member {target:x}: {msg}"))
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &MemberInfo) -> Self::Network {
        Peer {
            target,
            url: node.peer_urls.first().cloned(),
            client: None,
            cluster_id: self.cluster_id,
            removed: self.removed.clone(),
            tls: self.tls.clone(),
            rtt: crate::metrics::peer_rtt(target),
        }
    }
}

impl Peer {
    async fn client(&mut self) -> Result<RaftPeerClient<Channel>, Unreachable<TypeConfig>> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let url = self.url.clone().ok_or_else(|| unreachable(self.target, "no peer URL"))?;
        let c = connect(&url, &self.tls).await.map_err(|e| unreachable(self.target, e))?;
        self.client = Some(c.clone());
        Ok(c)
    }

    /// One unary call: encode, send with a timeout, decode.
    async fn call<Req, Resp, F, Fut>(
        &mut self,
        req: &Req,
        ttl: Duration,
        f: F,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        F: FnOnce(RaftPeerClient<Channel>, RaftMessage) -> Fut,
        Fut: Future<Output = Result<tonic::Response<RaftMessage>, tonic::Status>>,
    {
        let data = encode(req).map_err(|e| RPCError::Network(NetworkError::from_string(e)))?;
        let client = self.client().await?;
        let msg = RaftMessage { data, cluster_id: self.cluster_id };
        match tokio::time::timeout(ttl, f(client, msg)).await {
            Ok(Ok(resp)) => {
                decode(&resp.into_inner().data).map_err(|e| RPCError::Network(NetworkError::from_string(e)))
            }
            Ok(Err(status)) => {
                self.note_refusal(&status);
                self.client = None;
                Err(RPCError::Unreachable(unreachable(self.target, status.message())))
            }
            Err(_) => {
                self.client = None;
                Err(RPCError::Unreachable(unreachable(self.target, format!("no answer within {ttl:?}"))))
            }
        }
    }
}

impl Peer {
    /// A peer that refuses us for good: removed from its cluster, or another cluster.
    fn note_refusal(&self, status: &tonic::Status) {
        if status.code() != tonic::Code::FailedPrecondition {
            return;
        }
        if status.message() == REMOVED_MESSAGE {
            tracing::warn!(peer = %format!("{:x}", self.target), "peer says this member was removed");
            self.removed.store(true, Ordering::SeqCst);
        } else {
            tracing::error!(peer = %format!("{:x}", self.target), status = %status.message(), "peer refused us");
        }
    }
}

impl RaftNetworkV2<TypeConfig> for Peer {
    type SnapshotData = std::io::Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        // A heartbeat carries no entries: its answer times the round trip alone, as
        // etcd's prober does.
        let heartbeat = rpc.entries.is_empty();
        let (rpc, cut) = cut_batch(rpc, APPEND_BATCH_BYTES);
        let sent = crate::metrics::Timer::start();
        let answer =
            self.call(&rpc, option.soft_ttl(), |mut c, m| async move { c.append_entries(m).await }).await;
        if heartbeat && answer.is_ok() {
            self.rtt.observe(sent.elapsed());
        }
        match (answer, cut) {
            // Only a prefix went: openraft sends the rest next.
            (Ok(AppendEntriesResponse::Success), Some(last)) => {
                Ok(AppendEntriesResponse::PartialSuccess(Some(last)))
            }
            (answer, _) => answer,
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, option.soft_ttl(), |mut c, m| async move { c.vote(m).await }).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&rpc, option.soft_ttl(), |mut c, m| async move { c.pre_vote(m).await }).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(&req, option.soft_ttl(), |mut c, m| async move { c.transfer_leader(m).await }).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunks =
            snapshot_chunks(&vote, snapshot, self.cluster_id).map_err(|e| unreachable(self.target, e))?;
        let mut client = self.client().await?;
        let ttl = option.hard_ttl().max(Duration::from_secs(10));
        let send = async move { client.install_snapshot(tokio_stream::iter(chunks)).await };
        let result = tokio::select! {
            r = tokio::time::timeout(ttl, send) => r,
            closed = cancel => return Err(StreamingError::Closed(closed)),
        };
        match result {
            Ok(Ok(resp)) => decode(&resp.into_inner().data).map_err(|e| unreachable(self.target, e).into()),
            Ok(Err(status)) => {
                self.client = None;
                Err(unreachable(self.target, status.message()).into())
            }
            Err(_) => {
                self.client = None;
                Err(unreachable(self.target, "snapshot install timed out").into())
            }
        }
    }
}

/// Keep the longest prefix of `rpc`'s entries that encodes within `budget` bytes (at
/// least one entry). Returns the request to send and, if entries were cut, the log
/// id of the last one kept. The commit index sent is capped at that entry: the
/// follower may not learn of commits past what it holds from this message.
pub fn cut_batch(
    mut rpc: AppendEntriesRequest<TypeConfig>,
    budget: usize,
) -> (AppendEntriesRequest<TypeConfig>, Option<LogId>) {
    if rpc.entries.len() < 2 {
        return (rpc, None);
    }
    let mut total = 0u64;
    let mut keep = 0;
    for entry in &rpc.entries {
        let size = bincode::serialized_size(entry).unwrap_or(u64::MAX);
        if keep > 0 && total.saturating_add(size) > budget as u64 {
            break;
        }
        total = total.saturating_add(size);
        keep += 1;
    }
    if keep == rpc.entries.len() {
        return (rpc, None);
    }
    rpc.entries.truncate(keep);
    let last = rpc.entries[keep - 1].log_id;
    if rpc.leader_commit.as_ref().is_some_and(|c| c.index > last.index) {
        rpc.leader_commit = Some(last);
    }
    (rpc, Some(last))
}

/// A snapshot as the chunks of its stream, made one at a time as the stream is
/// read (the snapshot's bytes are held once, not copied whole into chunks first).
/// The first chunk carries vote and meta, the last says done; an empty snapshot is
/// one chunk.
pub fn snapshot_chunks(
    vote: &Vote,
    snapshot: Snapshot,
    cluster_id: u64,
) -> Result<impl Iterator<Item = SnapshotChunk> + Send + 'static, String> {
    let (vote, meta) = (encode(vote)?, encode(&snapshot.meta)?);
    let data = snapshot.snapshot.into_inner();
    let count = data.len().div_ceil(SNAPSHOT_CHUNK_BYTES).max(1);
    let mut head = Some((vote, meta));
    Ok((0..count).map(move |i| {
        let from = (i * SNAPSHOT_CHUNK_BYTES).min(data.len());
        let to = (from + SNAPSHOT_CHUNK_BYTES).min(data.len());
        let (vote, meta) = head.take().unwrap_or_default();
        SnapshotChunk { vote, meta, data: data[from..to].to_vec(), done: i + 1 == count, cluster_id }
    }))
}

#[cfg(test)]
#[path = "network_test.rs"]
mod network_test;
