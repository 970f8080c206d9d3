use proptest::prelude::*;

use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::Revision;

fn busy_store() -> KvStore {
    let mut s = store_with(&[("a", "1"), ("b", "2"), ("a", "3")]);
    s.put(&put_lease("c", "4", 77), &any_lease).unwrap();
    s.delete_range(&del_req("b")).unwrap();
    s.put(&put_req("b", "5"), &no_leases).unwrap();
    s.delete_range(&del_req("c")).unwrap();
    s.compact(4).unwrap();
    s
}

/// Re-frame `body` (without magic) with a valid checksum.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = SNAPSHOT_MAGIC.to_vec();
    out.extend_from_slice(body);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn body_of(bytes: &[u8]) -> &[u8] {
    &bytes[SNAPSHOT_MAGIC.len()..bytes.len() - CRC_LEN]
}

fn decode_err(bytes: &[u8]) -> String {
    KvStore::decode_snapshot(bytes).unwrap_err().message()
}

#[test]
fn round_trip_keeps_everything() {
    for s in [KvStore::new(), store_with(&[("a", "1")]), busy_store()] {
        let back = KvStore::decode_snapshot(&s.encode_snapshot()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.hash(), s.hash());
        assert_eq!(back.hash_kv(0), s.hash_kv(0));
        assert_eq!(back.encode_snapshot(), s.encode_snapshot());
    }
}

#[test]
fn decoded_store_keeps_working_like_the_original() {
    let mut s = busy_store();
    let mut back = KvStore::decode_snapshot(&s.encode_snapshot()).unwrap();
    let req = put_req("a", "9");
    assert_eq!(back.put(&req, &no_leases), s.put(&req, &no_leases));
    assert_eq!(back.compact(6), s.compact(6));
    assert_eq!(back.range(&all_keys()), s.range(&all_keys()));
    assert_eq!(back, s);
}

#[test]
fn framing_errors() {
    let good = busy_store().encode_snapshot();
    assert_eq!(decode_err(&[]), "mvcc snapshot is corrupt: 0 bytes is too short");
    assert!(decode_err(&good[..11]).contains("too short"));
    let mut magic = good.clone();
    magic[0] = b'X';
    assert!(decode_err(&magic).contains("bad magic"));
    let mut flipped = good.clone();
    flipped[20] ^= 1;
    assert!(decode_err(&flipped).contains("checksum"));
    assert!(decode_err(&good[..good.len() - 1]).contains("checksum"));
}

#[test]
fn body_errors_with_a_valid_checksum() {
    let good = busy_store().encode_snapshot();
    let body = body_of(&good);
    let mut trailing = body.to_vec();
    trailing.push(0);
    assert!(KvStore::decode_snapshot(&framed(&trailing)).is_err());
    assert!(KvStore::decode_snapshot(&framed(&body[..body.len() - 1])).is_err());
    assert!(KvStore::decode_snapshot(&framed(&[])).is_err());
    // A huge claimed key count must fail without allocating it.
    let mut huge = Vec::new();
    huge.extend_from_slice(&[2, 2]); // current 1, compact 1 (zigzag varints)
    huge.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert!(KvStore::decode_snapshot(&framed(&huge)).is_err());
}

#[test]
fn invariant_errors() {
    let with = |f: &dyn Fn(&mut KvStore)| {
        let mut s = busy_store();
        f(&mut s);
        decode_err(&s.encode_snapshot())
    };
    assert_eq!(with(&|s| s.current_revision = 0), "mvcc snapshot is corrupt: current revision 0 < 1");
    assert!(with(&|s| s.compact_revision = 99).contains("compact revision 99 outside -1..=8"));
    assert!(with(&|s| s.compact_revision = -2).contains("compact revision -2"));
    assert!(with(&|s| s.current_revision = 6).contains("key #1: revision 7.0 outside 1..=6"));
    assert!(with(&|s| {
        s.index.insert(Box::default(), s.index[b"a".as_slice()].clone());
    })
    .contains("empty key"));
    assert!(with(&|s| {
        s.index.insert(b"z".as_slice().into(), KeyIndex::new());
    })
    .contains("no stored version"));
    let mut bad = KeyIndex::new();
    bad.put(Revision::new(3, 0), Box::default(), 0).unwrap();
    bad.compact(3);
    let mut s = busy_store();
    s.index.insert(b"q".as_slice().into(), bad);
    assert!(KvStore::decode_snapshot(&s.encode_snapshot()).is_ok(), "a valid extra key is fine");
}

#[test]
fn unsorted_keys_are_refused() {
    let s = busy_store();
    let mut keys: Vec<(&Box<[u8]>, &KeyIndex)> = s.index.iter().collect();
    keys.reverse();
    let mut body = Vec::new();
    let opts = bincode::DefaultOptions::new();
    opts.serialize_into(&mut body, &(s.current_revision, s.compact_revision, keys)).unwrap();
    assert!(decode_err(&framed(&body)).contains("keys not strictly ascending at key #1"));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = KvStore::decode_snapshot(&bytes);
        let _ = KvStore::decode_snapshot(&framed(&bytes));
    }

    #[test]
    fn mutated_snapshots_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in 0usize..8) {
        let good = busy_store().encode_snapshot();
        let mut body = body_of(&good).to_vec();
        let i = pos.index(body.len());
        body[i] = byte;
        body.truncate(body.len() - cut.min(body.len()));
        if let Ok(s) = KvStore::decode_snapshot(&framed(&body)) {
            // Whatever decodes must be usable without panics.
            let _ = s.range(&all_keys());
            let _ = s.hash_kv(0);
            let mut s = s;
            let _ = s.put(&put_req("a", "x"), &no_leases);
            let _ = s.delete_range(&del_range("\0", "\0"));
            let _ = s.compact(s.current_revision());
        }
    }
}
