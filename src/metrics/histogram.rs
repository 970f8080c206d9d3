//! A histogram of durations on atomics, cheap enough for every request: observing
//! is a binary search over at most a few dozen bucket bounds and two relaxed
//! `fetch_add`s (no lock, no allocation). The sum is kept in whole nanoseconds, so it
//! is exact and needs no compare-and-swap loop on a float.
//!
//! Buckets follow Prometheus' rule: an observation `v` counts in the first bucket
//! whose upper bound `le` is `>= v`; one past the last bound it counts in `+Inf`.
//! With `exponential::<14>(0.001, 2.0)` (etcd's disk histograms):
//!
//! ```text
//! le:      0.001  0.002  0.004  ...  4.096  8.192  +Inf
//! 1.5 ms →        ^^^^^
//! 9 s    →                                         ^^^^
//! ```
//!
//! A scrape reads each counter once; one racing with observations may see a bucket
//! count and a sum from slightly different instants, which Prometheus tolerates (the
//! count it reports is the sum of the buckets it read, so those always agree).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// `N` upper bounds (seconds, increasing) plus the implicit `+Inf` bucket.
#[derive(Debug)]
pub struct Histogram<const N: usize> {
    bounds: [f64; N],
    /// `counts[i]`: observations in `(bounds[i-1], bounds[i]]`.
    counts: [AtomicU64; N],
    /// Observations above the last bound (the `+Inf` bucket's own share).
    over: AtomicU64,
    sum_ns: AtomicU64,
}

/// What a scrape read: per-bucket (not cumulative) counts, the last bound `+Inf`.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

/// `N` bounds `start, start·factor, start·factor², …` (as Prometheus' Go client
/// builds its exponential buckets: repeated multiplication, so the values match).
pub const fn exponential<const N: usize>(start: f64, factor: f64) -> [f64; N] {
    let mut out = [0.0; N];
    let mut bound = start;
    let mut i = 0;
    while i < N {
        out[i] = bound;
        bound *= factor;
        i += 1;
    }
    out
}

impl<const N: usize> Histogram<N> {
    pub const fn new(bounds: [f64; N]) -> Self {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            over: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let i = self.bounds.partition_point(|le| *le < seconds);
        self.counts.get(i).unwrap_or(&self.over).fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut buckets = Vec::with_capacity(N + 1);
        for (le, c) in self.bounds.iter().zip(&self.counts) {
            buckets.push((*le, c.load(Ordering::Relaxed)));
        }
        buckets.push((f64::INFINITY, self.over.load(Ordering::Relaxed)));
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum_seconds = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        Snapshot { buckets, count, sum_seconds }
    }
}
