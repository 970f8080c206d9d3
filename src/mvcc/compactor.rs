//! Auto compaction (etcd's `--auto-compaction-mode` / `--auto-compaction-retention`),
//! sans I/O: [`Compactor`] is fed ticks (`now_ms`, this member's current revision,
//! whether it leads) and answers which revision to compact to, if any. The driver
//! (`raft::auto_compact`) sleeps [`Compactor::tick_ms`] between ticks, proposes the
//! Compact through raft like the Compact RPC, and reports success back with
//! [`Compactor::compacted`].
//!
//! The rules are etcd 3.4's (`etcdserver/api/v3compactor/{periodic,revision}.go`):
//!
//! **Revision mode**, retention `R` revisions: every 5 minutes ([`REVISION_INTERVAL_MS`])
//! compact to `current - R`, unless that is `<= 0` or the revision last compacted by
//! this compactor (etcd: `== prev`; the same here, since revisions never go back).
//!
//! **Periodic mode**, retention `P`: a tick every `min(P, 1h) / 10` samples the current
//! revision into a window of the last `P / tick + 1` samples, whose oldest is the
//! revision of about `P` ago. The first compaction comes `P` after the start; then
//! every `min(P, 1h)` after the last success. A failed compaction is retried at the
//! next tick (with the window moved on). Worked example, `P` = 10 min (a tick a
//! minute, a window of 11 samples), one write a minute from revision 100:
//!
//! ```text
//! tick (min)        0 (start)  1      ...  9          10           11 ... 19    20
//! revision          100        101    ...  109        110          111 ... 119   120
//! window at tick    [100]      [100]  ...  [100..108] [100..109]   ...         [109..119]
//! compacts to       -          -      ...  -          100          -   ... -     109
//! ```
//!
//! At a tick the window holds the samples of earlier ticks; a due compaction goes to
//! the oldest, then this tick's sample is added (the oldest dropped past 11). So the
//! first compaction keeps `P` of history, later ones `P` to `P + tick`.
//!
//! Leadership (etcd pauses the compactor of a member that does not lead and resumes
//! it when it leads, keeping its state): every member ticks; only a leader's tick may
//! compact. A follower keeps sampling, so a new leader's window already covers the
//! past; its last-success time is its own (start, or its own last compaction).

use std::collections::VecDeque;

/// etcd's revision-mode period (`revInterval`).
pub const REVISION_INTERVAL_MS: u64 = 5 * 60 * 1000;
const HOUR_MS: u64 = 60 * 60 * 1000;
/// etcd's `retryDivisor`: periodic mode ticks ten times per compaction interval.
const RETRY_DIVISOR: u64 = 10;

/// What to keep; a retention of 0 (compaction off) has no policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep about `retention_ms` of history (`--auto-compaction-mode periodic`).
    Periodic { retention_ms: u64 },
    /// Keep the last `retention` revisions, looking every `interval_ms` (etcd: 5 min).
    Revision { retention: i64, interval_ms: u64 },
}

impl AutoCompaction {
    /// etcd's name of the mode, for logs.
    pub fn mode(&self) -> &'static str {
        match self {
            AutoCompaction::Periodic { .. } => "periodic",
            AutoCompaction::Revision { .. } => "revision",
        }
    }

    /// Time between ticks: periodic `min(P, 1h) / 10` (at least 1 ms), revision its
    /// interval.
    pub fn tick_ms(&self) -> u64 {
        match *self {
            AutoCompaction::Periodic { retention_ms } => (retention_ms.min(HOUR_MS) / RETRY_DIVISOR).max(1),
            AutoCompaction::Revision { interval_ms, .. } => interval_ms.max(1),
        }
    }
}

/// The decision state of one member's auto compactor.
#[derive(Clone, Debug)]
pub struct Compactor {
    policy: AutoCompaction,
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    Periodic {
        /// Revisions sampled at earlier ticks, oldest first, at most `max_samples`.
        samples: VecDeque<i64>,
        max_samples: usize,
        /// Start, or the last successful (or already done) compaction.
        last_success_ms: i64,
        /// Time owed since `last_success_ms` before compacting: the retention until
        /// the first attempt, `interval_ms` after it (etcd's `baseInterval`).
        wait_ms: u64,
        /// `min(P, 1h)`, the time between compactions after the first.
        interval_ms: u64,
    },
    Revision {
        retention: i64,
        /// The revision last compacted to (0: none yet).
        last_compacted: i64,
    },
}

impl Compactor {
    /// A compactor started at `now_ms` with the store at `current_revision` (periodic
    /// mode takes its first sample now, as etcd's loop does before its first wait).
    pub fn new(policy: AutoCompaction, now_ms: i64, current_revision: i64) -> Self {
        let state = match policy {
            AutoCompaction::Periodic { retention_ms } => {
                let max_samples = (retention_ms / policy.tick_ms()) as usize + 1;
                State::Periodic {
                    samples: VecDeque::from([current_revision]),
                    max_samples,
                    last_success_ms: now_ms,
                    wait_ms: retention_ms,
                    interval_ms: retention_ms.min(HOUR_MS),
                }
            }
            AutoCompaction::Revision { retention, .. } => State::Revision { retention, last_compacted: 0 },
        };
        Compactor { policy, state }
    }

    pub fn policy(&self) -> AutoCompaction {
        self.policy
    }

    /// Time to sleep between ticks.
    pub fn tick_ms(&self) -> u64 {
        self.policy.tick_ms()
    }

    /// One tick at `now_ms` with the store at `current_revision`: the revision to
    /// compact to, if this member `leading` should compact now.
    pub fn tick(&mut self, now_ms: i64, current_revision: i64, leading: bool) -> Option<i64> {
        match &mut self.state {
            State::Periodic { samples, max_samples, last_success_ms, wait_ms, interval_ms } => {
                let owed_ms = i64::try_from(*wait_ms).unwrap_or(i64::MAX);
                let decision = if leading && now_ms.saturating_sub(*last_success_ms) >= owed_ms {
                    // After the first attempt, compact every min(P, 1h) (etcd switches
                    // its base interval whether or not the attempt succeeds).
                    *wait_ms = *interval_ms;
                    samples.front().copied()
                } else {
                    None
                };
                samples.push_back(current_revision);
                while samples.len() > *max_samples {
                    samples.pop_front();
                }
                decision
            }
            State::Revision { retention, last_compacted } => {
                let target = current_revision.saturating_sub(*retention);
                (leading && target > 0 && target > *last_compacted).then_some(target)
            }
        }
    }

    /// The compaction to `revision` decided at the tick of `now_ms` was applied, or
    /// the store was already compacted at or past it (etcd counts both as success).
    pub fn compacted(&mut self, now_ms: i64, revision: i64) {
        match &mut self.state {
            State::Periodic { last_success_ms, .. } => *last_success_ms = now_ms,
            State::Revision { last_compacted, .. } => *last_compacted = (*last_compacted).max(revision),
        }
    }
}

#[cfg(test)]
#[path = "compactor_test.rs"]
mod compactor_test;
