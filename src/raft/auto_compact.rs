//! The auto compactor's driver: a task per member (started by the node when
//! `--auto-compaction-retention` is not 0) that ticks the sans-IO
//! [`Compactor`](crate::mvcc::compactor::Compactor) with this member's clock, its
//! current revision and whether it leads, and proposes what it decides as a normal
//! Compact through raft, so every member compacts at the same log index.
//!
//! As etcd's: the compactor of a member that does not lead is paused (it only
//! samples); a compaction that finds the store already compacted there counts as done
//! (logged at debug); any other failure (leadership lost mid-way, no quorum) is
//! logged as a warning and retried at the next tick.

use std::time::Duration;

use super::node::RaftNode;
use crate::apply::Request;
use crate::env::Clock;
use crate::error::Error;
use crate::mvcc::compactor::{AutoCompaction, Compactor};
use crate::shutdown::Shutdown;

impl RaftNode {
    /// Run auto compaction with `policy` until `shutdown`.
    pub async fn run_auto_compactor(&self, policy: AutoCompaction, clock: Clock, shutdown: Shutdown) {
        let revision = self.shared.read().kv.current_revision();
        let mut compactor = Compactor::new(policy, clock.now_ms(), revision);
        tracing::info!(mode = policy.mode(), policy = ?policy, tick_ms = compactor.tick_ms(), "auto compaction on");
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = self.auto_compact_tick(&mut compactor, &clock) => {}
            }
        }
    }

    /// Sleep one tick, then compact if the compactor says so.
    async fn auto_compact_tick(&self, compactor: &mut Compactor, clock: &Clock) {
        tokio::time::sleep(Duration::from_millis(compactor.tick_ms())).await;
        let now_ms = clock.now_ms();
        let current = self.shared.read().kv.current_revision();
        let leading = self.leader() == Some(self.member_id);
        let Some(revision) = compactor.tick(now_ms, current, leading) else {
            return;
        };
        let mode = compactor.policy().mode();
        tracing::info!(revision, "starting auto {mode} compaction");
        // etcd's Compact RPC gives up after its request timeout; so does this one.
        let timeout = Duration::from_millis(5_000 + 2 * self.election_timeout_ms);
        let result =
            match tokio::time::timeout(timeout, self.propose_local(Request::Compact { revision })).await {
                Ok(Ok(applied)) => applied.result.map(|_| ()),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::Timeout),
            };
        match result {
            Ok(()) => {
                tracing::info!(revision, "completed auto {mode} compaction");
                compactor.compacted(now_ms, revision);
            }
            Err(Error::Compacted) => {
                tracing::debug!(revision, "auto {mode} compaction: already compacted");
                compactor.compacted(now_ms, revision);
            }
            Err(e) => {
                let retry_ms = compactor.tick_ms();
                tracing::warn!(revision, error = %e, retry_ms, "failed auto {mode} compaction");
            }
        }
    }
}
