//! The Cluster service: MemberList from raft's membership. Member changes answer
//! Unimplemented until the replicated-cluster issue lands.

use tonic::{Request, Response, Status};

use super::Ctx;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::cluster_server::Cluster;

pub struct ClusterService {
    pub ctx: Ctx,
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _r: Request<pb::MemberAddRequest>,
    ) -> Result<Response<pb::MemberAddResponse>, Status> {
        Err(Status::unimplemented("member add is not supported yet"))
    }

    async fn member_remove(
        &self,
        _r: Request<pb::MemberRemoveRequest>,
    ) -> Result<Response<pb::MemberRemoveResponse>, Status> {
        Err(Status::unimplemented("member remove is not supported yet"))
    }

    async fn member_update(
        &self,
        _r: Request<pb::MemberUpdateRequest>,
    ) -> Result<Response<pb::MemberUpdateResponse>, Status> {
        Err(Status::unimplemented("member update is not supported yet"))
    }

    async fn member_list(
        &self,
        _r: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        let published = self.ctx.node.state().read().members.clone();
        let members = self
            .ctx
            .node
            .members()
            .into_iter()
            .map(|(id, info, is_learner)| {
                // Name and client URLs as the member published them (empty until it
                // has started, as etcd shows).
                let attrs = published.get(&id);
                pb::Member {
                    id,
                    name: attrs.map(|a| a.name.clone()).unwrap_or_default(),
                    peer_ur_ls: info.peer_urls,
                    client_ur_ls: attrs.map(|a| a.client_urls.clone()).unwrap_or_default(),
                    is_learner,
                }
            })
            .collect();
        // etcd's cluster service header carries no revision (v3rpc/member.go `header()`).
        Ok(Response::new(pb::MemberListResponse { header: self.ctx.header(0), members }))
    }

    async fn member_promote(
        &self,
        _r: Request<pb::MemberPromoteRequest>,
    ) -> Result<Response<pb::MemberPromoteResponse>, Status> {
        Err(Status::unimplemented("member promote is not supported yet"))
    }
}
