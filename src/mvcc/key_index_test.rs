use super::*;

fn rev(main: i64, sub: i64) -> Revision {
    Revision::new(main, sub)
}

fn val(s: &str) -> Box<[u8]> {
    s.as_bytes().into()
}

/// The history of the module docs' worked example.
fn example() -> KeyIndex {
    let mut ki = KeyIndex::new();
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    ki.put(rev(3, 0), val("b"), 0).unwrap();
    ki.tombstone(rev(4, 0)).unwrap();
    ki.put(rev(6, 0), val("c"), 5).unwrap();
    ki.put(rev(7, 0), val("d"), 0).unwrap();
    ki.tombstone(rev(8, 1)).unwrap();
    ki.put(rev(9, 0), val("e"), 0).unwrap();
    ki
}

/// (create, mod main, version, value) visible at `at`.
fn seen(ki: &KeyIndex, at: i64) -> Option<(i64, i64, i64, Vec<u8>)> {
    ki.get(at).map(|v| (v.create_revision, v.mod_revision.main, v.version, v.value.to_vec()))
}

#[test]
fn generations_of_the_worked_example() {
    let ki = example();
    assert_eq!(ki.to_string(), "{2.0 3.0 4.0(t)} {6.0 7.0 8.1(t)} {9.0}");
    assert_eq!(seen(&ki, 1), None);
    assert_eq!(seen(&ki, 2), Some((2, 2, 1, b"a".to_vec())));
    assert_eq!(seen(&ki, 3), Some((2, 3, 2, b"b".to_vec())));
    assert_eq!(seen(&ki, 4), None);
    assert_eq!(seen(&ki, 5), None);
    assert_eq!(seen(&ki, 6), Some((6, 6, 1, b"c".to_vec())));
    assert_eq!(ki.get(6).map(|v| v.lease), Some(5));
    assert_eq!(seen(&ki, 7), Some((6, 7, 2, b"d".to_vec())));
    assert_eq!(seen(&ki, 8), None);
    assert_eq!(seen(&ki, 9), Some((9, 9, 1, b"e".to_vec())));
    assert_eq!(seen(&ki, i64::MAX), Some((9, 9, 1, b"e".to_vec())));
    assert_eq!(ki.latest().map(|v| v.mod_revision), Some(rev(9, 0)));
    assert_eq!(ki.stored_len(), 7);
}

#[test]
fn compaction_steps_of_the_worked_example() {
    let mut ki = example();
    let steps = [
        (3, "{3.0 4.0(t)} {6.0 7.0 8.1(t)} {9.0}"),
        (4, "{4.0(t)} {6.0 7.0 8.1(t)} {9.0}"),
        (7, "{7.0 8.1(t)} {9.0}"),
        (9, "{9.0}"),
    ];
    for (at, want) in steps {
        let before = ki.clone();
        ki.compact(at);
        assert_eq!(ki.to_string(), want, "compact({at})");
        for read in at..=10 {
            assert_eq!(seen(&ki, read), seen(&before, read), "read at {read} after compact({at})");
        }
    }
    assert!(!ki.is_empty());
    ki.tombstone(rev(10, 0)).unwrap();
    ki.compact(10);
    assert_eq!(ki.to_string(), "{10.0(t)} {}");
    assert!(!ki.is_empty());
    ki.compact(11);
    assert_eq!(ki.to_string(), "{}");
    assert!(ki.is_empty());
}

#[test]
fn compaction_keeps_version_numbers() {
    let mut ki = KeyIndex::new();
    for main in 2..=6 {
        ki.put(rev(main, 0), val("v"), 0).unwrap();
    }
    ki.compact(5);
    assert_eq!(ki.to_string(), "{5.0 6.0}");
    assert_eq!(seen(&ki, 5), Some((2, 5, 4, b"v".to_vec())));
    assert_eq!(seen(&ki, 6), Some((2, 6, 5, b"v".to_vec())));
    let (create, version) = ki.put(rev(7, 0), val("w"), 0).unwrap();
    assert_eq!((create, version), (2, 6));
}

#[test]
fn compaction_below_everything_is_a_no_op() {
    let mut ki = example();
    ki.compact(1);
    assert_eq!(ki, example());
}

#[test]
fn put_after_delete_starts_a_new_generation_with_version_1() {
    let mut ki = KeyIndex::new();
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    ki.put(rev(3, 0), val("a"), 0).unwrap();
    ki.tombstone(rev(4, 0)).unwrap();
    assert_eq!(ki.latest(), None);
    assert_eq!(ki.put(rev(5, 0), val("b"), 0).unwrap(), (5, 1));
}

#[test]
fn out_of_order_revisions_are_refused() {
    let mut ki = example();
    let err = ki.put(rev(9, 0), val("x"), 0).unwrap_err();
    assert_eq!(err.message(), "mvcc: revisions of a key must increase: got 9.0 after 9.0");
    let err = ki.tombstone(rev(8, 5)).unwrap_err();
    assert_eq!(err.message(), "mvcc: revisions of a key must increase: got 8.5 after 9.0");
    assert_eq!(ki, example());
}

#[test]
fn tombstone_on_a_deleted_key_is_refused() {
    let mut ki = KeyIndex::new();
    let err = ki.tombstone(rev(2, 0)).unwrap_err();
    assert_eq!(err.message(), "mvcc: tombstone at 2.0 on a key that is not live");
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    ki.tombstone(rev(3, 0)).unwrap();
    assert!(ki.tombstone(rev(4, 0)).is_err());
}

#[test]
fn delete_then_put_in_one_revision() {
    // Only reachable through the `range_end = "\0"` delete quirk (see txn_check.rs).
    let mut ki = KeyIndex::new();
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    ki.tombstone(rev(5, 0)).unwrap();
    ki.put(rev(5, 1), val("b"), 0).unwrap();
    assert_eq!(seen(&ki, 5), Some((5, 5, 1, b"b".to_vec())));
    assert_eq!(seen(&ki, 4), Some((2, 2, 1, b"a".to_vec())));
    ki.compact(5);
    assert_eq!(ki.to_string(), "{5.0(t)} {5.1}");
    assert_eq!(seen(&ki, 5), Some((5, 5, 1, b"b".to_vec())));
}

#[test]
fn rollback_undoes_one_revision() {
    let mut ki = KeyIndex::new();
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    let before = ki.clone();
    ki.put(rev(3, 0), val("b"), 0).unwrap();
    ki.tombstone(rev(3, 1)).unwrap();
    ki.put(rev(3, 2), val("c"), 0).unwrap();
    ki.tombstone(rev(3, 3)).unwrap();
    ki.rollback(3);
    assert_eq!(ki, before);
    assert_eq!(ki.put(rev(3, 0), val("b"), 0).unwrap(), (2, 2));

    let mut fresh = KeyIndex::new();
    fresh.put(rev(4, 0), val("x"), 0).unwrap();
    fresh.rollback(4);
    assert!(fresh.is_empty());
    assert_eq!(fresh, KeyIndex::new());
}

#[test]
fn rollback_of_a_delete_revives_the_key() {
    let mut ki = KeyIndex::new();
    ki.put(rev(2, 0), val("a"), 0).unwrap();
    let before = ki.clone();
    ki.tombstone(rev(3, 0)).unwrap();
    ki.rollback(3);
    assert_eq!(ki, before);
    assert_eq!(seen(&ki, 3), Some((2, 2, 1, b"a".to_vec())));
}

#[test]
fn stored_lists_every_version_with_tombstones_marked() {
    let ki = example();
    let got: Vec<(Revision, bool)> = ki.stored().map(|s| (s.version.mod_revision, s.tombstone)).collect();
    assert_eq!(
        got,
        vec![
            (rev(2, 0), false),
            (rev(3, 0), false),
            (rev(4, 0), true),
            (rev(6, 0), false),
            (rev(7, 0), false),
            (rev(8, 1), true),
            (rev(9, 0), false),
        ]
    );
}

#[test]
fn validate_accepts_real_histories_and_rejects_broken_ones() {
    assert_eq!(example().validate(9), Ok(()));
    assert!(example().validate(8).unwrap_err().contains("outside 1..=8"));
    assert_eq!(KeyIndex::new().validate(1), Err("no stored version".to_string()));
    assert_eq!(KeyIndex { generations: vec![] }.validate(1), Err("no generation".to_string()));

    let mut gap = example();
    gap.generations.insert(1, Generation::default());
    assert!(gap.validate(9).unwrap_err().contains("empty generation"));

    let mut unordered = example();
    unordered.generations[1].versions.swap(0, 1);
    assert!(unordered.validate(9).unwrap_err().contains("does not increase"));

    let mut low_ver = example();
    low_ver.generations[0].ver = 1;
    assert!(low_ver.validate(9).unwrap_err().contains("below its 3 versions"));

    let mut bad_create = example();
    bad_create.generations[2].create_revision = 10;
    assert!(bad_create.validate(9).unwrap_err().contains("create revision 10"));
}

#[test]
fn memory_layout_is_as_documented() {
    // store.rs documents these sizes; a change here should update the docs there.
    assert_eq!(std::mem::size_of::<StoredVersion>(), 40);
    assert_eq!(std::mem::size_of::<Generation>(), 40);
    assert_eq!(std::mem::size_of::<KeyIndex>(), 24);
}

/// Byte fields are written as one slice (`serde_bytes`), which bincode encodes exactly
/// as it encoded them element by element before: snapshots, WAL records and peer
/// messages written by earlier builds read the same.
#[test]
fn byte_fields_encode_as_before() {
    use bincode::Options;
    use serde::Serialize;
    #[derive(Serialize)]
    struct Elementwise {
        rev: Revision,
        value: Vec<u8>,
        lease: i64,
    }
    let value: Vec<u8> = (0..=255u8).chain(0..40).collect();
    let stored =
        StoredVersion { rev: Revision::new(7, 2), value: value.clone().into_boxed_slice(), lease: 9 };
    let plain = Elementwise { rev: Revision::new(7, 2), value, lease: 9 };
    let varint = bincode::DefaultOptions::new();
    assert_eq!(varint.serialize(&stored).unwrap(), varint.serialize(&plain).unwrap());
    assert_eq!(bincode::serialize(&stored).unwrap(), bincode::serialize(&plain).unwrap());
    let back: StoredVersion = varint.deserialize(&varint.serialize(&plain).unwrap()).unwrap();
    assert_eq!(back, stored);
    let back: StoredVersion = bincode::deserialize(&bincode::serialize(&plain).unwrap()).unwrap();
    assert_eq!(back, stored);
}
