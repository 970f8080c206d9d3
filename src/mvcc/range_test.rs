use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::KvStore;

/// At revision 6: a="3" (create 2, mod 2, v1), b="5" (3, 5, v2), c="2" (4, 4, v1),
/// d="0" (6, 6, v1).
fn fixture() -> KvStore {
    store_with(&[("a", "3"), ("b", "1"), ("c", "2"), ("b", "5"), ("d", "0")])
}

fn sorted(order: SortOrder, target: SortTarget) -> Vec<String> {
    let req = RangeRequest { sort_order: order, sort_target: target, ..all_keys() };
    keys_of(&fixture().range(&req).unwrap())
}

#[test]
fn key_span_conventions() {
    assert_eq!(KeySpan::new(b"a", b""), KeySpan::Single(b"a"));
    assert_eq!(KeySpan::new(b"a", b"\0"), KeySpan::From(b"a"));
    assert_eq!(KeySpan::new(b"a", b"c"), KeySpan::Between(b"a", b"c"));
    assert_eq!(KeySpan::new(b"a", b"\0\0"), KeySpan::Between(b"a", b"\0\0"));
}

#[test]
fn single_key_and_missing_key() {
    let s = fixture();
    let resp = s.range(&get_req("b")).unwrap();
    assert_eq!(resp, RangeResponse { kvs: vec![kv("b", "5", 3, 5, 2)], more: false, count: 1 });
    let resp = s.range(&get_req("zz")).unwrap();
    assert_eq!(resp, RangeResponse { kvs: vec![], more: false, count: 0 });
}

#[test]
fn half_open_interval_from_key_and_all_keys() {
    let s = fixture();
    assert_eq!(keys_of(&s.range(&range_req("a", "c")).unwrap()), ["a", "b"]);
    assert_eq!(keys_of(&s.range(&range_req("b", "\0")).unwrap()), ["b", "c", "d"]);
    assert_eq!(keys_of(&s.range(&all_keys()).unwrap()), ["a", "b", "c", "d"]);
    assert_eq!(keys_of(&s.range(&range_req("bb", "cc")).unwrap()), ["c"]);
}

#[test]
fn inverted_or_empty_interval_is_empty() {
    let s = fixture();
    for (key, end) in [("c", "a"), ("c", "c"), ("d", "\0\0")] {
        let resp = s.range(&range_req(key, end)).unwrap();
        assert_eq!(resp, RangeResponse::default(), "[{key:?}, {end:?})");
    }
}

#[test]
fn limit_sets_more_and_count_is_total() {
    let s = fixture();
    let resp = s.range(&RangeRequest { limit: 2, ..all_keys() }).unwrap();
    assert_eq!((keys_of(&resp), resp.more, resp.count), (vec!["a".into(), "b".into()], true, 4));
    let resp = s.range(&RangeRequest { limit: 4, ..all_keys() }).unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (4, false, 4));
    let resp = s.range(&RangeRequest { limit: -1, ..all_keys() }).unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (4, false, 4));
    let resp = s.range(&RangeRequest { limit: i64::MAX, ..all_keys() }).unwrap();
    assert_eq!((resp.kvs.len(), resp.more, resp.count), (4, false, 4));
}

#[test]
fn count_only_returns_no_kvs() {
    let s = fixture();
    let resp = s.range(&RangeRequest { count_only: true, limit: 1, ..all_keys() }).unwrap();
    assert_eq!(resp, RangeResponse { kvs: vec![], more: false, count: 4 });
}

#[test]
fn keys_only_clears_values_only() {
    let s = fixture();
    let resp = s.range(&RangeRequest { keys_only: true, ..get_req("b") }).unwrap();
    assert_eq!(resp.kvs, vec![kv("b", "", 3, 5, 2)]);
}

#[test]
fn keys_only_still_sorts_by_value() {
    let s = fixture();
    let req = RangeRequest {
        keys_only: true,
        sort_order: SortOrder::Ascend,
        sort_target: SortTarget::Value,
        ..all_keys()
    };
    assert_eq!(keys_of(&s.range(&req).unwrap()), ["d", "c", "a", "b"]);
}

#[test]
fn sort_by_each_target_both_ways() {
    use SortOrder::{Ascend, Descend};
    assert_eq!(sorted(Ascend, SortTarget::Key), ["a", "b", "c", "d"]);
    assert_eq!(sorted(Descend, SortTarget::Key), ["d", "c", "b", "a"]);
    // Ties (version 1 for a, c, d) keep ascending key order in both directions.
    assert_eq!(sorted(Ascend, SortTarget::Version), ["a", "c", "d", "b"]);
    assert_eq!(sorted(Descend, SortTarget::Version), ["b", "a", "c", "d"]);
    assert_eq!(sorted(Ascend, SortTarget::Create), ["a", "b", "c", "d"]);
    assert_eq!(sorted(Descend, SortTarget::Create), ["d", "c", "b", "a"]);
    assert_eq!(sorted(Ascend, SortTarget::Mod), ["a", "c", "b", "d"]);
    assert_eq!(sorted(Descend, SortTarget::Mod), ["d", "b", "c", "a"]);
    assert_eq!(sorted(Ascend, SortTarget::Value), ["d", "c", "a", "b"]);
    assert_eq!(sorted(Descend, SortTarget::Value), ["b", "a", "c", "d"]);
}

#[test]
fn sort_order_none_defaults_to_ascend_unless_target_is_key() {
    assert_eq!(sorted(SortOrder::None, SortTarget::Key), ["a", "b", "c", "d"]);
    assert_eq!(sorted(SortOrder::None, SortTarget::Value), ["d", "c", "a", "b"]);
    assert_eq!(sorted(SortOrder::None, SortTarget::Mod), ["a", "c", "b", "d"]);
}

#[test]
fn sort_order_none_sorts_only_the_pushed_down_limit() {
    // etcd pushes `limit + 1` into the scan when sort_order is NONE, then sorts.
    let s = fixture();
    let req = RangeRequest { limit: 2, sort_target: SortTarget::Value, ..all_keys() };
    let resp = s.range(&req).unwrap();
    assert_eq!((keys_of(&resp), resp.more, resp.count), (vec!["c".into(), "a".into()], true, 4));
    // With an explicit order the whole range is sorted before the limit.
    let req = RangeRequest { sort_order: SortOrder::Ascend, ..req };
    let resp = s.range(&req).unwrap();
    assert_eq!((keys_of(&resp), resp.more, resp.count), (vec!["d".into(), "c".into()], true, 4));
}

#[test]
fn revision_filters_apply_after_count() {
    let s = fixture();
    let cases: [(RangeRequest, &[&str]); 5] = [
        (RangeRequest { min_mod_revision: 4, ..all_keys() }, &["b", "c", "d"]),
        (RangeRequest { max_mod_revision: 4, ..all_keys() }, &["a", "c"]),
        (RangeRequest { min_create_revision: 4, ..all_keys() }, &["c", "d"]),
        (RangeRequest { max_create_revision: 3, ..all_keys() }, &["a", "b"]),
        (
            RangeRequest { min_mod_revision: 3, max_mod_revision: 5, min_create_revision: 4, ..all_keys() },
            &["c"],
        ),
    ];
    for (req, want) in cases {
        let resp = s.range(&req).unwrap();
        assert_eq!(keys_of(&resp), want, "{req:?}");
        assert_eq!((resp.count, resp.more), (4, false));
    }
}

#[test]
fn limit_applies_after_filters() {
    let s = fixture();
    let resp = s.range(&RangeRequest { min_mod_revision: 4, limit: 2, ..all_keys() }).unwrap();
    assert_eq!((keys_of(&resp), resp.more, resp.count), (vec!["b".into(), "c".into()], true, 4));
    let resp = s.range(&RangeRequest { min_mod_revision: 5, limit: 2, ..all_keys() }).unwrap();
    assert_eq!((keys_of(&resp), resp.more, resp.count), (vec!["b".into(), "d".into()], false, 4));
}

#[test]
fn reads_at_past_revisions() {
    let s = fixture();
    let at = |rev: i64| s.range(&RangeRequest { revision: rev, ..all_keys() }).unwrap();
    assert_eq!(at(1), RangeResponse::default());
    assert_eq!(at(3).kvs, vec![kv("a", "3", 2, 2, 1), kv("b", "1", 3, 3, 1)]);
    assert_eq!(at(4).count, 3);
    assert_eq!(at(5).kvs[1], kv("b", "5", 3, 5, 2));
    assert_eq!(at(0), at(6));
    assert_eq!(at(-7), at(6));
}

#[test]
fn revision_errors() {
    let mut s = fixture();
    let err = s.range(&RangeRequest { revision: 7, ..all_keys() }).unwrap_err();
    assert_eq!(err, Error::FutureRev);
    assert_eq!(err.message(), "etcdserver: mvcc: required revision is a future revision");
    s.compact(4).unwrap();
    let err = s.range(&RangeRequest { revision: 3, ..all_keys() }).unwrap_err();
    assert_eq!(err, Error::Compacted);
    assert_eq!(err.message(), "etcdserver: mvcc: required revision has been compacted");
    // Reading exactly at the compaction revision is allowed.
    let resp = s.range(&RangeRequest { revision: 4, ..all_keys() }).unwrap();
    assert_eq!(resp.kvs, vec![kv("a", "3", 2, 2, 1), kv("b", "1", 3, 3, 1), kv("c", "2", 4, 4, 1)]);
    // A future revision is reported before a compacted one.
    assert_eq!(s.range(&RangeRequest { revision: 99, ..all_keys() }), Err(Error::FutureRev));
}

#[test]
fn read_revision_rules() {
    assert_eq!(read_revision(0, 5, -1), Ok(5));
    assert_eq!(read_revision(-3, 5, -1), Ok(5));
    assert_eq!(read_revision(6, 5, -1), Err(Error::FutureRev));
    assert_eq!(read_revision(3, 5, 3), Ok(3));
    assert_eq!(read_revision(2, 5, 3), Err(Error::Compacted));
}

#[test]
fn empty_key_is_refused() {
    let s = fixture();
    let err = s.range(&RangeRequest { range_end: b("z"), ..Default::default() }).unwrap_err();
    assert_eq!(err, Error::KeyNotProvided);
    assert_eq!(err.message(), "etcdserver: key is not provided");
}
