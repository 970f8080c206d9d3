//! Requests the MVCC and apply benches both build (included with `mod common;`).

use metastore::mvcc::{
    Compare, CompareResult, CompareTarget, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// Value bytes of every benched put.
pub const VALUE_BYTES: usize = 128;

pub fn put_req(key: Vec<u8>) -> PutRequest {
    PutRequest { key, value: vec![b'v'; VALUE_BYTES], ..Default::default() }
}

/// Kubernetes' GuaranteedUpdate: `If(ModRevision(k) == r).Then(Put(k)).Else(Get(k))`.
pub fn cas_txn(key: Vec<u8>, mod_revision: i64) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Mod(mod_revision),
            key: key.clone(),
            range_end: Vec::new(),
        }],
        success: vec![RequestOp::Put(put_req(key.clone()))],
        failure: vec![RequestOp::Range(RangeRequest { key, ..Default::default() })],
    }
}
