//! The Maintenance service: Status (etcdctl endpoint status), Hash, HashKV and
//! Alarm listing, MoveLeader, Defragment (see `raft::defrag`). Snapshot, Downgrade
//! and alarm changes answer Unimplemented until their issues land.

use tonic::{Request, Response, Status};

use super::{status, Ctx, SERVER_VERSION};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;

pub struct MaintenanceService {
    pub ctx: Ctx,
}

type SnapshotStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::SnapshotResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, request: Request<pb::AlarmRequest>) -> Result<Response<pb::AlarmResponse>, Status> {
        if request.get_ref().action != pb::alarm_request::AlarmAction::Get as i32 {
            self.ctx.require_admin(&request).await?;
        }
        let req = request.into_inner();
        if req.action != pb::alarm_request::AlarmAction::Get as i32 {
            return Err(Status::unimplemented("alarm activation is not supported yet"));
        }
        // No alarm is ever raised yet (over-quota writes are refused directly).
        Ok(Response::new(pb::AlarmResponse { header: self.ctx.current_header(), alarms: vec![] }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let rs = self.ctx.node.status();
        let (rev, size) = {
            let state = self.ctx.node.state().read();
            (state.kv.current_revision(), state.size_bytes() as i64)
        };
        Ok(Response::new(pb::StatusResponse {
            header: self.ctx.header(rev),
            version: SERVER_VERSION.to_string(),
            db_size: size,
            leader: rs.leader.unwrap_or(0),
            raft_index: rs.committed_index,
            raft_term: rs.term,
            raft_applied_index: rs.applied_index,
            errors: vec![],
            db_size_in_use: size,
            is_learner: rs.is_learner,
        }))
    }

    async fn defragment(
        &self,
        request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        self.ctx.require_admin_maintenance(&request).await?;
        self.ctx.node.defragment(self.ctx.request_timeout).await.map_err(status)?;
        Ok(Response::new(pb::DefragmentResponse { header: self.ctx.current_header() }))
    }

    async fn hash(&self, request: Request<pb::HashRequest>) -> Result<Response<pb::HashResponse>, Status> {
        self.ctx.require_admin_maintenance(&request).await?;
        let (hash, rev) = {
            let state = self.ctx.node.state().read();
            (state.hash(), state.kv.current_revision())
        };
        Ok(Response::new(pb::HashResponse { header: self.ctx.header(rev), hash }))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        self.ctx.require_admin_maintenance(&request).await?;
        let req = request.into_inner();
        let (result, rev) = {
            let state = self.ctx.node.state().read();
            (state.kv.hash_kv(req.revision), state.kv.current_revision())
        };
        let (hash, compact_revision) = result.map_err(status)?;
        Ok(Response::new(pb::HashKvResponse { header: self.ctx.header(rev), hash, compact_revision }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<SnapshotStream>, Status> {
        self.ctx.require_admin_maintenance(&request).await?;
        Err(Status::unimplemented("snapshot is not supported yet"))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        self.ctx.require_admin(&request).await?;
        let target = request.into_inner().target_id;
        self.ctx.node.move_leader(target).await.map_err(status)?;
        Ok(Response::new(pb::MoveLeaderResponse { header: self.ctx.current_header() }))
    }

    async fn downgrade(
        &self,
        _request: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(Status::unimplemented("downgrade is not supported yet"))
    }
}
