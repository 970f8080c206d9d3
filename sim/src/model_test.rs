//! The model against the worked example in its module header, plus undo.

use crate::history::{Compare, KeyValue, Request, Response};
use crate::model::KvState;

fn kv(key: &str, value: &str, create: i64, modr: i64, version: i64) -> KeyValue {
    KeyValue { key: key.into(), value: value.into(), create_revision: create, mod_revision: modr, version }
}

fn put(key: &str, value: &str) -> Request {
    Request::Put { key: key.into(), value: value.into() }
}

#[test]
fn worked_example() {
    let mut s = KvState::new();
    assert_eq!(s.apply(&put("a", "x")), Response { revision: 2, ..Response::default() });
    let del_b = Request::Delete { key: "b".into() };
    assert_eq!(s.apply(&del_b), Response { revision: 2, ..Response::default() });
    let cas = Request::Cas { key: "a".into(), compare: Compare::ModRevision(2), value: "y".into() };
    assert_eq!(s.apply(&cas), Response { revision: 3, succeeded: true, ..Response::default() });
    let cas2 = Request::Cas { key: "a".into(), compare: Compare::Value("x".into()), value: "q".into() };
    let else_branch = Response { revision: 3, kvs: vec![kv("a", "y", 2, 3, 2)], ..Response::default() };
    assert_eq!(s.apply(&cas2), else_branch);
    let del_a = Request::Delete { key: "a".into() };
    assert_eq!(s.apply(&del_a), Response { revision: 4, deleted: 1, ..Response::default() });
    s.apply(&put("a", "z"));
    assert_eq!(s.get(b"a"), Some(kv("a", "z", 5, 5, 1)));
    assert_eq!(s.revision(), 5);
}

#[test]
fn put_many_is_one_revision_and_range_is_prefix_ordered() {
    let mut s = KvState::new();
    s.apply(&put("p/b", "0"));
    let many = Request::PutMany { kvs: vec![("p/a".into(), "1".into()), ("p/b".into(), "2".into())] };
    assert_eq!(s.apply(&many), Response { revision: 3, succeeded: true, ..Response::default() });
    s.apply(&put("q", "3"));
    assert_eq!(s.range(b"p/"), vec![kv("p/a", "1", 3, 3, 1), kv("p/b", "2", 2, 3, 2)]);
    assert_eq!(s.range(b"").len(), 3);
}

#[test]
fn compare_on_a_missing_key() {
    let s = KvState::new();
    assert!(s.compare_holds(b"a", &Compare::ModRevision(0)));
    assert!(!s.compare_holds(b"a", &Compare::Value(vec![])));
}

#[test]
fn rollback_restores_state_and_hash() {
    let mut s = KvState::new();
    s.apply(&put("a", "1"));
    let (hash, mark) = (s.keys_hash(), s.mark());
    s.apply(&put("a", "2"));
    s.apply(&put("b", "3"));
    s.apply(&Request::Delete { key: "a".into() });
    assert_ne!(s.keys_hash(), hash);
    s.rollback(mark);
    assert_eq!((s.keys_hash(), s.revision(), s.get(b"a")), (hash, 2, Some(kv("a", "1", 2, 2, 1))));
    assert_eq!(s.get(b"b"), None);
}

#[test]
fn equal_states_hash_equal_whatever_the_path() {
    let mut a = KvState::new();
    let mut b = KvState::new();
    a.apply(&put("x", "1"));
    a.apply(&put("y", "1"));
    b.apply(&put("y", "1"));
    b.apply(&put("x", "1"));
    assert_ne!(a.keys_hash(), b.keys_hash(), "create revisions differ");
    let c = KvState::with_kvs(3, &[kv("y", "1", 2, 2, 1), kv("x", "1", 3, 3, 1)]);
    assert_eq!(b.keys_hash(), c.keys_hash());
}
