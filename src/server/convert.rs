//! Conversions between the protobuf messages (`crate::proto`) and the core types
//! (`crate::mvcc::types`).
//!
//! Every function takes its input by value, so key and value bytes are moved from
//! one `Vec<u8>` to the other, never copied.
//!
//! Direction and fallibility:
//! - `*_from_pb` turns a protobuf message into a core value. It fails only on an enum
//!   number the schema does not define, on an empty `RequestOp` and on an empty
//!   `ResponseOp`; never panics.
//! - `*_to_pb` turns a core value into a protobuf message and cannot fail. Responses
//!   take the [`pb::ResponseHeader`] to attach; the caller fills in cluster id, member
//!   id, revision and raft term.
//!
//! Responses nested in a txn: etcd gives every nested range/put/delete-range response
//! a header with only `revision` set, and every nested txn response an empty (but
//! present) header. The revision is the one etcd's write transaction reports at that
//! point (mvcc `storeTxnWrite`): the revision the txn began at until its first change,
//! one more from then on (a put always changes; a delete-range only if it deleted
//! something). The core does not record it per operation, so it is derived here from
//! the responses, in application order: the txn began at the header's revision, or
//! one less if any response in the tree changed something.
//!
//! Compare operand (`target` + `target_union`): as in etcd's `compareKV`, the operand is
//! the `target_union` member that matches `target`; if the union is unset or holds a
//! different member, the operand is the zero value of the target (0, or empty bytes
//! for `VALUE`). A mismatched member is therefore not an error.
//!
//! Conversion only checks enum numbers. The request checks etcd runs before applying
//! (empty key, too many ops, duplicate keys, ...) belong to the caller. One of them is
//! done here because the core types cannot represent the input: an empty `RequestOp`
//! (no member of the `request` oneof set) yields [`Error::KeyNotFound`], which is what
//! etcd's `checkRequestOp` returns (InvalidArgument, "etcdserver: key not found").
//! etcd finds it in the middle of `checkTxnRequest`, so a txn that also breaks an
//! earlier rule (too many ops, an empty key before it) gets that earlier error from
//! etcd; [`check_txn_request`] runs etcd's whole check on the wire form, in etcd's
//! order, for the server to call before converting.

use crate::error::{Error, Result};
use crate::mvcc::types::{
    Compare, CompareResult, CompareTarget, DeleteRangeRequest, DeleteRangeResponse, Event, EventType,
    KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder,
    SortTarget, TxnRequest, TxnResponse,
};
use crate::proto::etcdserverpb as pb;
use crate::proto::mvccpb;

use pb::{compare, range_request, request_op, response_op};

/// etcd's message for an undefined sort order or sort target (`ErrGRPCInvalidSortOption`;
/// etcd 3.6 checks this, 3.5 does not validate it at all).
pub const INVALID_SORT_OPTION: &str = "etcdserver: invalid sort option";
/// Our message for an undefined `Compare.result` (etcd has no check and no message).
pub const INVALID_COMPARE_RESULT: &str = "etcdserver: invalid compare result";
/// Our message for an undefined `Compare.target` (etcd has no check and no message).
pub const INVALID_COMPARE_TARGET: &str = "etcdserver: invalid compare target";
/// Our message for an undefined `Event.type`.
pub const INVALID_EVENT_TYPE: &str = "etcdserver: invalid event type";
/// Our message for a `ResponseOp` with no member of its oneof set.
pub const EMPTY_RESPONSE_OP: &str = "etcdserver: empty response op";

fn invalid(msg: &str) -> Error {
    Error::InvalidArgument(msg.to_owned())
}

// ---------------------------------------------------------------------------
// Enums
// ---------------------------------------------------------------------------

pub fn sort_order_from_pb(v: i32) -> Result<SortOrder> {
    use range_request::SortOrder as P;
    match P::try_from(v).map_err(|_| invalid(INVALID_SORT_OPTION))? {
        P::None => Ok(SortOrder::None),
        P::Ascend => Ok(SortOrder::Ascend),
        P::Descend => Ok(SortOrder::Descend),
    }
}

pub fn sort_order_to_pb(o: SortOrder) -> i32 {
    use range_request::SortOrder as P;
    match o {
        SortOrder::None => P::None,
        SortOrder::Ascend => P::Ascend,
        SortOrder::Descend => P::Descend,
    }
    .into()
}

pub fn sort_target_from_pb(v: i32) -> Result<SortTarget> {
    use range_request::SortTarget as P;
    match P::try_from(v).map_err(|_| invalid(INVALID_SORT_OPTION))? {
        P::Key => Ok(SortTarget::Key),
        P::Version => Ok(SortTarget::Version),
        P::Create => Ok(SortTarget::Create),
        P::Mod => Ok(SortTarget::Mod),
        P::Value => Ok(SortTarget::Value),
    }
}

pub fn sort_target_to_pb(t: SortTarget) -> i32 {
    use range_request::SortTarget as P;
    match t {
        SortTarget::Key => P::Key,
        SortTarget::Version => P::Version,
        SortTarget::Create => P::Create,
        SortTarget::Mod => P::Mod,
        SortTarget::Value => P::Value,
    }
    .into()
}

pub fn compare_result_from_pb(v: i32) -> Result<CompareResult> {
    use compare::CompareResult as P;
    match P::try_from(v).map_err(|_| invalid(INVALID_COMPARE_RESULT))? {
        P::Equal => Ok(CompareResult::Equal),
        P::Greater => Ok(CompareResult::Greater),
        P::Less => Ok(CompareResult::Less),
        P::NotEqual => Ok(CompareResult::NotEqual),
    }
}

pub fn compare_result_to_pb(r: CompareResult) -> i32 {
    use compare::CompareResult as P;
    match r {
        CompareResult::Equal => P::Equal,
        CompareResult::Greater => P::Greater,
        CompareResult::Less => P::Less,
        CompareResult::NotEqual => P::NotEqual,
    }
    .into()
}

pub fn event_type_from_pb(v: i32) -> Result<EventType> {
    use mvccpb::event::EventType as P;
    match P::try_from(v).map_err(|_| invalid(INVALID_EVENT_TYPE))? {
        P::Put => Ok(EventType::Put),
        P::Delete => Ok(EventType::Delete),
    }
}

pub fn event_type_to_pb(t: EventType) -> i32 {
    use mvccpb::event::EventType as P;
    match t {
        EventType::Put => P::Put,
        EventType::Delete => P::Delete,
    }
    .into()
}

// ---------------------------------------------------------------------------
// KeyValue, Event
// ---------------------------------------------------------------------------

pub fn key_value_from_pb(kv: mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

pub fn key_value_to_pb(kv: KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

fn key_values_from_pb(kvs: Vec<mvccpb::KeyValue>) -> Vec<KeyValue> {
    kvs.into_iter().map(key_value_from_pb).collect()
}

fn key_values_to_pb(kvs: Vec<KeyValue>) -> Vec<mvccpb::KeyValue> {
    kvs.into_iter().map(key_value_to_pb).collect()
}

/// An absent `kv` (etcd always sets it) becomes `KeyValue::default()`.
pub fn event_from_pb(ev: mvccpb::Event) -> Result<Event> {
    Ok(Event {
        kind: event_type_from_pb(ev.r#type)?,
        kv: ev.kv.map(key_value_from_pb).unwrap_or_default(),
        prev_kv: ev.prev_kv.map(key_value_from_pb),
    })
}

pub fn event_to_pb(ev: Event) -> mvccpb::Event {
    mvccpb::Event {
        r#type: event_type_to_pb(ev.kind),
        kv: Some(key_value_to_pb(ev.kv)),
        prev_kv: ev.prev_kv.map(key_value_to_pb),
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

pub fn range_request_from_pb(r: pb::RangeRequest) -> Result<RangeRequest> {
    Ok(RangeRequest {
        sort_order: sort_order_from_pb(r.sort_order)?,
        sort_target: sort_target_from_pb(r.sort_target)?,
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

pub fn range_request_to_pb(r: RangeRequest) -> pb::RangeRequest {
    pb::RangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order: sort_order_to_pb(r.sort_order),
        sort_target: sort_target_to_pb(r.sort_target),
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    }
}

pub fn put_request_from_pb(r: pb::PutRequest) -> PutRequest {
    PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub fn put_request_to_pb(r: PutRequest) -> pb::PutRequest {
    pb::PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

pub fn delete_range_request_from_pb(r: pb::DeleteRangeRequest) -> DeleteRangeRequest {
    DeleteRangeRequest { key: r.key, range_end: r.range_end, prev_kv: r.prev_kv }
}

pub fn delete_range_request_to_pb(r: DeleteRangeRequest) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest { key: r.key, range_end: r.range_end, prev_kv: r.prev_kv }
}

/// See the module docs for how `target_union` is read.
pub fn compare_from_pb(c: pb::Compare) -> Result<Compare> {
    use compare::CompareTarget as T;
    use compare::TargetUnion as U;
    let result = compare_result_from_pb(c.result)?;
    let target = T::try_from(c.target).map_err(|_| invalid(INVALID_COMPARE_TARGET))?;
    let target = match (target, c.target_union) {
        (T::Version, Some(U::Version(v))) => CompareTarget::Version(v),
        (T::Version, _) => CompareTarget::Version(0),
        (T::Create, Some(U::CreateRevision(v))) => CompareTarget::Create(v),
        (T::Create, _) => CompareTarget::Create(0),
        (T::Mod, Some(U::ModRevision(v))) => CompareTarget::Mod(v),
        (T::Mod, _) => CompareTarget::Mod(0),
        (T::Value, Some(U::Value(v))) => CompareTarget::Value(v),
        (T::Value, _) => CompareTarget::Value(Vec::new()),
        (T::Lease, Some(U::Lease(v))) => CompareTarget::Lease(v),
        (T::Lease, _) => CompareTarget::Lease(0),
    };
    Ok(Compare { result, target, key: c.key, range_end: c.range_end })
}

/// Always sets the `target_union` member that matches `target`.
pub fn compare_to_pb(c: Compare) -> pb::Compare {
    use compare::CompareTarget as T;
    use compare::TargetUnion as U;
    let (target, operand) = match c.target {
        CompareTarget::Version(v) => (T::Version, U::Version(v)),
        CompareTarget::Create(v) => (T::Create, U::CreateRevision(v)),
        CompareTarget::Mod(v) => (T::Mod, U::ModRevision(v)),
        CompareTarget::Value(v) => (T::Value, U::Value(v)),
        CompareTarget::Lease(v) => (T::Lease, U::Lease(v)),
    };
    pb::Compare {
        result: compare_result_to_pb(c.result),
        target: target.into(),
        key: c.key,
        range_end: c.range_end,
        target_union: Some(operand),
    }
}

/// An empty op (no `request` member set) is [`Error::KeyNotFound`], as in etcd.
pub fn request_op_from_pb(op: pb::RequestOp) -> Result<RequestOp> {
    use request_op::Request as R;
    match op.request {
        Some(R::RequestRange(r)) => Ok(RequestOp::Range(range_request_from_pb(r)?)),
        Some(R::RequestPut(r)) => Ok(RequestOp::Put(put_request_from_pb(r))),
        Some(R::RequestDeleteRange(r)) => Ok(RequestOp::DeleteRange(delete_range_request_from_pb(r))),
        Some(R::RequestTxn(r)) => Ok(RequestOp::Txn(txn_request_from_pb(r)?)),
        None => Err(Error::KeyNotFound),
    }
}

pub fn request_op_to_pb(op: RequestOp) -> pb::RequestOp {
    use request_op::Request as R;
    let request = match op {
        RequestOp::Range(r) => R::RequestRange(range_request_to_pb(r)),
        RequestOp::Put(r) => R::RequestPut(put_request_to_pb(r)),
        RequestOp::DeleteRange(r) => R::RequestDeleteRange(delete_range_request_to_pb(r)),
        RequestOp::Txn(r) => R::RequestTxn(txn_request_to_pb(r)),
    };
    pb::RequestOp { request: Some(request) }
}

/// Converts the whole tree, nested txns included; the first error found wins
/// (compares first, then success ops, then failure ops, depth first).
pub fn txn_request_from_pb(r: pb::TxnRequest) -> Result<TxnRequest> {
    Ok(TxnRequest {
        compare: r.compare.into_iter().map(compare_from_pb).collect::<Result<_>>()?,
        success: r.success.into_iter().map(request_op_from_pb).collect::<Result<_>>()?,
        failure: r.failure.into_iter().map(request_op_from_pb).collect::<Result<_>>()?,
    })
}

/// etcd's `checkTxnRequest` (v3rpc/key.go) on the wire form, in its order: this
/// level's op budget, empty compare keys, then every op of success and failure (an
/// empty op is [`Error::KeyNotFound`]), nested txns with the budget left. Recursion
/// depth is bounded by the budget and by prost's decoding depth limit.
pub fn check_txn_request(r: &pb::TxnRequest, max_txn_ops: usize) -> Result<()> {
    use crate::mvcc::{check_key, check_put_fields};
    use request_op::Request as R;
    let ops = r.compare.len().max(r.success.len()).max(r.failure.len());
    if ops > max_txn_ops {
        return Err(Error::TooManyOps);
    }
    for c in &r.compare {
        check_key(&c.key)?;
    }
    for op in r.success.iter().chain(&r.failure) {
        match &op.request {
            Some(R::RequestRange(q)) => check_key(&q.key)?,
            Some(R::RequestPut(p)) => {
                check_put_fields(&p.key, &p.value, p.lease, p.ignore_value, p.ignore_lease)?
            }
            Some(R::RequestDeleteRange(d)) => check_key(&d.key)?,
            Some(R::RequestTxn(t)) => check_txn_request(t, max_txn_ops - ops)?,
            None => return Err(Error::KeyNotFound),
        }
    }
    Ok(())
}

pub fn txn_request_to_pb(r: TxnRequest) -> pb::TxnRequest {
    pb::TxnRequest {
        compare: r.compare.into_iter().map(compare_to_pb).collect(),
        success: r.success.into_iter().map(request_op_to_pb).collect(),
        failure: r.failure.into_iter().map(request_op_to_pb).collect(),
    }
}

// ---------------------------------------------------------------------------
// Responses (the `_from_pb` direction ignores headers)
// ---------------------------------------------------------------------------

pub fn range_response_to_pb(r: RangeResponse, header: pb::ResponseHeader) -> pb::RangeResponse {
    pb::RangeResponse { header: Some(header), kvs: key_values_to_pb(r.kvs), more: r.more, count: r.count }
}

pub fn range_response_from_pb(r: pb::RangeResponse) -> RangeResponse {
    RangeResponse { kvs: key_values_from_pb(r.kvs), more: r.more, count: r.count }
}

pub fn put_response_to_pb(r: PutResponse, header: pb::ResponseHeader) -> pb::PutResponse {
    pb::PutResponse { header: Some(header), prev_kv: r.prev_kv.map(key_value_to_pb) }
}

pub fn put_response_from_pb(r: pb::PutResponse) -> PutResponse {
    PutResponse { prev_kv: r.prev_kv.map(key_value_from_pb) }
}

pub fn delete_range_response_to_pb(
    r: DeleteRangeResponse,
    header: pb::ResponseHeader,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: Some(header),
        deleted: r.deleted,
        prev_kvs: key_values_to_pb(r.prev_kvs),
    }
}

pub fn delete_range_response_from_pb(r: pb::DeleteRangeResponse) -> DeleteRangeResponse {
    DeleteRangeResponse { deleted: r.deleted, prev_kvs: key_values_from_pb(r.prev_kvs) }
}

/// Where a txn's responses are numbered from: the revision it began at, and whether
/// it has changed anything yet (then etcd reports one more).
struct NestedRevision {
    begin: i64,
    changed: bool,
}

impl NestedRevision {
    fn header(&self) -> pb::ResponseHeader {
        let revision = if self.changed { self.begin.saturating_add(1) } else { self.begin };
        pb::ResponseHeader { revision, ..Default::default() }
    }
}

/// Whether any response in the tree is a change (a put, or a delete that deleted).
fn changes_anything(r: &TxnResponse) -> bool {
    r.responses.iter().any(|op| match op {
        ResponseOp::Range(_) => false,
        ResponseOp::Put(_) => true,
        ResponseOp::DeleteRange(d) => d.deleted > 0,
        ResponseOp::Txn(t) => changes_anything(t),
    })
}

/// A response inside a txn. Range/put/delete-range responses get a header with only
/// `revision` set; a nested txn response gets an empty header, its own children again
/// get `revision` (see the module docs).
fn response_op_to_pb(op: ResponseOp, at: &mut NestedRevision) -> pb::ResponseOp {
    use response_op::Response as R;
    let response = match op {
        ResponseOp::Range(r) => R::ResponseRange(range_response_to_pb(r, at.header())),
        ResponseOp::Put(r) => {
            at.changed = true;
            R::ResponsePut(put_response_to_pb(r, at.header()))
        }
        ResponseOp::DeleteRange(r) => {
            at.changed |= r.deleted > 0;
            R::ResponseDeleteRange(delete_range_response_to_pb(r, at.header()))
        }
        ResponseOp::Txn(r) => R::ResponseTxn(txn_response_with(r, pb::ResponseHeader::default(), at)),
    };
    pb::ResponseOp { response: Some(response) }
}

/// An empty op (no `response` member set) is an InvalidArgument error.
pub fn response_op_from_pb(op: pb::ResponseOp) -> Result<ResponseOp> {
    use response_op::Response as R;
    match op.response {
        Some(R::ResponseRange(r)) => Ok(ResponseOp::Range(range_response_from_pb(r))),
        Some(R::ResponsePut(r)) => Ok(ResponseOp::Put(put_response_from_pb(r))),
        Some(R::ResponseDeleteRange(r)) => Ok(ResponseOp::DeleteRange(delete_range_response_from_pb(r))),
        Some(R::ResponseTxn(r)) => Ok(ResponseOp::Txn(txn_response_from_pb(r)?)),
        None => Err(invalid(EMPTY_RESPONSE_OP)),
    }
}

/// Top-level txn response, `header.revision` being the revision after the txn; nested
/// responses get the revisions etcd reports for them (see the module docs).
pub fn txn_response_to_pb(r: TxnResponse, header: pb::ResponseHeader) -> pb::TxnResponse {
    let end = header.revision;
    let begin = if changes_anything(&r) { end.saturating_sub(1) } else { end };
    txn_response_with(r, header, &mut NestedRevision { begin, changed: false })
}

fn txn_response_with(r: TxnResponse, header: pb::ResponseHeader, at: &mut NestedRevision) -> pb::TxnResponse {
    pb::TxnResponse {
        header: Some(header),
        succeeded: r.succeeded,
        responses: r.responses.into_iter().map(|op| response_op_to_pb(op, at)).collect(),
    }
}

pub fn txn_response_from_pb(r: pb::TxnResponse) -> Result<TxnResponse> {
    Ok(TxnResponse {
        succeeded: r.succeeded,
        responses: r.responses.into_iter().map(response_op_from_pb).collect::<Result<_>>()?,
    })
}

// ---------------------------------------------------------------------------
// Short names, as called by `server/kv.rs`
// ---------------------------------------------------------------------------
//
// Requests: same as the `*_from_pb` functions (always `Result`, for a uniform call
// site). Responses: the header is left `None` for the caller to fill; nested txn
// responses are then numbered from revision 0, so prefer
// `txn_response_to_pb(r, header)`, which numbers them from the txn's as etcd does.

pub fn range_request(r: pb::RangeRequest) -> Result<RangeRequest> {
    range_request_from_pb(r)
}

pub fn put_request(r: pb::PutRequest) -> Result<PutRequest> {
    Ok(put_request_from_pb(r))
}

pub fn delete_range_request(r: pb::DeleteRangeRequest) -> Result<DeleteRangeRequest> {
    Ok(delete_range_request_from_pb(r))
}

pub fn txn_request(r: pb::TxnRequest) -> Result<TxnRequest> {
    txn_request_from_pb(r)
}

pub fn range_response(r: RangeResponse) -> pb::RangeResponse {
    pb::RangeResponse { header: None, ..range_response_to_pb(r, pb::ResponseHeader::default()) }
}

pub fn put_response(r: PutResponse) -> pb::PutResponse {
    pb::PutResponse { header: None, ..put_response_to_pb(r, pb::ResponseHeader::default()) }
}

pub fn delete_range_response(r: DeleteRangeResponse) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse { header: None, ..delete_range_response_to_pb(r, pb::ResponseHeader::default()) }
}

pub fn txn_response(r: TxnResponse) -> pb::TxnResponse {
    pb::TxnResponse { header: None, ..txn_response_to_pb(r, pb::ResponseHeader::default()) }
}

#[cfg(test)]
#[path = "convert_test.rs"]
mod tests;
