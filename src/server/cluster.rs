//! The Cluster service: MemberList, MemberAdd, MemberRemove, MemberUpdate and
//! MemberPromote on raft's membership (checks and errors as etcd's, see
//! `raft::membership`). Changes run on the leader; any member takes them.

use tonic::{Request, Response, Status};

use super::{status, Ctx};
use crate::error::Error;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::raft::{ChangeOutcome, MemberChange, MemberRecord};

pub struct ClusterService {
    pub ctx: Ctx,
}

impl ClusterService {
    /// A member as etcd shows it: name and client URLs as the member published them
    /// (empty until it has started).
    fn member(&self, r: MemberRecord) -> pb::Member {
        let published = self.ctx.node.state().read().members.get(&r.id).cloned();
        pb::Member {
            id: r.id,
            name: published.as_ref().map(|a| a.name.clone()).unwrap_or_default(),
            peer_ur_ls: r.info.peer_urls,
            client_ur_ls: published.map(|a| a.client_urls).unwrap_or_default(),
            is_learner: r.is_learner,
        }
    }

    fn members(&self, records: Vec<MemberRecord>) -> Vec<pb::Member> {
        records.into_iter().map(|r| self.member(r)).collect()
    }

    async fn change(&self, change: MemberChange) -> Result<ChangeOutcome, Status> {
        match tokio::time::timeout(self.ctx.request_timeout, self.ctx.node.change_members(change)).await {
            Ok(result) => result.map_err(status),
            Err(_) => Err(status(Error::Timeout)),
        }
    }

    /// A fresh member ID: random, nonzero, not in use (etcd derives it from the URLs
    /// and the time; either way it is unique and never reused).
    fn new_member_id(&self) -> u64 {
        let taken: Vec<u64> = self.ctx.node.members().iter().map(|m| m.id).collect();
        loop {
            let id = crate::env::random::random_u64();
            if id != 0 && !taken.contains(&id) {
                return id;
            }
        }
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        request: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        self.ctx.require_admin(&request).await?;
        let req = request.into_inner();
        let change = MemberChange::Add {
            id: self.new_member_id(),
            peer_urls: req.peer_ur_ls,
            learner: req.is_learner,
        };
        let outcome = self.change(change).await?;
        Ok(Response::new(pb::MemberAddResponse {
            header: self.ctx.header(0),
            member: outcome.member.map(|m| self.member(m)),
            members: self.members(outcome.members),
        }))
    }

    async fn member_remove(
        &self,
        request: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        self.ctx.require_admin(&request).await?;
        let outcome = self.change(MemberChange::Remove { id: request.into_inner().id }).await?;
        Ok(Response::new(pb::MemberRemoveResponse {
            header: self.ctx.header(0),
            members: self.members(outcome.members),
        }))
    }

    async fn member_update(
        &self,
        request: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        self.ctx.require_admin(&request).await?;
        let req = request.into_inner();
        let outcome = self.change(MemberChange::Update { id: req.id, peer_urls: req.peer_ur_ls }).await?;
        Ok(Response::new(pb::MemberUpdateResponse {
            header: self.ctx.header(0),
            members: self.members(outcome.members),
        }))
    }

    async fn member_list(
        &self,
        _r: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let members = self.members(self.ctx.node.members());
        // etcd's cluster service header carries no revision (v3rpc/member.go `header()`).
        Ok(Response::new(pb::MemberListResponse { header: self.ctx.header(0), members }))
    }

    async fn member_promote(
        &self,
        request: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        self.ctx.require_admin(&request).await?;
        let outcome = self.change(MemberChange::Promote { id: request.into_inner().id }).await?;
        Ok(Response::new(pb::MemberPromoteResponse {
            header: self.ctx.header(0),
            members: self.members(outcome.members),
        }))
    }
}
