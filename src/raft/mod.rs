//! `raft`: openraft glue. The type configuration, the runtime adapter over
//! `tokio::*` (madsim-tokio), the log and vote on the WAL, the state machine with
//! snapshots, the peer network, and [`RaftNode`], the only API the rest of the crate
//! uses. Nothing outside this module names an openraft type.

mod auto_compact;
mod corrupt;
mod defrag;
pub mod lessor;
pub mod log_store;
pub mod membership;
pub mod network;
pub mod node;
pub mod peer_service;
mod read_batch;
mod reconfig;
pub mod restore;
pub mod runtime;
pub mod state_machine;
pub mod types;

pub use corrupt::mismatches;
pub use membership::{ChangeOutcome, ClusterInfo, MemberChange, MemberRecord};
pub use node::{RaftConfig, RaftNode, RaftStatus};
pub use types::MemberInfo;
