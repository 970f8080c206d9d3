//! The Lease service: Grant, Revoke, KeepAlive (a stream), TimeToLive, Leases.
//!
//! Grants and revokes go through raft (every member applies them, deleting a revoked
//! lease's keys in one revision). KeepAlive and the remaining TTL are the leader's
//! business (its clock decides expiry): any member forwards them. Answers as etcd's:
//! KeepAlive of an unknown lease gives TTL 0, TimeToLive of one gives TTL -1, no error.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::propose_as;
use super::{status, Ctx};
use crate::apply::{Request as Write, Response as Applied};
use crate::error::Error;
use crate::lease::{pick_lease_id, MAX_LEASE_TTL_S};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::raft::lessor::LeaseCall;

pub struct LeaseService {
    pub ctx: Ctx,
}

pub type KeepAliveStream =
    Pin<Box<dyn Stream<Item = Result<pb::LeaseKeepAliveResponse, Status>> + Send + 'static>>;

/// Answers a KeepAlive stream may hold before the server stops reading requests.
const KEEPALIVE_BACKLOG: usize = 16;

impl LeaseService {
    /// One KeepAlive stream (from any face: gRPC, the JSON gateway): every request
    /// renews its lease through the leader; the first failure ends the stream.
    pub fn keep_alive<S>(&self, mut requests: S) -> KeepAliveStream
    where
        S: Stream<Item = Result<pb::LeaseKeepAliveRequest, Status>> + Send + Unpin + 'static,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(KEEPALIVE_BACKLOG);
        let ctx = self.ctx.clone();
        crate::env::spawn(async move {
            while let Some(Ok(req)) = requests.next().await {
                let service = LeaseService { ctx: ctx.clone() };
                let answer = service
                    .leader_call(LeaseCall::Renew(req.id))
                    .await
                    .map(|ttl| pb::LeaseKeepAliveResponse { header: ctx.current_header(), id: req.id, ttl });
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    return;
                }
            }
        });
        Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
    }

    async fn leader_call(&self, call: LeaseCall) -> Result<i64, Status> {
        match tokio::time::timeout(self.ctx.request_timeout, self.ctx.node.lease_call(call)).await {
            Ok(r) => r.map_err(status),
            Err(_) => Err(status(Error::Timeout)),
        }
    }
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        if req.ttl > MAX_LEASE_TTL_S {
            return Err(status(Error::LeaseTtlTooLarge));
        }
        self.ctx.check_quota(super::quota::LEASE_COST).await?;
        let id = if req.id == 0 {
            pick_lease_id(crate::env::random::random_u64(), &self.ctx.node.state().read().leases)
        } else {
            req.id
        };
        let ttl_s = req.ttl.max(self.ctx.min_lease_ttl_s);
        let applied = propose_as(&self.ctx, who, Write::LeaseGrant { id, ttl_s }).await?;
        match applied.result {
            Ok(Applied::LeaseGrant { id, ttl_s }) => Ok(Response::new(pb::LeaseGrantResponse {
                header: self.ctx.header(applied.revision),
                id,
                ttl: ttl_s,
                error: String::new(),
            })),
            Ok(other) => Err(status(Error::Internal(format!("lease grant applied as {other:?}")))),
            Err(e) => Err(status(e)),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let id = request.into_inner().id;
        let applied = propose_as(&self.ctx, who, Write::LeaseRevoke { id }).await?;
        applied.result.map_err(status)?;
        Ok(Response::new(pb::LeaseRevokeResponse { header: self.ctx.header(applied.revision) }))
    }

    type LeaseKeepAliveStream = KeepAliveStream;

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        Ok(Response::new(self.keep_alive(request.into_inner())))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        self.ctx.read_barrier().await?;
        let remaining = self.leader_call(LeaseCall::TimeToLive(req.id)).await?;
        let state = self.ctx.node.state().read();
        // The keys of a lease are shown only to who may read them all (etcd 3.5.9 on).
        if let (true, Some(lease)) = (req.keys, state.leases.get(req.id)) {
            let needs: Vec<_> =
                lease.keys().iter().map(|k| crate::auth::Access::Read { key: k, range_end: &[] }).collect();
            crate::auth::check_request(&state.auth, &who, &needs).map_err(status)?;
        }
        let header = self.ctx.header(state.kv.current_revision());
        let resp = match (remaining, state.leases.get(req.id)) {
            (ttl, Some(lease)) if ttl >= 0 => pb::LeaseTimeToLiveResponse {
                header,
                id: req.id,
                ttl,
                granted_ttl: lease.ttl_s(),
                keys: if req.keys { lease.keys().iter().cloned().collect() } else { vec![] },
            },
            _ => pb::LeaseTimeToLiveResponse { header, id: req.id, ttl: -1, granted_ttl: 0, keys: vec![] },
        };
        Ok(Response::new(resp))
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        self.ctx.read_barrier().await?;
        let state = self.ctx.node.state().read();
        let leases = state.leases.ids().map(|id| pb::LeaseStatus { id }).collect();
        Ok(Response::new(pb::LeaseLeasesResponse {
            header: self.ctx.header(state.kv.current_revision()),
            leases,
        }))
    }
}
