use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::{EventType, KeyValue, RangeRequest};

fn history(s: &KvStore, key: &str) -> String {
    s.key_index(key.as_bytes()).map_or_else(|| "-".to_string(), |ki| ki.to_string())
}

#[test]
fn fresh_store() {
    let s = KvStore::new();
    assert_eq!((s.current_revision(), s.compact_revision()), (1, -1));
    assert_eq!(s.range(&all_keys()).unwrap(), RangeResponse::default());
    assert_eq!((s.key_count(), s.stored_revision_count()), (0, 0));
    assert_eq!(s, KvStore::default());
}

#[test]
fn put_creates_then_updates() {
    let mut s = KvStore::new();
    let (resp, events) = s.put(&put_req("a", "1"), &no_leases).unwrap();
    assert_eq!(s.current_revision(), 2);
    assert_eq!(resp, PutResponse { prev_kv: None });
    assert_eq!(events, vec![Event { kind: EventType::Put, kv: kv("a", "1", 2, 2, 1), prev_kv: None }]);

    let (resp, events) = s.put(&put_req("a", "2"), &no_leases).unwrap();
    assert_eq!(s.current_revision(), 3);
    assert_eq!(resp.prev_kv, None, "prev_kv only when asked");
    assert_eq!(events[0].kv, kv("a", "2", 2, 3, 2));
    assert_eq!(events[0].prev_kv, Some(kv("a", "1", 2, 2, 1)));

    let req = PutRequest { prev_kv: true, ..put_req("a", "3") };
    let (resp, _) = s.put(&req, &no_leases).unwrap();
    assert_eq!(resp.prev_kv, Some(kv("a", "2", 2, 3, 2)));
    assert_eq!(s.range(&get_req("a")).unwrap().kvs, vec![kv("a", "3", 2, 4, 3)]);
}

#[test]
fn put_with_lease() {
    let mut s = KvStore::new();
    let err = s.put(&put_lease("a", "1", 7), &no_leases).unwrap_err();
    assert_eq!(err, Error::LeaseNotFound);
    assert_eq!(err.message(), "etcdserver: requested lease not found");
    assert_eq!(s, KvStore::new());

    let asked = std::cell::Cell::new(0);
    let only_7 = |id: i64| {
        asked.set(id);
        id == 7
    };
    let (_, events) = s.put(&put_lease("a", "1", 7), &only_7).unwrap();
    assert_eq!(asked.get(), 7);
    assert_eq!(events[0].kv.lease, 7);
    assert_eq!(s.range(&get_req("a")).unwrap().kvs[0].lease, 7);
}

#[test]
fn ignore_value_and_ignore_lease_keep_the_old_ones() {
    let mut s = KvStore::new();
    s.put(&put_lease("a", "v", 7), &any_lease).unwrap();
    let req = PutRequest { ignore_value: true, lease: 8, ..put_req("a", "") };
    let (_, events) = s.put(&req, &any_lease).unwrap();
    assert_eq!(events[0].kv, KeyValue { lease: 8, ..kv("a", "v", 2, 3, 2) });
    let req = PutRequest { ignore_lease: true, ..put_req("a", "w") };
    let (_, events) = s.put(&req, &no_leases).unwrap();
    assert_eq!(events[0].kv, KeyValue { lease: 8, ..kv("a", "w", 2, 4, 3) });
    let req = PutRequest { ignore_lease: true, ignore_value: true, ..put_req("a", "") };
    let (_, events) = s.put(&req, &no_leases).unwrap();
    assert_eq!(events[0].kv, KeyValue { lease: 8, ..kv("a", "w", 2, 5, 4) });
}

#[test]
fn ignore_flags_on_a_missing_key_fail() {
    let mut s = store_with(&[("a", "1")]);
    s.delete_range(&del_req("a")).unwrap();
    let before = s.clone();
    for req in [
        PutRequest { ignore_value: true, ..put_req("a", "") },
        PutRequest { ignore_lease: true, ..put_req("a", "x") },
        PutRequest { ignore_value: true, ..put_req("never", "") },
    ] {
        let err = s.put(&req, &any_lease).unwrap_err();
        assert_eq!(err, Error::KeyNotFound);
        assert_eq!(err.message(), "etcdserver: key not found");
        assert_eq!(s, before);
    }
}

#[test]
fn put_request_errors_in_etcds_order() {
    let mut s = store_with(&[("a", "1")]);
    let before = s.clone();
    let cases = [
        (PutRequest { ignore_value: true, ..put_req("", "x") }, "etcdserver: key is not provided"),
        (PutRequest { ignore_value: true, ..put_req("a", "x") }, "etcdserver: value is provided"),
        (PutRequest { ignore_lease: true, lease: 3, ..put_req("a", "x") }, "etcdserver: lease is provided"),
        (
            PutRequest { ignore_value: true, lease: 3, ..put_req("zz", "") },
            "etcdserver: requested lease not found",
        ),
    ];
    for (req, message) in cases {
        let err = s.put(&req, &no_leases).unwrap_err();
        assert_eq!(err.message(), message, "{req:?}");
        assert_eq!(s, before);
    }
    let err = s.put(&PutRequest { ignore_value: true, ..put_req("a", "x") }, &no_leases).unwrap_err();
    assert_eq!(err, Error::InvalidArgument("etcdserver: value is provided".into()));
    assert_eq!(err.code(), crate::error::Code::InvalidArgument);
}

#[test]
fn delete_single_key_and_events() {
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    let (resp, events) = s.delete_range(&del_req("a")).unwrap();
    assert_eq!(s.current_revision(), 4);
    assert_eq!(resp, DeleteRangeResponse { deleted: 1, prev_kvs: vec![] });
    let gone = KeyValue { key: b("a"), mod_revision: 4, ..KeyValue::default() };
    assert_eq!(
        events,
        vec![Event { kind: EventType::Delete, kv: gone, prev_kv: Some(kv("a", "1", 2, 2, 1)) }]
    );
    assert_eq!(contents(&s), [("b".to_string(), "2".to_string())]);
}

#[test]
fn delete_range_uses_sub_revisions_in_key_order() {
    let mut s = store_with(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
    let req = DeleteRangeRequest { prev_kv: true, ..del_range("b", "\0") };
    let (resp, events) = s.delete_range(&req).unwrap();
    assert_eq!(s.current_revision(), 6);
    assert_eq!(resp.deleted, 3);
    assert_eq!(resp.prev_kvs, vec![kv("b", "2", 3, 3, 1), kv("c", "3", 4, 4, 1), kv("d", "4", 5, 5, 1)]);
    let keys: Vec<_> = events.iter().map(|e| (e.kv.key.clone(), e.kv.mod_revision)).collect();
    assert_eq!(keys, vec![(b("b"), 6), (b("c"), 6), (b("d"), 6)]);
    assert_eq!(history(&s, "b"), "{3.0 6.0(t)} {}");
    assert_eq!(history(&s, "c"), "{4.0 6.1(t)} {}");
    assert_eq!(history(&s, "d"), "{5.0 6.2(t)} {}");
    assert_eq!(contents(&s), [("a".to_string(), "1".to_string())]);
}

#[test]
fn delete_all_keys() {
    let mut s = store_with(&[("a", "1"), ("b", "2")]);
    let (resp, _) = s.delete_range(&del_range("\0", "\0")).unwrap();
    assert_eq!(resp.deleted, 2);
    assert!(contents(&s).is_empty());
}

#[test]
fn deleting_nothing_does_not_bump() {
    let mut s = store_with(&[("a", "1")]);
    let before = s.clone();
    for req in [
        del_req("b"),
        del_range("b", "z"),
        del_range("c", "a"),
        DeleteRangeRequest { prev_kv: true, ..del_req("x") },
    ] {
        let (resp, events) = s.delete_range(&req).unwrap();
        assert_eq!((resp, events), (DeleteRangeResponse::default(), vec![]));
        assert_eq!(s, before);
    }
    s.delete_range(&del_req("a")).unwrap();
    let (resp, _) = s.delete_range(&del_req("a")).unwrap();
    assert_eq!((resp.deleted, s.current_revision()), (0, 3));
}

#[test]
fn delete_with_empty_key_is_refused() {
    let mut s = store_with(&[("a", "1")]);
    let err = s.delete_range(&del_range("", "\0")).unwrap_err();
    assert_eq!(err.message(), "etcdserver: key is not provided");
    assert_eq!(contents(&s).len(), 1);
}

#[test]
fn recreated_key_starts_a_new_generation() {
    let mut s = store_with(&[("a", "1"), ("a", "2")]);
    s.delete_range(&del_req("a")).unwrap();
    s.put(&put_req("a", "3"), &no_leases).unwrap();
    assert_eq!(s.range(&get_req("a")).unwrap().kvs, vec![kv("a", "3", 5, 5, 1)]);
    assert_eq!(history(&s, "a"), "{2.0 3.0 4.0(t)} {5.0}");
    let old = s.range(&RangeRequest { revision: 3, ..get_req("a") }).unwrap();
    assert_eq!(old.kvs, vec![kv("a", "2", 2, 3, 2)]);
}

#[test]
fn compact_errors() {
    let mut s = store_with(&[("a", "1")]);
    let err = s.compact(3).unwrap_err();
    assert_eq!(err.message(), "etcdserver: mvcc: required revision is a future revision");
    assert_eq!(s.compact(-5), Err(Error::Compacted));
    s.compact(0).unwrap();
    assert_eq!(s.compact_revision(), 0);
    s.compact(2).unwrap();
    let err = s.compact(2).unwrap_err();
    assert_eq!(err.message(), "etcdserver: mvcc: required revision has been compacted");
    assert_eq!(s.compact(1), Err(Error::Compacted));
    assert_eq!(s.compact_revision(), 2);
}

#[test]
fn compact_reclaims_unreachable_versions() {
    // a: 2, 3, 4; b: 5, deleted 6; c: 7, deleted 8; d: 9.
    let mut s = store_with(&[("a", "1"), ("a", "2"), ("a", "3"), ("b", "1")]);
    s.delete_range(&del_req("b")).unwrap();
    s.put(&put_req("c", "1"), &no_leases).unwrap();
    s.delete_range(&del_req("c")).unwrap();
    s.put(&put_req("d", "1"), &no_leases).unwrap();
    assert_eq!((s.stored_revision_count(), s.key_count()), (8, 4));
    let at_8 = s.range(&RangeRequest { revision: 8, ..all_keys() }).unwrap();

    s.compact(8).unwrap();
    assert_eq!(history(&s, "a"), "{4.0}");
    assert_eq!(history(&s, "b"), "-", "deleted below the compaction: gone");
    assert_eq!(history(&s, "c"), "{8.0(t)} {}", "tombstone at the compaction revision stays");
    assert_eq!(history(&s, "d"), "{9.0}");
    assert_eq!((s.stored_revision_count(), s.key_count()), (3, 3));
    assert_eq!(s.range(&RangeRequest { revision: 8, ..all_keys() }).unwrap(), at_8);
    assert_eq!(s.range(&RangeRequest { revision: 7, ..all_keys() }), Err(Error::Compacted));

    s.compact(9).unwrap();
    assert_eq!(history(&s, "c"), "-");
    assert_eq!((s.stored_revision_count(), s.key_count()), (2, 2));
    assert_eq!(contents(&s), [("a".to_string(), "3".to_string()), ("d".to_string(), "1".to_string())]);
    assert_eq!(s.range(&get_req("a")).unwrap().kvs, vec![kv("a", "3", 2, 4, 3)]);
}
