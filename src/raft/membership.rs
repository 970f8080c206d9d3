//! Member changes (etcd's Cluster service: add, remove, update, promote), decided on
//! the leader and carried out with openraft's joint-consensus membership changes.
//!
//! [`plan`] is the pure part: it checks a change against the current membership as
//! etcd's `RaftCluster` does, with etcd's errors, and says what to ask raft for. The
//! strict reconfiguration check (`--strict-reconfig-check`, on by default) counts
//! *started* voters: members that have published their attributes through raft and
//! that the leader has heard from recently (etcd: `IsStarted` and
//! `isConnectedSince`). Worked example, voters {a, b, c} with c down:
//!
//! ```text
//! add voter d    → 4 voters, quorum 3, started {a, b} = 2 < 3  → NotEnoughStarted
//! remove b       → voters {a, c}, quorum 2, started {a} = 1    → NotEnoughStarted
//! remove c       → voters {a, b}, quorum 2, started {a, b} = 2 → ok
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::types::MemberInfo;
use crate::config::url_host_port;
use crate::error::Error;

/// A membership change as a client asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    /// `id` is chosen by the member that took the request (nonzero, unused).
    Add {
        id: u64,
        peer_urls: Vec<String>,
        learner: bool,
    },
    Remove {
        id: u64,
    },
    Update {
        id: u64,
        peer_urls: Vec<String>,
    },
    Promote {
        id: u64,
    },
}

/// One member as the Cluster service reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub id: u64,
    pub info: MemberInfo,
    pub is_learner: bool,
}

/// The result of a change: the member it concerned (as it is now) and every member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeOutcome {
    pub member: Option<MemberRecord>,
    pub members: Vec<MemberRecord>,
}

/// What a member tells a peer that asks who is in the cluster (a joining member
/// learns its own ID and the cluster ID this way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub cluster_id: u64,
    pub members: Vec<MemberRecord>,
}

/// The leader's view of the cluster that a change is checked against.
#[derive(Clone, Debug, Default)]
pub struct View {
    pub voters: BTreeSet<u64>,
    pub nodes: BTreeMap<u64, MemberInfo>,
    /// Voters that are started and connected (the leader included).
    pub started: BTreeSet<u64>,
    /// Log index each member has replicated up to, as the leader knows it.
    pub matched: BTreeMap<u64, u64>,
    /// The leader's own last log index.
    pub leader_last_index: u64,
    pub strict: bool,
}

/// What to ask raft for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    AddLearner(u64, MemberInfo),
    AddVoter(u64, MemberInfo),
    RemoveVoter(u64),
    RemoveLearner(u64),
    SetNode(u64, MemberInfo),
    Promote(u64),
}

/// At most this many learners at once (etcd's default `--max-learners`).
pub const MAX_LEARNERS: usize = 1;
/// A learner may be promoted once it has this fraction of the leader's log (etcd).
const LEARNER_READY_FRACTION: f64 = 0.9;

fn check_urls(urls: &[String]) -> Result<(), Error> {
    if urls.is_empty() || urls.iter().any(|u| url_host_port(u).is_err()) {
        return Err(Error::MemberBadUrls);
    }
    Ok(())
}

fn urls_taken(view: &View, urls: &[String], except: Option<u64>) -> bool {
    view.nodes
        .iter()
        .filter(|(id, _)| Some(**id) != except)
        .any(|(_, n)| n.peer_urls.iter().any(|u| urls.contains(u)))
}

/// Enough started voters for a cluster of `voters_after` voters, of which
/// `started_after` are started?
fn quorum_ok(voters_after: usize, started_after: usize) -> bool {
    started_after > voters_after / 2
}

/// Check `change` against `view` as etcd does; say what raft should do.
pub fn plan(change: &MemberChange, view: &View) -> Result<Plan, Error> {
    match change {
        MemberChange::Add { id, peer_urls, learner } => {
            check_urls(peer_urls)?;
            if view.nodes.contains_key(id) {
                return Err(Error::MemberExist);
            }
            if urls_taken(view, peer_urls, None) {
                return Err(Error::PeerUrlExist);
            }
            let info = MemberInfo { name: String::new(), peer_urls: peer_urls.clone(), client_urls: vec![] };
            if *learner {
                if view.nodes.len() - view.voters.len() >= MAX_LEARNERS {
                    return Err(Error::TooManyLearners);
                }
                return Ok(Plan::AddLearner(*id, info));
            }
            // etcd lets a lone started member add a second one (it could never grow
            // otherwise).
            let lone = view.voters.len() == 1 && view.started.len() == 1;
            if view.strict && !lone && !quorum_ok(view.voters.len() + 1, view.started.len()) {
                return Err(Error::MemberNotEnoughStarted);
            }
            Ok(Plan::AddVoter(*id, info))
        }
        MemberChange::Remove { id } => {
            if !view.nodes.contains_key(id) {
                return Err(Error::MemberNotFound);
            }
            if !view.voters.contains(id) {
                return Ok(Plan::RemoveLearner(*id));
            }
            let started_after = view.started.iter().filter(|s| *s != id).count();
            if view.strict && !quorum_ok(view.voters.len() - 1, started_after) {
                return Err(Error::MemberNotEnoughStarted);
            }
            Ok(Plan::RemoveVoter(*id))
        }
        MemberChange::Update { id, peer_urls } => {
            check_urls(peer_urls)?;
            let Some(old) = view.nodes.get(id) else { return Err(Error::MemberNotFound) };
            if urls_taken(view, peer_urls, Some(*id)) {
                return Err(Error::PeerUrlExist);
            }
            Ok(Plan::SetNode(*id, MemberInfo { peer_urls: peer_urls.clone(), ..old.clone() }))
        }
        MemberChange::Promote { id } => {
            if !view.nodes.contains_key(id) {
                return Err(Error::MemberNotFound);
            }
            if view.voters.contains(id) {
                return Err(Error::MemberNotLearner);
            }
            let matched = view.matched.get(id).copied().unwrap_or(0);
            if (matched as f64) < view.leader_last_index as f64 * LEARNER_READY_FRACTION {
                return Err(Error::LearnerNotReady);
            }
            // The learner becomes a started voter.
            if view.strict && !quorum_ok(view.voters.len() + 1, view.started.len() + 1) {
                return Err(Error::MemberNotEnoughStarted);
            }
            Ok(Plan::Promote(*id))
        }
    }
}

#[cfg(test)]
#[path = "membership_test.rs"]
mod membership_test;
