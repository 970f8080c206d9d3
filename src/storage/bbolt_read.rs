//! A reader of bbolt database files (etcd's backend, and what `etcdctl snapshot save`
//! writes), sans I/O and trusting nothing: the whole file goes in as bytes, the
//! top-level buckets and their pairs come out borrowed from it, or an error that says
//! what is wrong and where. The format is described in [`super::bbolt`] (the writer).
//!
//! # What is checked
//!
//! ```text
//! file          at least two pages; magic 0xED0CDAED and version 2 in a meta page
//! meta pages    page 0 at byte 0, page 1 at byte page_size; each valid if its FNV-1a
//!               checksum, magic and version hold; the valid one with the higher txid
//!               wins (as bbolt opens it); page size a power of two, 512..=65536
//! length        the file holds every page the meta counts (`pgid`): else truncated
//! every node    its page id below `pgid`, its header naming that id, its overflow
//!               inside the file, flags branch or leaf, every element and every key
//!               and value inside the node's bytes
//! the trees     each page reached at most once (no cycles, no shared pages), at most
//!               [`MAX_DEPTH`] levels, keys strictly ascending in every bucket
//! buckets       top-level elements are buckets (16-byte header, or an inline bucket:
//!               header with root 0 followed by one leaf page); a bucket inside a
//!               bucket is refused (etcd has none)
//! ```
//!
//! The freelist is not read: no bucket's content depends on it. Page ids and offsets
//! come from the file, so every one of them is checked before it is used; arithmetic
//! is checked, so no input panics (the tests feed random bytes and truncations).
//!
//! Worked example: the writer's two-bucket file (`key` = {a: 1, b: 2}, `meta` = {})
//! reads back as `[("key", [("a", "1"), ("b", "2")]), ("meta", [])]`; cut to 5 pages it
//! is `Truncated { pages: 6, page_size: 4096, file_bytes: 20480 }`; with one byte of
//! page 0's meta flipped, page 1 (txid 1) is used; with both flipped, `BadMeta`.

use std::fmt;

use super::bbolt::fnv1a64;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER_LEN: usize = 16;
const ELEMENT_LEN: usize = 16;
const BUCKET_HEADER_LEN: usize = 16;
const META_LEN: usize = 64;
const META_SUMMED_LEN: usize = 56;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const META_PAGE: u16 = 0x04;
const BUCKET_ELEMENT: u32 = 0x01;
const DEFAULT_PAGE_SIZE: usize = 4096;

/// Deepest tree accepted: a bbolt tree of 2^32 pages with two keys per branch is 32
/// levels; anything deeper is a corrupt (or hostile) file, refused before the
/// recursion could exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// Why a file is not a readable bbolt database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BboltReadError {
    /// Shorter than two meta pages.
    TooShort { file_bytes: usize },
    /// Neither meta page carries bbolt's magic: not a bbolt file at all.
    NotBbolt,
    /// No meta page is valid; says why each was refused.
    BadMeta { reasons: String },
    /// The meta page counts more pages than the file holds.
    Truncated { pages: u64, page_size: usize, file_bytes: usize },
    /// A page (or inline bucket) fails its checks.
    BadPage { pgid: u64, reason: String },
    /// Keys of a bucket out of order (`index`: the pair's position).
    KeyOrder { bucket: String, index: usize },
    /// A bucket nested in a bucket (etcd's backend has none).
    NestedBucket { bucket: String },
}

impl fmt::Display for BboltReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BboltReadError::TooShort { file_bytes } => {
                write!(f, "not a bbolt database: {file_bytes} bytes is shorter than its two meta pages")
            }
            BboltReadError::NotBbolt => {
                write!(f, "not a bbolt database: no meta page carries bbolt's magic 0xed0cdaed")
            }
            BboltReadError::BadMeta { reasons } => write!(f, "bbolt: no valid meta page ({reasons})"),
            BboltReadError::Truncated { pages, page_size, file_bytes } => write!(
                f,
                "bbolt: file is truncated: its meta page counts {pages} pages of {page_size} bytes, \
                 the file has {file_bytes} bytes"
            ),
            BboltReadError::BadPage { pgid, reason } => write!(f, "bbolt: corrupt page {pgid}: {reason}"),
            BboltReadError::KeyOrder { bucket, index } => {
                write!(f, "bbolt: key #{index} of bucket {bucket:?} is not after the one before")
            }
            BboltReadError::NestedBucket { bucket } => {
                write!(f, "bbolt: bucket {bucket:?} holds a nested bucket (not an etcd backend)")
            }
        }
    }
}

impl std::error::Error for BboltReadError {}

type Result<T> = std::result::Result<T, BboltReadError>;

/// Key-value pairs borrowed from the file.
pub type PairRefs<'a> = Vec<(&'a [u8], &'a [u8])>;

/// Leaf elements of a tree, in order: (flags, key, value).
type Elements<'a> = Vec<(u32, &'a [u8], &'a [u8])>;

/// One top-level bucket read back: its name and pairs in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketRef<'a> {
    pub name: &'a [u8],
    pub pairs: PairRefs<'a>,
}

/// The meta fields the reader uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub page_size: usize,
    pub root_pgid: u64,
    pub pgid: u64,
    pub txid: u64,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The meta page at byte `at`, if valid; else why not (and whether the magic held).
fn read_meta(file: &[u8], at: usize, page_id: u64) -> std::result::Result<Meta, (bool, String)> {
    let page = file.get(at..).and_then(|p| p.get(..PAGE_HEADER_LEN + META_LEN));
    let Some(page) = page else { return Err((false, format!("meta page {page_id} is past the end"))) };
    let m = &page[PAGE_HEADER_LEN..];
    let field32 = |at| u32_at(m, at).unwrap_or(0);
    let field64 = |at| u64_at(m, at).unwrap_or(0);
    if field32(0) != MAGIC {
        return Err((false, format!("meta page {page_id}: bad magic {:#010x}", field32(0))));
    }
    let checksum = fnv1a64(&m[..META_SUMMED_LEN]);
    if field64(56) != checksum {
        return Err((true, format!("meta page {page_id}: checksum mismatch")));
    }
    if field32(4) != VERSION {
        return Err((true, format!("meta page {page_id}: version {} (want {VERSION})", field32(4))));
    }
    if u16_at(page, 8) != Some(META_PAGE) {
        return Err((true, format!("meta page {page_id}: flags are not a meta page's")));
    }
    let page_size = field32(8) as usize;
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err((true, format!("meta page {page_id}: page size {page_size}")));
    }
    Ok(Meta { page_size, root_pgid: field64(16), pgid: field64(40), txid: field64(48) })
}

/// Open the file: the meta page bbolt would use, checked against the file's length.
pub fn open_meta(file: &[u8]) -> Result<Meta> {
    if file.len() < 2 * 1024 {
        return Err(BboltReadError::TooShort { file_bytes: file.len() });
    }
    let m0 = read_meta(file, 0, 0);
    // Page 1 sits one page in; the page size comes from page 0 when it is valid.
    let size = m0.as_ref().map_or(DEFAULT_PAGE_SIZE, |m| m.page_size);
    let m1 = read_meta(file, size, 1);
    let meta = match (m0, m1) {
        (Ok(a), Ok(b)) => {
            if b.txid > a.txid {
                b
            } else {
                a
            }
        }
        (Ok(a), Err(_)) => a,
        (Err(_), Ok(b)) => b,
        (Err((magic0, why0)), Err((magic1, why1))) => {
            if !magic0 && !magic1 {
                return Err(BboltReadError::NotBbolt);
            }
            return Err(BboltReadError::BadMeta { reasons: format!("{why0}; {why1}") });
        }
    };
    let needed = meta.pgid.checked_mul(meta.page_size as u64).filter(|_| meta.pgid >= 3);
    match needed {
        None => Err(BboltReadError::BadMeta { reasons: format!("page count {} is impossible", meta.pgid) }),
        Some(n) if n > file.len() as u64 => Err(BboltReadError::Truncated {
            pages: meta.pgid,
            page_size: meta.page_size,
            file_bytes: file.len(),
        }),
        Some(_) => Ok(meta),
    }
}

/// A node: a page and its overflow pages, or an inline bucket's page.
struct Node<'a> {
    pgid: u64,
    flags: u16,
    count: usize,
    bytes: &'a [u8],
}

impl<'a> Node<'a> {
    fn bad(&self, reason: impl Into<String>) -> BboltReadError {
        BboltReadError::BadPage { pgid: self.pgid, reason: reason.into() }
    }

    /// The bytes of element `i` (16), checked to lie inside the node.
    fn element(&self, i: usize) -> Result<(usize, &'a [u8])> {
        let at = PAGE_HEADER_LEN + ELEMENT_LEN * i;
        let e =
            self.bytes.get(at..at + ELEMENT_LEN).ok_or_else(|| self.bad(format!("element {i} outside")))?;
        Ok((at, e))
    }

    /// `len` bytes at `pos` after the element that starts at `at`.
    fn slice(&self, at: usize, pos: u32, len: u32, i: usize) -> Result<&'a [u8]> {
        let start = at.checked_add(pos as usize);
        let range = start.and_then(|s| Some(s..s.checked_add(len as usize)?));
        range
            .and_then(|r| self.bytes.get(r))
            .ok_or_else(|| self.bad(format!("element {i}'s key or value runs outside the page")))
    }

    /// Leaf element `i`: (flags, key, value).
    fn leaf(&self, i: usize) -> Result<(u32, &'a [u8], &'a [u8])> {
        let (at, e) = self.element(i)?;
        let field = |o| u32_at(e, o).unwrap_or(0);
        let (flags, pos, ksize, vsize) = (field(0), field(4), field(8), field(12));
        let key = self.slice(at, pos, ksize, i)?;
        let value_pos = pos.checked_add(ksize).ok_or_else(|| self.bad("element offset overflows"))?;
        let value = self.slice(at, value_pos, vsize, i)?;
        Ok((flags, key, value))
    }

    /// Branch element `i`: (key, child page id).
    fn branch(&self, i: usize) -> Result<(&'a [u8], u64)> {
        let (at, e) = self.element(i)?;
        let (pos, ksize, child) = (u32_at(e, 0).unwrap_or(0), u32_at(e, 4).unwrap_or(0), u64_at(e, 8));
        Ok((self.slice(at, pos, ksize, i)?, child.unwrap_or(0)))
    }
}

/// Walks the trees of one file, marking each page it reaches.
struct Walker<'a> {
    file: &'a [u8],
    meta: Meta,
    reached: Vec<bool>,
}

impl<'a> Walker<'a> {
    fn node(&mut self, pgid: u64) -> Result<Node<'a>> {
        let bad = |reason: String| BboltReadError::BadPage { pgid, reason };
        if pgid < 2 || pgid >= self.meta.pgid {
            return Err(bad(format!("page id outside 2..{}", self.meta.pgid)));
        }
        let size = self.meta.page_size;
        let at = pgid as usize * size; // < pgid * size <= file length: no overflow
        let head = &self.file[at..at + PAGE_HEADER_LEN];
        if u64_at(head, 0) != Some(pgid) {
            return Err(bad(format!("header names page {}", u64_at(head, 0).unwrap_or(0))));
        }
        let overflow = u64::from(u32_at(head, 12).unwrap_or(0));
        let last = pgid + overflow; // both below 2^32 + 2^64/size: checked next
        if last >= self.meta.pgid {
            return Err(bad(format!("overflow of {overflow} pages runs past page {}", self.meta.pgid)));
        }
        for id in pgid..=last {
            let seen = &mut self.reached[id as usize];
            if *seen {
                return Err(bad(format!("page {id} reached twice (a cycle or a shared page)")));
            }
            *seen = true;
        }
        let bytes = &self.file[at..(last as usize + 1) * size];
        let node = Node {
            pgid,
            flags: u16_at(head, 8).unwrap_or(0),
            count: usize::from(u16_at(head, 10).unwrap_or(0)),
            bytes,
        };
        Ok(node)
    }

    /// Every leaf element under `node`, in order, into `out`.
    fn collect(&mut self, node: &Node<'a>, depth: usize, out: &mut Elements<'a>) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(node.bad(format!("tree deeper than {MAX_DEPTH} levels")));
        }
        match node.flags {
            LEAF_PAGE => {
                for i in 0..node.count {
                    out.push(node.leaf(i)?);
                }
            }
            BRANCH_PAGE => {
                if node.count == 0 {
                    return Err(node.bad("empty branch page"));
                }
                for i in 0..node.count {
                    let (_key, child) = node.branch(i)?;
                    let child = self.node(child)?;
                    self.collect(&child, depth + 1, out)?;
                }
            }
            other => return Err(node.bad(format!("flags {other:#x} in a tree (not a branch or leaf)"))),
        }
        Ok(())
    }

    /// The elements of the tree a bucket header (and, inline, the page after it) names.
    fn bucket_elements(&mut self, name: &[u8], value: &'a [u8]) -> Result<Elements<'a>> {
        let root = u64_at(value, 0).filter(|_| value.len() >= BUCKET_HEADER_LEN);
        let Some(root) = root else {
            return Err(BboltReadError::BadPage {
                pgid: self.meta.root_pgid,
                reason: format!("bucket {:?}: header of {} bytes", lossy(name), value.len()),
            });
        };
        let mut out = Vec::new();
        if root == 0 {
            let page = &value[BUCKET_HEADER_LEN..];
            let inline = Node {
                pgid: 0,
                flags: u16_at(page, 8).unwrap_or(0),
                count: usize::from(u16_at(page, 10).unwrap_or(0)),
                bytes: page,
            };
            if inline.flags != LEAF_PAGE {
                return Err(inline.bad(format!("inline bucket {:?} is not a leaf", lossy(name))));
            }
            self.collect(&inline, 0, &mut out)?;
        } else {
            let node = self.node(root)?;
            self.collect(&node, 0, &mut out)?;
        }
        Ok(out)
    }
}

fn check_order<'a>(bucket: &[u8], keys: impl Iterator<Item = &'a [u8]>) -> Result<()> {
    let mut last: Option<&[u8]> = None;
    for (index, key) in keys.enumerate() {
        if last.is_some_and(|l| key <= l) {
            return Err(BboltReadError::KeyOrder { bucket: lossy(bucket), index });
        }
        last = Some(key);
    }
    Ok(())
}

/// Every top-level bucket of `file` and its pairs, borrowed from it.
pub fn read_buckets(file: &[u8]) -> Result<Vec<BucketRef<'_>>> {
    let meta = open_meta(file)?;
    let mut walker = Walker { file, meta, reached: vec![false; meta.pgid as usize] };
    let root = walker.node(meta.root_pgid)?;
    let mut top = Vec::new();
    walker.collect(&root, 0, &mut top)?;
    check_order(b"", top.iter().map(|(_, name, _)| *name))?;
    let mut buckets = Vec::with_capacity(top.len());
    for (flags, name, value) in top {
        if flags & BUCKET_ELEMENT == 0 {
            return Err(BboltReadError::BadPage {
                pgid: meta.root_pgid,
                reason: format!("top-level key {:?} is not a bucket", lossy(name)),
            });
        }
        let elements = walker.bucket_elements(name, value)?;
        if elements.iter().any(|(f, _, _)| f & BUCKET_ELEMENT != 0) {
            return Err(BboltReadError::NestedBucket { bucket: lossy(name) });
        }
        check_order(name, elements.iter().map(|(_, k, _)| *k))?;
        buckets.push(BucketRef { name, pairs: elements.into_iter().map(|(_, k, v)| (k, v)).collect() });
    }
    Ok(buckets)
}

#[cfg(test)]
#[path = "bbolt_read_test.rs"]
mod bbolt_read_test;
