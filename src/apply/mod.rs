//! `apply`: the deterministic state machine. A committed [`Request`] goes in, an
//! [`Applied`] result comes out; the same log gives byte-identical state (and HashKV)
//! on every member. Errors that depend only on the request and the state (a missing
//! lease, a compacted revision) are results, not failures: every member computes the
//! same one.
//!
//! No async, no I/O: the raft glue (`raft::state_machine`) calls [`KvState::apply`]
//! under a lock and serves reads from the same state.

mod alarms;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use alarms::{AlarmKind, Alarms};

use crate::auth::{self, Access, AuthInfo, AuthRequest, AuthStore, SimpleTokens, TokenEffect};
use crate::error::{Error, Result};
use crate::lease::LeaseStore;
use crate::mvcc::{
    DeleteRangeRequest, DeleteRangeResponse, Event, EventType, KvStore, PutRequest, PutResponse, TxnRequest,
    TxnResponse,
};

/// A write proposed through raft.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Put(PutRequest),
    DeleteRange(DeleteRangeRequest),
    Txn(TxnRequest),
    Compact {
        revision: i64,
    },
    /// A member publishes its name and client URLs once it serves (etcd's
    /// "published local member to cluster through raft").
    Publish {
        member_id: u64,
        attrs: MemberAttrs,
    },
    /// A lease with a nonzero ID (the member that took the request picked it) and a
    /// TTL already raised to the minimum.
    LeaseGrant {
        id: i64,
        ttl_s: i64,
    },
    /// Revoke a lease and delete its keys in one revision (a client's revoke, or the
    /// leader's on expiry).
    LeaseRevoke {
        id: i64,
    },
    /// Remaining TTLs the leader checkpoints (id, remaining_ttl_s); 0 clears.
    LeaseCheckpoint {
        checkpoints: Vec<(i64, i64)>,
    },
    /// A change to users, roles or permissions (see `auth`).
    Auth(AuthRequest),
    /// Raise (`activate`) or clear an alarm of a member (see `alarms`).
    Alarm {
        activate: bool,
        member_id: u64,
        kind: AlarmKind,
    },
    /// A client's request with the identity it was made with: with auth enabled,
    /// `request` applies only if the identity may do it in the auth state of this
    /// point of the log (see `auth::check_request`). Requests the members make
    /// themselves (expiry revokes, checkpoints, publish) are not wrapped.
    Authed {
        auth: AuthInfo,
        request: Box<Request>,
    },
}

/// What a member publishes about itself through raft.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberAttrs {
    pub name: String,
    pub client_urls: Vec<String>,
}

impl Request {
    /// The request itself, without the identity it was made with.
    pub fn unwrapped(&self) -> &Request {
        match self {
            Request::Authed { request, .. } => request.unwrapped(),
            other => other,
        }
    }
}

/// Whether a txn may put (either branch, nested txns too): what NOSPACE refuses.
fn txn_puts(t: &TxnRequest) -> bool {
    t.success.iter().chain(&t.failure).any(|op| match op {
        crate::mvcc::RequestOp::Put(_) => true,
        crate::mvcc::RequestOp::Txn(inner) => txn_puts(inner),
        _ => false,
    })
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Put(p) => write!(f, "put(key_len={}, value_len={})", p.key.len(), p.value.len()),
            Request::DeleteRange(d) => write!(f, "delete_range(key_len={})", d.key.len()),
            Request::Txn(t) => {
                write!(f, "txn(cmp={}, then={}, else={})", t.compare.len(), t.success.len(), t.failure.len())
            }
            Request::Compact { revision } => write!(f, "compact({revision})"),
            Request::Publish { member_id, attrs } => write!(f, "publish({member_id:x}, {})", attrs.name),
            Request::LeaseGrant { id, ttl_s } => write!(f, "lease_grant({id:x}, {ttl_s}s)"),
            Request::LeaseRevoke { id } => write!(f, "lease_revoke({id:x})"),
            Request::LeaseCheckpoint { checkpoints } => write!(f, "lease_checkpoint({})", checkpoints.len()),
            Request::Auth(a) => write!(f, "auth({a:?})"),
            Request::Alarm { activate, member_id, kind } => {
                write!(
                    f,
                    "alarm({}, {member_id:x}, {})",
                    if *activate { "raise" } else { "clear" },
                    kind.name()
                )
            }
            Request::Authed { auth, request } => write!(f, "{request} as {:?}@{}", auth.user, auth.revision),
        }
    }
}

/// The outcome of a write, as the state machine computed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compact,
    Publish,
    LeaseGrant {
        id: i64,
        ttl_s: i64,
    },
    LeaseRevoke,
    LeaseCheckpoint,
    Auth,
    /// The alarms the request changed (none if it changed nothing).
    Alarm(Vec<(u64, AlarmKind)>),
}

/// What applying one entry produced: the store revision right after it (the
/// response header's revision) and the result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub revision: i64,
    pub result: Result<Response>,
}

/// Limits that shape apply; identical on every member (they come from flags that
/// etcd also requires to match).
#[derive(Clone, Copy, Debug)]
pub struct ApplyLimits {
    pub max_txn_ops: usize,
}

impl Default for ApplyLimits {
    fn default() -> Self {
        ApplyLimits { max_txn_ops: 128 }
    }
}

/// The replicated state: the MVCC store, the leases and the auth store.
#[derive(Debug)]
pub struct KvState {
    pub kv: KvStore,
    pub leases: LeaseStore,
    pub auth: AuthStore,
    /// Member-local, not replicated state: the simple tokens issued by applied
    /// Authenticate entries (behind a mutex: reading a token extends its life).
    pub tokens: std::sync::Mutex<SimpleTokens>,
    /// The alarms standing (replicated).
    pub alarms: Alarms,
    pub limits: ApplyLimits,
    /// Approximate bytes held by the store (keys, values, per-version overhead):
    /// what `--quota-backend-bytes` and Status's dbSize measure.
    size_bytes: u64,
    /// Keys that exist now (deleted ones not counted): what `/metrics` reports as
    /// etcd's `keys_total`.
    live_keys: u64,
    /// Published member attributes, by member ID.
    pub members: BTreeMap<u64, MemberAttrs>,
}

/// The snapshot image of [`KvState`]: the MVCC store's own encoding plus the rest,
/// as bincode (fixed-width little-endian integers) of this struct: `kv` and `leases`
/// are each a u64 length and the bytes. [`KvState::encode`] writes the same bytes
/// field by field, without a separate copy of the store's encoding; decoding borrows
/// both from the input. The auth store's bincode follows (images written before auth
/// existed end without it: an empty auth store).
#[derive(Deserialize)]
struct StateImage<'a> {
    #[serde(borrow)]
    kv: &'a [u8],
    #[serde(borrow)]
    leases: &'a [u8],
    members: BTreeMap<u64, MemberAttrs>,
}

/// A snapshot of [`KvState`] being written: see [`KvState::begin_encode`].
#[derive(Debug)]
pub struct StateEncoder {
    kv: crate::mvcc::SnapshotEncoder,
    /// Everything after the store, encoded when the snapshot began.
    rest: Vec<u8>,
}

impl StateEncoder {
    /// The revision the snapshot shows.
    pub fn revision(&self) -> i64 {
        self.kv.revision()
    }
}

/// Per stored version, beyond key and value bytes (see mvcc::store's layout).
const VERSION_OVERHEAD_BYTES: u64 = 40;

fn store_size(kv: &KvStore) -> u64 {
    kv.stored_entries()
        .iter()
        .map(|e| (e.key.len() + e.stored.version.value.len()) as u64 + VERSION_OVERHEAD_BYTES)
        .sum()
}

fn events_size(events: &[Event]) -> u64 {
    events.iter().map(|e| (e.kv.key.len() + e.kv.value.len()) as u64 + VERSION_OVERHEAD_BYTES).sum()
}

/// Keys created (a put at version 1 starts a key's life) minus keys deleted.
fn live_keys_delta(events: &[Event]) -> i64 {
    events
        .iter()
        .map(|e| match e.kind {
            EventType::Put => i64::from(e.kv.version == 1),
            EventType::Delete => -1,
        })
        .sum()
}

impl KvState {
    pub fn new(limits: ApplyLimits) -> Self {
        KvState {
            kv: KvStore::new(),
            leases: LeaseStore::new(),
            auth: AuthStore::new(),
            tokens: std::sync::Mutex::new(SimpleTokens::new()),
            alarms: Alarms::default(),
            limits,
            size_bytes: 0,
            live_keys: 0,
            members: BTreeMap::new(),
        }
    }

    /// The state from its replicated parts (a restore from another format); no member
    /// has published itself yet.
    pub fn from_parts(
        kv: KvStore,
        leases: LeaseStore,
        auth: AuthStore,
        alarms: Alarms,
        limits: ApplyLimits,
    ) -> Self {
        let mut auth = auth;
        auth.refresh_perms();
        KvState {
            size_bytes: store_size(&kv),
            live_keys: kv.live_key_count() as u64,
            kv,
            leases,
            auth,
            tokens: std::sync::Mutex::new(SimpleTokens::new()),
            alarms,
            limits,
            members: BTreeMap::new(),
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Keys that exist now (not deleted).
    pub fn live_keys(&self) -> u64 {
        self.live_keys
    }

    pub fn apply(&mut self, req: &Request) -> Applied {
        self.apply_with_events(req).0
    }

    /// [`KvState::apply`], also returning the changes it made (for watchers), in
    /// order, all at the returned revision.
    pub fn apply_with_events(&mut self, req: &Request) -> (Applied, Vec<Event>) {
        let mut changes = Vec::new();
        let result = self.apply_request(req).map(|(response, events)| {
            self.size_bytes += events_size(&events);
            self.live_keys = self.live_keys.saturating_add_signed(live_keys_delta(&events));
            self.track_lease_keys(&events);
            changes = events;
            response
        });
        (Applied { revision: self.kv.current_revision(), result }, changes)
    }

    /// What the standing alarms refuse (etcd's capped and corrupt appliers).
    fn refused_by_alarms(&self, req: &Request) -> Result<()> {
        if self.alarms.any(AlarmKind::Corrupt)
            && matches!(
                req,
                Request::Put(_)
                    | Request::DeleteRange(_)
                    | Request::Txn(_)
                    | Request::Compact { .. }
                    | Request::LeaseGrant { .. }
                    | Request::LeaseRevoke { .. }
            )
        {
            return Err(Error::Corrupt);
        }
        if self.alarms.any(AlarmKind::NoSpace) {
            let writes = match req {
                Request::Put(_) => !crate::mutant!(AcceptPutUnderNospace),
                Request::LeaseGrant { .. } => true,
                Request::Txn(t) => txn_puts(t),
                _ => false,
            };
            if writes {
                return Err(Error::NoSpace);
            }
        }
        Ok(())
    }

    fn apply_request(&mut self, req: &Request) -> Result<(Response, Vec<Event>)> {
        self.refused_by_alarms(req)?;
        let leases = &self.leases;
        let lease_ok = |id: i64| leases.contains(id);
        match req {
            Request::Put(p) => self.kv.put(p, &lease_ok).map(|(r, ev)| (Response::Put(r), ev)),
            Request::DeleteRange(d) => self.kv.delete_range(d).map(|(r, ev)| (Response::DeleteRange(r), ev)),
            Request::Txn(t) => {
                self.kv.txn(t, self.limits.max_txn_ops, &lease_ok).map(|(r, ev)| (Response::Txn(r), ev))
            }
            Request::Compact { revision } => self.kv.compact(*revision).map(|()| {
                self.size_bytes = store_size(&self.kv);
                (Response::Compact, Vec::new())
            }),
            Request::Publish { member_id, attrs } => {
                self.members.insert(*member_id, attrs.clone());
                Ok((Response::Publish, Vec::new()))
            }
            Request::LeaseGrant { id, ttl_s } => {
                let granted = self.leases.grant(*id, *ttl_s, 1)?;
                Ok((Response::LeaseGrant { id: *id, ttl_s: granted }, Vec::new()))
            }
            Request::LeaseRevoke { id } => {
                let keys = self.leases.revoke(*id)?;
                Ok((Response::LeaseRevoke, self.kv.delete_keys(&keys)?))
            }
            Request::LeaseCheckpoint { checkpoints } => {
                for (id, remaining_ttl_s) in checkpoints {
                    self.leases.checkpoint(*id, *remaining_ttl_s);
                }
                Ok((Response::LeaseCheckpoint, Vec::new()))
            }
            Request::Auth(a) => {
                let effect = self.auth.apply(a)?;
                self.apply_token_effect(effect);
                Ok((Response::Auth, Vec::new()))
            }
            Request::Alarm { activate, member_id, kind } => {
                let changed = if *activate {
                    self.alarms.activate(*member_id, *kind)
                } else {
                    self.alarms.deactivate(*member_id, *kind)
                };
                if changed {
                    tracing::warn!(
                        alarm = kind.name(),
                        member = %format!("{member_id:x}"),
                        "{}",
                        if *activate { "alarm raised" } else { "alarm disarmed" }
                    );
                }
                let alarms = if changed { vec![(*member_id, *kind)] } else { Vec::new() };
                Ok((Response::Alarm(alarms), Vec::new()))
            }
            Request::Authed { auth: who, request } => {
                let mut needs = Vec::new();
                self.accesses(request, &mut needs);
                auth::check_request(&self.auth, who, &needs)?;
                self.apply_request(request)
            }
        }
    }

    /// What `req` needs the identity it came with to hold (see `auth::check`).
    pub fn accesses<'a>(&'a self, req: &'a Request, out: &mut Vec<Access<'a>>) {
        let lease_keys = |id: i64, out: &mut Vec<Access<'a>>| {
            if let Some(lease) = self.leases.get(id) {
                out.extend(lease.keys().iter().map(|k| Access::Write { key: k, range_end: &[] }));
            }
        };
        match req {
            Request::Put(p) => {
                out.push(Access::Write { key: &p.key, range_end: &[] });
                lease_keys(p.lease, out);
                if p.prev_kv {
                    out.push(Access::Read { key: &p.key, range_end: &[] });
                }
            }
            Request::DeleteRange(d) => {
                out.push(Access::Write { key: &d.key, range_end: &d.range_end });
                if d.prev_kv {
                    out.push(Access::Read { key: &d.key, range_end: &d.range_end });
                }
            }
            Request::Txn(t) => auth::txn_accesses(t, out),
            Request::LeaseRevoke { id } => lease_keys(*id, out),
            Request::LeaseGrant { .. } => {}
            Request::Auth(a) if !a.needs_admin() => {}
            Request::Compact { .. }
            | Request::Alarm { .. }
            | Request::Auth(_)
            | Request::Publish { .. }
            | Request::LeaseCheckpoint { .. }
            | Request::Authed { .. } => out.push(Access::Admin),
        }
    }

    fn apply_token_effect(&mut self, effect: TokenEffect) {
        let tokens = self.tokens.get_mut().unwrap_or_else(|p| p.into_inner());
        match effect {
            TokenEffect::None => {}
            TokenEffect::InvalidateUser(user) => tokens.invalidate_user(&user),
            TokenEffect::InvalidateAll => tokens.clear(),
            TokenEffect::Issue { token, user } => tokens.issue(token, user),
        }
    }

    /// Keys follow their leases: a put attaches its key to its lease (and detaches it
    /// from the previous one), a delete detaches it.
    fn track_lease_keys(&mut self, events: &[Event]) {
        for e in events {
            let prev_lease = e.prev_kv.as_ref().map(|p| p.lease).unwrap_or(0);
            match e.kind {
                EventType::Put => {
                    // The put was checked against the lease store before it was made.
                    if let Err(err) = self.leases.on_put(&e.kv.key, e.kv.lease, prev_lease) {
                        tracing::error!(error = %err, "put with a lease that vanished");
                    }
                }
                EventType::Delete => self.leases.on_delete(&e.kv.key, prev_lease),
            }
        }
    }

    /// etcd's Hash (of the whole backend, not only the keys as HashKV): the MVCC
    /// store's hash continued over the auth state, so that members whose users,
    /// roles or permissions differ hash differently.
    pub fn hash(&self) -> u32 {
        let mut crc = crc32c::crc32c_append(0, &self.kv.hash().to_be_bytes());
        crc = crc32c::crc32c_append(crc, b"auth");
        crc32c::crc32c_append(crc, &self.auth.encode())
    }

    /// Snapshot of the replicated state.
    pub fn encode(&self) -> Vec<u8> {
        let (mut out, mut encoder) = self.begin_encode();
        // The same state, unchanged, in one step: nothing for the checks to refuse.
        let done = self.encode_step(&mut encoder, &mut out, usize::MAX);
        debug_assert!(matches!(done, Ok(true)), "one unbounded step on the same state: {done:?}");
        out
    }

    /// Start a snapshot of the state as it is now, to be finished by
    /// [`encode_step`](Self::encode_step)s that may come after further writes (not
    /// after a compaction or a restore): the store is written a few keys at a time,
    /// everything else (leases, members, auth, alarms: small) now.
    pub fn begin_encode(&self) -> (Vec<u8>, StateEncoder) {
        // The layout of `StateImage`, written in place: the store's encoding (the bulk
        // of a snapshot) goes straight into the image, its length patched in after.
        // Sized up front from the store's own size estimate (an upper bound of its
        // encoding): growing by doubling would hold the old and the new buffer at once,
        // half again the image's size at the peak. Untouched capacity costs no memory.
        let mut out = Vec::with_capacity(self.size_bytes as usize + 4096);
        out.extend_from_slice(&[0u8; 8]);
        let kv = self.kv.begin_snapshot(&mut out);
        let mut rest = Vec::new();
        // Serializing plain owned data into a Vec cannot fail.
        let written = bincode::serialize_into(&mut rest, &self.leases.encode_snapshot())
            .and_then(|()| bincode::serialize_into(&mut rest, &self.members))
            .and_then(|()| bincode::serialize_into(&mut rest, &self.auth))
            .and_then(|()| bincode::serialize_into(&mut rest, &self.alarms));
        debug_assert!(written.is_ok(), "bincode into a Vec cannot fail");
        (out, StateEncoder { kv, rest })
    }

    /// Continue [`begin_encode`](Self::begin_encode)'s snapshot with at most
    /// `max_keys` keys of the store; `Ok(true)` when `out` holds the whole image.
    pub fn encode_step(
        &self,
        encoder: &mut StateEncoder,
        out: &mut Vec<u8>,
        max_keys: usize,
    ) -> std::result::Result<bool, Error> {
        if !encoder.kv.step(&self.kv, out, max_keys)? {
            return Ok(false);
        }
        if !encoder.rest.is_empty() {
            let kv_len = (out.len() - 8) as u64;
            out[..8].copy_from_slice(&kv_len.to_le_bytes());
            out.append(&mut encoder.rest);
        }
        Ok(true)
    }

    pub fn decode(bytes: &[u8], limits: ApplyLimits) -> std::result::Result<Self, Error> {
        let image: StateImage = bincode::deserialize(bytes)
            .map_err(|e| Error::Internal(format!("state snapshot is corrupt: {e}")))?;
        let kv = KvStore::decode_snapshot(image.kv)?;
        let leases = LeaseStore::decode_snapshot(image.leases)?;
        let head = bincode::serialized_size(&image.members)
            .map_err(|e| Error::Internal(format!("state snapshot is corrupt: {e}")))?;
        let auth_at = (16 + image.kv.len() + image.leases.len()).saturating_add(head as usize);
        let (auth, alarms) = match bytes.get(auth_at..) {
            Some(rest) if !rest.is_empty() => {
                let auth = AuthStore::decode(rest)?;
                let alarms_at = bincode::serialized_size(&auth)
                    .map_err(|e| Error::Internal(format!("state snapshot is corrupt: {e}")))?
                    as usize;
                let alarms = match rest.get(alarms_at..) {
                    Some(more) if !more.is_empty() => bincode::deserialize(more)
                        .map_err(|e| Error::Internal(format!("alarms in snapshot are corrupt: {e}")))?,
                    _ => Alarms::default(),
                };
                (auth, alarms)
            }
            _ => (AuthStore::new(), Alarms::default()),
        };
        let mut state = KvState::from_parts(kv, leases, auth, alarms, limits);
        state.members = image.members;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::PutRequest;

    #[test]
    fn standing_alarms_refuse_what_etcd_refuses_and_survive_snapshots() {
        use crate::mvcc::{RequestOp, TxnRequest};
        let mut st = KvState::new(ApplyLimits::default());
        let put =
            |k: &str| PutRequest { key: k.as_bytes().to_vec(), value: b"v".to_vec(), ..Default::default() };
        st.apply(&Request::Put(put("a")));
        let raise = |kind| Request::Alarm { activate: true, member_id: 7, kind };
        assert_eq!(
            st.apply(&raise(AlarmKind::NoSpace)).result,
            Ok(Response::Alarm(vec![(7, AlarmKind::NoSpace)]))
        );
        assert_eq!(
            st.apply(&raise(AlarmKind::NoSpace)).result,
            Ok(Response::Alarm(vec![])),
            "already standing"
        );
        let nested_put = TxnRequest {
            failure: vec![RequestOp::Txn(TxnRequest {
                success: vec![RequestOp::Put(put("b"))],
                ..Default::default()
            })],
            ..Default::default()
        };
        for refused in
            [Request::Put(put("b")), Request::Txn(nested_put), Request::LeaseGrant { id: 1, ttl_s: 10 }]
        {
            assert_eq!(st.apply(&refused).result, Err(Error::NoSpace), "{refused}");
        }
        let delete = DeleteRangeRequest { key: b"a".to_vec(), ..Default::default() };
        assert!(st.apply(&Request::DeleteRange(delete)).result.is_ok(), "deletes free space");
        let range = crate::mvcc::RangeRequest { key: b"a".to_vec(), ..Default::default() };
        let reads = TxnRequest { success: vec![RequestOp::Range(range)], ..Default::default() };
        let read = st.apply(&Request::Txn(reads)).result;
        assert!(read.is_ok(), "{read:?}");

        let back = KvState::decode(&st.encode(), ApplyLimits::default()).unwrap();
        assert_eq!(back.alarms.list(None), vec![(7, AlarmKind::NoSpace)], "alarms are in the snapshot");

        let clear = Request::Alarm { activate: false, member_id: 7, kind: AlarmKind::NoSpace };
        assert_eq!(st.apply(&clear).result, Ok(Response::Alarm(vec![(7, AlarmKind::NoSpace)])));
        assert!(st.apply(&Request::Put(put("b"))).result.is_ok());
        st.apply(&raise(AlarmKind::Corrupt));
        assert_eq!(st.apply(&Request::Put(put("c"))).result, Err(Error::Corrupt));
        assert_eq!(st.apply(&Request::Compact { revision: 1 }).result, Err(Error::Corrupt));
    }

    #[test]
    fn hash_covers_the_auth_state() {
        let mut a = KvState::new(ApplyLimits::default());
        let mut b = KvState::new(ApplyLimits::default());
        let put = PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
        a.apply(&Request::Put(put.clone()));
        b.apply(&Request::Put(put));
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.kv.hash(), b.kv.hash());
        a.apply(&Request::Auth(AuthRequest::RoleAdd { name: "r".into() }));
        assert_eq!(a.kv.hash(), b.kv.hash(), "auth is not in the keys' hash");
        assert_ne!(a.hash(), b.hash(), "but it is in the whole state's");
        b.apply(&Request::Auth(AuthRequest::RoleAdd { name: "r".into() }));
        assert_eq!(a.hash(), b.hash());
    }

    #[test]
    fn snapshot_round_trip_keeps_kv_and_members() {
        let mut st = KvState::new(ApplyLimits::default());
        let put = PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() };
        assert_eq!(st.apply(&Request::Put(put)).revision, 2);
        let attrs = MemberAttrs { name: "m1".into(), client_urls: vec!["http://127.0.0.1:1".into()] };
        st.apply(&Request::Publish { member_id: 7, attrs: attrs.clone() });
        let back = KvState::decode(&st.encode(), ApplyLimits::default()).unwrap();
        assert_eq!(back.kv, st.kv);
        assert_eq!(back.members.get(&7), Some(&attrs));
        assert_eq!(back.size_bytes(), st.size_bytes());
        assert!(KvState::decode(&st.encode()[..10], ApplyLimits::default()).is_err());
    }

    #[test]
    fn live_keys_follow_puts_deletes_and_revokes() {
        let mut st = KvState::new(ApplyLimits::default());
        let put = |k: &str, lease: i64| {
            Request::Put(PutRequest { key: k.into(), value: b"v".to_vec(), lease, ..Default::default() })
        };
        st.apply(&Request::LeaseGrant { id: 5, ttl_s: 60 });
        for r in [put("a", 0), put("a", 0), put("b", 0), put("c", 5), put("d", 5)] {
            assert!(st.apply(&r).result.is_ok());
        }
        assert_eq!(st.live_keys(), 4, "a second put of a creates nothing");
        let delete =
            DeleteRangeRequest { key: b"a".to_vec(), range_end: b"c".to_vec(), ..Default::default() };
        assert!(st.apply(&Request::DeleteRange(delete)).result.is_ok());
        assert!(st.apply(&Request::LeaseRevoke { id: 5 }).result.is_ok());
        assert_eq!(st.live_keys(), 0);
        assert!(st.apply(&put("a", 0)).result.is_ok());
        assert!(st.apply(&Request::Compact { revision: st.kv.current_revision() }).result.is_ok());
        assert_eq!(st.live_keys(), 1, "a new life of a; compaction changes nothing");
        assert_eq!(st.kv.live_key_count(), 1);
        let back = KvState::decode(&st.encode(), ApplyLimits::default()).unwrap();
        assert_eq!(back.live_keys(), 1, "counted again from the snapshot");
    }

    /// `encode` writes the image field by field: byte for byte what bincode makes of
    /// the whole struct with owned fields (the format snapshots on disk have).
    #[test]
    fn encode_in_place_is_the_struct_layout() {
        #[derive(Serialize)]
        struct Owned {
            kv: Vec<u8>,
            leases: Vec<u8>,
            members: BTreeMap<u64, MemberAttrs>,
            auth: AuthStore,
            alarms: Alarms,
        }
        let mut st = KvState::new(ApplyLimits::default());
        for i in 0..50u8 {
            let put = PutRequest { key: vec![b'k', i], value: vec![i; usize::from(i)], ..Default::default() };
            st.apply(&Request::Put(put));
        }
        st.apply(&Request::LeaseGrant { id: 9, ttl_s: 60 });
        let attrs = MemberAttrs { name: "m1".into(), client_urls: vec!["http://127.0.0.1:1".into()] };
        st.apply(&Request::Publish { member_id: 7, attrs });
        let owned = Owned {
            kv: st.kv.encode_snapshot(),
            leases: st.leases.encode_snapshot(),
            members: st.members.clone(),
            auth: st.auth.clone(),
            alarms: st.alarms.clone(),
        };
        assert_eq!(st.encode(), bincode::serialize(&owned).unwrap());
    }
}
