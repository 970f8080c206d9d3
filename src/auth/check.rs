//! The permission check: what a request needs ([`Access`]) and whether an identity
//! holds it in a given auth state ([`check_request`]).
//!
//! What each request needs, as etcd's authApplierV3 asks for it:
//!
//! | request | needs |
//! |---|---|
//! | Range | read on its range |
//! | Put | write on the key; read on it with `prev_kv`; write on every key of its lease |
//! | DeleteRange | write on the range; read on it with `prev_kv` |
//! | Txn | read on every compare; every op of **both** branches, nested txns too |
//! | LeaseRevoke | write on every key attached to the lease |
//! | Compact, auth changes, member and maintenance admin | root |
//!
//! A txn is judged by all it could do, not by the branch it takes: which branch runs
//! depends on the data, and a refusal must not reveal it.

use super::{AuthInfo, AuthStore, ROOT_ROLE};
use crate::error::{Error, Result};
use crate::mvcc::{RequestOp, TxnRequest};

/// One thing a request needs to be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access<'a> {
    Read { key: &'a [u8], range_end: &'a [u8] },
    Write { key: &'a [u8], range_end: &'a [u8] },
    Admin,
}

/// The accesses a txn needs: its compares, then both branches.
pub fn txn_accesses<'a>(txn: &'a TxnRequest, out: &mut Vec<Access<'a>>) {
    for c in &txn.compare {
        out.push(Access::Read { key: &c.key, range_end: &c.range_end });
    }
    ops_accesses(&txn.success, out);
    if crate::mutant!(AuthSkipTxnElse) {
        return;
    }
    ops_accesses(&txn.failure, out);
}

fn ops_accesses<'a>(ops: &'a [RequestOp], out: &mut Vec<Access<'a>>) {
    for op in ops {
        match op {
            RequestOp::Range(r) => out.push(Access::Read { key: &r.key, range_end: &r.range_end }),
            RequestOp::Put(p) => {
                out.push(Access::Write { key: &p.key, range_end: &[] });
                if p.prev_kv {
                    out.push(Access::Read { key: &p.key, range_end: &[] });
                }
            }
            RequestOp::DeleteRange(d) => {
                out.push(Access::Write { key: &d.key, range_end: &d.range_end });
                if d.prev_kv {
                    out.push(Access::Read { key: &d.key, range_end: &d.range_end });
                }
            }
            RequestOp::Txn(t) => txn_accesses(t, out),
        }
    }
}

/// Whether `info` may do everything in `needs` in the auth state `store`. Always
/// `Ok` while auth is disabled. Errors as etcd's: no user → `UserEmpty`; an identity
/// made before the last auth change → `AuthOldRevision`; an unknown user →
/// `PermissionDenied` (`UserNotFound` for admin operations); not covered →
/// `PermissionDenied`.
pub fn check_request(store: &AuthStore, info: &AuthInfo, needs: &[Access<'_>]) -> Result<()> {
    // Requests that need nothing (a lease grant) pass whoever makes them, as in etcd.
    if !store.is_enabled() || needs.is_empty() {
        return Ok(());
    }
    if info.user.is_empty() {
        return Err(Error::UserEmpty);
    }
    let admin_only = needs.iter().all(|a| matches!(a, Access::Admin));
    if !admin_only && info.revision < store.revision() {
        return Err(Error::AuthOldRevision);
    }
    let Some(user) = store.user(&info.user) else {
        return Err(if admin_only { Error::UserNotFound } else { Error::PermissionDenied });
    };
    if user.roles.contains(ROOT_ROLE) {
        return Ok(());
    }
    let perms = store.perms_of(&info.user);
    for need in needs {
        let allowed = match (need, perms) {
            (Access::Admin, _) | (_, None) => false,
            (Access::Read { key, range_end }, Some(p)) => {
                super::perm::covers_request(&p.read, key, range_end)
            }
            (Access::Write { key, range_end }, Some(p)) => {
                super::perm::covers_request(&p.write, key, range_end)
            }
        };
        if !allowed {
            return Err(Error::PermissionDenied);
        }
    }
    Ok(())
}
