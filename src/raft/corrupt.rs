//! etcd's corruption checks: members compare HashKV at the same revision.
//!
//! - `--experimental-initial-corrupt-check`: before a member serves clients, it
//!   asks every other member for HashKV at its own current revision; a member that
//!   answers with the same compact revision but another hash means this member's
//!   data (or theirs) is not what the log says: the member refuses to start.
//! - `--experimental-corrupt-check-time D`: every D, the leader asks every other
//!   member for HashKV at the leader's current revision and raises a CORRUPT alarm
//!   (through raft) for each member whose hash differs at the same compact revision;
//!   the alarm then refuses every read and write (see `apply::alarms`).
//!
//! A member that has not yet applied that revision answers "future revision", one
//! that has compacted past it "compacted", one that cannot be reached nothing: none
//! of those is a mismatch, only a hash that differs where it must be equal.
//!
//! ```text
//! leader rev 42, compact 30, hash h
//! peer a: (h, 30)        agrees
//! peer b: (h', 30)       CORRUPT alarm for b
//! peer c: (h'', 35)      compacted elsewhere since: not comparable, skipped
//! peer d: FutureRev      behind: skipped (checked next round)
//! ```

use std::time::Duration;

use super::node::{LeaderCall, RaftNode};
use crate::apply::{AlarmKind, Request};
use crate::error::Error;

/// How long a member has to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A member's answer: its (hash, compact revision) at the revision asked, or why not.
pub type PeerHash = (u64, Result<(u32, i64), Error>);

/// The members whose (hash, compact revision) contradicts `own`: same compact
/// revision, another hash.
pub fn mismatches(own: (u32, i64), peers: &[PeerHash]) -> Vec<u64> {
    peers
        .iter()
        .filter_map(|(id, answer)| match answer {
            Ok((hash, compact)) if *compact == own.1 && *hash != own.0 => Some(*id),
            _ => None,
        })
        .collect()
}

impl RaftNode {
    /// Every other member's HashKV at `revision`.
    async fn peer_hashes(&self, revision: i64) -> Vec<PeerHash> {
        let mut out = Vec::new();
        for m in self.members() {
            if m.id == self.member_id() {
                continue;
            }
            let data = match super::network::encode(&revision) {
                Ok(d) => d,
                Err(e) => {
                    out.push((m.id, Err(Error::Internal(e))));
                    continue;
                }
            };
            let ask = self.leaders.ask::<Result<(u32, i64), Error>>(&m.info, data, LeaderCall::HashKv);
            let answer = match tokio::time::timeout(ASK_TIMEOUT, ask).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::Timeout),
            };
            out.push((m.id, answer));
        }
        out
    }

    /// This member's (hash, compact revision) at its current revision, and that revision.
    fn own_hash(&self) -> Result<((u32, i64), i64), Error> {
        let state = self.state().read();
        let revision = state.kv.current_revision();
        Ok((state.kv.hash_kv(revision)?, revision))
    }

    /// The initial check: Err names the members that disagree with this one.
    pub async fn initial_corrupt_check(&self) -> Result<(), String> {
        let (own, revision) = self.own_hash().map_err(|e| e.to_string())?;
        let bad = mismatches(own, &self.peer_hashes(revision).await);
        if bad.is_empty() {
            tracing::info!(revision, "initial corruption checking passed; no corruption is detected");
            return Ok(());
        }
        let names: Vec<String> = bad.iter().map(|id| format!("{id:x}")).collect();
        Err(format!(
            "found data inconsistency with peers: {} at revision {revision} (local hash {}, compact revision {})",
            names.join(", "),
            own.0,
            own.1
        ))
    }

    /// One round of the periodic check, on the leader: raise CORRUPT for each
    /// member that disagrees. Returns those members.
    pub async fn corrupt_check_round(&self) -> Result<Vec<u64>, Error> {
        if self.leader() != Some(self.member_id()) {
            return Ok(Vec::new());
        }
        let (own, revision) = self.own_hash()?;
        let bad = mismatches(own, &self.peer_hashes(revision).await);
        for &id in &bad {
            tracing::error!(member = %format!("{id:x}"), revision, "data inconsistency: raising CORRUPT");
            let raise = Request::Alarm { activate: true, member_id: id, kind: AlarmKind::Corrupt };
            self.propose_local(raise).await?;
        }
        Ok(bad)
    }

    /// The periodic check every `every`, until `stop`.
    pub async fn run_corrupt_checker(&self, every: Duration, stop: crate::shutdown::Shutdown) {
        loop {
            tokio::select! {
                () = stop.wait() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = self.corrupt_check_round().await {
                tracing::warn!(error = %e, "corruption check failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_different_hash_at_the_same_compact_revision_is_a_mismatch() {
        let own = (0xabcd, 30);
        let peers = vec![
            (1, Ok((0xabcd, 30))),
            (2, Ok((0x1234, 30))),
            (3, Ok((0x1234, 35))),
            (4, Err(Error::FutureRev)),
            (5, Err(Error::Compacted)),
            (6, Err(Error::Timeout)),
        ];
        assert_eq!(mismatches(own, &peers), vec![2]);
        assert!(mismatches(own, &[]).is_empty());
    }
}
