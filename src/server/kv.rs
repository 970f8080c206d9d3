//! The KV service: Range, Put, DeleteRange, Txn, Compact.
//!
//! Reads: a serializable Range is served from local state; a linearizable one first
//! runs ReadIndex (leadership confirmed, state applied up to the commit index at the
//! time of the read). A Txn that only reads is served the same way; any Txn that may
//! write goes through raft, as etcd does.

use prost::Message;
use tonic::{Request, Response, Status};

use super::{convert, propose, status, Ctx};
use crate::apply::{self, Response as Applied};
use crate::error::Error;
use crate::mvcc;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_server::Kv;

pub struct KvService {
    pub ctx: Ctx,
}

impl KvService {
    fn check_size<M: Message>(&self, m: &M) -> Result<(), Status> {
        if m.encoded_len() > self.ctx.max_request_bytes {
            return Err(status(Error::RequestTooLarge));
        }
        Ok(())
    }

    async fn linearize(&self, serializable: bool) -> Result<(), Status> {
        if serializable {
            return Ok(());
        }
        match tokio::time::timeout(self.ctx.request_timeout, self.ctx.node.read_index()).await {
            Ok(r) => r.map_err(status),
            Err(_) => Err(status(Error::Timeout)),
        }
    }

    /// Refuse writes once the store passes the backend quota (etcd's NOSPACE).
    fn check_quota(&self) -> Result<(), Status> {
        let size = self.ctx.node.state().read().size_bytes();
        if size > self.ctx.quota_backend_bytes {
            return Err(status(Error::NoSpace));
        }
        Ok(())
    }
}

fn is_read_only(t: &mvcc::TxnRequest) -> bool {
    let ops_read_only = |ops: &[mvcc::RequestOp]| {
        ops.iter().all(|op| match op {
            mvcc::RequestOp::Range(_) => true,
            mvcc::RequestOp::Txn(t) => is_read_only(t),
            _ => false,
        })
    };
    ops_read_only(&t.success) && ops_read_only(&t.failure)
}

fn unexpected(what: &str) -> Status {
    status(Error::Internal(format!("etcdserver: unexpected apply result for {what}")))
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, request: Request<pb::RangeRequest>) -> Result<Response<pb::RangeResponse>, Status> {
        let req = convert::range_request(request.into_inner()).map_err(status)?;
        self.linearize(req.serializable).await?;
        let (resp, rev) = {
            let state = self.ctx.node.state().read();
            (state.kv.range(&req).map_err(status)?, state.kv.current_revision())
        };
        let mut out = convert::range_response(resp);
        out.header = self.ctx.header(rev);
        Ok(Response::new(out))
    }

    async fn put(&self, request: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let pb_req = request.into_inner();
        self.check_size(&pb_req)?;
        self.check_quota()?;
        let req = convert::put_request(pb_req).map_err(status)?;
        let applied = propose(&self.ctx, apply::Request::Put(req)).await?;
        match applied.result.map_err(status)? {
            Applied::Put(r) => {
                let mut out = convert::put_response(r);
                out.header = self.ctx.header(applied.revision);
                Ok(Response::new(out))
            }
            _ => Err(unexpected("put")),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let pb_req = request.into_inner();
        self.check_size(&pb_req)?;
        let req = convert::delete_range_request(pb_req).map_err(status)?;
        let applied = propose(&self.ctx, apply::Request::DeleteRange(req)).await?;
        match applied.result.map_err(status)? {
            Applied::DeleteRange(r) => {
                let mut out = convert::delete_range_response(r);
                out.header = self.ctx.header(applied.revision);
                Ok(Response::new(out))
            }
            _ => Err(unexpected("delete")),
        }
    }

    async fn txn(&self, request: Request<pb::TxnRequest>) -> Result<Response<pb::TxnResponse>, Status> {
        let pb_req = request.into_inner();
        self.check_size(&pb_req)?;
        let req = convert::txn_request(pb_req).map_err(status)?;
        if is_read_only(&req) {
            self.linearize(false).await?;
            let state = self.ctx.node.state().read();
            let max_ops = state.limits.max_txn_ops;
            let (resp, rev) =
                (state.kv.txn_read_only(&req, max_ops).map_err(status)?, state.kv.current_revision());
            return Ok(Response::new(convert::txn_response_to_pb(resp, self.ctx.header_value(rev))));
        }
        self.check_quota()?;
        let applied = propose(&self.ctx, apply::Request::Txn(req)).await?;
        match applied.result.map_err(status)? {
            Applied::Txn(r) => {
                Ok(Response::new(convert::txn_response_to_pb(r, self.ctx.header_value(applied.revision))))
            }
            _ => Err(unexpected("txn")),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let req = request.into_inner();
        let applied = propose(&self.ctx, apply::Request::Compact { revision: req.revision }).await?;
        applied.result.map_err(status)?;
        // Compaction is physical at apply time, so `physical` has nothing to wait for.
        Ok(Response::new(pb::CompactionResponse { header: self.ctx.header(applied.revision) }))
    }
}
