use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::{CompareResult, CompareTarget};

fn put(key: &str) -> RequestOp {
    RequestOp::Put(put_req(key, "v"))
}

fn del(key: &str) -> RequestOp {
    RequestOp::DeleteRange(del_req(key))
}

fn del_span(key: &str, end: &str) -> RequestOp {
    RequestOp::DeleteRange(del_range(key, end))
}

fn get(key: &str) -> RequestOp {
    RequestOp::Range(get_req(key))
}

fn nested(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> RequestOp {
    RequestOp::Txn(txn_req(vec![], success, failure))
}

fn then(ops: Vec<RequestOp>) -> Result<()> {
    check_txn(&txn_req(vec![], ops, vec![]), 128)
}

fn version_is(key: &str, v: i64) -> crate::mvcc::Compare {
    cmp(key, CompareResult::Equal, CompareTarget::Version(v))
}

#[test]
fn op_budget_per_list() {
    let ops = |n: usize| (0..n).map(|i| get(&format!("k{i}"))).collect::<Vec<_>>();
    assert_eq!(check_txn(&txn_req(vec![], ops(3), ops(3)), 3), Ok(()));
    let err = check_txn(&txn_req(vec![], ops(4), vec![]), 3).unwrap_err();
    assert_eq!(err.message(), "etcdserver: too many operations in txn request");
    assert_eq!(check_txn(&txn_req(vec![], vec![], ops(4)), 3), Err(Error::TooManyOps));
    let compares = (0..4).map(|i| version_is(&format!("k{i}"), 0)).collect();
    assert_eq!(check_txn(&txn_req(compares, vec![], vec![]), 3), Err(Error::TooManyOps));
}

#[test]
fn op_budget_shrinks_with_nesting() {
    // Parent uses 2 of 4, so the child may have at most 2 per list.
    let child = |n: usize| nested((0..n).map(|i| get(&format!("c{i}"))).collect(), vec![]);
    assert_eq!(check_txn(&txn_req(vec![], vec![child(2), get("x")], vec![]), 4), Ok(()));
    assert_eq!(check_txn(&txn_req(vec![], vec![child(3), get("x")], vec![]), 4), Err(Error::TooManyOps));
    // The failure branch's nested txns share the same budget.
    assert_eq!(check_txn(&txn_req(vec![], vec![get("x")], vec![child(3)]), 4), Ok(()));
    assert_eq!(
        check_txn(&txn_req(vec![], vec![get("x"), get("y")], vec![child(3)]), 4),
        Err(Error::TooManyOps)
    );
}

#[test]
fn empty_keys_anywhere_are_refused() {
    let compare = txn_req(vec![version_is("", 0)], vec![], vec![]);
    assert_eq!(check_txn(&compare, 128), Err(Error::KeyNotProvided));
    for op in [get(""), put(""), del(""), nested(vec![], vec![put("")])] {
        assert_eq!(
            check_txn(&txn_req(vec![], vec![], vec![op.clone()]), 128),
            Err(Error::KeyNotProvided),
            "{op:?}"
        );
    }
}

#[test]
fn ignore_flag_conflicts_inside_txn() {
    let value = RequestOp::Put(PutRequest { ignore_value: true, ..put_req("a", "x") });
    let err = then(vec![value]).unwrap_err();
    assert_eq!(err, Error::InvalidArgument("etcdserver: value is provided".into()));
    let lease = RequestOp::Put(PutRequest { ignore_lease: true, lease: 1, ..put_req("a", "") });
    let err = then(vec![nested(vec![lease], vec![])]).unwrap_err();
    assert_eq!(err.message(), "etcdserver: lease is provided");
}

#[test]
fn request_checks_come_before_overlap_checks() {
    assert_eq!(then(vec![put("a"), put("a"), get("")]), Err(Error::KeyNotProvided));
    assert_eq!(then(vec![put("a"), put("a")]), Err(Error::DuplicateKey));
    assert_eq!(Error::DuplicateKey.message(), "etcdserver: duplicate key given in txn request");
}

#[test]
fn puts_may_not_overlap_puts_or_deletes() {
    assert_eq!(then(vec![put("a"), put("b")]), Ok(()));
    assert_eq!(then(vec![put("a"), put("a")]), Err(Error::DuplicateKey));
    assert_eq!(then(vec![put("a"), del("a")]), Err(Error::DuplicateKey));
    assert_eq!(then(vec![del("a"), put("a")]), Err(Error::DuplicateKey));
    assert_eq!(then(vec![del_span("a", "c"), put("b")]), Err(Error::DuplicateKey));
    assert_eq!(then(vec![del_span("a", "c"), put("c")]), Ok(()));
    assert_eq!(then(vec![del_span("b", "c"), put("a")]), Ok(()));
    assert_eq!(then(vec![del("a"), put("a\0")]), Ok(()));
}

#[test]
fn deletes_may_overlap_deletes() {
    assert_eq!(then(vec![del("a"), del("a"), del_span("a", "z")]), Ok(()));
}

#[test]
fn branches_are_checked_separately() {
    let req = txn_req(vec![], vec![put("a")], vec![put("a"), del("b")]);
    assert_eq!(check_txn(&req, 128), Ok(()));
    let req = txn_req(vec![], vec![put("a")], vec![put("b"), del("b")]);
    assert_eq!(check_txn(&req, 128), Err(Error::DuplicateKey));
}

#[test]
fn nested_puts_against_parent_and_siblings() {
    // A nested txn's then/else may put the same key.
    assert_eq!(then(vec![nested(vec![put("a")], vec![put("a")])]), Ok(()));
    // But not a key the parent puts, or a sibling txn puts.
    assert_eq!(then(vec![nested(vec![put("a")], vec![]), put("a")]), Err(Error::DuplicateKey));
    assert_eq!(
        then(vec![nested(vec![put("a")], vec![]), nested(vec![], vec![put("a")])]),
        Err(Error::DuplicateKey)
    );
    assert_eq!(
        then(vec![nested(vec![put("a")], vec![]), nested(vec![put("a")], vec![])]),
        Err(Error::DuplicateKey)
    );
    // Nor a key the parent deletes, or an earlier sibling deletes.
    assert_eq!(then(vec![del("a"), nested(vec![put("a")], vec![])]), Err(Error::DuplicateKey));
    assert_eq!(
        then(vec![nested(vec![del("a")], vec![]), nested(vec![put("a")], vec![])]),
        Err(Error::DuplicateKey)
    );
    assert_eq!(then(vec![nested(vec![], vec![del_span("a", "b")]), put("a")]), Err(Error::DuplicateKey));
    // etcd does not check a nested put against a *later* sibling's deletes.
    assert_eq!(then(vec![nested(vec![put("a")], vec![]), nested(vec![del("a")], vec![])]), Ok(()));
    // Deeper nesting propagates upwards.
    let deep = nested(vec![nested(vec![put("a")], vec![])], vec![]);
    assert_eq!(then(vec![deep.clone(), put("a")]), Err(Error::DuplicateKey));
    assert_eq!(then(vec![deep, put("b")]), Ok(()));
}

#[test]
fn delete_to_the_end_conflicts_with_nothing() {
    // etcd compares range_end "\0" as a plain string, so [a, "\0") is empty to it.
    assert_eq!(then(vec![del_span("a", "\0"), put("b")]), Ok(()));
    assert_eq!(then(vec![put("a"), del_span("a", "\0")]), Ok(()));
    assert_eq!(then(vec![del_span("\0", "\0"), put("a")]), Ok(()));
    // "\0\0" is a real (if tiny) interval end.
    assert_eq!(then(vec![del_span("\0", "\0\0"), put("\0")]), Err(Error::DuplicateKey));
}

#[test]
fn deep_nesting_is_capped_only_above_the_cap() {
    let mut req = txn_req(vec![], vec![get("x")], vec![]);
    for _ in 0..MAX_TXN_NESTING {
        req = txn_req(vec![], vec![RequestOp::Txn(req)], vec![]);
    }
    assert_eq!(check_txn(&req, 10_000), Err(Error::TooManyOps));
    assert_eq!(check_txn(&req, 128), Err(Error::TooManyOps), "etcd's shrinking budget");
    let mut ok = txn_req(vec![], vec![get("x")], vec![]);
    for _ in 1..MAX_TXN_NESTING {
        ok = txn_req(vec![], vec![RequestOp::Txn(ok)], vec![]);
    }
    assert_eq!(check_txn(&ok, 10_000), Ok(()));
}

#[test]
fn delete_set_merges_and_answers_membership() {
    let mut set = DeleteSet::default();
    set.insert(b("c"), b("e"));
    set.insert(b("a"), b("b"));
    set.insert(b("b"), b("c"));
    set.insert(b("x"), b("w"));
    set.insert(b("m"), b("m"));
    assert_eq!(set.spans.len(), 1, "{set:?}");
    for (key, inside) in
        [("a", true), ("b", true), ("d", true), ("dz", true), ("e", false), ("", false), ("m", false)]
    {
        assert_eq!(set.contains(key.as_bytes()), inside, "{key:?}");
    }
    let mut other = DeleteSet::default();
    other.insert(b("d"), b("g"));
    other.insert(b("k"), b("l"));
    set.absorb(other);
    assert_eq!(set.spans.len(), 2, "{set:?}");
    assert!(set.contains(b"f") && set.contains(b"k") && !set.contains(b"g") && !set.contains(b"l"));
}
