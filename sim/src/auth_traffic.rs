//! Auth traffic for `t40_auth`: users' sessions (a token from Authenticate in gRPC
//! metadata `token`, a fresh one and a retry on "invalid auth token" and "revision of
//! auth store is old", as clientv3 does), clients doing puts, linearizable gets and
//! txns on keys k0..k7, the admin (root) changing permissions one at a time with a
//! marker after each, and the members' views at the end. Every call is recorded for
//! [`auth_check`](crate::auth_check).
//!
//! The admin's protocol keeps the model exact: a change whose outcome is unknown is
//! retried until the store answers definitely (a revoke answered "not granted" after
//! an unknown attempt was that attempt); a lost attempt may still apply later (a
//! proposal lives up to a request timeout at its member, plus transit, pauses and an
//! election: [`QUARANTINE_NS`]), where it changes nothing as long as nothing else
//! touched the same slot (a role's permission on one range, a user's grant of one
//! role): the admin leaves that slot alone meanwhile. Only after a change holds does
//! the admin write its marker, and only then start the next change.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use metastore::proto::authpb;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::auth_client::AuthClient;
use metastore::proto::etcdserverpb::kv_client::KvClient;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::auth_check::{
    Access, AuthHistory, AuthModel, Change, ClientOp, KeyRange, OpOutcome, Perm, PermKind, Seen, ROOT_ROLE,
};
use crate::kv_traffic::now_ns;
use crate::traffic;

/// Client keys k0..k7.
pub const KEYS: usize = 8;
pub const USERS: usize = 3;
pub const ROLES: usize = 3;
/// The admin's marker key (root only).
pub const MARKER: &[u8] = b"/epoch";
/// A client's patience with one call: above the members' request timeout (5 s + 2
/// election timeouts), so that the store's own answer usually arrives.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);
/// How long after its invocation an admin attempt of unknown outcome may still enter
/// the log: transit (a paused member reads it up to 4 s late), an identity check (a
/// read barrier, up to the 7 s request timeout) and a proposal (up to 7 s more) at its
/// member, transit to a leader that may be paused too, and an election to commit it.
/// Until then the admin leaves the slot that attempt changes alone.
pub const QUARANTINE_NS: u64 = 40_000_000_000;
/// The admin gives up on a change (a liveness failure) after this long.
pub const ADMIN_DEADLINE_NS: u64 = 120_000_000_000;

pub fn key(i: usize) -> Vec<u8> {
    format!("k{i}").into_bytes()
}

pub fn user(i: usize) -> String {
    format!("u{i}")
}

pub fn role(i: usize) -> String {
    format!("r{i}")
}

pub fn password(user: &str) -> String {
    format!("pw-{user}")
}

/// What the admin grants and revokes: single keys mostly, some ranges.
pub fn perm_ranges() -> Vec<KeyRange> {
    let mut v: Vec<KeyRange> = (0..KEYS).map(|i| KeyRange::key(&key(i))).collect();
    v.push(KeyRange::range(b"k0", b"k2"));
    v.push(KeyRange::range(b"k2", b"k5"));
    v.push(KeyRange::range(b"k4", b"k8"));
    v.push(KeyRange::range(b"k6", b"\0"));
    v
}

fn random_perm(rng: &mut impl Rng, ranges: &[KeyRange]) -> Perm {
    Perm { kind: PermKind::ALL[rng.gen_range(0..3)], range: ranges[rng.gen_range(0..ranges.len())].clone() }
}

/// `msg` with the token in gRPC metadata `token`.
pub fn authed<T>(msg: T, token: &Option<String>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(Ok(v)) = token.as_deref().map(str::parse) {
        r.metadata_mut().insert("token", v);
    }
    r
}

/// Answers that mean the caller's identity was refused (nothing took effect): the
/// client authenticates again and retries.
fn identity_refusal(s: &Status) -> bool {
    let m = s.message();
    m.contains("invalid auth token")
        || m.contains("revision of auth store is old")
        || m.contains("user name is empty")
}

/// The auth store's own refusals of an admin change (nothing took effect).
fn auth_refusal(s: &Status) -> bool {
    const DEFINITE: &[&str] = &[
        "permission is not granted to the role",
        "role is not granted to the user",
        "user name already exists",
        "role name already exists",
        "role name not found",
        "user name not found",
    ];
    s.code() == Code::FailedPrecondition && DEFINITE.iter().any(|d| s.message().contains(d))
}

/// The answer to one call.
pub enum Answer<T> {
    Ok(T),
    /// Never reached the store's judgment (no connection, no token).
    NotSent(String),
    /// Refused for the caller's identity: did not take effect.
    Refused(String),
    /// "permission denied".
    Denied,
    /// Another refusal known to have no effect (see [`auth_refusal`]).
    Store(Status),
    /// Timed out or failed otherwise: may or may not take effect.
    Unknown(String),
}

/// A user's connection to the cluster: one member at a time (the next one when it
/// stops answering), a token from Authenticate once auth is on.
pub struct Session {
    urls: Vec<String>,
    /// The member it calls now.
    pub target: usize,
    channel: Option<Channel>,
    user: String,
    token: Option<String>,
    /// Auth is on: authenticate before calling.
    pub auth_on: bool,
    /// Authenticate calls made (each a bcrypt check at the member).
    pub logins: u64,
}

impl Session {
    pub fn new(urls: Vec<String>, first: usize, user: &str, auth_on: bool) -> Session {
        Session {
            urls,
            target: first,
            channel: None,
            user: user.to_string(),
            token: None,
            auth_on,
            logins: 0,
        }
    }

    fn move_on(&mut self) {
        self.channel = None;
        self.target = (self.target + 1) % self.urls.len();
    }

    /// Connect and authenticate as needed, then `f` (channel, token) within
    /// [`CALL_TIMEOUT`].
    pub async fn call<T, F, Fut>(&mut self, f: F) -> Answer<T>
    where
        F: FnOnce(Channel, Option<String>) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        if self.channel.is_none() {
            self.channel = traffic_channel(&self.urls[self.target]).await;
        }
        let Some(ch) = self.channel.clone() else {
            self.move_on();
            return Answer::NotSent("connect failed".into());
        };
        if self.auth_on && self.token.is_none() {
            self.logins += 1;
            let req = pb::AuthenticateRequest { name: self.user.clone(), password: password(&self.user) };
            match tokio::time::timeout(CALL_TIMEOUT, AuthClient::new(ch.clone()).authenticate(req)).await {
                Ok(Ok(r)) => self.token = Some(r.into_inner().token),
                Ok(Err(s)) => {
                    self.move_on();
                    return Answer::NotSent(format!("authenticate: {}", s.message()));
                }
                Err(_) => {
                    self.move_on();
                    return Answer::NotSent("authenticate: timeout".into());
                }
            }
        }
        match tokio::time::timeout(CALL_TIMEOUT, f(ch, self.token.clone())).await {
            Ok(Ok(v)) => Answer::Ok(v),
            Ok(Err(s)) if identity_refusal(&s) => {
                self.token = None;
                Answer::Refused(s.message().to_string())
            }
            Ok(Err(s)) if s.code() == Code::PermissionDenied => Answer::Denied,
            Ok(Err(s)) if auth_refusal(&s) => Answer::Store(s),
            Ok(Err(s)) => {
                self.move_on();
                Answer::Unknown(format!("{:?}: {}", s.code(), s.message()))
            }
            Err(_) => {
                self.move_on();
                Answer::Unknown("timeout".into())
            }
        }
    }
}

async fn traffic_channel(url: &str) -> Option<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).ok()?;
    tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await.ok()?.ok()
}

// ---- The admin ----

/// One setup step, retried until it holds.
pub enum SetupStep {
    UserAdd(String),
    RoleAdd(String),
    Change(Change),
    Enable,
}

async fn send_setup(ch: Channel, token: Option<String>, step: &SetupStep) -> Result<(), Status> {
    let mut c = AuthClient::new(ch);
    match step {
        SetupStep::UserAdd(name) => {
            let req =
                pb::AuthUserAddRequest { name: name.clone(), password: password(name), ..Default::default() };
            c.user_add(authed(req, &token)).await.map(|_| ())
        }
        SetupStep::RoleAdd(name) => {
            c.role_add(authed(pb::AuthRoleAddRequest { name: name.clone() }, &token)).await.map(|_| ())
        }
        SetupStep::Change(change) => send_change(c, token, change).await,
        SetupStep::Enable => c.auth_enable(authed(pb::AuthEnableRequest {}, &token)).await.map(|_| ()),
    }
}

async fn send_change(
    mut c: AuthClient<Channel>,
    token: Option<String>,
    change: &Change,
) -> Result<(), Status> {
    match change {
        Change::GrantPermission { role, perm } => {
            let perm = authpb::Permission {
                perm_type: perm.kind.to_pb(),
                key: perm.range.key.clone(),
                range_end: perm.range.range_end.clone(),
            };
            let req = pb::AuthRoleGrantPermissionRequest { name: role.clone(), perm: Some(perm) };
            c.role_grant_permission(authed(req, &token)).await.map(|_| ())
        }
        Change::RevokePermission { role, range } => {
            let req = pb::AuthRoleRevokePermissionRequest {
                role: role.clone(),
                key: range.key.clone(),
                range_end: range.range_end.clone(),
            };
            c.role_revoke_permission(authed(req, &token)).await.map(|_| ())
        }
        Change::GrantRole { user, role } => {
            let req = pb::AuthUserGrantRoleRequest { user: user.clone(), role: role.clone() };
            c.user_grant_role(authed(req, &token)).await.map(|_| ())
        }
        Change::RevokeRole { user, role } => {
            let req = pb::AuthUserRevokeRoleRequest { name: user.clone(), role: role.clone() };
            c.user_revoke_role(authed(req, &token)).await.map(|_| ())
        }
    }
}

async fn put_marker(ch: Channel, token: Option<String>, value: Vec<u8>) -> Result<i64, Status> {
    let req = pb::PutRequest { key: MARKER.to_vec(), value, ..Default::default() };
    let r = KvClient::new(ch).put(authed(req, &token)).await?.into_inner();
    Ok(r.header.map(|h| h.revision).unwrap_or(-1))
}

/// The admin's counts, for the fingerprint and the summary.
#[derive(Default, Debug)]
pub struct AdminStats {
    pub attempts: u64,
    pub unknown: u64,
}

/// What a change sets: a role's permission on one range, or a user's grant of one
/// role. A change re-applied late is a no-op while its slot holds what it set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Perm(String, KeyRange),
    Role(String, String),
}

fn slot_of(change: &Change) -> Slot {
    match change {
        Change::GrantPermission { role, perm } => Slot::Perm(role.clone(), perm.range.clone()),
        Change::RevokePermission { role, range } => Slot::Perm(role.clone(), range.clone()),
        Change::GrantRole { user, role } | Change::RevokeRole { user, role } => {
            Slot::Role(user.clone(), role.clone())
        }
    }
}

pub struct Admin {
    session: Session,
    origin: tokio::time::Instant,
    stats: AdminStats,
    markers: u64,
    /// Slots with an attempt of unknown outcome, and until when it may apply.
    locked: BTreeMap<Slot, u64>,
    /// The last setup attempt of unknown outcome.
    setup_unknown: Option<u64>,
}

impl Admin {
    pub fn new(session: Session, origin: tokio::time::Instant) -> Admin {
        Admin {
            session,
            origin,
            stats: AdminStats::default(),
            markers: 0,
            locked: BTreeMap::new(),
            setup_unknown: None,
        }
    }

    /// Run the setup steps (auth on at the last), wait out any lost attempt (setup runs
    /// before the faults, so this is rare), and put the first marker: its revision.
    pub async fn run_setup(&mut self, steps: &[SetupStep]) -> Result<i64, String> {
        for step in steps {
            self.setup(step).await?;
            if matches!(step, SetupStep::Enable) {
                self.session.auth_on = true;
            }
        }
        if let Some(t) = self.setup_unknown {
            let now = now_ns(self.origin);
            if now < t + QUARANTINE_NS {
                tokio::time::sleep(Duration::from_nanos(t + QUARANTINE_NS - now)).await;
            }
        }
        self.marker().await
    }

    fn deadline_passed(&self, since: u64) -> bool {
        now_ns(self.origin) > since + ADMIN_DEADLINE_NS
    }

    /// Run a setup step until it holds ("already exists" after a lost answer counts).
    async fn setup(&mut self, step: &SetupStep) -> Result<(), String> {
        let began = now_ns(self.origin);
        loop {
            match self.session.call(|ch, token| async move { send_setup(ch, token, step).await }).await {
                Answer::Ok(()) => return Ok(()),
                Answer::Store(s) if s.message().contains("already exists") => return Ok(()),
                Answer::Store(s) => return Err(format!("setup step refused: {}", s.message())),
                Answer::Denied => return Err("setup step: permission denied to root".into()),
                Answer::Unknown(e) => {
                    self.setup_unknown = Some(now_ns(self.origin));
                    if self.deadline_passed(began) {
                        return Err(format!("liveness: setup did not finish: {e}"));
                    }
                }
                Answer::NotSent(e) | Answer::Refused(e) => {
                    if self.deadline_passed(began) {
                        return Err(format!("liveness: setup did not finish: {e}"));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Make `change` hold: (first invocation, completion). Its slot must not be locked.
    async fn change(&mut self, change: &Change) -> Result<(u64, u64), String> {
        let first = now_ns(self.origin);
        let mut unknown = false;
        loop {
            if self.deadline_passed(first) {
                return Err(format!(
                    "liveness: the admin could not make {change} within {ADMIN_DEADLINE_NS} ns"
                ));
            }
            let invoke = now_ns(self.origin);
            self.stats.attempts += 1;
            let answer = self
                .session
                .call(|ch, token| async move { send_change(AuthClient::new(ch), token, change).await })
                .await;
            match answer {
                Answer::Ok(()) => return Ok((first, now_ns(self.origin))),
                // A lost attempt did it (nothing else changes auth).
                Answer::Store(s)
                    if unknown
                        && (s.message().contains("permission is not granted")
                            || s.message().contains("role is not granted")) =>
                {
                    return Ok((first, now_ns(self.origin)));
                }
                Answer::Store(s) => {
                    return Err(format!(
                        "admin: {change} refused ({}): the store's auth state is not the model's",
                        s.message()
                    ))
                }
                Answer::Denied => return Err(format!("admin: {change} denied to root")),
                Answer::NotSent(_) | Answer::Refused(_) => {}
                Answer::Unknown(_) => {
                    self.stats.unknown += 1;
                    unknown = true;
                    self.locked.insert(slot_of(change), invoke + QUARANTINE_NS);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Put the marker as root; its revision.
    async fn marker(&mut self) -> Result<i64, String> {
        let began = now_ns(self.origin);
        loop {
            self.markers += 1;
            let value = format!("m{}", self.markers).into_bytes();
            match self.session.call(|ch, token| put_marker(ch, token, value)).await {
                Answer::Ok(rev) => return Ok(rev),
                Answer::Denied => return Err("admin: marker put denied to root".into()),
                other => {
                    if self.deadline_passed(began) {
                        let why = match other {
                            Answer::Unknown(e) | Answer::NotSent(e) | Answer::Refused(e) => e,
                            _ => String::new(),
                        };
                        return Err(format!("liveness: the admin could not put a marker: {why}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Setup from the seed: roles with permissions, users with roles, root; then auth on.
pub fn plan_setup(rng: &mut impl Rng) -> (Vec<SetupStep>, AuthModel) {
    let ranges = perm_ranges();
    let mut model = AuthModel::default();
    let mut steps = vec![SetupStep::UserAdd("root".into())];
    model.users.insert("root".into(), BTreeSet::new());
    for r in 0..ROLES {
        steps.push(SetupStep::RoleAdd(role(r)));
        model.roles.insert(role(r), Vec::new());
    }
    for u in 0..USERS {
        steps.push(SetupStep::UserAdd(user(u)));
        model.users.insert(user(u), BTreeSet::new());
    }
    let mut changes = vec![Change::GrantRole { user: "root".into(), role: ROOT_ROLE.into() }];
    for u in 0..USERS {
        let first = rng.gen_range(0..ROLES);
        changes.push(Change::GrantRole { user: user(u), role: role(first) });
        if rng.gen_bool(0.5) {
            changes.push(Change::GrantRole { user: user(u), role: role((first + 1) % ROLES) });
        }
    }
    for r in 0..ROLES {
        for _ in 0..rng.gen_range(3..7) {
            changes.push(Change::GrantPermission { role: role(r), perm: random_perm(rng, &ranges) });
        }
    }
    for c in changes {
        model.apply(&c).expect("setup follows the model");
        steps.push(SetupStep::Change(c));
    }
    steps.push(SetupStep::Enable);
    (steps, model)
}

/// The next change: mostly a permission toggled (granted, its kind changed, revoked),
/// sometimes a role granted to or revoked from a user.
fn pick_change(model: &AuthModel, rng: &mut impl Rng) -> Change {
    let ranges = perm_ranges();
    if rng.gen_bool(0.12) {
        let (u, r) = (user(rng.gen_range(0..USERS)), role(rng.gen_range(0..ROLES)));
        return if model.users[&u].contains(&r) {
            Change::RevokeRole { user: u, role: r }
        } else {
            Change::GrantRole { user: u, role: r }
        };
    }
    let r = role(rng.gen_range(0..ROLES));
    let range = ranges[rng.gen_range(0..ranges.len())].clone();
    let held = model.roles[&r].iter().find(|p| p.range == range).map(|p| p.kind);
    match held {
        Some(_) if rng.gen_bool(0.6) => Change::RevokePermission { role: r, range },
        Some(kind) => {
            let others: Vec<PermKind> = PermKind::ALL.iter().copied().filter(|k| *k != kind).collect();
            let kind = others[rng.gen_range(0..others.len())];
            Change::GrantPermission { role: r, perm: Perm { kind, range } }
        }
        None => Change::GrantPermission {
            role: r,
            perm: Perm { kind: PermKind::ALL[rng.gen_range(0..3)], range },
        },
    }
}

/// The admin during traffic: one change at a time (on a slot no lost attempt may
/// still change), its marker, a short pause, until `stop`; the history it made.
pub async fn admin_run(
    mut admin: Admin,
    mut history: AuthHistory,
    stop: Arc<AtomicBool>,
) -> Result<(AuthHistory, AdminStats), String> {
    let mut rng = thread_rng();
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..150))).await;
        let now = now_ns(admin.origin);
        admin.locked.retain(|_, until| *until > now);
        let Some(change) = (0..20)
            .map(|_| pick_change(history.current(), &mut rng))
            .find(|c| !admin.locked.contains_key(&slot_of(c)))
        else {
            continue;
        };
        let (invoke, done) = admin.change(&change).await?;
        let marker = admin.marker().await?;
        history.push(change, invoke, done, marker)?;
    }
    Ok((history, admin.stats))
}

// ---- The clients ----

/// A client op before it gets its value.
#[derive(Clone, Debug)]
enum Planned {
    Get {
        range: KeyRange,
    },
    Put {
        key: usize,
    },
    Txn {
        cmp: usize,
        success: usize,
        failure: usize,
        success_read: Option<usize>,
        failure_read: Option<usize>,
    },
}

/// A random op: gets of one key (25%) or a range (10%), puts (30%), txns (35%).
fn plan_op(rng: &mut impl Rng) -> Planned {
    match rng.gen_range(0..20) {
        0..=4 => Planned::Get { range: KeyRange::key(&key(rng.gen_range(0..KEYS))) },
        5..=6 => {
            let a = rng.gen_range(0..KEYS - 1);
            let b = rng.gen_range(a + 1..=KEYS);
            Planned::Get { range: KeyRange::range(&key(a), &key(b)) }
        }
        7..=12 => Planned::Put { key: rng.gen_range(0..KEYS) },
        _ => {
            let success = rng.gen_range(0..KEYS);
            let mut failure = rng.gen_range(0..KEYS - 1);
            if failure >= success {
                failure += 1;
            }
            Planned::Txn {
                cmp: rng.gen_range(0..KEYS),
                success,
                failure,
                success_read: rng.gen_bool(0.2).then(|| rng.gen_range(0..KEYS)),
                failure_read: rng.gen_bool(0.2).then(|| rng.gen_range(0..KEYS)),
            }
        }
    }
}

#[derive(Clone, Debug)]
enum KvReq {
    Range(pb::RangeRequest),
    Put(pb::PutRequest),
    Txn(pb::TxnRequest),
}

struct KvResp {
    revision: i64,
    kvs: Vec<metastore::proto::mvccpb::KeyValue>,
    succeeded: bool,
}

async fn send_kv(ch: Channel, token: Option<String>, req: KvReq) -> Result<KvResp, Status> {
    let mut c = KvClient::new(ch);
    let rev = |h: Option<pb::ResponseHeader>| h.map(|h| h.revision).unwrap_or(-1);
    Ok(match req {
        KvReq::Range(r) => {
            let r = c.range(authed(r, &token)).await?.into_inner();
            KvResp { revision: rev(r.header), kvs: r.kvs, succeeded: false }
        }
        KvReq::Put(p) => {
            let r = c.put(authed(p, &token)).await?.into_inner();
            KvResp { revision: rev(r.header), kvs: Vec::new(), succeeded: false }
        }
        KvReq::Txn(t) => {
            let r = c.txn(authed(t, &token)).await?.into_inner();
            let mut kvs = Vec::new();
            for op in r.responses {
                if let Some(pb::response_op::Response::ResponseRange(range)) = op.response {
                    kvs.extend(range.kvs);
                }
            }
            KvResp { revision: rev(r.header), kvs, succeeded: r.succeeded }
        }
    })
}

fn range_op(k: usize) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
            key: key(k),
            ..Default::default()
        })),
    }
}

/// The request for `planned` writing `value`, what it needs (as etcd judges), and a
/// description.
fn build(planned: &Planned, value: &[u8], known: &BTreeMap<usize, Vec<u8>>) -> (KvReq, Vec<Access>, String) {
    match planned {
        Planned::Get { range } => {
            let req = pb::RangeRequest {
                key: range.key.clone(),
                range_end: range.range_end.clone(),
                ..Default::default()
            };
            (KvReq::Range(req), vec![Access::Read(range.clone())], format!("get {range}"))
        }
        Planned::Put { key: k } => {
            let req = pb::PutRequest { key: key(*k), value: value.to_vec(), ..Default::default() };
            let what = format!("put k{k}={}", String::from_utf8_lossy(value));
            (KvReq::Put(req), vec![Access::Write(KeyRange::key(&key(*k)))], what)
        }
        Planned::Txn { cmp, success, failure, success_read, failure_read } => {
            use pb::compare::{CompareResult, CompareTarget, TargetUnion};
            // Holds if nobody wrote the key since this client last saw it (or, for a key
            // it never saw, if the key does not exist): either way, it may go both ways.
            let compare = match known.get(cmp) {
                Some(v) => pb::Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Value as i32,
                    key: key(*cmp),
                    target_union: Some(TargetUnion::Value(v.clone())),
                    range_end: Vec::new(),
                },
                None => pb::Compare {
                    result: CompareResult::Equal as i32,
                    target: CompareTarget::Create as i32,
                    key: key(*cmp),
                    target_union: Some(TargetUnion::CreateRevision(0)),
                    range_end: Vec::new(),
                },
            };
            let mut needs = vec![Access::Read(KeyRange::key(&key(*cmp)))];
            let mut branch = |put: usize, read: &Option<usize>| {
                let mut ops = vec![traffic::put_op(&key(put), value)];
                needs.push(Access::Write(KeyRange::key(&key(put))));
                if let Some(r) = read {
                    ops.push(range_op(*r));
                    needs.push(Access::Read(KeyRange::key(&key(*r))));
                }
                ops
            };
            let success_ops = branch(*success, success_read);
            let failure_ops = branch(*failure, failure_read);
            let what = format!(
                "txn if k{cmp} then put k{success}{} else put k{failure}{} (value {})",
                success_read.map(|r| format!(", get k{r}")).unwrap_or_default(),
                failure_read.map(|r| format!(", get k{r}")).unwrap_or_default(),
                String::from_utf8_lossy(value)
            );
            let req = pb::TxnRequest { compare: vec![compare], success: success_ops, failure: failure_ops };
            (KvReq::Txn(req), needs, what)
        }
    }
}

fn key_index(k: &[u8]) -> Option<usize> {
    std::str::from_utf8(k).ok()?.strip_prefix('k')?.parse().ok()
}

/// What a client did: its ops (every attempt that reached a member) and every value
/// its reads returned.
pub struct ClientRun {
    pub ops: Vec<ClientOp>,
    pub seen: Vec<Seen>,
    pub not_sent: u64,
    pub logins: u64,
}

/// Random ops as `session`'s user until `stop`, each attempt recorded; `answered`
/// counts the answers (ok or denied) of all clients.
pub async fn client_run(
    id: u64,
    user_name: String,
    mut session: Session,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    origin: tokio::time::Instant,
) -> ClientRun {
    let mut run = ClientRun { ops: Vec::new(), seen: Vec::new(), not_sent: 0, logins: 0 };
    // The last value this client saw of each key (for its compares).
    let mut known: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (planned, gap_ms) = {
            let mut rng = thread_rng();
            (plan_op(&mut rng), rng.gen_range(5..80))
        };
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        // Retry (a fresh token) while the identity is refused, as clientv3 does.
        for attempt in 0..4 {
            let value = format!("c{id}.{n}.{attempt}").into_bytes();
            let (req, needs, what) = build(&planned, &value, &known);
            let writes = !matches!(planned, Planned::Get { .. });
            let invoke_ns = now_ns(origin);
            let answer = session.call(|ch, token| send_kv(ch, token, req)).await;
            let (outcome, again) = match answer {
                Answer::NotSent(_) => {
                    run.not_sent += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    (None, true)
                }
                Answer::Ok(resp) => {
                    answered.fetch_add(1, Ordering::SeqCst);
                    for kv in &resp.kvs {
                        if let Some(i) = key_index(&kv.key) {
                            known.insert(i, kv.value.clone());
                        }
                        let seen = Seen {
                            key: kv.key.clone(),
                            value: kv.value.clone(),
                            mod_revision: kv.mod_revision,
                        };
                        run.seen.push(seen);
                    }
                    match &planned {
                        Planned::Put { key } => {
                            known.insert(*key, value.clone());
                        }
                        Planned::Txn { success, failure, .. } => {
                            known.insert(if resp.succeeded { *success } else { *failure }, value.clone());
                        }
                        Planned::Get { .. } => {}
                    }
                    (Some(OpOutcome::Ok { revision: resp.revision }), false)
                }
                Answer::Refused(e) => (Some(OpOutcome::Refused(e)), true),
                Answer::Denied => {
                    answered.fetch_add(1, Ordering::SeqCst);
                    (Some(OpOutcome::Denied), false)
                }
                Answer::Store(s) => (Some(OpOutcome::Unknown(s.message().to_string())), false),
                Answer::Unknown(e) => (Some(OpOutcome::Unknown(e)), false),
            };
            if let Some(outcome) = outcome {
                run.ops.push(ClientOp {
                    client: id,
                    user: user_name.clone(),
                    what,
                    needs,
                    value: writes.then_some(value),
                    invoke_ns,
                    return_ns: now_ns(origin),
                    outcome,
                });
            }
            if !again {
                break;
            }
        }
    }
    run.logins = session.logins;
    run
}

// ---- After the faults ----

/// A permission as RoleGet shows it: type, key, range_end.
pub type PermView = (i32, Vec<u8>, Vec<u8>);

/// Auth state as RoleGet and UserGet show it: each role's permissions (type, key,
/// range_end), each user's roles (root aside).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthView {
    pub roles: BTreeMap<String, BTreeSet<PermView>>,
    pub users: BTreeMap<String, BTreeSet<String>>,
}

impl AuthView {
    /// What `model` should look like.
    pub fn of(model: &AuthModel) -> AuthView {
        let perm = |p: &Perm| (p.kind.to_pb(), p.range.key.clone(), p.range.range_end.clone());
        AuthView {
            roles: model
                .roles
                .iter()
                .map(|(r, perms)| (r.clone(), perms.iter().map(perm).collect()))
                .collect(),
            users: model
                .users
                .iter()
                .filter(|(u, _)| *u != "root")
                .map(|(u, r)| (u.clone(), r.clone()))
                .collect(),
        }
    }
}

/// One member's view, read as root: every key (value, mod revision), and auth.
pub struct MemberView {
    pub kvs: Vec<(Vec<u8>, Vec<u8>, i64)>,
    pub auth: AuthView,
}

async fn read_view(ch: Channel, token: Option<String>) -> Result<MemberView, Status> {
    let req = pb::RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let r = KvClient::new(ch.clone()).range(authed(req, &token)).await?.into_inner();
    let kvs = r.kvs.into_iter().map(|kv| (kv.key, kv.value, kv.mod_revision)).collect();
    let mut a = AuthClient::new(ch);
    let mut auth = AuthView::default();
    for i in 0..ROLES {
        let r = a.role_get(authed(pb::AuthRoleGetRequest { role: role(i) }, &token)).await?.into_inner();
        auth.roles.insert(role(i), r.perm.into_iter().map(|p| (p.perm_type, p.key, p.range_end)).collect());
    }
    for i in 0..USERS {
        let r = a.user_get(authed(pb::AuthUserGetRequest { name: user(i) }, &token)).await?.into_inner();
        auth.users.insert(user(i), r.roles.into_iter().collect());
    }
    Ok(MemberView { kvs, auth })
}

/// Read member `url`'s view as root, retrying until `deadline`.
pub async fn view_of(url: String, deadline: Duration) -> Result<MemberView, String> {
    let mut session = Session::new(vec![url], 0, "root", true);
    let began = tokio::time::Instant::now();
    let mut last = String::new();
    while began.elapsed() < deadline {
        match session.call(read_view).await {
            Answer::Ok(v) => return Ok(v),
            Answer::Denied => return Err("root was denied a read".into()),
            Answer::Store(s) => last = s.message().to_string(),
            Answer::NotSent(e) | Answer::Refused(e) | Answer::Unknown(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("no answer within {deadline:?}: {last}"))
}
