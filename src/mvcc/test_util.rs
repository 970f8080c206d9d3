//! Request builders and lease oracles shared by the mvcc unit tests.

use crate::mvcc::*;

pub fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

pub fn no_leases(_: i64) -> bool {
    false
}

pub fn any_lease(_: i64) -> bool {
    true
}

pub fn put_req(key: &str, value: &str) -> PutRequest {
    PutRequest { key: b(key), value: b(value), ..Default::default() }
}

pub fn put_lease(key: &str, value: &str, lease: i64) -> PutRequest {
    PutRequest { lease, ..put_req(key, value) }
}

pub fn get_req(key: &str) -> RangeRequest {
    RangeRequest { key: b(key), ..Default::default() }
}

pub fn range_req(key: &str, end: &str) -> RangeRequest {
    RangeRequest { key: b(key), range_end: b(end), ..Default::default() }
}

pub fn all_keys() -> RangeRequest {
    range_req("\0", "\0")
}

pub fn del_req(key: &str) -> DeleteRangeRequest {
    DeleteRangeRequest { key: b(key), ..Default::default() }
}

pub fn del_range(key: &str, end: &str) -> DeleteRangeRequest {
    DeleteRangeRequest { key: b(key), range_end: b(end), ..Default::default() }
}

pub fn kv(key: &str, value: &str, create: i64, modified: i64, version: i64) -> KeyValue {
    KeyValue {
        key: b(key),
        value: b(value),
        create_revision: create,
        mod_revision: modified,
        version,
        lease: 0,
    }
}

pub fn cmp(key: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare { result, target, key: b(key), range_end: Vec::new() }
}

pub fn cmp_range(key: &str, end: &str, result: CompareResult, target: CompareTarget) -> Compare {
    Compare { range_end: b(end), ..cmp(key, result, target) }
}

pub fn txn_req(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest { compare, success, failure }
}

/// A store holding `pairs`, each put in its own revision (2, 3, ...).
pub fn store_with(pairs: &[(&str, &str)]) -> KvStore {
    let mut s = KvStore::new();
    for (k, v) in pairs {
        s.put(&put_req(k, v), &no_leases).unwrap();
    }
    s
}

/// Keys and values visible now, in key order.
pub fn contents(s: &KvStore) -> Vec<(String, String)> {
    let kvs = s.range(&all_keys()).unwrap().kvs;
    kvs.into_iter()
        .map(|kv| {
            (String::from_utf8_lossy(&kv.key).into_owned(), String::from_utf8_lossy(&kv.value).into_owned())
        })
        .collect()
}

pub fn keys_of(resp: &RangeResponse) -> Vec<String> {
    resp.kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect()
}
