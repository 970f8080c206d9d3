use super::*;
use crate::mvcc::test_util::*;

/// Hand-encoded etcd backend record: revision key, then mvccpb.KeyValue bytes.
fn record(main: u8, sub: u8, tombstone: bool, kv_proto: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0, 0, 0, 0, main, b'_', 0, 0, 0, 0, 0, 0, 0, sub];
    if tombstone {
        out.push(b't');
    }
    out.extend_from_slice(kv_proto);
    out
}

/// mvccpb.KeyValue{key, create, mod, version, value} for one-byte fields.
fn proto(key: u8, create: u8, modified: u8, version: u8, value: u8) -> Vec<u8> {
    vec![0x0a, 1, key, 0x10, create, 0x18, modified, 0x20, version, 0x2a, 1, value]
}

fn crc_of(records: &[Vec<u8>]) -> u32 {
    let mut bytes = b"key".to_vec();
    for r in records {
        bytes.extend_from_slice(r);
    }
    crc32c::crc32c(&bytes)
}

#[test]
fn encoding_matches_etcds_backend_records() {
    let mut s = store_with(&[("a", "b")]);
    let put_a = record(2, 0, false, &proto(b'a', 2, 2, 1, b'b'));
    assert_eq!(s.hash_kv(0), Ok((crc_of(std::slice::from_ref(&put_a)), -1)));
    s.delete_range(&del_req("a")).unwrap();
    let tomb_a = record(3, 0, true, &[0x0a, 1, b'a']);
    assert_eq!(s.hash_kv(0), Ok((crc_of(&[put_a.clone(), tomb_a.clone()]), -1)));
    assert_eq!(s.hash(), crc_of(&[put_a.clone(), tomb_a]));
    assert_eq!(s.hash_kv(2), Ok((crc_of(&[put_a]), -1)));
}

#[test]
fn lease_and_big_numbers_encode_as_varints() {
    let mut s = KvStore::new();
    s.put(&put_lease("k", "", 300), &any_lease).unwrap();
    // No value field (empty), lease 300 = 0xac 0x02.
    let rec = record(2, 0, false, &[0x0a, 1, b'k', 0x10, 2, 0x18, 2, 0x20, 1, 0x30, 0xac, 0x02]);
    assert_eq!(s.hash(), crc_of(&[rec]));
    let mut neg = KvStore::new();
    neg.put(&put_lease("k", "", -1), &any_lease).unwrap();
    let mut ten = vec![0xff; 9];
    ten.push(0x01);
    let mut body = vec![0x0a, 1, b'k', 0x10, 2, 0x18, 2, 0x20, 1, 0x30];
    body.extend_from_slice(&ten);
    assert_eq!(neg.hash(), crc_of(&[record(2, 0, false, &body)]));
}

#[test]
fn hash_kv_selection_after_compaction() {
    // a@2, a@3, b@4, b deleted @5, c@6; compact(5) keeps a@3, b@5(t), c@6.
    let mut s = store_with(&[("a", "1"), ("a", "2"), ("b", "1")]);
    s.delete_range(&del_req("b")).unwrap();
    s.put(&put_req("c", "1"), &no_leases).unwrap();
    s.compact(5).unwrap();
    let a3 = record(3, 0, false, &proto(b'a', 2, 3, 2, b'2'));
    let c6 = record(6, 0, false, &proto(b'c', 6, 6, 1, b'1'));
    // The tombstone at exactly the compaction revision is skipped.
    assert_eq!(s.hash_kv(6), Ok((crc_of(&[a3.clone(), c6.clone()]), 5)));
    assert_eq!(s.hash_kv(5), Ok((crc_of(std::slice::from_ref(&a3)), 5)));

    // a@3 is no longer visible at 7, so it leaves the selection.
    s.put(&put_req("a", "3"), &no_leases).unwrap();
    let a7 = record(7, 0, false, &proto(b'a', 2, 7, 3, b'3'));
    assert_eq!(s.hash_kv(7), Ok((crc_of(&[c6.clone(), a7.clone()]), 5)));
    assert_eq!(s.hash_kv(6), Ok((crc_of(&[a3.clone(), c6.clone()]), 5)));

    // etcd quirk: with no key live at the revision, nothing below it is filtered.
    s.delete_range(&del_range("\0", "\0")).unwrap();
    let a8 = record(8, 0, true, &[0x0a, 1, b'a']);
    let c8 = record(8, 1, true, &[0x0a, 1, b'c']);
    assert_eq!(s.hash_kv(8), Ok((crc_of(&[a3, c6, a7, a8, c8]), 5)));
}

#[test]
fn hash_kv_revision_errors() {
    let mut s = store_with(&[("a", "1"), ("a", "2"), ("a", "3")]);
    s.compact(3).unwrap();
    assert_eq!(s.hash_kv(2), Err(Error::Compacted));
    assert!(s.hash_kv(3).is_ok(), "hashing exactly at the compaction revision is allowed");
    assert_eq!(s.hash_kv(5), Err(Error::FutureRev));
    assert_eq!(s.hash_kv(0), s.hash_kv(4));
    // Negative revisions select nothing, as in etcd.
    assert_eq!(s.hash_kv(-1), Ok((crc32c::crc32c(b"key"), 3)));
}

#[test]
fn hashes_tell_stores_apart() {
    let one = store_with(&[("a", "1"), ("b", "2")]);
    let same = store_with(&[("a", "1"), ("b", "2")]);
    let other = store_with(&[("a", "1"), ("b", "3")]);
    assert_eq!(one.hash(), same.hash());
    assert_eq!(one.hash_kv(0), same.hash_kv(0));
    assert_ne!(one.hash(), other.hash());
    assert_ne!(one.hash_kv(0), other.hash_kv(0));
    assert_eq!(one.hash_kv(2), other.hash_kv(2));
    let mut compacted = one.clone();
    compacted.compact(3).unwrap();
    assert_eq!(compacted.hash(), one.hash(), "nothing unreachable yet");
    let mut rewritten = store_with(&[("a", "0"), ("a", "1"), ("b", "2")]);
    let before = rewritten.hash();
    rewritten.compact(4).unwrap();
    assert_ne!(rewritten.hash(), before, "compaction removed a@2");
}

#[test]
fn stored_entries_are_in_revision_order() {
    let mut s = store_with(&[("b", "1"), ("a", "1"), ("b", "2")]);
    s.delete_range(&del_range("a", "\0")).unwrap();
    let revs: Vec<(Revision, bool)> =
        s.stored_entries().iter().map(|e| (e.revision(), e.stored.tombstone)).collect();
    assert_eq!(
        revs,
        vec![
            (Revision::new(2, 0), false),
            (Revision::new(3, 0), false),
            (Revision::new(4, 0), false),
            (Revision::new(5, 0), true),
            (Revision::new(5, 1), true),
        ]
    );
}
