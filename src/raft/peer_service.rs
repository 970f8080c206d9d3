//! The peer gRPC service: raft RPCs from other members into our openraft instance,
//! the follower→leader calls (Propose, ReadIndex, ChangeMembers), and Members for
//! joining members.
//!
//! Every message carries the sender's cluster ID; one from another cluster is refused
//! with etcd's "cluster ID mismatch". A vote request from a member that is in neither
//! our applied nor our latest membership is answered "removed", which makes that
//! member shut down (as etcd's peers tell a removed member).

use futures::StreamExt;
use std::io::Cursor;
use tonic::{Request, Response, Status, Streaming};

use openraft::vote::RaftLeaderId;

use super::membership::ChangeOutcome;
use super::network::{decode, encode, REMOVED_MESSAGE};
use super::node::RaftNode;
use super::state_machine::Snapshot;
use super::types::{SnapshotMeta, Vote};
use crate::apply::Applied;
use crate::error::Error;
use crate::proto::metastorepeerpb::raft_peer_server::RaftPeer;
use crate::proto::metastorepeerpb::{RaftMessage, SnapshotChunk};

pub struct PeerService {
    pub node: RaftNode,
}

fn bad(e: String) -> Status {
    Status::invalid_argument(e)
}

fn reply<T: serde::Serialize>(value: &T) -> Result<Response<RaftMessage>, Status> {
    Ok(Response::new(RaftMessage { data: encode(value).map_err(Status::internal)?, cluster_id: 0 }))
}

impl PeerService {
    /// The message's bytes, if it comes from our cluster.
    fn open(&self, request: Request<RaftMessage>) -> Result<Vec<u8>, Status> {
        let msg = request.into_inner();
        self.check_cluster(msg.cluster_id)?;
        Ok(msg.data)
    }

    fn check_cluster(&self, cluster_id: u64) -> Result<(), Status> {
        let ours = self.node.cluster_id();
        if cluster_id != ours {
            tracing::warn!(
                local = %format!("{ours:x}"),
                remote = %format!("{cluster_id:x}"),
                "request cluster ID mismatch"
            );
            return Err(crate::error::status(Error::ClusterIdMismatch));
        }
        Ok(())
    }

    fn check_candidate(&self, candidate: u64) -> Result<(), Status> {
        if self.node.is_removed_member(candidate) {
            return Err(Status::failed_precondition(REMOVED_MESSAGE));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&self.open(request)?).map_err(bad)?;
        let resp =
            self.node.raft().append_entries(rpc).await.map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc: openraft::raft::VoteRequest<super::types::TypeConfig> =
            decode(&self.open(request)?).map_err(bad)?;
        self.check_candidate(*rpc.vote.leader_id().node_id())?;
        let resp = self.node.raft().vote(rpc).await.map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn pre_vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc: openraft::raft::VoteRequest<super::types::TypeConfig> =
            decode(&self.open(request)?).map_err(bad)?;
        self.check_candidate(*rpc.vote.leader_id().node_id())?;
        let resp = self.node.raft().pre_vote(rpc).await.map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<SnapshotChunk>>,
    ) -> Result<Response<RaftMessage>, Status> {
        let mut stream = request.into_inner();
        let mut vote: Option<Vote> = None;
        let mut meta: Option<SnapshotMeta> = None;
        let mut data = Vec::new();
        let mut done = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if vote.is_none() {
                self.check_cluster(chunk.cluster_id)?;
                vote = Some(decode(&chunk.vote).map_err(bad)?);
                meta = Some(decode(&chunk.meta).map_err(bad)?);
            }
            if (data.len() + chunk.data.len()) as u64 > self.node.max_snapshot_bytes() {
                let why = format!(
                    "snapshot larger than {} bytes (twice this member's --quota-backend-bytes, plus 64 MiB)",
                    self.node.max_snapshot_bytes()
                );
                tracing::warn!(reason = %why, "refused a snapshot from a peer");
                return Err(Status::resource_exhausted(why));
            }
            data.extend_from_slice(&chunk.data);
            if chunk.done {
                done = true;
                break;
            }
        }
        let (Some(vote), Some(meta), true) = (vote, meta, done) else {
            return Err(Status::invalid_argument("snapshot stream ended before its last chunk"));
        };
        let snapshot = Snapshot { meta, snapshot: Cursor::new(data) };
        let resp = self
            .node
            .raft()
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn propose(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let req = decode(&self.open(request)?).map_err(bad)?;
        let result: Result<(Applied, u64), Error> = self.node.propose_local_indexed(req).await;
        reply(&result)
    }

    async fn read_index(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        self.open(request)?;
        let result: Result<u64, Error> = self.node.leader_read_index().await;
        reply(&result)
    }

    async fn members(&self, _request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        reply(&self.node.cluster_info())
    }

    async fn change_members(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let change = decode(&self.open(request)?).map_err(bad)?;
        let result: Result<ChangeOutcome, Error> = self.node.change_members_local(change).await;
        reply(&result)
    }

    async fn lease(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let call = decode(&self.open(request)?).map_err(bad)?;
        let result: Result<i64, Error> = self.node.lease_call_local(call).await;
        reply(&result)
    }

    async fn hash_kv(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let revision: i64 = decode(&self.open(request)?).map_err(bad)?;
        let result: Result<(u32, i64), Error> = self.node.state().read().kv.hash_kv(revision);
        reply(&result)
    }

    async fn transfer_leader(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let req = decode(&self.open(request)?).map_err(bad)?;
        let resp = self
            .node
            .raft()
            .handle_transfer_leader(req)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }
}
