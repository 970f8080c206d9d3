//! The KV service: Range, Put, DeleteRange, Txn, Compact.
//!
//! Reads: a serializable Range is served from local state; a linearizable one first
//! runs ReadIndex (leadership confirmed, state applied up to the commit index at the
//! time of the read). A Txn that only reads is served the same way; any Txn that may
//! write goes through raft, as etcd does.
//!
//! Checks run in etcd's order: the backend quota (Put), then the request checks of
//! etcd's gRPC layer (empty key, `ignore_*` conflicts, txn op budget and overlaps),
//! then `--max-request-bytes` on what etcd would propose to raft (see
//! [`raft_entry_len`]). etcd proposes writes only, and a Txn whose top-level ops are
//! all ranges counts as a read there even though nested txns may hide ranges only, so
//! such a Txn is not size-checked; one with a nested txn is.

use prost::Message;
use tonic::{Request, Response, Status};

use super::auth::propose_as;
use super::{convert, status, Ctx};
use crate::apply::{self, AlarmKind, Response as Applied};
use crate::auth::{self, Access};
use crate::error::Error;
use crate::mvcc;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_server::Kv;

pub struct KvService {
    pub ctx: Ctx,
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The size etcd checks against `--max-request-bytes`: not the request itself but the
/// raft entry it proposes, an `InternalRaftRequest` holding the request (fields 4 to 7:
/// one tag byte, a length) and a `RequestHeader` in field 100 (two tag bytes, a length)
/// with a request ID. The ID is `(member ID & 0xffff) << 48 | (ms clock) << 8 | count`
/// (etcd's idutil), so its varint length (8 to 10 bytes) is a function of the member ID.
pub fn raft_entry_len(member_id: u64, request_len: usize) -> usize {
    let id = ((member_id & 0xffff) << 48) | (1 << 47);
    let header = 2 + 1 + 1 + varint_len(id);
    header + 1 + varint_len(request_len as u64) + request_len
}

impl KvService {
    /// `--max-request-bytes`, measured as etcd does (see [`raft_entry_len`]).
    fn check_size(&self, request_len: usize) -> Result<(), Status> {
        if raft_entry_len(self.ctx.member_id, request_len) > self.ctx.max_request_bytes {
            return Err(status(Error::RequestTooLarge));
        }
        Ok(())
    }

    async fn linearize(&self, serializable: bool) -> Result<(), Status> {
        if serializable {
            return Ok(());
        }
        self.ctx.read_barrier().await
    }

    /// The bytes a txn's puts may add (etcd's quota cost of a txn).
    fn txn_cost(t: &mvcc::TxnRequest) -> u64 {
        t.success
            .iter()
            .chain(&t.failure)
            .map(|op| match op {
                mvcc::RequestOp::Put(p) => super::quota::put_cost(&p.key, &p.value),
                mvcc::RequestOp::Txn(inner) => Self::txn_cost(inner),
                _ => 0,
            })
            .sum()
    }
}

/// etcd's `isTxnReadonly`: every top-level op of both branches is a range (a nested
/// txn counts as a write, whatever it holds).
fn etcd_read_only(t: &mvcc::TxnRequest) -> bool {
    t.success.iter().chain(&t.failure).all(|op| matches!(op, mvcc::RequestOp::Range(_)))
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
        let who = self.ctx.identity(&request).await?;
        let req = convert::range_request(request.into_inner()).map_err(status)?;
        self.linearize(req.serializable).await?;
        let (resp, rev) = {
            let state = self.ctx.node.state().read();
            let needs = [Access::Read { key: &req.key, range_end: &req.range_end }];
            auth::check_request(&state.auth, &who, &needs).map_err(status)?;
            if state.alarms.any(AlarmKind::Corrupt) {
                return Err(status(Error::Corrupt));
            }
            (state.kv.range(&req).map_err(status)?, state.kv.current_revision())
        };
        crate::metrics::range_served();
        let mut out = convert::range_response(resp);
        out.header = self.ctx.header(rev);
        Ok(Response::new(out))
    }

    async fn put(&self, request: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        let who = self.ctx.identity(&request).await?;
        let pb_req = request.into_inner();
        self.ctx.check_quota(super::quota::put_cost(&pb_req.key, &pb_req.value)).await?;
        let len = pb_req.encoded_len();
        let req = convert::put_request(pb_req).map_err(status)?;
        mvcc::check_put_request(&req).map_err(status)?;
        self.check_size(len)?;
        let applied = propose_as(&self.ctx, who, apply::Request::Put(req)).await?;
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
        let who = self.ctx.identity(&request).await?;
        let pb_req = request.into_inner();
        let len = pb_req.encoded_len();
        let req = convert::delete_range_request(pb_req).map_err(status)?;
        mvcc::check_delete_request(&req).map_err(status)?;
        self.check_size(len)?;
        let applied = propose_as(&self.ctx, who, apply::Request::DeleteRange(req)).await?;
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
        let who = self.ctx.identity(&request).await?;
        let pb_req = request.into_inner();
        let max_ops = self.ctx.node.state().read().limits.max_txn_ops;
        convert::check_txn_request(&pb_req, max_ops).map_err(status)?;
        let len = pb_req.encoded_len();
        let req = convert::txn_request(pb_req).map_err(status)?;
        mvcc::check_txn(&req, max_ops).map_err(status)?;
        if is_read_only(&req) {
            if !etcd_read_only(&req) {
                self.check_size(len)?;
            }
            self.linearize(false).await?;
            let state = self.ctx.node.state().read();
            let mut needs = Vec::new();
            auth::txn_accesses(&req, &mut needs);
            auth::check_request(&state.auth, &who, &needs).map_err(status)?;
            if state.alarms.any(AlarmKind::Corrupt) {
                return Err(status(Error::Corrupt));
            }
            let (resp, rev) =
                (state.kv.txn_read_only(&req, max_ops).map_err(status)?, state.kv.current_revision());
            crate::metrics::txn_served(&resp);
            return Ok(Response::new(convert::txn_response_to_pb(resp, self.ctx.header_value(rev))));
        }
        self.ctx.check_quota(Self::txn_cost(&req)).await?;
        self.check_size(len)?;
        let applied = propose_as(&self.ctx, who, apply::Request::Txn(req)).await?;
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
        let who = self.ctx.identity(&request).await?;
        let req = request.into_inner();
        let applied = propose_as(&self.ctx, who, apply::Request::Compact { revision: req.revision }).await?;
        applied.result.map_err(status)?;
        // Compaction is physical at apply time, so `physical` has nothing to wait for.
        Ok(Response::new(pb::CompactionResponse { header: self.ctx.header(applied.revision) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::encoding::{encode_key, encode_varint, WireType};

    /// etcd's raft entry for a request, built field by field: InternalRaftRequest
    /// { header (100): RequestHeader { ID (1) }, put (4): request }.
    fn etcd_entry(id: u64, request: &[u8]) -> Vec<u8> {
        let mut header = Vec::new();
        encode_key(1, WireType::Varint, &mut header);
        encode_varint(id, &mut header);
        let mut entry = Vec::new();
        encode_key(100, WireType::LengthDelimited, &mut entry);
        encode_varint(header.len() as u64, &mut entry);
        entry.extend_from_slice(&header);
        encode_key(4, WireType::LengthDelimited, &mut entry);
        encode_varint(request.len() as u64, &mut entry);
        entry.extend_from_slice(request);
        entry
    }

    #[test]
    fn raft_entry_len_is_etcds_entry_size() {
        let ms_clock = 0x01_2345_6789u64;
        for member_id in
            [0x0000_0000_0000_0001u64, 0xe5ec_dd5c_7bb8_0a05, 0xe5ec_dd5c_7bb8_ca5f, 0x1234_0000_0000_ffff]
        {
            let id = ((member_id & 0xffff) << 48) | (ms_clock << 8) | 7;
            for request_len in [0usize, 1, 127, 128, 1000, 1024, 16_383, 16_384, 1 << 20] {
                let request = vec![b'x'; request_len];
                assert_eq!(
                    raft_entry_len(member_id, request_len),
                    etcd_entry(id, &request).len(),
                    "member {member_id:x}, request {request_len} bytes"
                );
            }
        }
    }
}
