//! Tests of `server::convert`: round trips of every type in both directions, nested
//! txns, the Compare operand rules, bad enum numbers, and a few wire-format pins.

use super::*;
use prost::Message;

fn kv(key: &str, value: &str, rev: i64) -> KeyValue {
    KeyValue {
        key: key.as_bytes().to_vec(),
        create_revision: rev - 1,
        mod_revision: rev,
        version: 2,
        value: value.as_bytes().to_vec(),
        lease: 7,
    }
}

fn header(revision: i64) -> pb::ResponseHeader {
    pb::ResponseHeader { cluster_id: 11, member_id: 22, revision, raft_term: 33 }
}

fn full_range() -> RangeRequest {
    RangeRequest {
        key: b"a".to_vec(),
        range_end: b"z".to_vec(),
        limit: 10,
        revision: 5,
        sort_order: SortOrder::Descend,
        sort_target: SortTarget::Mod,
        serializable: true,
        keys_only: true,
        count_only: false,
        min_mod_revision: 1,
        max_mod_revision: 2,
        min_create_revision: 3,
        max_create_revision: 4,
    }
}

fn full_put() -> PutRequest {
    PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        lease: 9,
        prev_kv: true,
        ignore_value: false,
        ignore_lease: true,
    }
}

fn full_delete() -> DeleteRangeRequest {
    DeleteRangeRequest { key: b"d".to_vec(), range_end: vec![0], prev_kv: true }
}

fn all_compares() -> Vec<Compare> {
    vec![
        Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Version(3),
            key: b"c1".to_vec(),
            range_end: vec![],
        },
        Compare {
            result: CompareResult::Greater,
            target: CompareTarget::Create(4),
            key: b"c2".to_vec(),
            range_end: b"c3".to_vec(),
        },
        Compare {
            result: CompareResult::Less,
            target: CompareTarget::Mod(5),
            key: b"c3".to_vec(),
            range_end: vec![0],
        },
        Compare {
            result: CompareResult::NotEqual,
            target: CompareTarget::Value(b"val".to_vec()),
            key: b"c4".to_vec(),
            range_end: vec![],
        },
        Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Lease(6),
            key: b"c5".to_vec(),
            range_end: vec![],
        },
        Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Value(vec![]),
            key: b"c6".to_vec(),
            range_end: vec![],
        },
    ]
}

/// A txn three levels deep using every op kind at every level.
fn nested_txn() -> TxnRequest {
    let innermost = TxnRequest {
        compare: vec![all_compares().remove(4)],
        success: vec![RequestOp::Put(full_put())],
        failure: vec![RequestOp::Range(RangeRequest::default())],
    };
    let middle = TxnRequest {
        compare: vec![],
        success: vec![RequestOp::DeleteRange(full_delete()), RequestOp::Txn(innermost.clone())],
        failure: vec![RequestOp::Txn(TxnRequest::default())],
    };
    TxnRequest {
        compare: all_compares(),
        success: vec![
            RequestOp::Range(full_range()),
            RequestOp::Put(full_put()),
            RequestOp::DeleteRange(full_delete()),
            RequestOp::Txn(middle),
        ],
        failure: vec![RequestOp::Txn(innermost), RequestOp::Put(PutRequest::default())],
    }
}

fn nested_txn_response() -> TxnResponse {
    let inner = TxnResponse {
        succeeded: false,
        responses: vec![
            ResponseOp::Put(PutResponse { prev_kv: None }),
            ResponseOp::Txn(TxnResponse::default()),
        ],
    };
    TxnResponse {
        succeeded: true,
        responses: vec![
            ResponseOp::Range(RangeResponse {
                kvs: vec![kv("a", "1", 3), kv("b", "2", 4)],
                more: true,
                count: 5,
            }),
            ResponseOp::Put(PutResponse { prev_kv: Some(kv("k", "old", 2)) }),
            ResponseOp::DeleteRange(DeleteRangeResponse {
                deleted: 2,
                prev_kvs: vec![kv("d1", "x", 2), kv("d2", "y", 3)],
            }),
            ResponseOp::Txn(inner),
        ],
    }
}

// ---------------------------------------------------------------------------
// Round trips, core -> pb -> core
// ---------------------------------------------------------------------------

#[test]
fn key_value_round_trip() {
    let v = kv("key", "value", 9);
    assert_eq!(key_value_from_pb(key_value_to_pb(v.clone())), v);
    assert_eq!(key_value_from_pb(key_value_to_pb(KeyValue::default())), KeyValue::default());
}

#[test]
fn event_round_trip() {
    let events = [
        Event { kind: EventType::Put, kv: kv("a", "1", 5), prev_kv: Some(kv("a", "0", 4)) },
        Event {
            kind: EventType::Delete,
            kv: KeyValue { key: b"a".to_vec(), mod_revision: 6, ..Default::default() },
            prev_kv: None,
        },
    ];
    for ev in events {
        let p = event_to_pb(ev.clone());
        assert!(p.kv.is_some());
        assert_eq!(event_from_pb(p).unwrap(), ev);
    }
}

#[test]
fn event_without_kv_gets_default_kv() {
    let p = mvccpb::Event { r#type: mvccpb::event::EventType::Delete as i32, kv: None, prev_kv: None };
    let ev = event_from_pb(p).unwrap();
    assert_eq!(ev.kind, EventType::Delete);
    assert_eq!(ev.kv, KeyValue::default());
}

#[test]
fn range_request_round_trip_all_enum_values() {
    let orders = [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
    let targets =
        [SortTarget::Key, SortTarget::Version, SortTarget::Create, SortTarget::Mod, SortTarget::Value];
    for sort_order in orders {
        for sort_target in targets {
            let r = RangeRequest { sort_order, sort_target, ..full_range() };
            assert_eq!(range_request_from_pb(range_request_to_pb(r.clone())).unwrap(), r);
        }
    }
    let d = RangeRequest::default();
    assert_eq!(range_request_from_pb(range_request_to_pb(d.clone())).unwrap(), d);
}

#[test]
fn put_and_delete_request_round_trip() {
    let p = full_put();
    assert_eq!(put_request_from_pb(put_request_to_pb(p.clone())), p);
    let d = full_delete();
    assert_eq!(delete_range_request_from_pb(delete_range_request_to_pb(d.clone())), d);
}

#[test]
fn compare_round_trip_every_target_and_result() {
    for c in all_compares() {
        assert_eq!(compare_from_pb(compare_to_pb(c.clone())).unwrap(), c);
    }
}

#[test]
fn txn_request_round_trip_nested() {
    let t = nested_txn();
    assert_eq!(txn_request_from_pb(txn_request_to_pb(t.clone())).unwrap(), t);
    let e = TxnRequest::default();
    assert_eq!(txn_request_from_pb(txn_request_to_pb(e.clone())).unwrap(), e);
}

#[test]
fn txn_request_survives_the_wire() {
    let t = nested_txn();
    let bytes = txn_request_to_pb(t.clone()).encode_to_vec();
    let decoded = pb::TxnRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(txn_request_from_pb(decoded).unwrap(), t);
}

#[test]
fn responses_round_trip() {
    let r = RangeResponse { kvs: vec![kv("a", "1", 2)], more: true, count: 3 };
    let p = range_response_to_pb(r.clone(), header(8));
    assert_eq!(p.header, Some(header(8)));
    assert_eq!(range_response_from_pb(p), r);

    for prev_kv in [None, Some(kv("k", "v", 3))] {
        let r = PutResponse { prev_kv };
        let p = put_response_to_pb(r.clone(), header(9));
        assert_eq!(p.header, Some(header(9)));
        assert_eq!(put_response_from_pb(p), r);
    }

    let r = DeleteRangeResponse { deleted: 2, prev_kvs: vec![kv("a", "1", 2), kv("b", "2", 3)] };
    let p = delete_range_response_to_pb(r.clone(), header(10));
    assert_eq!(p.header, Some(header(10)));
    assert_eq!(delete_range_response_from_pb(p), r);
}

#[test]
fn txn_response_round_trip_nested() {
    let t = nested_txn_response();
    let p = txn_response_to_pb(t.clone(), header(42));
    let bytes = p.encode_to_vec();
    let decoded = pb::TxnResponse::decode(bytes.as_slice()).unwrap();
    assert_eq!(txn_response_from_pb(decoded).unwrap(), t);
    assert_eq!(txn_response_from_pb(p).unwrap(), t);
}

#[test]
fn txn_response_nested_headers_follow_etcd() {
    use response_op::Response as R;
    let p = txn_response_to_pb(nested_txn_response(), header(42));
    assert_eq!(p.header, Some(header(42)));
    let only_rev = Some(pb::ResponseHeader { revision: 42, ..Default::default() });
    let resp = |op: &pb::ResponseOp| op.response.clone().unwrap();
    match resp(&p.responses[0]) {
        // Read before the txn's first change: the revision the txn began at.
        R::ResponseRange(r) => {
            assert_eq!(r.header, Some(pb::ResponseHeader { revision: 41, ..Default::default() }))
        }
        other => panic!("unexpected {other:?}"),
    }
    match resp(&p.responses[1]) {
        R::ResponsePut(r) => assert_eq!(r.header, only_rev),
        other => panic!("unexpected {other:?}"),
    }
    match resp(&p.responses[2]) {
        R::ResponseDeleteRange(r) => assert_eq!(r.header, only_rev),
        other => panic!("unexpected {other:?}"),
    }
    match resp(&p.responses[3]) {
        R::ResponseTxn(t) => {
            // Nested txn: present but empty header; its children carry the revision.
            assert_eq!(t.header, Some(pb::ResponseHeader::default()));
            match resp(&t.responses[0]) {
                R::ResponsePut(r) => assert_eq!(r.header, only_rev),
                other => panic!("unexpected {other:?}"),
            }
            match resp(&t.responses[1]) {
                R::ResponseTxn(tt) => assert_eq!(tt.header, Some(pb::ResponseHeader::default())),
                other => panic!("unexpected {other:?}"),
            }
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The nested header revisions of a txn response, depth first (nested txns: 0).
fn nested_revisions(t: &pb::TxnResponse) -> Vec<i64> {
    use response_op::Response as R;
    let rev = |h: &Option<pb::ResponseHeader>| h.as_ref().map_or(-1, |h| h.revision);
    let mut out = Vec::new();
    for op in &t.responses {
        match op.response.as_ref().unwrap() {
            R::ResponseRange(r) => out.push(rev(&r.header)),
            R::ResponsePut(r) => out.push(rev(&r.header)),
            R::ResponseDeleteRange(r) => out.push(rev(&r.header)),
            R::ResponseTxn(t) => {
                out.push(rev(&t.header));
                out.extend(nested_revisions(t));
            }
        }
    }
    out
}

#[test]
fn txn_response_nested_revisions_step_at_the_first_change() {
    let range = || ResponseOp::Range(RangeResponse::default());
    let put = || ResponseOp::Put(PutResponse::default());
    let deleted = |n| ResponseOp::DeleteRange(DeleteRangeResponse { deleted: n, prev_kvs: vec![] });
    let txn = |responses| ResponseOp::Txn(TxnResponse { succeeded: true, responses });
    let revisions = |responses| {
        nested_revisions(&txn_response_to_pb(TxnResponse { succeeded: true, responses }, header(9)))
    };
    // A write txn ending at 9 began at 8: reads and no-op deletes before the first
    // change report 8, everything from the first change on reports 9.
    assert_eq!(revisions(vec![range(), deleted(0), put(), range(), deleted(0)]), [8, 8, 9, 9, 9]);
    assert_eq!(revisions(vec![deleted(0), range(), deleted(1), range()]), [8, 8, 9, 9]);
    // The first change may sit in a nested txn, and counts for what follows it.
    assert_eq!(revisions(vec![range(), txn(vec![range(), put()]), range()]), [8, 0, 8, 9, 9]);
    assert_eq!(revisions(vec![txn(vec![deleted(2)]), range()]), [0, 9, 9]);
    // Nothing changed: the txn began and ended at 9.
    assert_eq!(revisions(vec![range(), deleted(0), txn(vec![range()])]), [9, 9, 0, 9]);
    assert_eq!(revisions(vec![]), Vec::<i64>::new());
}

#[test]
fn check_txn_request_follows_etcds_order() {
    use request_op::Request as R;
    let op = |r| pb::RequestOp { request: Some(r) };
    let put =
        |key: &str| op(R::RequestPut(pb::PutRequest { key: key.as_bytes().to_vec(), ..Default::default() }));
    let empty = || pb::RequestOp { request: None };
    let txn = |success: Vec<pb::RequestOp>| pb::TxnRequest { compare: vec![], success, failure: vec![] };
    // Too many ops is found before an empty op, wherever it is.
    let mut ops = vec![empty()];
    ops.extend((0..4).map(|_| put("k")));
    assert_eq!(check_txn_request(&txn(ops), 4), Err(Error::TooManyOps));
    // Ops are checked in order: an earlier empty key wins over a later empty op.
    assert_eq!(check_txn_request(&txn(vec![put(""), empty()]), 4), Err(Error::KeyNotProvided));
    assert_eq!(check_txn_request(&txn(vec![empty(), put("")]), 4), Err(Error::KeyNotFound));
    // Empty compare keys come before every op; the failure branch is checked too.
    let t = pb::TxnRequest { compare: vec![pb::Compare::default()], success: vec![empty()], failure: vec![] };
    assert_eq!(check_txn_request(&t, 4), Err(Error::KeyNotProvided));
    let t = pb::TxnRequest { compare: vec![], success: vec![put("a")], failure: vec![empty()] };
    assert_eq!(check_txn_request(&t, 4), Err(Error::KeyNotFound));
    // A nested txn gets the budget its parent left: 4 - 2.
    let nested = |n: usize| op(R::RequestTxn(txn((0..n).map(|_| put("n")).collect())));
    assert_eq!(check_txn_request(&txn(vec![put("a"), nested(2)]), 4), Ok(()));
    assert_eq!(check_txn_request(&txn(vec![put("a"), nested(3)]), 4), Err(Error::TooManyOps));
    // The put rules of etcd's checkPutRequest.
    let bad_put = op(R::RequestPut(pb::PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ignore_value: true,
        ..Default::default()
    }));
    let e = check_txn_request(&txn(vec![bad_put]), 4).unwrap_err();
    assert_eq!(e.message(), "etcdserver: value is provided");
    // Duplicate keys are not its business (checkIntervals, after conversion).
    assert_eq!(check_txn_request(&txn(vec![put("k"), put("k")]), 4), Ok(()));
}

// ---------------------------------------------------------------------------
// pb -> core -> pb for canonical messages
// ---------------------------------------------------------------------------

#[test]
fn pb_request_round_trip() {
    let p = pb::TxnRequest {
        compare: vec![pb::Compare {
            result: compare::CompareResult::NotEqual as i32,
            target: compare::CompareTarget::Mod as i32,
            key: b"k".to_vec(),
            range_end: b"l".to_vec(),
            target_union: Some(compare::TargetUnion::ModRevision(12)),
        }],
        success: vec![
            pb::RequestOp {
                request: Some(request_op::Request::RequestRange(pb::RangeRequest {
                    key: b"a".to_vec(),
                    sort_order: range_request::SortOrder::Ascend as i32,
                    sort_target: range_request::SortTarget::Value as i32,
                    ..Default::default()
                })),
            },
            pb::RequestOp {
                request: Some(request_op::Request::RequestTxn(pb::TxnRequest {
                    compare: vec![],
                    success: vec![pb::RequestOp {
                        request: Some(request_op::Request::RequestPut(pb::PutRequest {
                            key: b"p".to_vec(),
                            value: b"q".to_vec(),
                            ..Default::default()
                        })),
                    }],
                    failure: vec![],
                })),
            },
        ],
        failure: vec![pb::RequestOp {
            request: Some(request_op::Request::RequestDeleteRange(pb::DeleteRangeRequest {
                key: b"x".to_vec(),
                range_end: vec![],
                prev_kv: false,
            })),
        }],
    };
    assert_eq!(txn_request_to_pb(txn_request_from_pb(p.clone()).unwrap()), p);
}

#[test]
fn requests_move_their_bytes() {
    let key = b"some key".to_vec();
    let value = vec![7u8; 1024];
    let (kp, vp) = (key.as_ptr(), value.as_ptr());
    let put = put_request_from_pb(pb::PutRequest { key, value, ..Default::default() });
    assert_eq!(put.key.as_ptr(), kp);
    assert_eq!(put.value.as_ptr(), vp);

    let txn = txn_request_from_pb(txn_request_to_pb(TxnRequest {
        compare: vec![],
        success: vec![RequestOp::Put(put)],
        failure: vec![],
    }))
    .unwrap();
    match &txn.success[0] {
        RequestOp::Put(p) => {
            assert_eq!(p.key.as_ptr(), kp);
            assert_eq!(p.value.as_ptr(), vp);
        }
        other => panic!("unexpected {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Compare operand rules
// ---------------------------------------------------------------------------

fn pb_compare(target: compare::CompareTarget, union: Option<compare::TargetUnion>) -> pb::Compare {
    pb::Compare {
        result: compare::CompareResult::Equal as i32,
        target: target as i32,
        key: b"k".to_vec(),
        range_end: vec![],
        target_union: union,
    }
}

#[test]
fn compare_unset_union_is_zero_value_of_target() {
    use compare::CompareTarget as T;
    let cases = [
        (T::Version, CompareTarget::Version(0)),
        (T::Create, CompareTarget::Create(0)),
        (T::Mod, CompareTarget::Mod(0)),
        (T::Value, CompareTarget::Value(vec![])),
        (T::Lease, CompareTarget::Lease(0)),
    ];
    for (t, want) in cases {
        assert_eq!(compare_from_pb(pb_compare(t, None)).unwrap().target, want);
    }
}

#[test]
fn compare_mismatched_union_is_zero_value_of_target() {
    use compare::CompareTarget as T;
    use compare::TargetUnion as U;
    let cases = [
        (T::Version, U::ModRevision(5), CompareTarget::Version(0)),
        (T::Create, U::Version(5), CompareTarget::Create(0)),
        (T::Mod, U::Lease(5), CompareTarget::Mod(0)),
        (T::Value, U::CreateRevision(5), CompareTarget::Value(vec![])),
        (T::Lease, U::Value(b"x".to_vec()), CompareTarget::Lease(0)),
    ];
    for (t, u, want) in cases {
        assert_eq!(compare_from_pb(pb_compare(t, Some(u))).unwrap().target, want);
    }
}

#[test]
fn compare_matching_union_is_used() {
    use compare::CompareTarget as T;
    use compare::TargetUnion as U;
    let cases = [
        (T::Version, U::Version(5), CompareTarget::Version(5)),
        (T::Create, U::CreateRevision(6), CompareTarget::Create(6)),
        (T::Mod, U::ModRevision(7), CompareTarget::Mod(7)),
        (T::Value, U::Value(b"x".to_vec()), CompareTarget::Value(b"x".to_vec())),
        (T::Lease, U::Lease(8), CompareTarget::Lease(8)),
    ];
    for (t, u, want) in cases {
        assert_eq!(compare_from_pb(pb_compare(t, Some(u))).unwrap().target, want);
    }
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

fn invalid_arg(msg: &str) -> Error {
    Error::InvalidArgument(msg.to_owned())
}

#[test]
fn bad_sort_enums() {
    for bad in [3, -1, i32::MAX, i32::MIN] {
        let r = pb::RangeRequest { key: b"a".to_vec(), sort_order: bad, ..Default::default() };
        assert_eq!(range_request_from_pb(r), Err(invalid_arg(INVALID_SORT_OPTION)));
    }
    for bad in [5, -1, 100] {
        let r = pb::RangeRequest { key: b"a".to_vec(), sort_target: bad, ..Default::default() };
        assert_eq!(range_request_from_pb(r), Err(invalid_arg(INVALID_SORT_OPTION)));
    }
    let e = range_request_from_pb(pb::RangeRequest { sort_order: 9, ..Default::default() }).unwrap_err();
    assert_eq!(e.code(), crate::error::Code::InvalidArgument);
    assert_eq!(e.message(), "etcdserver: invalid sort option");
}

#[test]
fn bad_compare_enums() {
    let mut c = pb_compare(compare::CompareTarget::Version, None);
    c.result = 4;
    assert_eq!(compare_from_pb(c), Err(invalid_arg(INVALID_COMPARE_RESULT)));
    let mut c = pb_compare(compare::CompareTarget::Version, None);
    c.target = 5;
    assert_eq!(compare_from_pb(c), Err(invalid_arg(INVALID_COMPARE_TARGET)));
    let mut c = pb_compare(compare::CompareTarget::Version, None);
    c.target = -3;
    assert_eq!(compare_from_pb(c), Err(invalid_arg(INVALID_COMPARE_TARGET)));
}

#[test]
fn bad_event_type() {
    let p = mvccpb::Event { r#type: 2, kv: Some(key_value_to_pb(kv("a", "b", 2))), prev_kv: None };
    assert_eq!(event_from_pb(p), Err(invalid_arg(INVALID_EVENT_TYPE)));
}

#[test]
fn bad_enum_deep_inside_txn_is_reported() {
    let mut bad_range = range_request_to_pb(full_range());
    bad_range.sort_target = 42;
    let deep = pb::TxnRequest {
        compare: vec![],
        success: vec![],
        failure: vec![pb::RequestOp {
            request: Some(request_op::Request::RequestTxn(pb::TxnRequest {
                compare: vec![],
                success: vec![pb::RequestOp { request: Some(request_op::Request::RequestRange(bad_range)) }],
                failure: vec![],
            })),
        }],
    };
    let mut t = txn_request_to_pb(nested_txn());
    t.failure.push(pb::RequestOp { request: Some(request_op::Request::RequestTxn(deep)) });
    assert_eq!(txn_request_from_pb(t), Err(invalid_arg(INVALID_SORT_OPTION)));

    let mut t = txn_request_to_pb(nested_txn());
    let mut c = compare_to_pb(all_compares().remove(0));
    c.result = 77;
    t.compare.push(c);
    assert_eq!(txn_request_from_pb(t), Err(invalid_arg(INVALID_COMPARE_RESULT)));
}

#[test]
fn empty_request_op_is_key_not_found() {
    assert_eq!(request_op_from_pb(pb::RequestOp { request: None }), Err(Error::KeyNotFound));
    let t = pb::TxnRequest {
        compare: vec![],
        success: vec![pb::RequestOp {
            request: Some(request_op::Request::RequestTxn(pb::TxnRequest {
                compare: vec![],
                success: vec![],
                failure: vec![pb::RequestOp { request: None }],
            })),
        }],
        failure: vec![],
    };
    let e = txn_request_from_pb(t).unwrap_err();
    assert_eq!(e, Error::KeyNotFound);
    assert_eq!(e.message(), "etcdserver: key not found");
    assert_eq!(e.code(), crate::error::Code::InvalidArgument);
}

#[test]
fn empty_response_op_is_invalid() {
    assert_eq!(response_op_from_pb(pb::ResponseOp { response: None }), Err(invalid_arg(EMPTY_RESPONSE_OP)));
    let t =
        pb::TxnResponse { header: None, succeeded: true, responses: vec![pb::ResponseOp { response: None }] };
    assert_eq!(txn_response_from_pb(t), Err(invalid_arg(EMPTY_RESPONSE_OP)));
}

// ---------------------------------------------------------------------------
// Wire-format pins (field numbers as etcd)
// ---------------------------------------------------------------------------

#[test]
fn wire_put_request() {
    let p = put_request_to_pb(PutRequest {
        key: b"a".to_vec(),
        value: b"b".to_vec(),
        lease: 1,
        prev_kv: true,
        ignore_value: true,
        ignore_lease: true,
    });
    assert_eq!(p.encode_to_vec(), [0x0a, 1, b'a', 0x12, 1, b'b', 0x18, 1, 0x20, 1, 0x28, 1, 0x30, 1]);
}

#[test]
fn wire_compare_uses_tag_64_for_range_end() {
    let p = compare_to_pb(Compare {
        result: CompareResult::NotEqual,
        target: CompareTarget::Lease(2),
        key: b"k".to_vec(),
        range_end: b"z".to_vec(),
    });
    // In tag order: result=3 (1), target=4 (2), key (3), lease (8), range_end (64).
    assert_eq!(p.encode_to_vec(), [0x08, 3, 0x10, 4, 0x1a, 1, b'k', 0x40, 2, 0x82, 0x04, 1, b'z']);
}

#[test]
fn wire_event_and_key_value() {
    let p = event_to_pb(Event {
        kind: EventType::Delete,
        kv: KeyValue {
            key: b"k".to_vec(),
            create_revision: 1,
            mod_revision: 2,
            version: 3,
            value: b"v".to_vec(),
            lease: 4,
        },
        prev_kv: None,
    });
    let kv_bytes = [0x0a, 1, b'k', 0x10, 1, 0x18, 2, 0x20, 3, 0x2a, 1, b'v', 0x30, 4];
    let mut want = vec![0x08, 1, 0x12, kv_bytes.len() as u8];
    want.extend_from_slice(&kv_bytes);
    assert_eq!(p.encode_to_vec(), want);
}

#[test]
fn wire_txn_response_nested_ops() {
    let p = txn_response_to_pb(
        TxnResponse { succeeded: true, responses: vec![ResponseOp::Put(PutResponse { prev_kv: None })] },
        pb::ResponseHeader { revision: 5, ..Default::default() },
    );
    // header{revision=5} (tag 1), succeeded (tag 2), responses (tag 3) holding
    // response_put (tag 2) holding header{revision=5} (tag 1).
    assert_eq!(p.encode_to_vec(), [0x0a, 2, 0x18, 5, 0x10, 1, 0x1a, 6, 0x12, 4, 0x0a, 2, 0x18, 5]);
}

// ---------------------------------------------------------------------------
// Property: arbitrary nested txns round-trip through protobuf bytes
// ---------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..8)
    }

    fn key_value() -> impl Strategy<Value = KeyValue> {
        (bytes(), any::<i64>(), any::<i64>(), any::<i64>(), bytes(), any::<i64>()).prop_map(
            |(key, create_revision, mod_revision, version, value, lease)| KeyValue {
                key,
                create_revision,
                mod_revision,
                version,
                value,
                lease,
            },
        )
    }

    fn range() -> impl Strategy<Value = RangeRequest> {
        (
            (bytes(), bytes(), any::<i64>(), any::<i64>(), 0..3usize, 0..5usize),
            (any::<[bool; 3]>(), any::<[i64; 4]>()),
        )
            .prop_map(|((key, range_end, limit, revision, o, t), (b, m))| RangeRequest {
                key,
                range_end,
                limit,
                revision,
                sort_order: [SortOrder::None, SortOrder::Ascend, SortOrder::Descend][o],
                sort_target: [
                    SortTarget::Key,
                    SortTarget::Version,
                    SortTarget::Create,
                    SortTarget::Mod,
                    SortTarget::Value,
                ][t],
                serializable: b[0],
                keys_only: b[1],
                count_only: b[2],
                min_mod_revision: m[0],
                max_mod_revision: m[1],
                min_create_revision: m[2],
                max_create_revision: m[3],
            })
    }

    fn put() -> impl Strategy<Value = PutRequest> {
        (bytes(), bytes(), any::<i64>(), any::<[bool; 3]>()).prop_map(|(key, value, lease, b)| PutRequest {
            key,
            value,
            lease,
            prev_kv: b[0],
            ignore_value: b[1],
            ignore_lease: b[2],
        })
    }

    fn delete() -> impl Strategy<Value = DeleteRangeRequest> {
        (bytes(), bytes(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
            key,
            range_end,
            prev_kv,
        })
    }

    fn compare_strategy() -> impl Strategy<Value = Compare> {
        let target = prop_oneof![
            any::<i64>().prop_map(CompareTarget::Version),
            any::<i64>().prop_map(CompareTarget::Create),
            any::<i64>().prop_map(CompareTarget::Mod),
            bytes().prop_map(CompareTarget::Value),
            any::<i64>().prop_map(CompareTarget::Lease),
        ];
        (0..4usize, target, bytes(), bytes()).prop_map(|(r, target, key, range_end)| Compare {
            result: [
                CompareResult::Equal,
                CompareResult::Greater,
                CompareResult::Less,
                CompareResult::NotEqual,
            ][r],
            target,
            key,
            range_end,
        })
    }

    fn txn() -> impl Strategy<Value = TxnRequest> {
        let leaf = prop_oneof![
            range().prop_map(RequestOp::Range),
            put().prop_map(RequestOp::Put),
            delete().prop_map(RequestOp::DeleteRange),
        ];
        let ops = leaf.prop_recursive(4, 32, 4, |inner| {
            (
                prop::collection::vec(compare_strategy(), 0..3),
                prop::collection::vec(inner.clone(), 0..4),
                prop::collection::vec(inner, 0..4),
            )
                .prop_map(|(compare, success, failure)| {
                    RequestOp::Txn(TxnRequest { compare, success, failure })
                })
        });
        (
            prop::collection::vec(compare_strategy(), 0..4),
            prop::collection::vec(ops.clone(), 0..4),
            prop::collection::vec(ops, 0..4),
        )
            .prop_map(|(compare, success, failure)| TxnRequest { compare, success, failure })
    }

    fn txn_response() -> impl Strategy<Value = TxnResponse> {
        let leaf = prop_oneof![
            (prop::collection::vec(key_value(), 0..3), any::<bool>(), any::<i64>())
                .prop_map(|(kvs, more, count)| ResponseOp::Range(RangeResponse { kvs, more, count })),
            prop::option::of(key_value()).prop_map(|prev_kv| ResponseOp::Put(PutResponse { prev_kv })),
            (any::<i64>(), prop::collection::vec(key_value(), 0..3)).prop_map(|(deleted, prev_kvs)| {
                ResponseOp::DeleteRange(DeleteRangeResponse { deleted, prev_kvs })
            }),
        ];
        let ops = leaf.prop_recursive(4, 32, 4, |inner| {
            (any::<bool>(), prop::collection::vec(inner, 0..4))
                .prop_map(|(succeeded, responses)| ResponseOp::Txn(TxnResponse { succeeded, responses }))
        });
        (any::<bool>(), prop::collection::vec(ops, 0..4))
            .prop_map(|(succeeded, responses)| TxnResponse { succeeded, responses })
    }

    proptest! {
        #[test]
        fn txn_request_wire_round_trip(t in txn()) {
            let bytes = txn_request_to_pb(t.clone()).encode_to_vec();
            let back = txn_request_from_pb(pb::TxnRequest::decode(bytes.as_slice()).unwrap()).unwrap();
            prop_assert_eq!(back, t);
        }

        #[test]
        fn txn_response_wire_round_trip(t in txn_response(), rev in any::<i64>()) {
            let bytes = txn_response_to_pb(t.clone(), header(rev)).encode_to_vec();
            let back = txn_response_from_pb(pb::TxnResponse::decode(bytes.as_slice()).unwrap()).unwrap();
            prop_assert_eq!(back, t);
        }

        #[test]
        fn event_wire_round_trip(
            kind in prop_oneof![Just(EventType::Put), Just(EventType::Delete)],
            kv in key_value(),
            prev_kv in prop::option::of(key_value()),
        ) {
            let ev = Event { kind, kv, prev_kv };
            let bytes = event_to_pb(ev.clone()).encode_to_vec();
            let back = event_from_pb(mvccpb::Event::decode(bytes.as_slice()).unwrap()).unwrap();
            prop_assert_eq!(back, ev);
        }

        #[test]
        fn arbitrary_enum_numbers_never_panic(
            order in any::<i32>(), target in any::<i32>(), result in any::<i32>(), ctarget in any::<i32>(),
        ) {
            let r = pb::RangeRequest { sort_order: order, sort_target: target, ..Default::default() };
            let ok = (0..3).contains(&order) && (0..5).contains(&target);
            prop_assert_eq!(range_request_from_pb(r).is_ok(), ok);
            let c = pb::Compare { result, target: ctarget, ..Default::default() };
            let ok = (0..4).contains(&result) && (0..5).contains(&ctarget);
            prop_assert_eq!(compare_from_pb(c).is_ok(), ok);
        }
    }
}

#[test]
fn short_names_match_the_long_ones() {
    assert_eq!(range_request(range_request_to_pb(full_range())).unwrap(), full_range());
    assert_eq!(put_request(put_request_to_pb(full_put())).unwrap(), full_put());
    assert_eq!(delete_range_request(delete_range_request_to_pb(full_delete())).unwrap(), full_delete());
    assert_eq!(txn_request(txn_request_to_pb(nested_txn())).unwrap(), nested_txn());
    assert_eq!(
        range_request(pb::RangeRequest { sort_order: 5, ..Default::default() }),
        Err(invalid_arg(INVALID_SORT_OPTION))
    );

    let r = RangeResponse { kvs: vec![kv("a", "1", 2)], more: false, count: 1 };
    let p = range_response(r.clone());
    assert_eq!(p.header, None);
    assert_eq!(range_response_from_pb(p), r);
    let r = PutResponse { prev_kv: Some(kv("a", "1", 2)) };
    let p = put_response(r.clone());
    assert_eq!(p.header, None);
    assert_eq!(put_response_from_pb(p), r);
    let r = DeleteRangeResponse { deleted: 1, prev_kvs: vec![kv("a", "1", 2)] };
    let p = delete_range_response(r.clone());
    assert_eq!(p.header, None);
    assert_eq!(delete_range_response_from_pb(p), r);
    let t = nested_txn_response();
    let p = txn_response(t.clone());
    assert_eq!(p.header, None);
    assert_eq!(txn_response_from_pb(p).unwrap(), t);
}
