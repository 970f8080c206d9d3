//! Fail points, FoundationDB's "buggify": places in the code where, in simulation,
//! something that real hardware may do happens on purpose (a storage call fails, an
//! apply or a log purge stalls). Exists only under `--cfg madsim`; the harness
//! chooses per seed which points are armed and how often they fire ([`arm`]).
//! Call sites use the [`buggify!`](crate::buggify) macro, `false` elsewhere.
//!
//! Points: `raft.save_vote` and `raft.append` (the raft log write fails: the member
//! stops, as on EIO, and its supervisor restarts it), `raft.snapshot` (building a
//! snapshot fails), `apply.stall` (applying a batch stalls), `log.purge_stall` (log
//! compaction stalls), `apply.compact` (the member fails as it applies an MVCC
//! compaction, as if it died mid-compaction: it stops and is restarted, and must
//! replay to the same state).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Every fail point, for the harness.
pub const POINTS: &[&str] =
    &["raft.save_vote", "raft.append", "raft.snapshot", "apply.stall", "log.purge_stall", "apply.compact"];

struct Points {
    armed: BTreeMap<&'static str, f64>,
    fired: BTreeMap<&'static str, u64>,
}

static STATE: Mutex<Points> = Mutex::new(Points { armed: BTreeMap::new(), fired: BTreeMap::new() });

fn state() -> std::sync::MutexGuard<'static, Points> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Arm these points with these firing probabilities (and disarm the rest); clears
/// the counts.
pub fn arm(points: &[(&'static str, f64)]) {
    let mut s = state();
    s.armed = points.iter().copied().collect();
    s.fired.clear();
}

/// How often each point fired since the last [`arm`].
pub fn fired() -> BTreeMap<&'static str, u64> {
    state().fired.clone()
}

/// Whether `point` fires now (a seeded draw, only if armed).
pub fn fire(point: &'static str) -> bool {
    let mut s = state();
    let Some(&p) = s.armed.get(point) else { return false };
    let draw = (crate::env::random::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    if draw >= p {
        return false;
    }
    *s.fired.entry(point).or_default() += 1;
    true
}
