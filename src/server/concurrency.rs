//! What the Lock and Election services share (etcd's clientv3/concurrency recipes,
//! run on the server as etcd's v3lock and v3election do): a waiter's key is
//! `<name>/<lease in hex>`, created with the lease if absent; the waiter holds the
//! lock / leads once no key under `<name>/` has a smaller create revision.
//!
//! ```text
//! name "job", leases 1a and 2b:  job/1a (create 7)  job/2b (create 9)
//!   1a holds (nothing older); 2b waits until job/1a is deleted (unlock, resign,
//!   or lease expiry), then holds.
//! ```
//!
//! A waiter reads this member's applied state, then sleeps until a watch on `<name>/`
//! (opened before that read, so nothing slips between) reports a change, and reads
//! again ([`RECHECK`] at the latest). A key older than ours can only disappear,
//! never appear, so a lagging member only makes a waiter wait longer, never acquire
//! early.

use std::time::Duration;

use super::auth::propose_as;
use super::{status, Ctx};
use crate::apply::{Request as Write, Response as Applied};
use crate::auth::{Access, AuthInfo};
use crate::error::Error;
use crate::mvcc::{
    Compare, CompareResult, CompareTarget, Event, KeyValue, PutRequest, RangeRequest, RequestOp, ResponseOp,
    SortOrder, SortTarget, TxnRequest,
};

/// The longest a Lock, Campaign or Observe waiter sleeps between two looks at the keys ahead
/// of it when its watch reports nothing (a safety net; changes wake it at once).
pub const RECHECK: Duration = Duration::from_secs(1);

/// A watch stream on this member's hub, closed when dropped.
pub(super) struct PrefixWatch<'a> {
    ctx: &'a Ctx,
    prefix: Vec<u8>,
    stream: crate::watch::StreamId,
    waker: std::sync::Arc<tokio::sync::Notify>,
}

impl<'a> PrefixWatch<'a> {
    /// Watch every change under `prefix` from the next revision on.
    pub(super) fn open(ctx: &'a Ctx, prefix: &[u8]) -> PrefixWatch<'a> {
        let (stream, waker) = Self::watch(ctx, prefix);
        PrefixWatch { ctx, prefix: prefix.to_vec(), stream, waker }
    }

    fn watch(ctx: &Ctx, prefix: &[u8]) -> (crate::watch::StreamId, std::sync::Arc<tokio::sync::Notify>) {
        let shared = ctx.node.state();
        let (stream, waker) = shared.open_watch_stream();
        let req = crate::watch::WatchCreateRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            ..Default::default()
        };
        shared.watch_hub().create(stream, &req);
        (stream, waker)
    }

    /// Wait until the watch has something (or `RECHECK` passes), and return its
    /// events (with their response's header revision), in order. A watch the hub
    /// cancelled (it fell behind a compaction) is opened anew; the caller looks at
    /// the state after this, so nothing is missed.
    pub(super) async fn changed(&mut self) -> Vec<(i64, Event)> {
        let _ = tokio::time::timeout(RECHECK, self.waker.notified()).await;
        let out = self.ctx.node.state().watch_hub().take(self.stream, usize::MAX);
        if out.iter().any(|r| r.canceled) {
            self.ctx.node.state().close_watch_stream(self.stream);
            (self.stream, self.waker) = Self::watch(self.ctx, &self.prefix);
        }
        out.into_iter().flat_map(|r| r.events.into_iter().map(move |e| (r.header_revision, e))).collect()
    }
}

impl Drop for PrefixWatch<'_> {
    fn drop(&mut self) {
        self.ctx.node.state().close_watch_stream(self.stream);
    }
}

/// The end of the range of keys starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A held key: the key, its create revision, and the header revision of the txn.
pub struct Held {
    pub key: Vec<u8>,
    pub create_revision: i64,
    pub revision: i64,
}

/// Run a txn through raft as `who`; its response and header revision.
pub async fn txn(
    ctx: &Ctx,
    who: &AuthInfo,
    req: TxnRequest,
) -> Result<(crate::mvcc::TxnResponse, i64), tonic::Status> {
    let applied = propose_as(ctx, who.clone(), Write::Txn(req)).await?;
    match applied.result {
        Ok(Applied::Txn(t)) => Ok((t, applied.revision)),
        Ok(other) => Err(status(Error::Internal(format!("txn applied as {other:?}")))),
        Err(e) => Err(status(e)),
    }
}

fn first_kv(resp: &crate::mvcc::TxnResponse) -> Option<KeyValue> {
    match resp.responses.first() {
        Some(ResponseOp::Range(r)) => r.kvs.first().cloned(),
        _ => None,
    }
}

/// Create `<prefix><lease hex>` with `value` under `lease` unless it exists (then it
/// is ours already, from an earlier call with the same lease), and wait until it is
/// the oldest key under `prefix`. `who` needs to read every key under `prefix` (the
/// waiting reads them, as etcd's recipe does through the caller's client) and to
/// write its own.
pub async fn acquire(
    ctx: &Ctx,
    who: &AuthInfo,
    prefix: &[u8],
    lease: i64,
    value: &[u8],
) -> Result<Held, tonic::Status> {
    check_read_prefix(ctx, who, prefix)?;
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    let get = RequestOp::Range(RangeRequest { key: key.clone(), ..Default::default() });
    let put =
        RequestOp::Put(PutRequest { key: key.clone(), value: value.to_vec(), lease, ..Default::default() });
    let absent = Compare {
        result: CompareResult::Equal,
        target: CompareTarget::Create(0),
        key: key.clone(),
        range_end: vec![],
    };
    let (resp, revision) = txn(
        ctx,
        who,
        TxnRequest { compare: vec![absent], success: vec![put, get.clone()], failure: vec![get] },
    )
    .await?;
    let create_revision = if resp.succeeded {
        revision
    } else {
        first_kv(&resp).map(|kv| kv.create_revision).ok_or_else(|| status(Error::LeaseNotFound))?
    };
    let held = Held { key, create_revision, revision };
    wait_for_turn(ctx, prefix, &held).await?;
    Ok(held)
}

/// Wait until no key under `prefix` was created before `held`; fail if `held`
/// itself disappears meanwhile (its lease expired or was revoked).
async fn wait_for_turn(ctx: &Ctx, prefix: &[u8], held: &Held) -> Result<(), tonic::Status> {
    let mut watch = PrefixWatch::open(ctx, prefix);
    loop {
        let (older, still_mine) = {
            let state = ctx.node.state().read();
            // Not count_only: as in etcd, a count ignores the revision filters.
            let older = state
                .kv
                .range(&RangeRequest {
                    key: prefix.to_vec(),
                    range_end: prefix_end(prefix),
                    max_create_revision: held.create_revision - 1,
                    keys_only: true,
                    ..Default::default()
                })
                .map_err(status)?
                .kvs
                .len();
            let mine = state
                .kv
                .range(&RangeRequest { key: held.key.clone(), ..Default::default() })
                .map_err(status)?;
            (older, mine.kvs.first().map(|kv| kv.create_revision) == Some(held.create_revision))
        };
        let applied_ours = ctx.node.state().read().kv.current_revision() >= held.revision;
        if applied_ours && !still_mine {
            return Err(status(Error::LeaseNotFound));
        }
        if applied_ours && older == 0 {
            return Ok(());
        }
        watch.changed().await;
    }
}

/// Whether `who` may read every key under `prefix`.
pub fn check_read_prefix(ctx: &Ctx, who: &AuthInfo, prefix: &[u8]) -> Result<(), tonic::Status> {
    ctx.check_access(who, &[Access::Read { key: prefix, range_end: &prefix_end(prefix) }])
}

/// The oldest key under `prefix` (the lock holder / election leader), if any.
pub fn oldest(ctx: &Ctx, prefix: &[u8]) -> Result<(Option<KeyValue>, i64), tonic::Status> {
    let state = ctx.node.state().read();
    let r = state
        .kv
        .range(&RangeRequest {
            key: prefix.to_vec(),
            range_end: prefix_end(prefix),
            sort_order: SortOrder::Ascend,
            sort_target: SortTarget::Create,
            limit: 1,
            ..Default::default()
        })
        .map_err(status)?;
    Ok((r.kvs.into_iter().next(), state.kv.current_revision()))
}
