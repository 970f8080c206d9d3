//! Checks a request must pass before it touches the store, as etcd's gRPC layer
//! (server/etcdserver/api/v3rpc/key.go) runs them: empty keys, `ignore_*` flag
//! conflicts, the per-level op budget of a txn, and put/delete overlaps
//! (`checkIntervals`). They depend only on the request, never on the store.
//!
//! etcd quirks kept on purpose, because clients can observe them:
//! - The op budget shrinks with depth: a nested txn may have at most
//!   `max_txn_ops - max(len(compare), len(success), len(failure))` of its parent.
//! - Deletes may overlap each other; a put may not overlap a delete or another put in
//!   the same branch, nested txns included, except that a nested txn's then- and
//!   else-branch may put the same key. A nested txn's puts are checked only against
//!   deletes seen *before* it (this level's and earlier siblings'), so
//!   `txn{ txn{put x}, txn{delete x} }` passes while the reverse order does not.
//! - A delete with `range_end = "\0"` ("every key >= key") is an empty interval to
//!   etcd's check (it compares `"\0"` as a plain string), so it conflicts with nothing.
//!   Applying such a txn can then make a later `ignore_value` put miss its key: etcd
//!   panics there; we return KeyNotFound and roll the txn back.
//!
//! One addition: when `max_txn_ops` exceeds [`MAX_TXN_NESTING`], txns nested deeper
//! than that are refused with TooManyOps, to bound recursion (with the op budget above,
//! etcd's own nesting is at most `max_txn_ops + 1`, so default configurations never
//! see this).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;

use crate::error::{Error, Result};
use crate::mvcc::types::{DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest};

/// Deepest txn nesting accepted when `max_txn_ops` alone would allow more.
pub const MAX_TXN_NESTING: usize = 256;

/// etcd's empty-key check (KeyNotProvided).
pub fn check_key(key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::KeyNotProvided);
    }
    Ok(())
}

pub fn check_range_request(req: &RangeRequest) -> Result<()> {
    check_key(&req.key)
}

pub fn check_delete_request(req: &DeleteRangeRequest) -> Result<()> {
    check_key(&req.key)
}

pub fn check_put_request(req: &PutRequest) -> Result<()> {
    check_put_fields(&req.key, &req.value, req.lease, req.ignore_value, req.ignore_lease)
}

/// etcd's `checkPutRequest` on a put's fields (so the wire form can be checked too).
pub fn check_put_fields(
    key: &[u8],
    value: &[u8],
    lease: i64,
    ignore_value: bool,
    ignore_lease: bool,
) -> Result<()> {
    check_key(key)?;
    if ignore_value && !value.is_empty() {
        return Err(Error::InvalidArgument("etcdserver: value is provided".into()));
    }
    if ignore_lease && lease != 0 {
        return Err(Error::InvalidArgument("etcdserver: lease is provided".into()));
    }
    Ok(())
}

/// Every request-only check of a txn, in etcd's order: `checkTxnRequest`, then
/// `checkIntervals` on success, then on failure.
pub fn check_txn(req: &TxnRequest, max_txn_ops: usize) -> Result<()> {
    if max_txn_ops > MAX_TXN_NESTING && nests_deeper_than(req, MAX_TXN_NESTING) {
        return Err(Error::TooManyOps);
    }
    check_txn_request(req, max_txn_ops)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

/// Whether txns nest more than `limit` levels (the top txn is level 1). Iterative, so
/// it is safe on any depth.
fn nests_deeper_than(req: &TxnRequest, limit: usize) -> bool {
    let mut stack = vec![(req, 1usize)];
    while let Some((txn, depth)) = stack.pop() {
        if depth > limit {
            return true;
        }
        for op in txn.success.iter().chain(&txn.failure) {
            if let RequestOp::Txn(nested) = op {
                stack.push((nested, depth + 1));
            }
        }
    }
    false
}

/// etcd's `checkTxnRequest`: the op budget of this level, compare keys, every op.
/// Recursion depth is bounded by the budget, which shrinks by at least one per level.
fn check_txn_request(req: &TxnRequest, max_txn_ops: usize) -> Result<()> {
    let ops = req.compare.len().max(req.success.len()).max(req.failure.len());
    if ops > max_txn_ops {
        return Err(Error::TooManyOps);
    }
    for compare in &req.compare {
        check_key(&compare.key)?;
    }
    for op in req.success.iter().chain(&req.failure) {
        match op {
            RequestOp::Range(r) => check_range_request(r)?,
            RequestOp::Put(p) => check_put_request(p)?,
            RequestOp::DeleteRange(d) => check_delete_request(d)?,
            RequestOp::Txn(t) => check_txn_request(t, max_txn_ops - ops)?,
        }
    }
    Ok(())
}

/// Puts and deletes of one branch, nested txns included, for the overlap check.
struct BranchWrites<'a> {
    puts: HashSet<&'a [u8]>,
    deletes: DeleteSet,
}

/// etcd's `checkIntervals` over one branch (see the module docs for its rules).
fn check_intervals(ops: &[RequestOp]) -> Result<BranchWrites<'_>> {
    let mut deletes = DeleteSet::default();
    for op in ops {
        if let RequestOp::DeleteRange(d) = op {
            deletes.insert_request(d);
        }
    }
    let mut puts: HashSet<&[u8]> = HashSet::new();
    for op in ops {
        let RequestOp::Txn(nested) = op else { continue };
        let then = check_intervals(&nested.success)?;
        let other = check_intervals(&nested.failure)?;
        for &key in &then.puts {
            if puts.contains(key) || deletes.contains(key) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(key);
        }
        for &key in &other.puts {
            let clash = puts.contains(key) && !then.puts.contains(key);
            if clash || deletes.contains(key) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(key);
        }
        deletes.absorb(then.deletes);
        deletes.absorb(other.deletes);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        let key = p.key.as_slice();
        if puts.contains(key) || deletes.contains(key) {
            return Err(Error::DuplicateKey);
        }
        puts.insert(key);
    }
    Ok(BranchWrites { puts, deletes })
}

/// A set of keys given as half-open byte-string intervals, kept merged and disjoint
/// (begin -> end), so membership is one lookup. Only membership matters to
/// `checkIntervals`, so merging loses nothing.
#[derive(Debug, Default)]
struct DeleteSet {
    spans: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl DeleteSet {
    /// A delete request as etcd's check sees it: a point for an empty `range_end`,
    /// else `[key, range_end)` compared as plain strings (so `"\0"` gives nothing).
    fn insert_request(&mut self, req: &DeleteRangeRequest) {
        if req.range_end.is_empty() {
            let mut end = req.key.clone();
            end.push(0);
            self.insert(req.key.clone(), end);
        } else {
            self.insert(req.key.clone(), req.range_end.clone());
        }
    }

    fn insert(&mut self, mut begin: Vec<u8>, mut end: Vec<u8>) {
        if begin >= end {
            return;
        }
        let upto: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Included(&begin));
        if let Some((b, e)) = self.spans.range::<[u8], _>(upto).next_back() {
            if *e >= begin {
                begin = b.clone();
                end = end.max(e.clone());
            }
        }
        let within: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(&begin), Bound::Included(&end));
        let swallowed: Vec<Vec<u8>> = self.spans.range::<[u8], _>(within).map(|(b, _)| b.clone()).collect();
        for b in swallowed {
            if let Some(e) = self.spans.remove(&b) {
                end = end.max(e);
            }
        }
        self.spans.insert(begin, end);
    }

    fn contains(&self, key: &[u8]) -> bool {
        let upto: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Unbounded, Bound::Included(key));
        self.spans.range::<[u8], _>(upto).next_back().is_some_and(|(_, end)| key < end.as_slice())
    }

    fn absorb(&mut self, other: DeleteSet) {
        for (begin, end) in other.spans {
            self.insert(begin, end);
        }
    }
}

#[cfg(test)]
#[path = "txn_check_test.rs"]
mod txn_check_test;
