//! Range reads: which keys a `(key, range_end)` pair names, and how a RangeRequest is
//! answered from one read view, with etcd 3.5's rules (server/etcdserver/apply.go
//! `Range` over mvcc `rangeKeys`):
//!
//! 1. `count` is the number of keys live in the range at the read revision, before the
//!    min/max filters and before the limit.
//! 2. The limit is pushed into the scan (one extra key decides `more`) only when
//!    `sort_order` is NONE and no min/max filter is set; otherwise every key is read,
//!    filtered, sorted and then cut to the limit. So `sort_order = NONE` with a target
//!    other than KEY sorts (ascending) only the first `limit + 1` keys, as etcd does.
//! 3. NONE with target KEY keeps key order; NONE with another target sorts ascending.
//!    Sorting is stable: equal targets stay in ascending key order in both directions
//!    (etcd's `sort.Sort` gives the same for up to 12 results and leaves ties
//!    unspecified beyond that).
//! 4. `count_only` returns no kvs and `more = false`; `keys_only` clears values after
//!    sorting (so sorting by value still works).
//!
//! Keys and values are borrowed until the final page is known, so a range copies only
//! the bytes it returns.

use std::cmp::Ordering;
use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::Bound;

use crate::error::{Error, Result};
use crate::mvcc::key_index::{KeyIndex, VersionRef};
use crate::mvcc::types::{KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget};

/// The store's key index: every key once, with its whole stored history.
pub type Index = BTreeMap<Box<[u8]>, KeyIndex>;

/// The keys a `(key, range_end)` pair names, with etcd's conventions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpan<'a> {
    /// `range_end` empty: just `key`.
    Single(&'a [u8]),
    /// `range_end == "\0"`: every key >= `key` (so `key = "\0"` means all keys).
    From(&'a [u8]),
    /// `[key, range_end)`; empty when `range_end <= key`.
    Between(&'a [u8], &'a [u8]),
}

type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

impl<'a> KeySpan<'a> {
    pub fn new(key: &'a [u8], range_end: &'a [u8]) -> Self {
        match range_end {
            [] => KeySpan::Single(key),
            [0] => KeySpan::From(key),
            end => KeySpan::Between(key, end),
        }
    }

    /// BTreeMap bounds, or None for an empty span (BTreeMap::range panics on
    /// inverted bounds, so they never reach it).
    fn bounds(self) -> Option<Bounds<'a>> {
        match self {
            KeySpan::Single(k) => Some((Bound::Included(k), Bound::Included(k))),
            KeySpan::From(k) => Some((Bound::Included(k), Bound::Unbounded)),
            KeySpan::Between(k, end) if k < end => Some((Bound::Included(k), Bound::Excluded(end))),
            KeySpan::Between(..) => None,
        }
    }

    pub fn iter<'m>(self, index: &'m Index) -> btree_map::Range<'m, Box<[u8]>, KeyIndex> {
        match self.bounds() {
            Some(bounds) => index.range::<[u8], _>(bounds),
            None => btree_map::Range::default(),
        }
    }

    pub fn iter_mut<'m>(self, index: &'m mut Index) -> btree_map::RangeMut<'m, Box<[u8]>, KeyIndex> {
        match self.bounds() {
            Some(bounds) => index.range_mut::<[u8], _>(bounds),
            None => btree_map::RangeMut::default(),
        }
    }
}

/// The main revision a top-level range reads at, or why it cannot: etcd's
/// `rangeKeys` (future first; 0 or negative = current; below compaction = compacted;
/// reading exactly at the compaction revision is allowed).
pub fn read_revision(requested: i64, current_revision: i64, compact_revision: i64) -> Result<i64> {
    if requested > current_revision {
        return Err(Error::FutureRev);
    }
    let at = if requested <= 0 { current_revision } else { requested };
    if at < compact_revision {
        return Err(Error::Compacted);
    }
    Ok(at)
}

/// One live key found by a range, borrowed from the index.
struct Hit<'a> {
    key: &'a [u8],
    version: VersionRef<'a>,
}

/// Answer `req` from the versions visible at main revision `at` (already checked).
pub fn evaluate(index: &Index, req: &RangeRequest, at: i64) -> RangeResponse {
    let span = KeySpan::new(&req.key, &req.range_end);
    let live = span.iter(index).filter_map(|(key, ki)| ki.get(at).map(|version| Hit { key, version }));
    if req.count_only {
        return RangeResponse { kvs: Vec::new(), more: false, count: to_i64(live.count()) };
    }
    let mut total = 0usize;
    let mut hits = Vec::new();
    let fetch = fetch_limit(req);
    for hit in live {
        total += 1;
        if fetch.is_none_or(|n| hits.len() < n) {
            hits.push(hit);
        }
    }
    hits.retain(|h| passes_filters(req, &h.version));
    sort_hits(&mut hits, req);
    let mut more = false;
    if let Ok(limit) = usize::try_from(req.limit) {
        if limit > 0 && hits.len() > limit {
            hits.truncate(limit);
            more = true;
        }
    }
    let kvs: Vec<KeyValue> = hits.iter().map(|h| h.version.to_key_value(h.key, req.keys_only)).collect();
    RangeResponse { kvs, more, count: to_i64(total) }
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// How many keys the scan keeps: `limit + 1` when the limit can be pushed down.
fn fetch_limit(req: &RangeRequest) -> Option<usize> {
    let reads_everything = req.sort_order != SortOrder::None
        || req.min_mod_revision != 0
        || req.max_mod_revision != 0
        || req.min_create_revision != 0
        || req.max_create_revision != 0;
    if reads_everything || req.limit <= 0 {
        return None;
    }
    usize::try_from(req.limit.saturating_add(1)).ok()
}

/// The min/max mod and create revision filters; 0 means no bound.
fn passes_filters(req: &RangeRequest, v: &VersionRef<'_>) -> bool {
    let mod_rev = v.mod_revision.main;
    let create_rev = v.create_revision;
    !(req.max_mod_revision != 0 && mod_rev > req.max_mod_revision
        || req.min_mod_revision != 0 && mod_rev < req.min_mod_revision
        || req.max_create_revision != 0 && create_rev > req.max_create_revision
        || req.min_create_revision != 0 && create_rev < req.min_create_revision)
}

fn sort_hits(hits: &mut [Hit<'_>], req: &RangeRequest) {
    let order = match (req.sort_order, req.sort_target) {
        (SortOrder::None, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let target = req.sort_target;
    match order {
        SortOrder::Descend => hits.sort_by(|a, b| compare_by(target, b, a)),
        _ => hits.sort_by(|a, b| compare_by(target, a, b)),
    }
}

fn compare_by(target: SortTarget, a: &Hit<'_>, b: &Hit<'_>) -> Ordering {
    match target {
        SortTarget::Key => a.key.cmp(b.key),
        SortTarget::Version => a.version.version.cmp(&b.version.version),
        SortTarget::Create => a.version.create_revision.cmp(&b.version.create_revision),
        SortTarget::Mod => a.version.mod_revision.main.cmp(&b.version.mod_revision.main),
        SortTarget::Value => a.version.value.cmp(b.version.value),
    }
}

#[cfg(test)]
#[path = "range_test.rs"]
mod range_test;
