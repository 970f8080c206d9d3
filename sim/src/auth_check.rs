//! The auth checker: whether every client op that succeeded was permitted, and every
//! op refused with "permission denied" was forbidden, in an auth state the op may
//! have been judged against.
//!
//! An independent model of etcd's permissions ([`AuthModel`]: users → roles → key
//! permissions, and whether their union covers a request), replayed over the admin's
//! history ([`AuthHistory`]): the state after setup, then one state per change the
//! admin made, in order. After each change completed the admin wrote a marker key as
//! root and recorded the marker's revision `M_i` (auth changes do not move the KV
//! revision); the next change started only after that. Candidate states of an op:
//!
//! ```text
//! admin   change i ─ marker M_i ─ change i+1 ─ marker M_{i+1} ─ change i+2
//! op at revision R, M_i <= R < M_{i+1}:   state i, or i+1 (if it applied before R)
//! refused op, [invoke, return]:           states j0..=j1, j0 = the last change
//!                                         completed before invoke, j1 = the last
//!                                         change invoked before return
//! ```
//!
//! Verdicts, as etcd judges (a txn needs read on every compare and every op of BOTH
//! branches, whichever it takes):
//! - an op acknowledged at revision R must be permitted in one of its candidates;
//! - an op refused with "permission denied" must be forbidden in one of its
//!   candidates (the time window: a refused op leaves no revision);
//! - a write whose outcome is unknown (timeout, unavailable) is judged as acknowledged
//!   when its value (unique per attempt) is seen by a read, at the revision it was
//!   seen with; otherwise it is skipped, and counted;
//! - a write refused for any reason (denied, stale identity, never sent) must never
//!   be seen; an acknowledged one must be seen only at its own revision.
//!
//! Pure code; the scenario (sim/tests/t40_auth.rs) records the histories.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::history::show;

/// The role that may do everything (etcd's `root`).
pub const ROOT_ROLE: &str = "root";

/// A key or a range, in etcd's (key, range_end) form: `range_end` empty is the key
/// alone, `"\0"` is every key from `key` on, otherwise `[key, range_end)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyRange {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
}

impl KeyRange {
    pub fn key(key: &[u8]) -> KeyRange {
        KeyRange { key: key.to_vec(), range_end: Vec::new() }
    }

    pub fn range(key: &[u8], range_end: &[u8]) -> KeyRange {
        KeyRange { key: key.to_vec(), range_end: range_end.to_vec() }
    }

    /// `[start, end)`, `end` None for "no end". A range whose end is not above its
    /// key names no key: etcd judges it as its start key alone.
    fn bounds(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let single = || {
            let mut end = self.key.clone();
            end.push(0);
            (self.key.clone(), Some(end))
        };
        if self.range_end.is_empty() {
            single()
        } else if self.range_end == [0] {
            (self.key.clone(), None)
        } else if self.range_end <= self.key {
            single()
        } else {
            (self.key.clone(), Some(self.range_end.clone()))
        }
    }
}

impl fmt::Display for KeyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.range_end.is_empty() {
            write!(f, "{}", show(&self.key))
        } else if self.range_end == [0] {
            write!(f, "[{}, ∞)", show(&self.key))
        } else {
            write!(f, "[{}, {})", show(&self.key), show(&self.range_end))
        }
    }
}

/// Whether the union of `have` covers all of `want` (however the union is split).
pub fn covers(have: &[&KeyRange], want: &KeyRange) -> bool {
    let (start, end) = want.bounds();
    let mut spans: Vec<(Vec<u8>, Option<Vec<u8>>)> = have.iter().map(|r| r.bounds()).collect();
    spans.sort();
    // Sweep: `reach` is how far from `start` the union covers without a gap (None:
    // to the end of the key space).
    let mut reach = Some(start);
    for (s, e) in spans {
        let Some(r) = reach.clone() else { break };
        if s > r {
            break;
        }
        match e {
            None => reach = None,
            Some(e) if e > r => reach = Some(e),
            Some(_) => {}
        }
    }
    match (reach, end) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(r), Some(e)) => r >= e,
    }
}

/// etcd's `authpb.Permission.Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermKind {
    Read,
    Write,
    ReadWrite,
}

impl PermKind {
    pub const ALL: [PermKind; 3] = [PermKind::Read, PermKind::Write, PermKind::ReadWrite];

    pub fn to_pb(self) -> i32 {
        match self {
            PermKind::Read => 0,
            PermKind::Write => 1,
            PermKind::ReadWrite => 2,
        }
    }

    fn reads(self) -> bool {
        self != PermKind::Write
    }

    fn writes(self) -> bool {
        self != PermKind::Read
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perm {
    pub kind: PermKind,
    pub range: KeyRange,
}

/// One change the admin makes (as root) while clients run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// etcd: a permission on the same (key, range_end) is replaced.
    GrantPermission {
        role: String,
        perm: Perm,
    },
    /// etcd: the permission with exactly this (key, range_end) goes.
    RevokePermission {
        role: String,
        range: KeyRange,
    },
    GrantRole {
        user: String,
        role: String,
    },
    RevokeRole {
        user: String,
        role: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::GrantPermission { role, perm } => {
                write!(f, "grant {role} {:?} {}", perm.kind, perm.range)
            }
            Change::RevokePermission { role, range } => write!(f, "revoke {role} {range}"),
            Change::GrantRole { user, role } => write!(f, "grant role {role} to {user}"),
            Change::RevokeRole { user, role } => write!(f, "revoke role {role} from {user}"),
        }
    }
}

/// What an op needs (see the module header for txns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Access {
    Read(KeyRange),
    Write(KeyRange),
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Read(r) => write!(f, "read {r}"),
            Access::Write(r) => write!(f, "write {r}"),
        }
    }
}

/// Users (with their roles) and roles (with their permissions).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthModel {
    pub users: BTreeMap<String, BTreeSet<String>>,
    pub roles: BTreeMap<String, Vec<Perm>>,
}

impl AuthModel {
    /// Apply `change` as etcd does; an error where etcd refuses it.
    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::GrantPermission { role, perm } => {
                let perms = self.roles.get_mut(role).ok_or_else(|| format!("{change}: no role {role}"))?;
                match perms.iter_mut().find(|p| p.range == perm.range) {
                    Some(p) => p.kind = perm.kind,
                    None => perms.push(perm.clone()),
                }
            }
            Change::RevokePermission { role, range } => {
                let perms = self.roles.get_mut(role).ok_or_else(|| format!("{change}: no role {role}"))?;
                let before = perms.len();
                perms.retain(|p| p.range != *range);
                if perms.len() == before {
                    return Err(format!("{change}: permission not granted"));
                }
            }
            Change::GrantRole { user, role } => {
                if role != ROOT_ROLE && !self.roles.contains_key(role) {
                    return Err(format!("{change}: no role {role}"));
                }
                let roles = self.users.get_mut(user).ok_or_else(|| format!("{change}: no user {user}"))?;
                roles.insert(role.clone());
            }
            Change::RevokeRole { user, role } => {
                let roles = self.users.get_mut(user).ok_or_else(|| format!("{change}: no user {user}"))?;
                if !roles.remove(role) {
                    return Err(format!("{change}: role not granted"));
                }
            }
        }
        Ok(())
    }

    /// The first of `needs` that `user` lacks, or None if it may do them all.
    pub fn lacks<'a>(&self, user: &str, needs: &'a [Access]) -> Option<&'a Access> {
        let Some(roles) = self.users.get(user) else { return needs.first() };
        if roles.contains(ROOT_ROLE) {
            return None;
        }
        let perms: Vec<&Perm> = roles.iter().filter_map(|r| self.roles.get(r)).flatten().collect();
        let reads: Vec<&KeyRange> = perms.iter().filter(|p| p.kind.reads()).map(|p| &p.range).collect();
        let writes: Vec<&KeyRange> = perms.iter().filter(|p| p.kind.writes()).map(|p| &p.range).collect();
        needs.iter().find(|need| match need {
            Access::Read(r) => !covers(&reads, r),
            Access::Write(r) => !covers(&writes, r),
        })
    }

    /// `user`'s roles and their permissions, for reports.
    pub fn describe_user(&self, user: &str) -> String {
        let Some(roles) = self.users.get(user) else { return format!("{user}: no such user") };
        let parts: Vec<String> = roles
            .iter()
            .map(|r| {
                let perms: Vec<String> = self
                    .roles
                    .get(r)
                    .map(|ps| ps.iter().map(|p| format!("{:?} {}", p.kind, p.range)).collect())
                    .unwrap_or_default();
                format!("{r}{{{}}}", perms.join(", "))
            })
            .collect();
        format!("{user}: {}", parts.join(" "))
    }
}

/// The admin's history: the state after setup (index 0) and after each change, with
/// when each change was invoked (first attempt) and completed (its definite answer)
/// and the revision of the marker written after it.
#[derive(Clone, Debug)]
pub struct AuthHistory {
    states: Vec<AuthModel>,
    changes: Vec<Option<Change>>,
    invoke_ns: Vec<u64>,
    complete_ns: Vec<u64>,
    markers: Vec<i64>,
}

impl AuthHistory {
    /// Setup done: `initial` is in force from `complete_ns` on; its marker is at
    /// `marker`.
    pub fn new(initial: AuthModel, complete_ns: u64, marker: i64) -> AuthHistory {
        AuthHistory {
            states: vec![initial],
            changes: vec![None],
            invoke_ns: vec![0],
            complete_ns: vec![complete_ns],
            markers: vec![marker],
        }
    }

    /// The state now (after the last change recorded).
    pub fn current(&self) -> &AuthModel {
        self.states.last().expect("the setup state is always there")
    }

    /// How many changes after setup.
    pub fn changes(&self) -> usize {
        self.states.len() - 1
    }

    /// Record a change that completed, and its marker's revision.
    pub fn push(
        &mut self,
        change: Change,
        invoke_ns: u64,
        complete_ns: u64,
        marker: i64,
    ) -> Result<(), String> {
        let mut next = self.current().clone();
        next.apply(&change)?;
        if marker <= *self.markers.last().expect("setup marker") {
            return Err(format!(
                "marker of change {} at {marker}, not after the previous one",
                self.states.len()
            ));
        }
        self.states.push(next);
        self.changes.push(Some(change));
        self.invoke_ns.push(invoke_ns);
        self.complete_ns.push(complete_ns);
        self.markers.push(marker);
        Ok(())
    }

    /// Candidate states of an op that took effect (or read) at `revision`.
    fn at_revision(&self, revision: i64) -> Result<std::ops::RangeInclusive<usize>, String> {
        let n = self.markers.partition_point(|m| *m <= revision);
        if n == 0 {
            return Err(format!(
                "revision {revision} is before the setup's marker {} (clients started after it)",
                self.markers[0]
            ));
        }
        let i = n - 1;
        Ok(i..=(i + 1).min(self.changes()))
    }

    /// Candidate states of an op that left no revision, by its time window.
    fn in_window(&self, invoke_ns: u64, return_ns: u64) -> std::ops::RangeInclusive<usize> {
        let j0 = self.complete_ns.iter().rposition(|c| *c < invoke_ns).unwrap_or(0);
        let j1 = self.invoke_ns.iter().rposition(|i| *i <= return_ns).unwrap_or(0).max(j0);
        j0..=j1
    }

    fn describe(&self, states: &std::ops::RangeInclusive<usize>, user: &str) -> String {
        let parts: Vec<String> = states
            .clone()
            .map(|i| {
                let change =
                    self.changes[i].as_ref().map(|c| c.to_string()).unwrap_or_else(|| "setup".into());
                format!(
                    "state {i} (after {change}; invoked {:.3} s, done {:.3} s, marker {}): {}",
                    self.invoke_ns[i] as f64 / 1e9,
                    self.complete_ns[i] as f64 / 1e9,
                    self.markers[i],
                    self.states[i].describe_user(user)
                )
            })
            .collect();
        parts.join("; ")
    }
}

/// How an op ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpOutcome {
    /// Acknowledged at this header revision.
    Ok { revision: i64 },
    /// Refused with "permission denied".
    Denied,
    /// Refused before or at apply for another reason that means it did not take
    /// effect (stale auth revision, invalid token, not sent): not judged.
    Refused(String),
    /// Timed out or failed: may or may not have taken effect.
    Unknown(String),
}

/// One client call, as made and as answered.
#[derive(Clone, Debug)]
pub struct ClientOp {
    pub client: u64,
    pub user: String,
    /// For reports.
    pub what: String,
    pub needs: Vec<Access>,
    /// The value it writes, unique to this call (None: it writes nothing).
    pub value: Option<Vec<u8>>,
    pub invoke_ns: u64,
    pub return_ns: u64,
    pub outcome: OpOutcome,
}

impl fmt::Display for ClientOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {} as {}: {} [{:.3} s, {:.3} s] -> {:?}",
            self.client,
            self.user,
            self.what,
            self.invoke_ns as f64 / 1e9,
            self.return_ns as f64 / 1e9,
            self.outcome
        )
    }
}

/// A key's value and mod revision as some read returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub mod_revision: i64,
}

/// What the checker judged and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Acknowledged ops judged permitted (unknown writes seen by a read included).
    pub permitted: u64,
    /// Of those, unknown writes resolved by a read.
    pub resolved: u64,
    /// "permission denied" ops judged forbidden.
    pub denied: u64,
    /// Refused for a stale identity, an invalid token, or never sent.
    pub refused: u64,
    /// Unknown outcome, never seen: skipped.
    pub unknown: u64,
}

impl Report {
    pub fn judged(&self) -> u64 {
        self.permitted + self.denied
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} permitted ({} resolved by reads), {} denied, {} refused otherwise, {} unknown",
            self.permitted, self.resolved, self.denied, self.refused, self.unknown
        )
    }
}

/// Check `ops` against `history`, with `seen` every value reads returned. The first
/// violation, or what was judged.
pub fn check(history: &AuthHistory, ops: &[ClientOp], seen: &[Seen]) -> Result<Report, String> {
    // Where each value was seen (values are unique to a call).
    let mut seen_at: BTreeMap<&[u8], (&Seen, i64)> = BTreeMap::new();
    for s in seen {
        match seen_at.get(s.value.as_slice()) {
            Some((first, rev)) if *rev != s.mod_revision || first.key != s.key => {
                return Err(format!(
                    "value {} seen as {}@{} and as {}@{}: every call writes a value of its own, once",
                    show(&s.value),
                    show(&first.key),
                    rev,
                    show(&s.key),
                    s.mod_revision
                ));
            }
            Some(_) => {}
            None => {
                seen_at.insert(&s.value, (s, s.mod_revision));
            }
        }
    }
    let mut report = Report::default();
    for op in ops {
        let seen = op.value.as_deref().and_then(|v| seen_at.get(v)).map(|(s, rev)| (*s, *rev));
        let revision = match (&op.outcome, seen) {
            (OpOutcome::Ok { revision }, Some((s, rev))) if rev != *revision => {
                return Err(format!(
                    "{op}: acknowledged at revision {revision}, but its value was seen as {}@{rev}",
                    show(&s.key)
                ));
            }
            (OpOutcome::Ok { revision }, _) => Some(*revision),
            (OpOutcome::Denied | OpOutcome::Refused(_), Some((s, rev))) => {
                return Err(format!(
                    "{op}: refused, yet its write took effect: seen as {}@{rev}",
                    show(&s.key)
                ));
            }
            (OpOutcome::Unknown(_), Some((_, rev))) => {
                report.resolved += 1;
                Some(rev)
            }
            (OpOutcome::Denied, None) => None,
            (OpOutcome::Refused(_), None) => {
                report.refused += 1;
                continue;
            }
            (OpOutcome::Unknown(_), None) => {
                report.unknown += 1;
                continue;
            }
        };
        match revision {
            Some(revision) => {
                let states = history.at_revision(revision).map_err(|e| format!("{op}: {e}"))?;
                let lacks: Vec<&Access> =
                    states.clone().filter_map(|i| history.states[i].lacks(&op.user, &op.needs)).collect();
                if lacks.len() == states.clone().count() {
                    return Err(format!(
                        "auth: {op} took effect at revision {revision} but was forbidden in every state it may \
                         have been judged in (lacking {}): {}",
                        lacks.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" / "),
                        history.describe(&states, &op.user)
                    ));
                }
                report.permitted += 1;
            }
            None => {
                let states = history.in_window(op.invoke_ns, op.return_ns);
                if states.clone().all(|i| history.states[i].lacks(&op.user, &op.needs).is_none()) {
                    return Err(format!(
                        "auth: {op} was denied but permitted in every state it may have been judged in: {}",
                        history.describe(&states, &op.user)
                    ));
                }
                report.denied += 1;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
#[path = "auth_check_test.rs"]
mod auth_check_test;
