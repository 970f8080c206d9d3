//! The writer against a minimal bbolt reader written here from the format (the
//! module docs), with bbolt's own consistency rules: valid meta pages, every page
//! reached exactly once, keys ascending, branch keys = first keys of their children.

use std::cell::Cell;

use proptest::prelude::*;

use super::*;

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[derive(Debug, PartialEq, Eq)]
struct Meta {
    root: u64,
    freelist: u64,
    pgid: u64,
    txid: u64,
}

/// A bbolt file read back, checking as it goes (panics on any violation).
struct Reader<'a> {
    file: &'a [u8],
    meta: Meta,
    /// How often each page was reached.
    reached: Vec<u32>,
}

/// A page's header fields and its bytes (all its pages).
struct Page<'a> {
    flags: u16,
    count: usize,
    bytes: &'a [u8],
}

fn read_meta(file: &[u8], page_id: u64) -> Meta {
    let page = &file[page_id as usize * PAGE_SIZE..][..PAGE_SIZE];
    assert_eq!(u64_at(page, 0), page_id, "meta page id");
    assert_eq!(u16_at(page, 8), META_PAGE, "meta page flags");
    let m = &page[16..80];
    assert_eq!(u32_at(m, 0), MAGIC);
    assert_eq!(u32_at(m, 4), VERSION);
    assert_eq!(u32_at(m, 8), PAGE_SIZE as u32);
    assert_eq!(u32_at(m, 12), 0, "meta flags");
    assert_eq!(u64_at(m, 24), 0, "root bucket sequence");
    assert_eq!(u64_at(m, 56), fnv1a64(&m[..56]), "meta checksum of page {page_id}");
    Meta { root: u64_at(m, 16), freelist: u64_at(m, 32), pgid: u64_at(m, 40), txid: u64_at(m, 48) }
}

impl<'a> Reader<'a> {
    fn open(file: &'a [u8]) -> Reader<'a> {
        assert_eq!(file.len() % PAGE_SIZE, 0, "whole pages");
        let (m0, m1) = (read_meta(file, 0), read_meta(file, 1));
        assert_eq!((m0.root, m0.freelist, m0.pgid), (m1.root, m1.freelist, m1.pgid), "meta pages agree");
        let meta = if m0.txid > m1.txid { m0 } else { m1 };
        assert_eq!(meta.pgid as usize * PAGE_SIZE, file.len(), "pgid is the file's page count");
        let mut r = Reader { file, meta, reached: vec![0; file.len() / PAGE_SIZE] };
        r.reached[0] = 1;
        r.reached[1] = 1;
        let free = r.page(r.meta.freelist);
        assert_eq!(free.flags, FREELIST_PAGE);
        assert_eq!(free.count, 0, "nothing free");
        r
    }

    fn page(&mut self, pgid: u64) -> Page<'a> {
        let at = pgid as usize * PAGE_SIZE;
        let head = &self.file[at..at + PAGE_HEADER_LEN];
        assert_eq!(u64_at(head, 0), pgid, "page {pgid} carries its id");
        let span = u32_at(head, 12) as usize + 1;
        for id in pgid as usize..pgid as usize + span {
            self.reached[id] += 1;
        }
        Page {
            flags: u16_at(head, 8),
            count: u16_at(head, 10) as usize,
            bytes: &self.file[at..at + span * PAGE_SIZE],
        }
    }

    /// Every (flags, key, value) of the tree at `pgid`, in order; checks branch keys.
    fn tree(&mut self, pgid: u64) -> Vec<(u32, Vec<u8>, Vec<u8>)> {
        let page = self.page(pgid);
        let mut out = Vec::new();
        for i in 0..page.count {
            let at = PAGE_HEADER_LEN + ELEMENT_LEN * i;
            let e = &page.bytes[at..at + ELEMENT_LEN];
            match page.flags {
                LEAF_PAGE => {
                    let (pos, ks, vs) =
                        (u32_at(e, 4) as usize, u32_at(e, 8) as usize, u32_at(e, 12) as usize);
                    let key = &page.bytes[at + pos..at + pos + ks];
                    let value = &page.bytes[at + pos + ks..at + pos + ks + vs];
                    out.push((u32_at(e, 0), key.to_vec(), value.to_vec()));
                }
                BRANCH_PAGE => {
                    let (pos, ks, child) = (u32_at(e, 0) as usize, u32_at(e, 4) as usize, u64_at(e, 8));
                    let key = page.bytes[at + pos..at + pos + ks].to_vec();
                    let below = self.tree(child);
                    assert!(!below.is_empty(), "branch child {child} is empty");
                    assert_eq!(below[0].1, key, "branch key is the child's first key");
                    out.extend(below);
                }
                other => panic!("page {pgid}: unexpected flags {other:#x} in a tree"),
            }
        }
        for w in out.windows(2) {
            assert!(w[0].1 < w[1].1, "keys ascend in page {pgid}'s tree");
        }
        out
    }

    /// Every bucket and its pairs; then checks that every page was reached once.
    fn buckets(mut self) -> Vec<(Vec<u8>, Pairs)> {
        let root = self.meta.root;
        let mut out = Vec::new();
        for (flags, name, header) in self.tree(root) {
            assert_eq!(flags, BUCKET_ELEMENT, "root elements are buckets");
            assert_eq!(header.len(), BUCKET_HEADER_LEN, "bucket header only (no inline bucket)");
            assert_eq!(u64_at(&header, 8), 0, "bucket sequence");
            let pairs = self.tree(u64_at(&header, 0));
            assert!(pairs.iter().all(|(f, _, _)| *f == 0), "no nested buckets");
            out.push((name, pairs.into_iter().map(|(_, k, v)| (k, v)).collect()));
        }
        for (id, n) in self.reached.iter().enumerate() {
            assert_eq!(*n, 1, "page {id} reached {n} times");
        }
        out
    }
}

/// Every bucket of a bbolt file and its pairs, after checking the whole file as
/// bbolt's consistency check would (panics on a violation).
pub(crate) fn read_buckets(file: &[u8]) -> Vec<(Vec<u8>, Pairs)> {
    Reader::open(file).buckets()
}

fn write(buckets: &[(&[u8], &Pairs)]) -> Vec<u8> {
    let sources: Vec<BucketSource<'_>> =
        buckets.iter().map(|(name, pairs)| BucketSource { name, pairs: *pairs }).collect();
    let mut file = Vec::new();
    let len = write_db(&sources, &mut |bytes| file.extend_from_slice(bytes)).unwrap();
    assert_eq!(len, file.len() as u64);
    file
}

fn round_trip(buckets: &[(&[u8], &Pairs)]) -> Vec<u8> {
    let file = write(buckets);
    let back = read_buckets(&file);
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

fn page_flags(file: &[u8], pgid: usize) -> (u16, u16, u32) {
    let at = pgid * PAGE_SIZE;
    (u16_at(file, at + 8), u16_at(file, at + 10), u32_at(file, at + 12))
}

#[test]
fn fnv1a64_matches_go() {
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
}

/// The module docs' first worked example, byte for byte where it says so.
#[test]
fn worked_example_small() {
    let key: Pairs = vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())];
    let meta: Pairs = vec![];
    let file = round_trip(&[(b"key", &key), (b"meta", &meta)]);
    assert_eq!(file.len(), 6 * PAGE_SIZE);
    let m0 = read_meta(&file, 0);
    assert_eq!(m0, Meta { root: 3, freelist: 2, pgid: 6, txid: 2 });
    assert_eq!(read_meta(&file, 1), Meta { txid: 1, ..m0 });
    assert_eq!(page_flags(&file, 2), (FREELIST_PAGE, 0, 0));
    assert_eq!(page_flags(&file, 3), (LEAF_PAGE, 2, 0));
    assert_eq!(page_flags(&file, 4), (LEAF_PAGE, 2, 0));
    assert_eq!(page_flags(&file, 5), (LEAF_PAGE, 0, 0));
    let leaf = &file[4 * PAGE_SIZE..5 * PAGE_SIZE];
    // Element 0: flags 0, pos 32 (to byte 48), ksize 1, vsize 1; element 1: pos 18.
    assert_eq!(&leaf[16..32], &[0, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&leaf[32..48], &[0, 0, 0, 0, 18, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(&leaf[48..52], b"a1b2");
    assert!(leaf[52..].iter().all(|b| *b == 0));
    let root = &file[3 * PAGE_SIZE..4 * PAGE_SIZE];
    assert_eq!(u32_at(root, 16), BUCKET_ELEMENT);
    // "key" header: root 4; "meta" header: root 5.
    let key_header_at = 16 + u32_at(root, 20) as usize + 3;
    assert_eq!(u64_at(root, key_header_at), 4);
    let meta_header_at = 32 + u32_at(root, 36) as usize + 4;
    assert_eq!(u64_at(root, meta_header_at), 5);
}

/// The module docs' second worked example: ten full leaves under one branch page.
#[test]
fn worked_example_branch() {
    let key = pairs(300, 20, 100);
    let file = round_trip(&[(b"key", &key)]);
    assert_eq!(file.len(), 15 * PAGE_SIZE);
    for pgid in 4..=13 {
        assert_eq!(page_flags(&file, pgid), (LEAF_PAGE, 30, 0), "leaf {pgid}");
    }
    assert_eq!(page_flags(&file, 14), (BRANCH_PAGE, 10, 0));
    let root = &file[3 * PAGE_SIZE..];
    assert_eq!(u64_at(root, 16 + u32_at(root, 20) as usize + 3), 14, "bucket root is the branch");
}

#[test]
fn no_buckets_is_an_empty_root_leaf() {
    let file = round_trip(&[]);
    assert_eq!(file.len(), 4 * PAGE_SIZE);
    assert_eq!(page_flags(&file, 3), (LEAF_PAGE, 0, 0));
}

#[test]
fn deep_tree_with_many_small_pairs() {
    let key = pairs(60_000, 17, 30);
    let small = pairs(3, 5, 5);
    let file = round_trip(&[(b"a", &small), (b"key", &key), (b"z", &small)]);
    let reader = Reader::open(&file);
    let key_root = {
        let root = &file[reader.meta.root as usize * PAGE_SIZE..];
        let at = 32 + u32_at(root, 36) as usize + 3;
        u64_at(root, at) as usize
    };
    // 60k leaf elements of 63 B: ~930 leaves, ~9 branch pages of 33 B elements, a root.
    assert_eq!(page_flags(&file, key_root).0, BRANCH_PAGE);
    let first_child = u64_at(&file, key_root * PAGE_SIZE + 24) as usize;
    assert_eq!(page_flags(&file, first_child).0, BRANCH_PAGE, "three levels");
}

#[test]
fn big_values_overflow_their_leaf() {
    let mut key = pairs(5, 8, 10);
    key[1].1 = vec![7; 10_000];
    key[3].1 = vec![9; 3 * PAGE_SIZE];
    let file = round_trip(&[(b"key", &key)]);
    // A big value does not fit after pair 0 or 2: each gets a leaf of its own,
    // 16 + 16 + 8 + 10000 B (3 pages) and 16 + 16 + 8 + 12288 B (4 pages); the next
    // pair does not fit behind it either. Then the branch over the five leaves.
    let mut nodes = Vec::new();
    let mut pgid = 4;
    while pgid < file.len() / PAGE_SIZE {
        let (flags, count, overflow) = page_flags(&file, pgid);
        nodes.push((pgid, flags, count, overflow));
        pgid += overflow as usize + 1;
    }
    let leaf = |pgid, overflow| (pgid, LEAF_PAGE, 1, overflow);
    assert_eq!(nodes, [leaf(4, 0), leaf(5, 2), leaf(8, 0), leaf(9, 3), leaf(13, 0), (14, BRANCH_PAGE, 5, 0)]);
}

#[test]
fn huge_keys_make_overflowing_branches() {
    let key = pairs(40, 3000, 0);
    round_trip(&[(b"key", &key)]);
}

#[test]
fn many_buckets_make_a_branching_root() {
    let one = pairs(2, 4, 4);
    let names: Vec<Vec<u8>> = (0..400).map(|i| format!("bucket-{i:05}").into_bytes()).collect();
    let buckets: Vec<(&[u8], &Pairs)> = names.iter().map(|n| (&n[..], &one)).collect();
    let file = round_trip(&buckets);
    assert_eq!(page_flags(&file, read_meta(&file, 0).root as usize).0, BRANCH_PAGE);
}

#[test]
fn refuses_unordered_or_empty_keys() {
    let p = |ks: &[&str]| -> Pairs { ks.iter().map(|k| (k.as_bytes().to_vec(), vec![])).collect() };
    let err = |buckets: &[(&[u8], &Pairs)]| {
        let sources: Vec<BucketSource<'_>> =
            buckets.iter().map(|(n, p)| BucketSource { name: n, pairs: *p }).collect();
        DbPlan::new(&sources).err().expect("refused")
    };
    let bucket = "b".to_string();
    assert_eq!(
        err(&[(b"b", &p(&["a", "c", "b"]))]),
        BboltError::KeyOrder { bucket: bucket.clone(), index: 2 }
    );
    assert_eq!(err(&[(b"b", &p(&["a", "a"]))]), BboltError::KeyOrder { bucket: bucket.clone(), index: 1 });
    assert_eq!(err(&[(b"b", &p(&[""]))]), BboltError::KeyOrder { bucket, index: 0 });
    let ok = p(&["a"]);
    assert_eq!(err(&[(b"b", &ok), (b"a", &ok)]), BboltError::BucketOrder { bucket: "a".into() });
    assert_eq!(err(&[(b"", &ok)]), BboltError::BucketOrder { bucket: String::new() });
}

/// Gives `first` on its first walk and `then` on every later one.
struct Fickle {
    first: Pairs,
    then: Pairs,
    walks: Cell<u32>,
}

impl PairSource for Fickle {
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        let n = self.walks.get();
        self.walks.set(n + 1);
        let pairs = if n == 0 { &self.first } else { &self.then };
        pairs.walk(visit);
    }
}

#[test]
fn a_source_that_changes_between_walks_is_refused() {
    let base = pairs(500, 10, 40);
    let variants: Vec<Pairs> = vec![
        base[..499].to_vec(),                     // one pair fewer
        [base.clone(), pairs(1, 12, 1)].concat(), // one more
        base.iter()
            .cloned()
            .map(|(k, mut v)| {
                v.push(0);
                (k, v)
            })
            .collect(), // longer values
        vec![],
    ];
    for then in variants {
        let fickle = Fickle { first: base.clone(), then, walks: Cell::new(0) };
        let sources = [BucketSource { name: b"key", pairs: &fickle }];
        let mut bytes = 0usize;
        let got = write_db(&sources, &mut |b| bytes += b.len());
        assert_eq!(got, Err(BboltError::SourceChanged { bucket: "key".into() }));
    }
}

#[test]
fn output_comes_in_whole_pages_in_file_order() {
    let key = pairs(1000, 17, 60);
    let sources = [BucketSource { name: b"key", pairs: &key }];
    let plan = DbPlan::new(&sources).unwrap();
    let mut next_pgid = 0u64;
    plan.write(&sources, &mut |bytes| {
        assert_eq!(bytes.len() % PAGE_SIZE, 0);
        assert_eq!(u64_at(bytes, 0), next_pgid, "pages come in order");
        next_pgid += (bytes.len() / PAGE_SIZE) as u64;
    })
    .unwrap();
    assert_eq!(next_pgid, plan.page_count());
}

fn arb_bucket() -> impl Strategy<Value = Pairs> {
    prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..40),
        prop::collection::vec(any::<u8>(), 0..600),
        0..300,
    )
    .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_buckets_read_back(buckets in prop::collection::btree_map(
        prop::collection::vec(any::<u8>(), 1..12), arb_bucket(), 0..5)) {
        let list: Vec<(&[u8], &Pairs)> = buckets.iter().map(|(n, p)| (&n[..], p)).collect();
        round_trip(&list);
    }
}
