use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::{
    DeleteRangeRequest, DeleteRangeResponse, EventType, KeyValue, PutRequest, PutResponse, RangeRequest,
    RangeResponse,
};
use CompareResult::{Equal, Greater, Less, NotEqual};

fn put(key: &str, value: &str) -> RequestOp {
    RequestOp::Put(put_req(key, value))
}

fn get(key: &str) -> RequestOp {
    RequestOp::Range(get_req(key))
}

fn del(key: &str) -> RequestOp {
    RequestOp::DeleteRange(del_req(key))
}

fn run(s: &mut KvStore, req: TxnRequest) -> Result<(TxnResponse, Vec<Event>)> {
    s.txn(&req, 128, &no_leases)
}

/// Whether `compare` holds on a store with a="1" (lease 5) at 2, b="2" at 3.
fn holds(compare: Compare) -> bool {
    let mut s = KvStore::new();
    s.put(&put_lease("a", "1", 5), &any_lease).unwrap();
    s.put(&put_req("b", "2"), &no_leases).unwrap();
    let (resp, _) = run(&mut s, txn_req(vec![compare], vec![], vec![])).unwrap();
    resp.succeeded
}

#[test]
fn compare_each_target_on_a_live_key() {
    assert!(holds(cmp("a", Equal, CompareTarget::Value(b("1")))));
    assert!(holds(cmp("a", Less, CompareTarget::Value(b("10")))));
    assert!(holds(cmp("a", Greater, CompareTarget::Value(b("")))));
    assert!(!holds(cmp("a", NotEqual, CompareTarget::Value(b("1")))));
    assert!(holds(cmp("a", Equal, CompareTarget::Version(1))));
    assert!(holds(cmp("a", Greater, CompareTarget::Version(0))));
    assert!(holds(cmp("b", Equal, CompareTarget::Create(3))));
    assert!(holds(cmp("b", Less, CompareTarget::Mod(4))));
    assert!(!holds(cmp("b", Greater, CompareTarget::Mod(3))));
    assert!(holds(cmp("a", Equal, CompareTarget::Lease(5))));
    assert!(holds(cmp("b", NotEqual, CompareTarget::Lease(5))));
}

#[test]
fn compare_on_a_missing_key() {
    // A value compare always fails; the others compare against 0.
    assert!(!holds(cmp("zz", Equal, CompareTarget::Value(b("")))));
    assert!(!holds(cmp("zz", NotEqual, CompareTarget::Value(b("x")))));
    assert!(holds(cmp("zz", Equal, CompareTarget::Version(0))));
    assert!(holds(cmp("zz", Equal, CompareTarget::Create(0))));
    assert!(holds(cmp("zz", Less, CompareTarget::Mod(1))));
    assert!(holds(cmp("zz", Equal, CompareTarget::Lease(0))));
    assert!(!holds(cmp("zz", Greater, CompareTarget::Version(0))));
}

#[test]
fn compare_over_a_range_needs_every_key() {
    assert!(holds(cmp_range("a", "c", Greater, CompareTarget::Version(0))));
    assert!(!holds(cmp_range("a", "c", Equal, CompareTarget::Lease(5))));
    assert!(holds(cmp_range("a", "\0", Less, CompareTarget::Mod(4))));
    assert!(!holds(cmp_range("a", "\0", Less, CompareTarget::Mod(3))));
    // An empty range behaves like a missing key.
    assert!(holds(cmp_range("x", "z", Equal, CompareTarget::Version(0))));
    assert!(!holds(cmp_range("x", "z", NotEqual, CompareTarget::Value(b("v")))));
    // All compares must hold.
    let mut s = store_with(&[("a", "1")]);
    let both = vec![cmp("a", Equal, CompareTarget::Version(1)), cmp("a", Equal, CompareTarget::Version(2))];
    assert!(!run(&mut s, txn_req(both, vec![], vec![])).unwrap().0.succeeded);
}

#[test]
fn branch_choice_responses_and_one_revision() {
    let mut s = store_with(&[("a", "1")]);
    let req = txn_req(
        vec![cmp("a", Equal, CompareTarget::Value(b("1")))],
        vec![put("b", "2"), put("c", "3"), del("a"), get("b")],
        vec![put("x", "x")],
    );
    let (resp, events) = run(&mut s, req).unwrap();
    assert_eq!(s.current_revision(), 3);
    assert!(resp.succeeded);
    assert_eq!(
        resp.responses,
        vec![
            ResponseOp::Put(PutResponse::default()),
            ResponseOp::Put(PutResponse::default()),
            ResponseOp::DeleteRange(DeleteRangeResponse { deleted: 1, prev_kvs: vec![] }),
            ResponseOp::Range(RangeResponse { kvs: vec![kv("b", "2", 3, 3, 1)], more: false, count: 1 }),
        ]
    );
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.kv.key.clone(), e.kv.mod_revision)).collect();
    assert_eq!(
        kinds,
        vec![(EventType::Put, b("b"), 3), (EventType::Put, b("c"), 3), (EventType::Delete, b("a"), 3)]
    );
    assert_eq!(s.key_index(b"c").unwrap().to_string(), "{3.1}");
    assert_eq!(s.key_index(b"a").unwrap().to_string(), "{2.0 3.2(t)} {}");

    let req = txn_req(vec![cmp("a", Equal, CompareTarget::Value(b("1")))], vec![], vec![put("x", "x")]);
    let (resp, events) = run(&mut s, req).unwrap();
    assert!(!resp.succeeded);
    assert_eq!(resp.responses, vec![ResponseOp::Put(PutResponse::default())]);
    assert_eq!((events.len(), s.current_revision()), (1, 4));
}

#[test]
fn read_only_and_no_op_txns_do_not_bump() {
    let mut s = store_with(&[("a", "1")]);
    let before = s.clone();
    let (resp, events) = run(&mut s, txn_req(vec![], vec![get("a"), get("b")], vec![])).unwrap();
    assert_eq!(resp.responses.len(), 2);
    assert_eq!((events, &s), (vec![], &before));
    let (resp, events) = run(&mut s, txn_req(vec![], vec![del("zz")], vec![])).unwrap();
    assert_eq!(resp.responses, vec![ResponseOp::DeleteRange(DeleteRangeResponse::default())]);
    assert_eq!((events, &s), (vec![], &before));
    let (resp, _) = run(&mut s, TxnRequest::default()).unwrap();
    assert_eq!(resp, TxnResponse { succeeded: true, responses: vec![] });
    assert_eq!(s, before);
}

#[test]
fn reads_inside_a_txn_see_its_own_writes() {
    let mut s = store_with(&[("a", "1"), ("b", "1")]);
    let at_current = RequestOp::Range(RangeRequest { revision: 3, ..all_keys() });
    let req =
        txn_req(vec![], vec![put("c", "new"), del("a"), RequestOp::Range(all_keys()), at_current], vec![]);
    let (resp, _) = run(&mut s, req).unwrap();
    let ResponseOp::Range(now) = &resp.responses[2] else { panic!("{resp:?}") };
    assert_eq!(now.kvs, vec![kv("b", "1", 3, 3, 1), kv("c", "new", 4, 4, 1)]);
    let ResponseOp::Range(before) = &resp.responses[3] else { panic!("{resp:?}") };
    assert_eq!(keys_of(before), ["a", "b"], "an explicit revision reads the pre-txn state");
}

#[test]
fn prev_kv_inside_a_txn_sees_earlier_changes() {
    // put then delete of the same key is allowed through the "\0" delete quirk.
    let mut s = store_with(&[("a", "1")]);
    let del_all = DeleteRangeRequest { prev_kv: true, ..del_range("a", "\0") };
    let req = txn_req(vec![], vec![put("b", "2"), RequestOp::DeleteRange(del_all)], vec![]);
    let (resp, events) = run(&mut s, req).unwrap();
    let ResponseOp::DeleteRange(d) = &resp.responses[1] else { panic!("{resp:?}") };
    assert_eq!(d.prev_kvs, vec![kv("a", "1", 2, 2, 1), kv("b", "2", 3, 3, 1)]);
    assert_eq!(events.len(), 3);
    assert_eq!(s.key_index(b"b").unwrap().to_string(), "{3.0 3.2(t)} {}");
    assert!(contents(&s).is_empty());
    assert_eq!(s.current_revision(), 3);
}

#[test]
fn nested_txn_compares_see_the_pre_txn_store() {
    let mut s = KvStore::new();
    let inner = txn_req(
        vec![cmp("a", Greater, CompareTarget::Version(0))],
        vec![put("x", "seen")],
        vec![put("y", "unseen")],
    );
    let req = txn_req(vec![], vec![put("a", "1"), RequestOp::Txn(inner)], vec![]);
    let (resp, _) = run(&mut s, req).unwrap();
    let ResponseOp::Txn(inner_resp) = &resp.responses[1] else { panic!("{resp:?}") };
    assert!(!inner_resp.succeeded);
    assert_eq!(keys_of(&s.range(&all_keys()).unwrap()), ["a", "y"]);
    assert_eq!(s.key_index(b"y").unwrap().to_string(), "{2.1}");
}

#[test]
fn nested_txn_events_keep_change_order() {
    let mut s = KvStore::new();
    let inner = txn_req(vec![], vec![put("b", "1"), put("c", "1")], vec![]);
    let req = txn_req(vec![], vec![put("a", "1"), RequestOp::Txn(inner), put("d", "1")], vec![]);
    let (_, events) = run(&mut s, req).unwrap();
    let keys: Vec<_> = events.iter().map(|e| e.kv.key.clone()).collect();
    assert_eq!(keys, vec![b("a"), b("b"), b("c"), b("d")]);
    assert_eq!(s.key_index(b"d").unwrap().to_string(), "{2.3}");
}

fn assert_fails_untouched(s: &mut KvStore, req: TxnRequest, lease_ok: &dyn Fn(i64) -> bool, want: Error) {
    let before = s.clone();
    assert_eq!(s.txn(&req, 128, lease_ok).unwrap_err(), want, "{req:?}");
    assert_eq!(*s, before);
}

#[test]
fn failing_checks_change_nothing() {
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    s.compact(2).unwrap();
    let lease_put = RequestOp::Put(put_lease("c", "v", 9));
    let ignore_missing = RequestOp::Put(PutRequest { ignore_value: true, ..put_req("zz", "") });
    let future = RequestOp::Range(RangeRequest { revision: 4, ..get_req("a") });
    let old = RequestOp::Range(RangeRequest { revision: 1, ..get_req("a") });
    let nest = |op: RequestOp| RequestOp::Txn(txn_req(vec![], vec![put("n", "1"), op], vec![]));
    assert_fails_untouched(
        &mut s,
        txn_req(vec![], vec![put("x", "1"), lease_put.clone()], vec![]),
        &no_leases,
        Error::LeaseNotFound,
    );
    assert_fails_untouched(
        &mut s,
        txn_req(vec![], vec![put("x", "1"), nest(ignore_missing.clone())], vec![]),
        &no_leases,
        Error::KeyNotFound,
    );
    assert_fails_untouched(
        &mut s,
        txn_req(vec![], vec![del("a"), nest(future.clone())], vec![]),
        &no_leases,
        Error::FutureRev,
    );
    let fails = vec![cmp("a", Equal, CompareTarget::Version(99))];
    assert_fails_untouched(
        &mut s,
        txn_req(fails, vec![], vec![del("a"), old.clone()]),
        &no_leases,
        Error::Compacted,
    );
    // Puts are checked before ranges, whatever their order.
    assert_fails_untouched(
        &mut s,
        txn_req(vec![], vec![future, lease_put.clone()], vec![]),
        &no_leases,
        Error::LeaseNotFound,
    );
    // ignore_* before the lease of the same put.
    let both = RequestOp::Put(PutRequest { ignore_value: true, lease: 9, ..put_req("zz", "") });
    assert_fails_untouched(&mut s, txn_req(vec![], vec![both], vec![]), &no_leases, Error::KeyNotFound);
    // Ops of the branch not taken are not checked against the store.
    let (resp, _) = s
        .txn(&txn_req(vec![], vec![put("x", "1")], vec![lease_put, ignore_missing, old]), 128, &no_leases)
        .unwrap();
    assert!(resp.succeeded);
}

#[test]
fn ranges_at_negative_revisions_inside_a_txn() {
    // etcd's txn check compares the raw revision with the compact revision (-1 when
    // never compacted), while the range itself reads negative revisions as current.
    let mut s = store_with(&[("a", "1")]);
    let at = |rev: i64| {
        txn_req(vec![], vec![RequestOp::Range(RangeRequest { revision: rev, ..get_req("a") })], vec![])
    };
    let (resp, _) = run(&mut s, at(-1)).unwrap();
    assert_eq!(
        resp.responses,
        vec![ResponseOp::Range(RangeResponse { kvs: vec![kv("a", "1", 2, 2, 1)], more: false, count: 1 })]
    );
    assert_eq!(run(&mut s, at(-2)).unwrap_err(), Error::Compacted);
    s.compact(2).unwrap();
    assert_eq!(run(&mut s, at(-1)).unwrap_err(), Error::Compacted);
    assert!(run(&mut s, at(2)).is_ok());
    assert!(run(&mut s, at(0)).is_ok());
}

#[test]
fn request_errors_come_first() {
    let mut s = store_with(&[("a", "1")]);
    assert_fails_untouched(
        &mut s,
        txn_req(vec![], vec![put("b", "1"), put("b", "2")], vec![]),
        &no_leases,
        Error::DuplicateKey,
    );
    let many = (0..3).map(|i| put(&format!("k{i}"), "v")).collect();
    let before = s.clone();
    assert_eq!(s.txn(&txn_req(vec![], many, vec![]), 2, &no_leases).unwrap_err(), Error::TooManyOps);
    assert_eq!(s, before);
    let empty = vec![cmp("", Equal, CompareTarget::Version(0))];
    assert_fails_untouched(&mut s, txn_req(empty, vec![], vec![]), &no_leases, Error::KeyNotProvided);
}

#[test]
fn ignore_value_after_a_delete_to_the_end_rolls_back() {
    // etcd lets this through checkIntervals and then panics applying it.
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    let ignore = RequestOp::Put(PutRequest { ignore_value: true, ..put_req("b", "") });
    let req =
        txn_req(vec![], vec![put("0", "new"), RequestOp::DeleteRange(del_range("a", "\0")), ignore], vec![]);
    assert_fails_untouched(&mut s, req, &no_leases, Error::KeyNotFound);
    assert_eq!(s.key_count(), 2);
}

#[test]
fn delete_to_the_end_then_put_in_one_txn() {
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    let req = txn_req(vec![], vec![RequestOp::DeleteRange(del_range("a", "\0")), put("b", "3")], vec![]);
    let (_, events) = run(&mut s, req).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].prev_kv, None, "b was deleted earlier in the txn");
    assert_eq!(contents(&s), [("b".to_string(), "3".to_string())]);
    assert_eq!(s.range(&get_req("b")).unwrap().kvs, vec![kv("b", "3", 4, 4, 1)]);
    assert_eq!(s.key_index(b"b").unwrap().to_string(), "{3.0 4.1(t)} {4.2}");
    s.compact(4).unwrap();
    assert_eq!(
        s.range(&RangeRequest { revision: 4, ..all_keys() }).unwrap().kvs,
        vec![kv("b", "3", 4, 4, 1)]
    );
}

#[test]
fn put_with_lease_and_prev_kv_inside_txn() {
    let mut s = store_with(&[("a", "1")]);
    let req = PutRequest { prev_kv: true, lease: 4, ..put_req("a", "2") };
    let (resp, events) =
        s.txn(&txn_req(vec![], vec![RequestOp::Put(req)], vec![]), 128, &|id| id == 4).unwrap();
    assert_eq!(resp.responses, vec![ResponseOp::Put(PutResponse { prev_kv: Some(kv("a", "1", 2, 2, 1)) })]);
    assert_eq!(events[0].kv, KeyValue { lease: 4, ..kv("a", "2", 2, 3, 2) });
}

/// A read-only txn on `&self` answers exactly what the write path answers for the
/// same request, and changes nothing.
#[test]
fn read_only_txn_matches_write_path() {
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    let nested = TxnRequest {
        compare: vec![cmp("b", Equal, CompareTarget::Value(b("2")))],
        success: vec![get("a")],
        failure: vec![get("b")],
    };
    for value in ["1", "nope"] {
        let req = txn_req(
            vec![cmp("a", Equal, CompareTarget::Value(b(value)))],
            vec![get("a"), RequestOp::Txn(nested.clone())],
            vec![get("b")],
        );
        let before = s.clone();
        let read = s.txn_read_only(&req, 128).unwrap();
        assert_eq!(s, before);
        let (written, events) = s.txn(&req, 128, &no_leases).unwrap();
        assert!(events.is_empty());
        assert_eq!(read, written);
        assert_eq!(s, before, "a read-only txn does not move the revision");
    }
    let mut future = get("a");
    if let RequestOp::Range(r) = &mut future {
        r.revision = 99;
    }
    let req = txn_req(vec![], vec![future], vec![]);
    assert_eq!(s.txn_read_only(&req, 128).unwrap_err(), Error::FutureRev);
    let req = txn_req(vec![], vec![put("a", "x")], vec![]);
    assert!(matches!(s.txn_read_only(&req, 128).unwrap_err(), Error::Internal(_)));
}
