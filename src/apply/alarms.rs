//! etcd's alarms: a member raises NOSPACE when a write would take the store past
//! `--quota-backend-bytes`; CORRUPT marks a cluster whose members' data disagree.
//! Alarms are replicated state (raised and cleared through raft, part of every
//! snapshot, so they survive restarts) and change what apply accepts while they
//! stand (etcd's capped and corrupt appliers):
//!
//! | alarm | refused at apply |
//! |---|---|
//! | NOSPACE | Put, a Txn with a put in it (either branch, nested too), LeaseGrant: "database space exceeded" |
//! | CORRUPT | every Put, DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke: "corrupt cluster" (and reads, by the service) |

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// etcd's `AlarmType` (0 is NONE: "any" in a filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlarmKind {
    NoSpace,
    Corrupt,
}

impl AlarmKind {
    /// From etcd's enum number; `None` for NONE (0) and unknown numbers.
    pub fn from_pb(t: i32) -> Option<AlarmKind> {
        match t {
            1 => Some(AlarmKind::NoSpace),
            2 => Some(AlarmKind::Corrupt),
            _ => None,
        }
    }

    pub fn to_pb(self) -> i32 {
        match self {
            AlarmKind::NoSpace => 1,
            AlarmKind::Corrupt => 2,
        }
    }

    /// As etcd prints it (`AlarmType.String()`).
    pub fn name(self) -> &'static str {
        match self {
            AlarmKind::NoSpace => "NOSPACE",
            AlarmKind::Corrupt => "CORRUPT",
        }
    }
}

/// The alarms standing, by (member ID, kind).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarms {
    standing: BTreeSet<(u64, AlarmKind)>,
}

impl Alarms {
    /// Raise; true if it was not standing.
    pub fn activate(&mut self, member_id: u64, kind: AlarmKind) -> bool {
        self.standing.insert((member_id, kind))
    }

    /// Clear; true if it was standing.
    pub fn deactivate(&mut self, member_id: u64, kind: AlarmKind) -> bool {
        self.standing.remove(&(member_id, kind))
    }

    /// Standing alarms of `kind` (every kind for `None`), by member.
    pub fn list(&self, kind: Option<AlarmKind>) -> Vec<(u64, AlarmKind)> {
        self.standing.iter().filter(|(_, k)| kind.is_none_or(|want| *k == want)).copied().collect()
    }

    /// Whether any member has raised `kind`.
    pub fn any(&self, kind: AlarmKind) -> bool {
        self.standing.iter().any(|(_, k)| *k == kind)
    }

    /// etcd's Status errors: `memberID:<decimal id> alarm:<NAME> ` per alarm (the
    /// proto text form of the alarm, trailing space included, as etcd writes it).
    pub fn status_errors(&self) -> Vec<String> {
        self.standing.iter().map(|(m, k)| format!("memberID:{m} alarm:{} ", k.name())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_clear_list_as_etcd() {
        let mut a = Alarms::default();
        assert!(a.activate(7, AlarmKind::NoSpace));
        assert!(!a.activate(7, AlarmKind::NoSpace), "raised twice stands once");
        assert!(a.activate(9, AlarmKind::Corrupt));
        assert!(a.any(AlarmKind::NoSpace) && a.any(AlarmKind::Corrupt));
        assert_eq!(a.list(Some(AlarmKind::NoSpace)), vec![(7, AlarmKind::NoSpace)]);
        assert_eq!(a.list(None).len(), 2);
        assert_eq!(a.status_errors(), vec!["memberID:7 alarm:NOSPACE ", "memberID:9 alarm:CORRUPT "]);
        assert!(!a.deactivate(9, AlarmKind::NoSpace), "not that member's alarm");
        assert!(a.deactivate(7, AlarmKind::NoSpace));
        assert!(!a.any(AlarmKind::NoSpace));
        assert_eq!(AlarmKind::from_pb(0), None);
        for k in [AlarmKind::NoSpace, AlarmKind::Corrupt] {
            assert_eq!(AlarmKind::from_pb(k.to_pb()), Some(k));
        }
    }
}
