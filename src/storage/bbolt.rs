//! A writer of bbolt database files (the format of etcd's backend, `member/snap/db`,
//! and of what etcd's Maintenance.Snapshot sends), sans I/O: buckets of sorted pairs
//! go in, the file's pages come out through a callback, first byte first.
//!
//! # The file
//!
//! A bbolt file is a sequence of 4096-byte pages; page N starts at byte N × 4096. A
//! node bigger than a page takes consecutive pages (its header's `overflow` counts the
//! extra ones). Integers are little-endian.
//!
//! ```text
//! page header (16 B)      id u64 | flags u16 | count u16 | overflow u32
//!                         flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//! leaf element (16 B)     flags u32 (0x01: the value is a bucket header) | pos u32
//!                         | ksize u32 | vsize u32
//! branch element (16 B)   pos u32 | ksize u32 | pgid u64 (the child page)
//!                         `pos` runs from the element's own first byte to its key;
//!                         the elements come first, then every key (and value) in turn
//! meta (64 B at byte 16)  magic 0xED0CDAED u32 | version 2 u32 | page_size u32
//!                         | flags u32 | root bucket {root pgid u64, sequence u64}
//!                         | freelist pgid u64 | pgid u64 (pages in the file)
//!                         | txid u64 | checksum u64 (FNV-1a 64 of the 56 bytes before)
//! freelist                count u16 in the header, then the free page ids (u64 each)
//! bucket header (16 B)    root pgid u64 | sequence u64, the value of a bucket element
//! ```
//!
//! A branch element's key is the first key of its child's subtree. bbolt opens the
//! valid meta page with the higher txid; etcdctl's `snapshot status` also runs bbolt's
//! consistency check: every page below `pgid` is reachable from the root exactly once
//! or free, and keys are in order.
//!
//! # What this writer produces
//!
//! Page 0 and 1 are meta pages (txid 2 and 1, otherwise equal), page 2 an empty
//! freelist, from page 3 on the root bucket's tree (one leaf element per bucket,
//! flagged as a bucket), then each bucket's tree in name order: its leaves left to
//! right, then its branch pages level by level up to the root. Nothing is free and
//! every bucket has a page of its own (bbolt inlines small buckets into their parent;
//! it reads both). Pages are filled in order: the next element starts a new page when
//! it would not fit in 4096 bytes and the page already holds one element (a leaf; so
//! a big value makes a leaf of its own that overflows) or two (a branch; so each level
//! is shorter than the one below). Buckets are one level deep, as etcd's are.
//!
//! Worked example, buckets `key` = {a: 1, b: 2} and `meta` = {}:
//!
//! ```text
//! page 0  meta      root 3, freelist 2, pgid 6, txid 2
//! page 1  meta      the same with txid 1
//! page 2  freelist  count 0
//! page 3  leaf      count 2: "key"  → bucket {root 4, seq 0}
//!                            "meta" → bucket {root 5, seq 0}
//! page 4  leaf      count 2: "a" → "1", "b" → "2"     (bytes 16..48 elements, then "a1b2")
//! page 5  leaf      count 0
//! ```
//!
//! With 300 pairs of a 20-byte key and a 100-byte value (16 + 120 = 136 B each) the
//! bucket `key` fills ten leaves of 30 (16 + 30 × 136 = 4096 B), pages 4..=13, and one
//! branch page 14 (ten elements of 16 + 20 B) is its root.
//!
//! # Two walks, streamed output
//!
//! Meta page 0 names the root and the page count, which depend on everything after it.
//! So [`DbPlan::new`] walks every bucket once for sizes only and keeps one first key
//! per page (memory: a small fraction of the file); [`DbPlan::write`] walks them again
//! and emits the pages in file order as they fill. [`PairSource`] is that walk; a
//! second walk that differs from the first is [`BboltError::SourceChanged`], never a
//! corrupt file.

use std::fmt;

/// bbolt's page size here (etcd's on Linux/amd64): every page, and the file, is a
/// multiple of it.
pub const PAGE_SIZE: usize = 4096;

const PAGE_HEADER_LEN: usize = 16;
/// Leaf and branch elements are both 16 bytes.
const ELEMENT_LEN: usize = 16;
const BUCKET_HEADER_LEN: usize = 16;
/// Bytes of the meta fields the checksum covers (all of them before the checksum).
const META_SUMMED_LEN: usize = 56;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;

const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const META_PAGE: u16 = 0x04;
const FREELIST_PAGE: u16 = 0x10;
/// Leaf element flag: the value is a bucket header.
const BUCKET_ELEMENT: u32 = 0x01;

const FREELIST_PGID: u64 = 2;
const ROOT_TREE_PGID: u64 = 3;
/// Transaction ids of meta pages 0 and 1: equal pages, so either may be the newer;
/// page `txid % 2` is what bbolt itself would write, and its next commit (txid 3)
/// overwrites page 1, keeping page 0.
const META_TXIDS: [u64; 2] = [2, 1];

/// Fewest elements a page holds before the next one may start a new page.
const MIN_LEAF_ELEMENTS: u32 = 1;
const MIN_BRANCH_ELEMENTS: u32 = 2;

/// Why a file could not be written. Names the bucket (lossy UTF-8) it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BboltError {
    /// Bucket names must be non-empty and strictly ascending (bytewise).
    BucketOrder { bucket: String },
    /// Keys of a bucket must be non-empty and strictly ascending; `index` is the
    /// offending pair's position in the walk.
    KeyOrder { bucket: String, index: u64 },
    /// A page would exceed bbolt's 32-bit offsets or 16-bit element count.
    TooLarge { bucket: String, bytes: u64 },
    /// The writing walk of a bucket did not give the pairs the planning walk gave.
    SourceChanged { bucket: String },
}

impl fmt::Display for BboltError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BboltError::BucketOrder { bucket } => {
                write!(f, "bbolt: bucket {bucket:?} is empty-named or not after the one before")
            }
            BboltError::KeyOrder { bucket, index } => {
                write!(f, "bbolt: key #{index} of bucket {bucket:?} is empty or not after the one before")
            }
            BboltError::TooLarge { bucket, bytes } => {
                write!(f, "bbolt: a page of bucket {bucket:?} would be {bytes} bytes, beyond bbolt's limits")
            }
            BboltError::SourceChanged { bucket } => {
                write!(f, "bbolt: bucket {bucket:?} changed between the planning and the writing walk")
            }
        }
    }
}

impl std::error::Error for BboltError {}

type Result<T> = std::result::Result<T, BboltError>;

/// The pairs of one bucket, in strictly ascending key order. The writer walks each
/// bucket twice (plan, then write); both walks must visit the same pairs.
pub trait PairSource {
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &[u8]));
}

impl PairSource for [(Vec<u8>, Vec<u8>)] {
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        for (k, v) in self {
            visit(k, v);
        }
    }
}

impl PairSource for Vec<(Vec<u8>, Vec<u8>)> {
    fn walk(&self, visit: &mut dyn FnMut(&[u8], &[u8])) {
        self.as_slice().walk(visit);
    }
}

/// One top-level bucket: its name and its pairs.
#[derive(Clone, Copy)]
pub struct BucketSource<'a> {
    pub name: &'a [u8],
    pub pairs: &'a dyn PairSource,
}

fn lossy(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// One page of a planned tree: the first key under it, how many elements it holds and
/// how many pages it spans.
#[derive(Clone, Debug)]
struct PagePlan {
    first_key: Box<[u8]>,
    elements: u32,
    span: u32,
}

/// Packs elements into pages greedily, in order.
struct Packer<'a> {
    bucket: &'a [u8],
    min_elements: u32,
    pages: Vec<PagePlan>,
    open: Option<(PagePlan, usize)>,
}

impl<'a> Packer<'a> {
    fn new(bucket: &'a [u8], min_elements: u32) -> Self {
        Packer { bucket, min_elements, pages: Vec::new(), open: None }
    }

    fn push(&mut self, key: &[u8], element_len: usize) -> Result<()> {
        if let Some((page, bytes)) = &self.open {
            if page.elements >= self.min_elements && bytes + element_len > PAGE_SIZE {
                self.close()?;
            }
        }
        let (page, bytes) = self.open.get_or_insert_with(|| {
            (PagePlan { first_key: key.into(), elements: 0, span: 0 }, PAGE_HEADER_LEN)
        });
        page.elements += 1;
        *bytes += element_len;
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        if let Some((mut page, bytes)) = self.open.take() {
            if bytes > u32::MAX as usize || page.elements > u32::from(u16::MAX) - 1 {
                return Err(BboltError::TooLarge { bucket: lossy(self.bucket), bytes: bytes as u64 });
            }
            page.span = bytes.div_ceil(PAGE_SIZE) as u32;
            self.pages.push(page);
        }
        Ok(())
    }

    /// The pages; an empty tree is one empty page.
    fn finish(mut self) -> Result<Vec<PagePlan>> {
        self.close()?;
        if self.pages.is_empty() {
            self.pages.push(PagePlan { first_key: Box::default(), elements: 0, span: 1 });
        }
        Ok(self.pages)
    }
}

/// A planned B+tree: `levels[0]` the leaves, each level above them the branch pages
/// over the one below, the last level a single root page. In the file from
/// `first_pgid` on, level by level, left to right.
struct TreePlan {
    levels: Vec<Vec<PagePlan>>,
    first_pgid: u64,
}

impl TreePlan {
    fn over(bucket: &[u8], leaves: Vec<PagePlan>) -> Result<TreePlan> {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let mut packer = Packer::new(bucket, MIN_BRANCH_ELEMENTS);
            for child in below {
                packer.push(&child.first_key, ELEMENT_LEN + child.first_key.len())?;
            }
            levels.push(packer.finish()?);
        }
        Ok(TreePlan { levels, first_pgid: 0 })
    }

    fn page_count(&self) -> u64 {
        self.levels.iter().flatten().map(|p| u64::from(p.span)).sum()
    }

    /// The root is the last page of the tree.
    fn root_pgid(&self) -> u64 {
        let root_span = self.levels.last().and_then(|l| l.last()).map_or(1, |p| u64::from(p.span));
        self.first_pgid + self.page_count() - root_span
    }
}

/// Checks that keys come non-empty and strictly ascending.
struct KeyOrder {
    last: Vec<u8>,
    index: u64,
}

impl KeyOrder {
    fn new() -> Self {
        KeyOrder { last: Vec::new(), index: 0 }
    }

    fn check(&mut self, bucket: &[u8], key: &[u8]) -> Result<()> {
        if key.is_empty() || (self.index > 0 && key <= self.last.as_slice()) {
            return Err(BboltError::KeyOrder { bucket: lossy(bucket), index: self.index });
        }
        self.last.clear();
        self.last.extend_from_slice(key);
        self.index += 1;
        Ok(())
    }
}

/// The leaves of one bucket, from a walk over its pairs.
fn plan_leaves(bucket: &BucketSource<'_>) -> Result<Vec<PagePlan>> {
    let mut packer = Packer::new(bucket.name, MIN_LEAF_ELEMENTS);
    let mut order = KeyOrder::new();
    let mut failed = None;
    bucket.pairs.walk(&mut |key, value| {
        if failed.is_none() {
            let pushed = order
                .check(bucket.name, key)
                .and_then(|()| packer.push(key, ELEMENT_LEN + key.len() + value.len()));
            failed = pushed.err();
        }
    });
    match failed {
        Some(e) => Err(e),
        None => packer.finish(),
    }
}

/// Where every page of a file goes; made by a first walk over the buckets.
pub struct DbPlan {
    names: Vec<Box<[u8]>>,
    root: TreePlan,
    buckets: Vec<TreePlan>,
    page_count: u64,
}

impl DbPlan {
    /// Walk every bucket once (sizes and one key per page) and lay out the file.
    pub fn new(buckets: &[BucketSource<'_>]) -> Result<DbPlan> {
        let mut order = KeyOrder::new();
        let mut root_leaves = Packer::new(b"", MIN_LEAF_ELEMENTS);
        for b in buckets {
            order.check(b"", b.name).map_err(|_| BboltError::BucketOrder { bucket: lossy(b.name) })?;
            root_leaves.push(b.name, ELEMENT_LEN + b.name.len() + BUCKET_HEADER_LEN)?;
        }
        let mut root = TreePlan::over(b"", root_leaves.finish()?)?;
        root.first_pgid = ROOT_TREE_PGID;
        let mut next_pgid = ROOT_TREE_PGID + root.page_count();
        let mut trees = Vec::with_capacity(buckets.len());
        for b in buckets {
            let mut tree = TreePlan::over(b.name, plan_leaves(b)?)?;
            tree.first_pgid = next_pgid;
            next_pgid += tree.page_count();
            trees.push(tree);
        }
        let names = buckets.iter().map(|b| Box::from(b.name)).collect();
        Ok(DbPlan { names, root, buckets: trees, page_count: next_pgid })
    }

    /// Pages in the file (bbolt's high water mark, meta `pgid`).
    pub fn page_count(&self) -> u64 {
        self.page_count
    }

    /// Length of the file.
    pub fn size_bytes(&self) -> u64 {
        self.page_count * PAGE_SIZE as u64
    }

    /// Walk the buckets again and emit the file, in order, a page (or an overflowing
    /// node) per call. `buckets` must be the ones the plan was made from.
    pub fn write(&self, buckets: &[BucketSource<'_>], emit: &mut dyn FnMut(&[u8])) -> Result<()> {
        let changed = |name: &[u8]| BboltError::SourceChanged { bucket: lossy(name) };
        if buckets.len() != self.names.len() {
            return Err(changed(b""));
        }
        let mut out = Counted { emit, bytes: 0 };
        for (page_id, txid) in META_TXIDS.iter().enumerate() {
            out.page(&meta_page(page_id as u64, *txid, self.root.root_pgid(), self.page_count));
        }
        out.page(&freelist_page());
        self.write_root_tree(&mut out)?;
        for ((b, tree), name) in buckets.iter().zip(&self.buckets).zip(&self.names) {
            if b.name != &name[..] {
                return Err(changed(b.name));
            }
            write_tree(b, tree, &mut out)?;
        }
        if out.bytes != self.size_bytes() {
            return Err(changed(b""));
        }
        Ok(())
    }

    /// The root bucket: one bucket element per bucket, pointing at its tree's root.
    fn write_root_tree(&self, out: &mut Counted<'_>) -> Result<()> {
        let mut leaves = LeafWriter::new(b"", &self.root);
        for (name, tree) in self.names.iter().zip(&self.buckets) {
            let mut header = [0u8; BUCKET_HEADER_LEN];
            header[..8].copy_from_slice(&tree.root_pgid().to_le_bytes());
            leaves.put(BUCKET_ELEMENT, name, &header, out)?;
        }
        let (pgids, next_pgid) = leaves.finish(out)?;
        write_branches(b"", &self.root, pgids, next_pgid, out)
    }
}

/// Plan and write in one call; returns the file's length.
pub fn write_db(buckets: &[BucketSource<'_>], emit: &mut dyn FnMut(&[u8])) -> Result<u64> {
    let plan = DbPlan::new(buckets)?;
    plan.write(buckets, emit)?;
    Ok(plan.size_bytes())
}

/// The output, with a running byte count.
struct Counted<'a> {
    emit: &'a mut dyn FnMut(&[u8]),
    bytes: u64,
}

impl Counted<'_> {
    fn page(&mut self, bytes: &[u8]) {
        debug_assert_eq!(bytes.len() % PAGE_SIZE, 0, "whole pages only");
        self.bytes += bytes.len() as u64;
        (self.emit)(bytes);
    }
}

fn write_tree(bucket: &BucketSource<'_>, tree: &TreePlan, out: &mut Counted<'_>) -> Result<()> {
    let mut leaves = LeafWriter::new(bucket.name, tree);
    let mut failed = None;
    bucket.pairs.walk(&mut |key, value| {
        if failed.is_none() {
            failed = leaves.put(0, key, value, out).err();
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let (pgids, next_pgid) = leaves.finish(out)?;
    write_branches(bucket.name, tree, pgids, next_pgid, out)
}

/// Fills a tree's planned leaves, in order, from the pairs of the writing walk.
struct LeafWriter<'a> {
    bucket: &'a [u8],
    plan: &'a [PagePlan],
    next: usize,
    pgid: u64,
    page: PageBuf,
    /// Page id of every leaf written, for the branch level above.
    pgids: Vec<u64>,
}

impl<'a> LeafWriter<'a> {
    fn new(bucket: &'a [u8], tree: &'a TreePlan) -> Self {
        let plan = tree.levels.first().map_or(&[][..], |l| &l[..]);
        LeafWriter {
            bucket,
            plan,
            next: 0,
            pgid: tree.first_pgid,
            page: PageBuf::default(),
            pgids: Vec::new(),
        }
    }

    fn changed(&self) -> BboltError {
        BboltError::SourceChanged { bucket: lossy(self.bucket) }
    }

    fn put(&mut self, flags: u32, key: &[u8], value: &[u8], out: &mut Counted<'_>) -> Result<()> {
        if !self.page.is_open() {
            let planned = self.plan.get(self.next).ok_or_else(|| self.changed())?;
            if *planned.first_key != *key {
                return Err(self.changed());
            }
            self.page.start(self.pgid, LEAF_PAGE, planned.elements);
        }
        self.page.push_leaf(flags, key, value);
        if self.page.is_full() {
            self.close(out)?;
        }
        Ok(())
    }

    fn close(&mut self, out: &mut Counted<'_>) -> Result<()> {
        let planned_span = self.plan[self.next].span;
        let (span, bytes) = self.page.finish();
        if span != planned_span {
            return Err(self.changed());
        }
        out.page(bytes);
        self.pgids.push(self.pgid);
        self.pgid += u64::from(span);
        self.next += 1;
        Ok(())
    }

    /// After the last pair: an empty tree's one empty leaf, and a check that every
    /// planned leaf was written. The leaves' page ids and the page id after them.
    fn finish(mut self, out: &mut Counted<'_>) -> Result<(Vec<u64>, u64)> {
        if self.page.is_open() {
            return Err(self.changed());
        }
        if self.next == 0 && self.plan.len() == 1 && self.plan[0].elements == 0 {
            self.page.start(self.pgid, LEAF_PAGE, 0);
            self.close(out)?;
        }
        if self.next != self.plan.len() {
            return Err(self.changed());
        }
        Ok((self.pgids, self.pgid))
    }
}

/// Every branch level of `tree`, bottom up, from page `pgid` on; `pgids` are the
/// leaves' page ids.
fn write_branches(
    bucket: &[u8],
    tree: &TreePlan,
    mut pgids: Vec<u64>,
    mut pgid: u64,
    out: &mut Counted<'_>,
) -> Result<()> {
    for level in 1..tree.levels.len() {
        let children = &tree.levels[level - 1];
        let mut child = 0usize;
        let mut level_pgids = Vec::with_capacity(tree.levels[level].len());
        let mut page = PageBuf::default();
        for planned in &tree.levels[level] {
            page.start(pgid, BRANCH_PAGE, planned.elements);
            for _ in 0..planned.elements {
                page.push_branch(&children[child].first_key, pgids[child]);
                child += 1;
            }
            let (span, bytes) = page.finish();
            if span != planned.span {
                return Err(BboltError::SourceChanged { bucket: lossy(bucket) });
            }
            out.page(bytes);
            level_pgids.push(pgid);
            pgid += u64::from(span);
        }
        pgids = level_pgids;
    }
    Ok(())
}

/// One leaf or branch page being filled: header and element slots first, keys and
/// values appended behind them.
#[derive(Default)]
struct PageBuf {
    bytes: Vec<u8>,
    count: u32,
    filled: u32,
    open: bool,
}

impl PageBuf {
    fn start(&mut self, pgid: u64, flags: u16, count: u32) {
        self.bytes.clear();
        self.bytes.resize(PAGE_HEADER_LEN + ELEMENT_LEN * count as usize, 0);
        write_page_header(&mut self.bytes, pgid, flags, count as u16);
        (self.count, self.filled, self.open) = (count, 0, true);
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn is_full(&self) -> bool {
        self.filled == self.count
    }

    /// The next element's slot and its `pos` (from the slot to the end of the data).
    fn next_slot(&mut self) -> (usize, u32) {
        assert!(self.open && self.filled < self.count, "bbolt: more elements than the page planned");
        let at = PAGE_HEADER_LEN + ELEMENT_LEN * self.filled as usize;
        self.filled += 1;
        (at, (self.bytes.len() - at) as u32)
    }

    fn push_leaf(&mut self, flags: u32, key: &[u8], value: &[u8]) {
        let (at, pos) = self.next_slot();
        let slot = &mut self.bytes[at..at + ELEMENT_LEN];
        slot[0..4].copy_from_slice(&flags.to_le_bytes());
        slot[4..8].copy_from_slice(&pos.to_le_bytes());
        slot[8..12].copy_from_slice(&(key.len() as u32).to_le_bytes());
        slot[12..16].copy_from_slice(&(value.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(key);
        self.bytes.extend_from_slice(value);
    }

    fn push_branch(&mut self, key: &[u8], child_pgid: u64) {
        let (at, pos) = self.next_slot();
        let slot = &mut self.bytes[at..at + ELEMENT_LEN];
        slot[0..4].copy_from_slice(&pos.to_le_bytes());
        slot[4..8].copy_from_slice(&(key.len() as u32).to_le_bytes());
        slot[8..16].copy_from_slice(&child_pgid.to_le_bytes());
        self.bytes.extend_from_slice(key);
    }

    /// Close the page: set its overflow, pad it to whole pages; its span and bytes.
    fn finish(&mut self) -> (u32, &[u8]) {
        assert!(self.open && self.is_full(), "bbolt: page closed before its planned elements");
        let span = self.bytes.len().div_ceil(PAGE_SIZE).max(1);
        self.bytes[12..16].copy_from_slice(&(span as u32 - 1).to_le_bytes());
        self.bytes.resize(span * PAGE_SIZE, 0);
        self.open = false;
        (span as u32, &self.bytes)
    }
}

fn write_page_header(page: &mut [u8], pgid: u64, flags: u16, count: u16) {
    page[0..8].copy_from_slice(&pgid.to_le_bytes());
    page[8..10].copy_from_slice(&flags.to_le_bytes());
    page[10..12].copy_from_slice(&count.to_le_bytes());
    page[12..16].fill(0);
}

/// A meta page (page 0 or 1) naming the root bucket's tree and the file's length.
fn meta_page(page_id: u64, txid: u64, root_pgid: u64, page_count: u64) -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    write_page_header(&mut page, page_id, META_PAGE, 0);
    let meta = &mut page[PAGE_HEADER_LEN..PAGE_HEADER_LEN + META_SUMMED_LEN + 8];
    meta[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    meta[4..8].copy_from_slice(&VERSION.to_le_bytes());
    meta[8..12].copy_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
    // flags (12..16) and the root bucket's sequence (24..32) stay 0.
    meta[16..24].copy_from_slice(&root_pgid.to_le_bytes());
    meta[32..40].copy_from_slice(&FREELIST_PGID.to_le_bytes());
    meta[40..48].copy_from_slice(&page_count.to_le_bytes());
    meta[48..56].copy_from_slice(&txid.to_le_bytes());
    let checksum = fnv1a64(&meta[..META_SUMMED_LEN]);
    meta[56..64].copy_from_slice(&checksum.to_le_bytes());
    page
}

/// The freelist: no page is free.
fn freelist_page() -> Vec<u8> {
    let mut page = vec![0u8; PAGE_SIZE];
    write_page_header(&mut page, FREELIST_PGID, FREELIST_PAGE, 0);
    page
}

/// FNV-1a, 64 bits (Go's hash/fnv New64a): bbolt's meta checksum.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// Its minimal bbolt reader serves `etcd_db`'s tests too.
#[cfg(test)]
#[path = "bbolt_test.rs"]
pub(crate) mod bbolt_test;
