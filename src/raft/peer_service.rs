//! The peer gRPC service: raft RPCs from other members into our openraft instance,
//! plus the two follower→leader calls, Propose and ReadIndex.

use futures::StreamExt;
use std::io::Cursor;
use tonic::{Request, Response, Status, Streaming};

use super::network::{decode, encode};
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
    Ok(Response::new(RaftMessage { data: encode(value).map_err(Status::internal)? }))
}

#[tonic::async_trait]
impl RaftPeer for PeerService {
    async fn append_entries(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&request.into_inner().data).map_err(bad)?;
        let resp =
            self.node.raft().append_entries(rpc).await.map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&request.into_inner().data).map_err(bad)?;
        let resp = self.node.raft().vote(rpc).await.map_err(|e| Status::unavailable(e.to_string()))?;
        reply(&resp)
    }

    async fn pre_vote(&self, request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let rpc = decode(&request.into_inner().data).map_err(bad)?;
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
                vote = Some(decode(&chunk.vote).map_err(bad)?);
                meta = Some(decode(&chunk.meta).map_err(bad)?);
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
        let req = decode(&request.into_inner().data).map_err(bad)?;
        let result: Result<Applied, Error> = self.node.propose_local(req).await;
        reply(&result)
    }

    async fn read_index(&self, _request: Request<RaftMessage>) -> Result<Response<RaftMessage>, Status> {
        let result: Result<u64, Error> = self.node.leader_read_index().await;
        reply(&result)
    }
}
