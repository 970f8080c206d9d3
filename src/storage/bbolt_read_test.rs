//! The reader against the writer (round trips over many shapes), hand-made inline
//! buckets (what bbolt itself writes for small buckets), every kind of corruption, and
//! random bytes, truncations and bit flips (never a panic).

use proptest::prelude::*;

use super::*;
use crate::storage::bbolt::{write_db, BucketSource, PAGE_SIZE};

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn write(buckets: &[(&[u8], &Pairs)]) -> Vec<u8> {
    let sources: Vec<BucketSource<'_>> =
        buckets.iter().map(|(name, pairs)| BucketSource { name, pairs: *pairs }).collect();
    let mut file = Vec::new();
    write_db(&sources, &mut |bytes| file.extend_from_slice(bytes)).expect("write");
    file
}

fn owned(buckets: Vec<BucketRef<'_>>) -> Vec<(Vec<u8>, Pairs)> {
    buckets
        .into_iter()
        .map(|b| (b.name.to_vec(), b.pairs.into_iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()))
        .collect()
}

fn round_trip(buckets: &[(&[u8], &Pairs)]) -> Vec<u8> {
    let file = write(buckets);
    let back = owned(read_buckets(&file).expect("read back"));
    let want: Vec<(Vec<u8>, Pairs)> = buckets.iter().map(|(n, p)| (n.to_vec(), (*p).clone())).collect();
    assert_eq!(back, want);
    file
}

fn pairs(n: usize, key_len: usize, value_len: usize) -> Pairs {
    (0..n)
        .map(|i| {
            let mut key = format!("{i:0width$}", width = key_len).into_bytes();
            key.truncate(key_len);
            (key, vec![(i % 251) as u8; value_len])
        })
        .collect()
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Rewrite meta page `page_id`'s checksum after an edit.
fn reseal_meta(file: &mut [u8], page_id: usize) {
    let m = page_id * PAGE_SIZE + 16;
    let sum = fnv1a64(&file[m..m + 56]);
    put_u64(file, m + 56, sum);
}

/// Page id of bucket `index`'s root, from the root leaf (the writer's layout).
fn bucket_root(file: &[u8], index: usize) -> usize {
    let root = open_meta(file).unwrap().root_pgid as usize * PAGE_SIZE;
    let at = root + 16 + 16 * index;
    let pos = u32::from_le_bytes(file[at + 4..at + 8].try_into().unwrap()) as usize;
    let ksize = u32::from_le_bytes(file[at + 8..at + 12].try_into().unwrap()) as usize;
    u64::from_le_bytes(file[at + pos + ksize..at + pos + ksize + 8].try_into().unwrap()) as usize
}

#[test]
fn round_trips_every_shape() {
    round_trip(&[]);
    let (empty, small) = (Pairs::new(), pairs(3, 4, 2));
    round_trip(&[(b"a", &empty), (b"key", &small), (b"meta", &empty)]);
    round_trip(&[(b"key", &pairs(300, 20, 100))]); // ten leaves under a branch
    round_trip(&[(b"key", &pairs(60_000, 17, 30))]); // three levels
    let mut big = pairs(5, 8, 10);
    big[1].1 = vec![7; 10_000];
    big[3].1 = vec![9; 3 * PAGE_SIZE];
    round_trip(&[(b"key", &big)]); // overflowing leaves
    round_trip(&[(b"key", &pairs(40, 3000, 0))]); // overflowing branches
    let one = pairs(2, 4, 4);
    let names: Vec<Vec<u8>> = (0..400).map(|i| format!("bucket-{i:05}").into_bytes()).collect();
    let many: Vec<(&[u8], &Pairs)> = names.iter().map(|n| (&n[..], &one)).collect();
    round_trip(&many); // a branching root
}

/// A file whose only bucket `b` is inline (root 0, its leaf page in the value), as
/// bbolt writes small buckets; `pairs` are its contents.
fn inline_file(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut inline = vec![0u8; 16 + 16 * pairs.len()];
    inline[8..10].copy_from_slice(&LEAF_PAGE.to_le_bytes());
    inline[10..12].copy_from_slice(&(pairs.len() as u16).to_le_bytes());
    for (i, (k, v)) in pairs.iter().enumerate() {
        let at = 16 + 16 * i;
        let pos = (inline.len() - at) as u32;
        put_u32(&mut inline, at + 4, pos);
        put_u32(&mut inline, at + 8, k.len() as u32);
        put_u32(&mut inline, at + 12, v.len() as u32);
        inline.extend_from_slice(k);
        inline.extend_from_slice(v);
    }
    let mut value = vec![0u8; 16]; // bucket header: root 0, sequence 0
    value.extend_from_slice(&inline);
    let mut file = write(&[]); // pages 0..=3, page 3 an empty root leaf
    let root = &mut file[3 * PAGE_SIZE..4 * PAGE_SIZE];
    root[10..12].copy_from_slice(&1u16.to_le_bytes());
    put_u32(root, 16, BUCKET_ELEMENT);
    put_u32(root, 20, 16);
    put_u32(root, 24, 1);
    put_u32(root, 28, value.len() as u32);
    root[32] = b'b';
    root[33..33 + value.len()].copy_from_slice(&value);
    file
}

#[test]
fn reads_inline_buckets() {
    let file = inline_file(&[(b"k1", b"v1"), (b"k2", b"")]);
    let back = read_buckets(&file).unwrap();
    assert_eq!(back, vec![BucketRef { name: b"b", pairs: vec![(&b"k1"[..], &b"v1"[..]), (b"k2", b"")] }]);
    let unordered = inline_file(&[(b"k2", b"v1"), (b"k1", b"")]);
    assert_eq!(read_buckets(&unordered), Err(BboltReadError::KeyOrder { bucket: "b".into(), index: 1 }));
}

#[test]
fn meta_pages_are_chosen_and_checked_as_bbolt_does() {
    let small = pairs(2, 1, 1);
    let good = write(&[(b"key", &small)]);
    assert_eq!(open_meta(&good).unwrap().txid, 2);
    let mut one_bad = good.clone();
    one_bad[16 + 20] ^= 1; // page 0's root pgid, checksum now wrong
    assert_eq!(open_meta(&one_bad).unwrap().txid, 1, "page 1 is used");
    assert!(read_buckets(&one_bad).is_ok());
    let mut both_bad = one_bad.clone();
    both_bad[PAGE_SIZE + 16 + 20] ^= 1;
    let err = read_buckets(&both_bad).unwrap_err();
    assert!(matches!(err, BboltReadError::BadMeta { .. }), "{err}");
    assert!(err.to_string().contains("checksum mismatch"), "{err}");

    let mut foreign = good.clone();
    foreign[16] ^= 0xff;
    foreign[PAGE_SIZE + 16] ^= 0xff;
    assert_eq!(read_buckets(&foreign), Err(BboltReadError::NotBbolt));
    assert_eq!(read_buckets(b"hello"), Err(BboltReadError::TooShort { file_bytes: 5 }));
    assert_eq!(read_buckets(&vec![0u8; 3 * PAGE_SIZE]), Err(BboltReadError::NotBbolt));

    let mut version = good.clone();
    for page in 0..2 {
        put_u32(&mut version, page * PAGE_SIZE + 16 + 4, 3);
        reseal_meta(&mut version, page);
    }
    assert!(read_buckets(&version).unwrap_err().to_string().contains("version 3"));
}

#[test]
fn truncation_is_named() {
    let file = write(&[(b"key", &pairs(300, 20, 100))]);
    let err = read_buckets(&file[..file.len() - PAGE_SIZE]).unwrap_err();
    assert_eq!(
        err,
        BboltReadError::Truncated { pages: 15, page_size: PAGE_SIZE, file_bytes: 14 * PAGE_SIZE }
    );
    assert!(err.to_string().contains("truncated"), "{err}");
}

fn corrupt_page(file: &[u8], edit: impl FnOnce(&mut [u8])) -> BboltReadError {
    let mut bad = file.to_vec();
    edit(&mut bad);
    read_buckets(&bad).expect_err("refused")
}

#[test]
fn every_kind_of_bad_page_is_refused() {
    let file = write(&[(b"key", &pairs(300, 20, 100))]);
    let branch = bucket_root(&file, 0); // page 14, over leaves 4..=13
    assert_eq!(branch, 14);
    let at = |pgid: usize| pgid * PAGE_SIZE;
    let is_bad_page = |e: &BboltReadError, pgid: u64, what: &str| match e {
        BboltReadError::BadPage { pgid: p, reason } => *p == pgid && reason.contains(what),
        _ => false,
    };

    let e = corrupt_page(&file, |f| put_u64(f, at(5), 99));
    assert!(is_bad_page(&e, 5, "header names page 99"), "{e}");
    let e = corrupt_page(&file, |f| f[at(5) + 8] = 0x40);
    assert!(is_bad_page(&e, 5, "flags 0x40"), "{e}");
    let e = corrupt_page(&file, |f| put_u32(f, at(5) + 16 + 4, 1 << 20));
    assert!(is_bad_page(&e, 5, "outside the page"), "{e}");
    let e = corrupt_page(&file, |f| put_u32(f, at(5) + 16 + 12, u32::MAX));
    assert!(is_bad_page(&e, 5, "outside the page"), "{e}");
    let e = corrupt_page(&file, |f| f[at(5) + 10..at(5) + 12].copy_from_slice(&u16::MAX.to_le_bytes()));
    assert!(is_bad_page(&e, 5, "outside"), "{e}");
    let e = corrupt_page(&file, |f| put_u32(f, at(5) + 12, 1_000));
    assert!(is_bad_page(&e, 5, "runs past"), "{e}");
    // Branch children: out of range, the meta page, itself (a cycle), twice the same.
    let child = |i: usize| at(branch) + 16 + 16 * i + 8;
    let e = corrupt_page(&file, |f| put_u64(f, child(0), 1 << 40));
    assert!(is_bad_page(&e, 1 << 40, "outside"), "{e}");
    let e = corrupt_page(&file, |f| put_u64(f, child(0), 0));
    assert!(is_bad_page(&e, 0, "outside"), "{e}");
    let e = corrupt_page(&file, |f| put_u64(f, child(3), branch as u64));
    assert!(is_bad_page(&e, branch as u64, "reached twice"), "{e}");
    let e = corrupt_page(&file, |f| put_u64(f, child(3), 4));
    assert!(is_bad_page(&e, 4, "reached twice"), "{e}");
    // Two children swapped: every page is valid, the keys are out of order.
    let e = corrupt_page(&file, |f| {
        put_u64(f, child(0), 5);
        put_u64(f, child(1), 4);
    });
    assert_eq!(e, BboltReadError::KeyOrder { bucket: "key".into(), index: 30 });
    // A leaf element flagged as a bucket inside a bucket.
    let e = corrupt_page(&file, |f| put_u32(f, at(5) + 16, BUCKET_ELEMENT));
    assert_eq!(e, BboltReadError::NestedBucket { bucket: "key".into() });
    // The root names a page outside the file.
    let e = corrupt_page(&file, |f| {
        for page in 0..2 {
            put_u64(f, at(page) + 16 + 16, 1_000);
            reseal_meta(f, page);
        }
    });
    assert!(is_bad_page(&e, 1_000, "outside"), "{e}");
}

#[test]
fn a_deep_chain_of_branches_is_refused_not_recursed() {
    // Pages 3.. each a branch with one child, the next page: deeper than MAX_DEPTH.
    let pages = MAX_DEPTH + 10;
    let mut file = write(&[]);
    file.resize((3 + pages + 1) * PAGE_SIZE, 0);
    for i in 0..=pages {
        let pgid = 3 + i;
        let p = &mut file[pgid * PAGE_SIZE..(pgid + 1) * PAGE_SIZE];
        put_u64(p, 0, pgid as u64);
        let flags = if i == pages { LEAF_PAGE } else { BRANCH_PAGE };
        p[8..10].copy_from_slice(&flags.to_le_bytes());
        if i < pages {
            p[10..12].copy_from_slice(&1u16.to_le_bytes());
            put_u32(p, 16, 16);
            put_u32(p, 20, 1);
            put_u64(p, 24, pgid as u64 + 1);
            p[32] = b'a';
        }
    }
    for page in 0..2 {
        put_u64(&mut file, page * PAGE_SIZE + 16 + 40, (3 + pages + 1) as u64);
        reseal_meta(&mut file, page);
    }
    let e = read_buckets(&file).unwrap_err();
    assert!(e.to_string().contains("deeper than"), "{e}");
}

fn sample_file() -> Vec<u8> {
    let mut big = pairs(50, 12, 90);
    big[10].1 = vec![3; 9000];
    write(&[(b"a", &pairs(3, 3, 3)), (b"key", &big), (b"meta", &Pairs::new())])
}

#[test]
fn every_truncation_is_refused_without_panic() {
    let file = sample_file();
    for len in (0..file.len()).step_by(97) {
        assert!(read_buckets(&file[..len]).is_err(), "truncated to {len} bytes");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..20_000)) {
        let _ = read_buckets(&bytes);
    }

    /// Flips anywhere in a valid file: refused, or read (bbolt has no checksum over
    /// data pages; etcd's sha256 trailer covers those), never a panic.
    #[test]
    fn bit_flips_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..8)) {
        let mut file = sample_file();
        let len = file.len();
        for (at, bit) in flips {
            file[at.index(len)] ^= 1 << bit;
        }
        let _ = read_buckets(&file);
    }

    /// The header of a meta page filled with random values (and resealed): never a panic.
    #[test]
    fn random_meta_fields_never_panic(root in any::<u64>(), pgid in any::<u64>(), size in any::<u32>()) {
        let mut file = sample_file();
        for page in 0..2 {
            let m = page * PAGE_SIZE + 16;
            put_u32(&mut file, m + 8, size);
            put_u64(&mut file, m + 16, root);
            put_u64(&mut file, m + 40, pgid);
            reseal_meta(&mut file, page);
        }
        let _ = read_buckets(&file);
    }

    #[test]
    fn any_buckets_read_back(buckets in prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..12),
        prop::collection::btree_map(
            prop::collection::vec(any::<u8>(), 1..40),
            prop::collection::vec(any::<u8>(), 0..600),
            0..300,
        ),
        0..5,
    )) {
        let owned: Vec<(Vec<u8>, Pairs)> =
            buckets.into_iter().map(|(n, p)| (n, p.into_iter().collect())).collect();
        let list: Vec<(&[u8], &Pairs)> = owned.iter().map(|(n, p)| (&n[..], p)).collect();
        round_trip(&list);
    }
}
