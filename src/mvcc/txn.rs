//! Transactions, with etcd 3.5's applier semantics (server/etcdserver/apply.go `Txn`):
//!
//! 1. Request checks ([`txn_check`]): op budget, empty keys, `ignore_*` conflicts,
//!    put/delete overlaps.
//! 2. Every compare, nested txns' included, is evaluated against the store *before*
//!    the txn (etcd's `compareToPath`), giving the branch taken at each level.
//! 3. Along the taken branches: puts with `ignore_*` need their key to exist before
//!    the txn (KeyNotFound) and a nonzero lease must exist (LeaseNotFound); then
//!    ranges with an explicit revision must be readable: `> current` is FutureRev and
//!    `< compact_revision` is Compacted (negative revisions included, as in etcd).
//! 4. The branch is applied in order; reads see the txn's own earlier writes. If
//!    anything changed, the store moves to exactly one new revision.
//!
//! Compare semantics: a compare over a range holds only if it holds for every live
//! key in it; over no live key, a value compare fails and the others compare against
//! 0 (version, create, mod, lease).

use std::cmp::Ordering;

use crate::error::{Error, Result};
use crate::mvcc::key_index::{KeyIndex, VersionRef};
use crate::mvcc::range::KeySpan;
use crate::mvcc::store::KvStore;
use crate::mvcc::txn_check;
use crate::mvcc::types::{Compare, CompareResult, CompareTarget, Event, RequestOp, ResponseOp};
use crate::mvcc::types::{TxnRequest, TxnResponse};
use crate::mvcc::write::Writer;

/// The branch taken at each level: whether this txn's compares held, and the same
/// for each nested txn of the taken branch, in op order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TxnPath {
    succeeded: bool,
    nested: Vec<TxnPath>,
}

impl TxnPath {
    fn ops<'r>(&self, req: &'r TxnRequest) -> &'r [RequestOp] {
        if self.succeeded {
            &req.success
        } else {
            &req.failure
        }
    }
}

/// Walks the taken branch's ops, pairing each nested txn with its path.
fn walk<'r, 'p>(
    req: &'r TxnRequest,
    path: &'p TxnPath,
    mut visit: impl FnMut(&'r RequestOp, Option<&'p TxnPath>) -> Result<()>,
) -> Result<()> {
    let mut nested = path.nested.iter();
    for op in path.ops(req) {
        let sub_path = match op {
            RequestOp::Txn(_) => Some(nested.next().ok_or_else(path_out_of_step)?),
            _ => None,
        };
        visit(op, sub_path)?;
    }
    Ok(())
}

fn path_out_of_step() -> Error {
    Error::Internal("mvcc: txn path does not match the request".into())
}

impl KvStore {
    /// etcd's Txn. Errors (each leaving the store untouched): TooManyOps,
    /// KeyNotProvided, InvalidArgument (value / lease is provided), DuplicateKey,
    /// KeyNotFound, LeaseNotFound, FutureRev, Compacted.
    pub fn txn(
        &mut self,
        req: &TxnRequest,
        max_txn_ops: usize,
        lease_ok: &dyn Fn(i64) -> bool,
    ) -> Result<(TxnResponse, Vec<Event>)> {
        txn_check::check_txn(req, max_txn_ops)?;
        let path = self.compare_path(req);
        self.check_puts(req, &path, lease_ok)?;
        self.check_ranges(req, &path)?;
        let mut writer = Writer::begin(self);
        let result = apply(&mut writer, req, &path);
        writer.finish(result)
    }

    /// A txn whose branches hold only ranges (nested txns included), evaluated on a
    /// shared borrow: no raft round, no revision change. Any write op in the taken
    /// branch is refused as Internal (the caller must route writes through raft).
    pub fn txn_read_only(&self, req: &TxnRequest, max_txn_ops: usize) -> Result<TxnResponse> {
        txn_check::check_txn(req, max_txn_ops)?;
        let path = self.compare_path(req);
        self.check_ranges(req, &path)?;
        self.read_branch(req, &path)
    }

    fn read_branch(&self, req: &TxnRequest, path: &TxnPath) -> Result<TxnResponse> {
        let mut responses = Vec::with_capacity(path.ops(req).len());
        walk(req, path, |op, sub_path| {
            let response = match (op, sub_path) {
                (RequestOp::Range(r), _) => {
                    let at = if r.revision > 0 { r.revision } else { self.current_revision };
                    ResponseOp::Range(crate::mvcc::range::evaluate(&self.index, r, at))
                }
                (RequestOp::Txn(t), Some(p)) => ResponseOp::Txn(self.read_branch(t, p)?),
                _ => return Err(Error::Internal("mvcc: write op in a read-only txn".into())),
            };
            responses.push(response);
            Ok(())
        })?;
        Ok(TxnResponse { succeeded: path.succeeded, responses })
    }

    fn compare_path(&self, req: &TxnRequest) -> TxnPath {
        let succeeded = req.compare.iter().all(|c| self.compare_holds(c));
        let ops = if succeeded { &req.success } else { &req.failure };
        let nested = ops
            .iter()
            .filter_map(|op| match op {
                RequestOp::Txn(t) => Some(self.compare_path(t)),
                _ => None,
            })
            .collect();
        TxnPath { succeeded, nested }
    }

    fn compare_holds(&self, cmp: &Compare) -> bool {
        let span = KeySpan::new(&cmp.key, &cmp.range_end);
        let mut live = span.iter(&self.index).filter_map(|(_, ki)| ki.latest()).peekable();
        if live.peek().is_none() {
            return !matches!(cmp.target, CompareTarget::Value(_)) && compare_one(cmp, None);
        }
        live.all(|v| compare_one(cmp, Some(&v)))
    }

    /// etcd's `checkRequestPut` over the taken branches, against the pre-txn store.
    fn check_puts(&self, req: &TxnRequest, path: &TxnPath, lease_ok: &dyn Fn(i64) -> bool) -> Result<()> {
        walk(req, path, |op, sub_path| match (op, sub_path) {
            (RequestOp::Txn(t), Some(p)) => self.check_puts(t, p, lease_ok),
            (RequestOp::Put(p), _) => {
                let exists = self.index.get(p.key.as_slice()).and_then(KeyIndex::latest).is_some();
                if (p.ignore_value || p.ignore_lease) && !exists {
                    return Err(Error::KeyNotFound);
                }
                if p.lease != 0 && !lease_ok(p.lease) {
                    return Err(Error::LeaseNotFound);
                }
                Ok(())
            }
            _ => Ok(()),
        })
    }

    /// etcd's `checkRequestRange` over the taken branches.
    fn check_ranges(&self, req: &TxnRequest, path: &TxnPath) -> Result<()> {
        walk(req, path, |op, sub_path| match (op, sub_path) {
            (RequestOp::Txn(t), Some(p)) => self.check_ranges(t, p),
            (RequestOp::Range(r), _) if r.revision == 0 => Ok(()),
            (RequestOp::Range(r), _) if r.revision > self.current_revision => Err(Error::FutureRev),
            (RequestOp::Range(r), _) if r.revision < self.compact_revision => Err(Error::Compacted),
            _ => Ok(()),
        })
    }
}

/// Compare one live version (None: no live key) with etcd's `compareKV`.
fn compare_one(cmp: &Compare, kv: Option<&VersionRef<'_>>) -> bool {
    let ord = match &cmp.target {
        CompareTarget::Version(x) => kv.map_or(0, |v| v.version).cmp(x),
        CompareTarget::Create(x) => kv.map_or(0, |v| v.create_revision).cmp(x),
        CompareTarget::Mod(x) => kv.map_or(0, |v| v.mod_revision.main).cmp(x),
        CompareTarget::Lease(x) => kv.map_or(0, |v| v.lease).cmp(x),
        CompareTarget::Value(x) => kv.map_or(&[][..], |v| v.value).cmp(x.as_slice()),
    };
    match cmp.result {
        CompareResult::Equal => ord == Ordering::Equal,
        CompareResult::NotEqual => ord != Ordering::Equal,
        CompareResult::Greater => ord == Ordering::Greater,
        CompareResult::Less => ord == Ordering::Less,
    }
}

/// etcd's `applyTxn`: run the taken branch in order.
fn apply(writer: &mut Writer<'_>, req: &TxnRequest, path: &TxnPath) -> Result<TxnResponse> {
    let mut responses = Vec::with_capacity(path.ops(req).len());
    walk(req, path, |op, sub_path| {
        let response = match (op, sub_path) {
            (RequestOp::Range(r), _) => ResponseOp::Range(writer.range(r)),
            (RequestOp::Put(p), _) => ResponseOp::Put(writer.put(p)?),
            (RequestOp::DeleteRange(d), _) => ResponseOp::DeleteRange(writer.delete_range(d)?),
            (RequestOp::Txn(t), Some(p)) => ResponseOp::Txn(apply(writer, t, p)?),
            (RequestOp::Txn(_), None) => return Err(path_out_of_step()),
        };
        responses.push(response);
        Ok(())
    })?;
    Ok(TxnResponse { succeeded: path.succeeded, responses })
}

#[cfg(test)]
#[path = "txn_test.rs"]
mod txn_test;
