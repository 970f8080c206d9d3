//! The openraft type configuration. Nothing outside `raft/` names these types.

use serde::{Deserialize, Serialize};

/// What raft knows about a member: its name and URLs (etcd's Member attributes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

impl std::fmt::Display for MemberInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name, self.peer_urls.join(","))
    }
}

openraft::declare_raft_types!(
    pub TypeConfig:
        D = crate::apply::Request,
        R = crate::apply::Applied,
        NodeId = u64,
        Node = MemberInfo,
        AsyncRuntime = super::runtime::Runtime,
        // Standard Raft leader ids: at most one leader per term, as etcd (openraft's
        // default lets several members lead one term; the simulator checks this).
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub type Raft = openraft::Raft<TypeConfig, super::state_machine::StateMachine>;
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
