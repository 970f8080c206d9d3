//! The Lock service (etcd's v3lock): Lock waits until the caller's key
//! `<name>/<lease hex>` is the oldest under `<name>/` (see `concurrency`) and returns
//! it; Unlock deletes it. The lock lives as long as the lease.

use tonic::{Request, Response, Status};

use super::auth::propose_as;
use super::concurrency::acquire;
use super::{status, Ctx};
use crate::apply::Request as Write;
use crate::mvcc::DeleteRangeRequest;
use crate::proto::v3lockpb as pb;
use crate::proto::v3lockpb::lock_server::Lock;

pub struct LockService {
    pub ctx: Ctx,
}

/// etcd's lock and election servers return their client's errors as plain errors,
/// which gRPC sends as `Unknown` with the error's text: so do we, whatever the code.
pub fn plain(e: Status) -> Status {
    Status::unknown(e.message())
}

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, request: Request<pb::LockRequest>) -> Result<Response<pb::LockResponse>, Status> {
        self.lock_inner(request).await.map_err(plain)
    }

    async fn unlock(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        self.unlock_inner(request).await.map_err(plain)
    }
}

impl LockService {
    async fn lock_inner(
        &self,
        request: Request<pb::LockRequest>,
    ) -> Result<Response<pb::LockResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        let mut prefix = req.name;
        prefix.push(b'/');
        let held = acquire(&self.ctx, &who, &prefix, req.lease, b"").await?;
        Ok(Response::new(pb::LockResponse { header: self.ctx.current_header(), key: held.key }))
    }

    async fn unlock_inner(
        &self,
        request: Request<pb::UnlockRequest>,
    ) -> Result<Response<pb::UnlockResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let key = request.into_inner().key;
        let delete = Write::DeleteRange(DeleteRangeRequest { key, ..Default::default() });
        let applied = propose_as(&self.ctx, who, delete).await?;
        applied.result.map_err(status)?;
        Ok(Response::new(pb::UnlockResponse { header: self.ctx.header(applied.revision) }))
    }
}
