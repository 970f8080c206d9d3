//! The raft side of `metastore snapshot restore`: a member's `member/` directory as a
//! fresh member of a new cluster holds it after its first snapshot, with a restored
//! state in place.
//!
//! ```text
//! member/snap/snapshot-0000000000000001.snap   meta: last log id (term 1, index 1),
//!                                                    membership at that log id = the
//!                                                    --initial-cluster members, all voters
//!                                              data: the restored KvState's image
//! member/wal/, member/vote                     absent: no entry, no vote
//! ```
//!
//! As etcd's restore writes its new members as entries 1..n of term 1 and a snapshot
//! at n, every member restored from the same file with the same flags holds the same
//! snapshot at the same log id, so they agree on the state and on the membership
//! before any message is sent. On start the state machine loads the snapshot (applied
//! through 1); openraft finds the log behind it, purges it up to the snapshot (a log
//! that starts after index 1), and elects a leader at term 1 or later whose first
//! entry is index 2. A member that later falls behind, or is added, gets the state by
//! snapshot as any other. Bootstrap (`initialize`) never runs: the node is not
//! pristine (it has an identity and an applied snapshot).

use std::collections::BTreeMap;
use std::path::Path;

use openraft::Membership;

use super::types::{LogId, MemberInfo, SnapshotMeta, StoredMembership};
use crate::apply::KvState;
use crate::env::Disk;
use crate::storage::snapshot;

/// Term and index of the restored snapshot.
pub const RESTORED_TERM: u64 = 1;
pub const RESTORED_INDEX: u64 = 1;

/// Write `state` as the only snapshot of the member directory `member_dir`, with
/// `members` (by ID) as the cluster's membership. The directory must hold no raft
/// data yet (the caller checks that the data dir did not exist).
pub fn write_restored_snapshot(
    disk: &dyn Disk,
    member_dir: &Path,
    state: &KvState,
    members: BTreeMap<u64, MemberInfo>,
) -> Result<(), String> {
    let log_id = LogId::new_term_index(RESTORED_TERM, RESTORED_INDEX);
    let membership = StoredMembership::new(Some(log_id), Membership::from(members));
    let meta = SnapshotMeta { last_log_id: Some(log_id), last_membership: membership };
    let meta_bytes = bincode::serialize(&meta).map_err(|e| format!("encode snapshot meta: {e}"))?;
    let dir = member_dir.join("snap");
    snapshot::save_snapshot(disk, &dir, &meta_bytes, &state.encode()).map(|_| ()).map_err(|e| e.to_string())
}
