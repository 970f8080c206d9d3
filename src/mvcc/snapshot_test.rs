use proptest::prelude::*;

use super::*;
use crate::mvcc::test_util::*;
use crate::mvcc::{RequestOp, Revision};

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

/// The image of `s` written field by field, without the encoder's view at a revision.
fn raw_image(s: &KvStore) -> Vec<u8> {
    let keys: Vec<(&Box<[u8]>, &KeyIndex)> = s.index.iter().collect();
    let mut body = Vec::new();
    let opts = bincode::DefaultOptions::new();
    opts.serialize_into(&mut body, &(s.current_revision, s.compact_revision, keys)).unwrap();
    framed(&body)
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
    // Broken stores written as they are (the encoder would leave out what is after
    // the current revision or has no version): the decoder must catch each.
    let with = |f: &dyn Fn(&mut KvStore)| {
        let mut s = busy_store();
        f(&mut s);
        decode_err(&raw_image(&s))
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

#[test]
fn encoding_is_the_body_struct_in_bincode() {
    // The layout the module docs give (and older images have): the stepwise encoder
    // writes exactly it.
    for s in [KvStore::new(), busy_store()] {
        assert_eq!(s.encode_snapshot(), raw_image(&s));
    }
}

#[test]
fn steps_of_any_size_give_the_same_bytes() {
    let s = busy_store();
    let whole = s.encode_snapshot();
    for max_keys in 0..=s.index.len() + 1 {
        let mut out = b"prefix".to_vec();
        let mut enc = s.begin_snapshot(&mut out);
        let mut steps = 0;
        while !enc.step(&s, &mut out, max_keys).unwrap() {
            steps += 1;
            assert!(steps <= s.index.len() + 1, "steps make progress");
        }
        assert_eq!(&out[6..], &whole[..], "max_keys {max_keys}");
        assert!(enc.step(&s, &mut out, max_keys).unwrap(), "a finished encoder stays finished");
        assert_eq!(&out[6..], &whole[..], "and writes nothing more");
    }
}

#[test]
fn compaction_or_another_store_mid_encoding_is_refused() {
    let mut s = busy_store();
    let mut out = Vec::new();
    let mut enc = s.begin_snapshot(&mut out);
    assert!(!enc.step(&s, &mut out, 1).unwrap());
    s.put(&put_req("z", "1"), &no_leases).unwrap();
    s.compact(s.current_revision()).unwrap();
    let err = enc.step(&s, &mut out, 1).unwrap_err().message();
    assert!(err.contains("compacted"), "{err}");
    let mut enc = busy_store().begin_snapshot(&mut Vec::new());
    let err = enc.step(&KvStore::new(), &mut Vec::new(), 1).unwrap_err().message();
    assert!(err.contains("replaced"), "{err}");
}

/// Writes for the interleaving property: puts, deletes (single and ranges) and
/// multi-op transactions over a few keys, some of which are created after the
/// snapshot's revision.
#[derive(Clone, Debug)]
enum Write {
    Put(u8, u8),
    Delete(u8, u8),
    Txn(Vec<(bool, u8)>),
}

const WRITE_KEYS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn write() -> impl Strategy<Value = Write> {
    let k = 0..WRITE_KEYS.len() as u8;
    prop_oneof![
        4 => (k.clone(), any::<u8>()).prop_map(|(k, v)| Write::Put(k, v)),
        2 => (k.clone(), k.clone()).prop_map(|(k, e)| Write::Delete(k, e)),
        2 => prop::collection::vec((any::<bool>(), k), 1..4).prop_map(Write::Txn),
    ]
}

fn do_write(s: &mut KvStore, w: &Write) {
    let key = |k: &u8| WRITE_KEYS[usize::from(*k)];
    match w {
        Write::Put(k, v) => drop(s.put(&put_req(key(k), &v.to_string()), &no_leases)),
        Write::Delete(k, e) if e > k => drop(s.delete_range(&del_range(key(k), key(e)))),
        Write::Delete(k, _) => drop(s.delete_range(&del_req(key(k)))),
        Write::Txn(ops) => {
            let ops = ops
                .iter()
                .map(|(put, k)| {
                    if *put {
                        RequestOp::Put(put_req(key(k), "t"))
                    } else {
                        RequestOp::DeleteRange(del_req(key(k)))
                    }
                })
                .collect();
            drop(s.txn(&txn_req(Vec::new(), ops, Vec::new()), 128, &no_leases));
        }
    }
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

    /// A snapshot begun at revision R and written in steps while writes go on is,
    /// byte for byte, the snapshot of the store at R (a copy taken then), and decodes
    /// to it: whatever was put, deleted or recreated in between.
    #[test]
    fn stepwise_snapshot_ignores_later_writes(
        before in prop::collection::vec(write(), 0..30),
        compact_pick in any::<u8>(),
        interleaved in prop::collection::vec((write(), 0usize..4), 0..40),
    ) {
        let mut s = KvStore::new();
        for w in &before {
            do_write(&mut s, w);
        }
        let current = s.current_revision();
        let compact_at = 1 + i64::from(compact_pick) % (current + 1);
        if compact_pick % 3 == 0 && compact_at <= current {
            s.compact(compact_at).unwrap();
        }
        let then = s.clone();
        let want = then.encode_snapshot();
        let mut out = Vec::new();
        let mut enc = s.begin_snapshot(&mut out);
        let mut done = false;
        for (w, step) in &interleaved {
            do_write(&mut s, w);
            if !done {
                done = enc.step(&s, &mut out, *step).unwrap();
            }
        }
        while !done {
            done = enc.step(&s, &mut out, 2).unwrap();
        }
        prop_assert_eq!(&out, &want);
        prop_assert_eq!(KvStore::decode_snapshot(&out).unwrap(), then);
    }
}
