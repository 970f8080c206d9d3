//! Linearizability checker for etcd KV histories ([`crate::history`]) against the etcd
//! model ([`crate::model`]).
//!
//! A history is linearizable if some total order of all acknowledged ops plus any
//! subset of the unknown-outcome writes (a) respects real time (an op that returned
//! before another was invoked comes first) and (b) replayed on the model from the
//! initial state gives every acknowledged op exactly the response it got. Failed ops
//! and reads without a response are ignored.
//!
//! How (see [`prepare`] and [`search`]): etcd's revisions pin every acknowledged op —
//! the write with header revision r is the r-th change, a read with header revision r
//! saw the state right after it. So the checker
//!
//! 1. runs direct checks that need no search (duplicate revision, revisions against
//!    real time, what each read's kvs say about the writes at their mod and create
//!    revisions, keys read as unmodified across a write of them);
//! 2. searches depth-first over the *gaps* (revisions no acknowledged op claims) for
//!    which pending write produced each, replaying everything else in revision order.
//!    Without unknown outcomes this is one linear pass; each gap is a branch point,
//!    pruned by what reads observed (pins, per-key lookahead, version and value
//!    demands) and memoized. Narrow passes (few candidates per gap) run before the
//!    complete one, which alone can refute;
//! 3. on a violation, bisects over return times for the shortest failing prefix (a
//!    prefix cut at t keeps ops invoked by t; those returning later become pending),
//!    so the report names the op whose response first makes the history impossible.
//!
//! Why not split by key (P-compositionality): revisions are global, a read of one key
//! constrains the order of writes to all keys. Revisions cut the history instead: the
//! state at a revision depends only on the choices at earlier gaps, so everything
//! between two gaps is forced and checked once per choice.
//!
//! The search is bounded by [`Config::max_steps`] (a step: one op replayed on the
//! model, one candidate examined, or one gap's demands computed); running out gives
//! [`Verdict::Unknown`], never a hang. Release build, 5 clients, 8 keys: 5,000 ops with
//! 5-20% unknown outcomes take 10-400 ms; 10,000 with 10%, ~100 ms; the default budget
//! is 1-4 s. Histories with ~30% unknown outcomes, half of them never taking effect
//! (thousands of pending writes), often exhaust it.
//!
//! ```text
//! #0 c0 [0..10]  put(a=1) -> ok rev=2
//! #1 c1 [5..30]  put(a=2) -> unknown: timeout
//! #2 c0 [20..25] get(a)   -> ok rev=3 kvs=[a=2 (c2 m3 v2)]   gap 3 filled by #1: ok
//! #3 c0 [40..45] get(a)   -> ok rev=2 kvs=[a=1 (c2 m2 v1)]   #2 returned at rev 3
//!                                                            first: stale read
//! ```

use std::fmt;

use crate::history::{Op, Revision};
use crate::model::KvState;

#[path = "linearize/demand.rs"]
mod demand;
#[path = "linearize/prepare.rs"]
mod prepare;
#[path = "linearize/search.rs"]
mod search;
#[path = "linearize/timeline.rs"]
mod timeline;

use search::{Dead, End, Search};

/// Checker settings.
#[derive(Clone)]
pub struct Config {
    /// Search budget in steps (an op replayed on the model, a candidate examined, a
    /// gap's demands computed: roughly 2-3 million a second in release). The prefix
    /// bisection after a violation gets the same budget again, shared by its
    /// ~log2(ops) checks.
    pub max_steps: u64,
    /// The store before the first op: [`KvState::new`] for a fresh etcd.
    pub initial: KvState,
    /// After a violation, bisect for the shortest failing prefix.
    pub find_first_failure: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { max_steps: 5_000_000, initial: KvState::new(), find_first_failure: true }
    }
}

/// The guarantee a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guarantee {
    /// The history itself is inconsistent (e.g. returned before invoked).
    MalformedHistory,
    /// Two writes got the same revision.
    DuplicateRevision,
    /// A revision nothing could have produced.
    RevisionGap,
    /// Revisions run against real time between writes.
    RevisionOrder,
    /// A read missed a write that precedes it.
    StaleRead,
    /// An acknowledged write is missing where it must be seen.
    LostWrite,
    /// A read saw data no (surviving) write produced: a value never written, a write
    /// that failed, or one that other reads show never happened.
    PhantomRead,
    /// A write's response (deleted count, txn outcome, revision) disagrees with the
    /// model at its place.
    ResponseMismatch,
}

impl Guarantee {
    pub fn name(self) -> &'static str {
        match self {
            Guarantee::MalformedHistory => "malformed history",
            Guarantee::DuplicateRevision => "duplicate revision",
            Guarantee::RevisionGap => "revision gap",
            Guarantee::RevisionOrder => "revision order",
            Guarantee::StaleRead => "stale read",
            Guarantee::LostWrite => "lost write",
            Guarantee::PhantomRead => "phantom read",
            Guarantee::ResponseMismatch => "response mismatch",
        }
    }
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A direct check's proof of a violation.
pub(crate) struct Finding {
    pub guarantee: Guarantee,
    pub detail: String,
    pub ops: Vec<usize>,
}

/// Counters of one check (summed over the bisection's checks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub acked_ops: usize,
    pub pending_ops: usize,
    /// Revisions from the initial one to the highest acknowledged.
    pub revisions: i64,
    /// Gaps filled by pending writes in the linearization found.
    pub gaps_filled: usize,
    pub steps: u64,
    pub backtracks: u64,
    pub memo_hits: u64,
    /// Checker runs: 1, plus the bisection's after a violation.
    pub checks: u32,
}

/// A violation, with a multi-line report (its Display).
#[derive(Clone, Debug)]
pub struct Violation {
    pub guarantee: Guarantee,
    pub detail: String,
    /// Indexes (into the history) of the ops involved.
    pub ops: Vec<usize>,
    /// The shortest failing prefix ends at this return time, if bisected.
    pub first_failure_ns: Option<u64>,
    pub report: String,
    pub stats: Stats,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

#[derive(Clone, Debug)]
pub enum Verdict {
    Linearizable(Stats),
    Violation(Box<Violation>),
    /// Budget exhausted: neither a linearization nor a proof of violation found.
    Unknown {
        reason: String,
        stats: Stats,
    },
}

impl Verdict {
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable(_))
    }

    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Verdict::Violation(v) => Some(v),
            _ => None,
        }
    }

    pub fn stats(&self) -> Stats {
        match self {
            Verdict::Linearizable(s) | Verdict::Unknown { stats: s, .. } => *s,
            Verdict::Violation(v) => v.stats,
        }
    }
}

/// Decide whether `history` is linearizable. Op indexes in reports are positions in
/// `history`. A violation names the guarantee the whole history breaks; its report
/// adds the shortest failing prefix (which may break a different one first).
pub fn check(history: &[Op], config: &Config) -> Verdict {
    let full = check_upto(history, config, u64::MAX);
    let Verdict::Violation(mut v) = full else { return full };
    if !config.find_first_failure {
        return Verdict::Violation(v);
    }
    let (t, first, extra) = first_failure(history, config);
    v.stats = add(v.stats, extra);
    v.first_failure_ns = t;
    if let (Some(t), Some(first)) = (t, first) {
        let culprits: Vec<String> = history
            .iter()
            .enumerate()
            .filter(|(_, op)| op.response().is_some() && op.return_ns == t)
            .map(|(i, _)| format!("#{i}"))
            .collect();
        v.report.push_str(&format!(
            "\n  shortest failing prefix: ops invoked by t={t} ({} ops in all); it fails when {} returns: {}: {}",
            history.len(),
            culprits.join(", "),
            first.guarantee,
            first.detail
        ));
    }
    Verdict::Violation(v)
}

/// Bisect over return times for the shortest failing prefix: its cut time and
/// violation, plus the stats of the checks it ran. The checks share one budget of
/// `max_steps`; when it runs out the shortest failing prefix found so far is kept.
fn first_failure(history: &[Op], config: &Config) -> (Option<u64>, Option<Violation>, Stats) {
    let mut times: Vec<u64> =
        history.iter().filter(|op| op.response().is_some()).map(|op| op.return_ns).collect();
    times.sort_unstable();
    times.dedup();
    let (mut lo, mut hi) = (0, times.len());
    let mut best = None;
    let mut stats = Stats::default();
    let mut budget = Config { max_steps: config.max_steps, ..config.clone() };
    while lo < hi && budget.max_steps > 0 {
        let mid = lo + (hi - lo) / 2;
        let verdict = check_upto(history, &budget, times[mid]);
        budget.max_steps = budget.max_steps.saturating_sub(verdict.stats().steps);
        stats = add(stats, verdict.stats());
        match verdict {
            Verdict::Violation(v) => {
                hi = mid;
                best = Some(*v);
            }
            _ => lo = mid + 1,
        }
    }
    match best {
        Some(v) => (Some(times[hi]), Some(v), stats),
        None => (None, None, stats),
    }
}

fn add(a: Stats, b: Stats) -> Stats {
    Stats {
        steps: a.steps + b.steps,
        backtracks: a.backtracks + b.backtracks,
        memo_hits: a.memo_hits + b.memo_hits,
        checks: a.checks + b.checks,
        ..a
    }
}

/// One check of the history cut at `upto_ns`.
fn check_upto(history: &[Op], config: &Config, upto_ns: u64) -> Verdict {
    let mut stats = Stats { checks: 1, ..Stats::default() };
    let p = match prepare::prepare(history, &config.initial, upto_ns) {
        Ok(p) => p,
        Err(f) => {
            for op in history {
                match prepare::role(op, upto_ns) {
                    prepare::Role::Acked => stats.acked_ops += 1,
                    prepare::Role::Pending => stats.pending_ops += 1,
                    prepare::Role::Ignored => {}
                }
            }
            return Verdict::Violation(Box::new(direct_violation(history, f, stats)));
        }
    };
    stats.acked_ops = p.acked.len();
    stats.pending_ops = p.pending.len();
    stats.revisions = p.last_revision - config.initial.revision();
    let (end, search) = search_in_passes(&p, config.max_steps);
    let s = search.stats;
    stats = Stats { backtracks: s.backtracks, memo_hits: s.memo_hits, gaps_filled: s.gaps_filled, ..stats };
    stats.steps = s.steps;
    match end {
        End::Linearizable => Verdict::Linearizable(stats),
        End::Exhausted => Verdict::Unknown { reason: exhausted(config, search.deepest.as_ref()), stats },
        End::Refuted => {
            let dead = search.deepest.expect("a refuted search records where it died");
            Verdict::Violation(Box::new(search_violation(history, dead, p.last_revision, stats)))
        }
    }
}

/// Passes: complete with a sixteenth of the budget (enough for most histories), then
/// narrow (at most 3, then 8 candidates per gap, an eighth each), then complete with
/// the rest. A narrow search cannot thrash among hundreds of pending writes at late
/// gaps when an early choice was wrong, and a linearization usually lies along the
/// first few choices. Only the last, complete pass can refute. Returns the last pass
/// run, its stats counting every pass's steps.
fn search_in_passes<'p, 'h>(p: &'p prepare::Prepared<'h>, max_steps: u64) -> (End, Search<'p, 'h>) {
    let mut spent = 0;
    for (width, share) in [(usize::MAX, 16), (3, 8), (8, 8)] {
        let mut pass = Search::new(p, max_steps / share, width);
        let end = pass.run();
        spent += pass.stats.steps;
        if end == End::Linearizable || (end == End::Refuted && width == usize::MAX) {
            pass.stats.steps = spent;
            return (end, pass);
        }
    }
    let mut complete = Search::new(p, max_steps.saturating_sub(spent), usize::MAX);
    let end = complete.run();
    complete.stats.steps += spent;
    (end, complete)
}

fn exhausted(config: &Config, deepest: Option<&Dead>) -> String {
    let at = deepest
        .map_or(String::new(), |d| format!("; deepest dead end at revision {}: {}", d.revision, d.detail));
    format!("unknown: budget exhausted after {} steps{at}", config.max_steps)
}

fn direct_violation(history: &[Op], f: Finding, stats: Stats) -> Violation {
    let report =
        format!("linearizability violation: {}: {}{}", f.guarantee, f.detail, op_lines(history, &f.ops));
    Violation { guarantee: f.guarantee, detail: f.detail, ops: f.ops, first_failure_ns: None, report, stats }
}

fn search_violation(history: &[Op], d: Dead, last: Revision, stats: Stats) -> Violation {
    let report = format!(
        "linearizability violation: {}: no linearization; deepest point reached: revision {} of {last}\n  \
         {}\n  {}{}",
        d.guarantee,
        d.revision,
        d.detail,
        d.state,
        op_lines(history, &d.ops)
    );
    Violation { guarantee: d.guarantee, detail: d.detail, ops: d.ops, first_failure_ns: None, report, stats }
}

fn op_lines(history: &[Op], ops: &[usize]) -> String {
    ops.iter().map(|&i| format!("\n    #{i} {}", history[i])).collect()
}

#[cfg(test)]
#[path = "linearize_fuzz_test.rs"]
mod linearize_fuzz_test;
#[cfg(test)]
#[path = "linearize_test.rs"]
mod linearize_test;
