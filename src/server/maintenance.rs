//! The Maintenance service: Status (etcdctl endpoint status), Hash, HashKV and
//! Alarms (raised and cleared through raft, see `apply::alarms` and `quota`),
//! MoveLeader, Defragment (see `raft::defrag`), Snapshot (etcd's backend file, see
//! `snapshot`). Downgrade answers Unimplemented until its issue lands.

use tonic::{Request, Response, Status};

use super::auth::propose_as;
use super::{snapshot, status, Ctx, CLUSTER_VERSION, SERVER_VERSION};
use crate::apply::{AlarmKind, Request as Write, Response as Applied};
use crate::error::Error;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;

/// grpc-go's status for a method the server does not have (etcd 3.4 and Downgrade).
pub const DOWNGRADE_UNKNOWN: &str = "unknown method Downgrade for service etcdserverpb.Maintenance";

pub struct MaintenanceService {
    pub ctx: Ctx,
}

type SnapshotStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::SnapshotResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, request: Request<pb::AlarmRequest>) -> Result<Response<pb::AlarmResponse>, Status> {
        use pb::alarm_request::AlarmAction;
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        let kind = AlarmKind::from_pb(req.alarm);
        let to_pb = |alarms: Vec<(u64, AlarmKind)>| -> Vec<pb::AlarmMember> {
            alarms.into_iter().map(|(member_id, k)| pb::AlarmMember { member_id, alarm: k.to_pb() }).collect()
        };
        let activate = match AlarmAction::try_from(req.action) {
            Ok(AlarmAction::Get) => {
                self.ctx.read_barrier().await?;
                let state = self.ctx.node.state().read();
                let alarms = to_pb(state.alarms.list(kind));
                return Ok(Response::new(pb::AlarmResponse {
                    header: self.ctx.header(state.kv.current_revision()),
                    alarms,
                }));
            }
            Ok(AlarmAction::Activate) => true,
            Ok(AlarmAction::Deactivate) => false,
            Err(_) => {
                return Err(status(Error::InvalidArgument(format!(
                    "etcdserver: unknown alarm action {}",
                    req.action
                ))))
            }
        };
        // Raising or clearing NONE changes nothing (etcd answers with no alarm).
        let Some(kind) = kind else {
            return Ok(Response::new(pb::AlarmResponse {
                header: self.ctx.current_header(),
                alarms: vec![],
            }));
        };
        let change = Write::Alarm { activate, member_id: req.member_id, kind };
        let applied = propose_as(&self.ctx, who, change).await?;
        match applied.result.map_err(status)? {
            Applied::Alarm(changed) => Ok(Response::new(pb::AlarmResponse {
                header: self.ctx.header(applied.revision),
                alarms: to_pb(changed),
            })),
            other => Err(status(Error::Internal(format!("alarm applied as {other:?}")))),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let rs = self.ctx.node.status();
        let (rev, in_use, errors) = {
            let state = self.ctx.node.state().read();
            (state.kv.current_revision(), state.size_bytes() as i64, state.alarms.status_errors())
        };
        // dbSize: the files on disk (snapshots and WAL), as etcd's is its bolt file;
        // dbSizeInUse: the data the store holds now, what the quota measures.
        // Never below dbSizeInUse (etcd's invariant, which tools computing
        // fragmentation rely on): the in-use figure is an estimate.
        let on_disk = i64::try_from(self.ctx.node.disk_bytes()).unwrap_or(i64::MAX).max(in_use);
        Ok(Response::new(pb::StatusResponse {
            header: self.ctx.header(rev),
            version: SERVER_VERSION.to_string(),
            db_size: on_disk,
            leader: rs.leader.unwrap_or(0),
            raft_index: rs.committed_index,
            raft_term: rs.term,
            raft_applied_index: rs.applied_index,
            errors,
            db_size_in_use: in_use,
            is_learner: rs.is_learner,
            db_size_quota: i64::try_from(self.ctx.quota_backend_bytes).unwrap_or(i64::MAX),
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
        let shared = self.ctx.node.state().clone();
        let cluster_version = format!("{CLUSTER_VERSION}.0");
        let image = crate::env::blocking(move || snapshot::encode_snapshot(&shared, &cluster_version))
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        tracing::info!(
            size_bytes = image.size_bytes,
            revision = image.revision,
            consistent_index = image.consistent_index,
            "sending database snapshot to client"
        );
        let header = self.ctx.header(image.revision);
        Ok(Response::new(Box::pin(snapshot::snapshot_messages(image, header))))
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
        // etcd 3.4, whose API this is, has no Downgrade: grpc-go answers such a call
        // with this status (what etcdctl 3.5's `downgrade` gets from etcd 3.4).
        Err(Status::unimplemented(DOWNGRADE_UNKNOWN))
    }
}
