//! The auto compactor's decisions, tick by tick, against etcd 3.4's rules.

use super::*;

const MIN_MS: u64 = 60 * 1000;

fn revision(retention: i64) -> Compactor {
    Compactor::new(AutoCompaction::Revision { retention, interval_ms: REVISION_INTERVAL_MS }, 0, 1)
}

fn periodic(retention_ms: u64, start_revision: i64) -> Compactor {
    Compactor::new(AutoCompaction::Periodic { retention_ms }, 0, start_revision)
}

/// Run ticks 1..=`ticks` of `c`, the store at `revision_at(tick)`, every success
/// reported; the (tick, revision) of each compaction.
fn run(c: &mut Compactor, ticks: i64, revision_at: impl Fn(i64) -> i64) -> Vec<(i64, i64)> {
    let tick_ms = c.tick_ms() as i64;
    let mut out = Vec::new();
    for k in 1..=ticks {
        let now = k * tick_ms;
        if let Some(rev) = c.tick(now, revision_at(k), true) {
            c.compacted(now, rev);
            out.push((k, rev));
        }
    }
    out
}

#[test]
fn tick_intervals_are_etcds() {
    let p = |retention_ms| AutoCompaction::Periodic { retention_ms }.tick_ms();
    assert_eq!(p(60 * MIN_MS), 6 * MIN_MS, "1h: every 6 min");
    assert_eq!(p(72 * 60 * MIN_MS), 6 * MIN_MS, "72h: every 6 min (interval capped at 1h)");
    assert_eq!(p(30 * MIN_MS), 3 * MIN_MS, "30m: every 3 min");
    assert_eq!(p(5_000), 500, "5s: every 0.5 s");
    assert_eq!(p(5), 1, "never a zero sleep");
    let r = AutoCompaction::Revision { retention: 1000, interval_ms: REVISION_INTERVAL_MS };
    assert_eq!(r.tick_ms(), 5 * MIN_MS);
}

#[test]
fn revision_mode_keeps_the_last_retention_revisions() {
    let mut c = revision(1000);
    assert_eq!(c.tick(1, 5_000, true), Some(4_000));
    c.compacted(1, 4_000);
    assert_eq!(c.tick(2, 5_000, true), None, "nothing new since the last compaction");
    assert_eq!(c.tick(3, 5_001, true), Some(4_001));
}

#[test]
fn revision_mode_below_the_retention_does_nothing() {
    let mut c = revision(10);
    assert_eq!(c.tick(1, 1, true), None);
    assert_eq!(c.tick(2, 10, true), None, "current - retention = 0: nothing to compact");
    assert_eq!(c.tick(3, 11, true), Some(1));
}

#[test]
fn revision_mode_retries_a_failed_compaction() {
    let mut c = revision(10);
    assert_eq!(c.tick(1, 50, true), Some(40));
    // Not reported as compacted (a lost leadership, a timeout): the next tick tries again.
    assert_eq!(c.tick(2, 50, true), Some(40));
}

#[test]
fn only_a_leader_compacts() {
    let mut c = revision(10);
    assert_eq!(c.tick(1, 50, false), None);
    assert_eq!(c.tick(2, 50, true), Some(40), "resumed: compacts at its next tick");

    let mut p = periodic(10 * MIN_MS, 1);
    for k in 1..=20 {
        assert_eq!(p.tick(k * MIN_MS as i64, 100 + k, false), None, "a follower only samples");
    }
    // It leads from tick 21: more than P since its start, so it compacts at once, to a
    // revision sampled while it followed (ticks 10..20 are in the window).
    assert_eq!(p.tick(21 * MIN_MS as i64, 121, true), Some(110));
}

#[test]
fn periodic_mode_window() {
    // P = 10 min: a tick a minute, one write a minute from revision 100 (the module's
    // worked example).
    let mut c = periodic(10 * MIN_MS, 100);
    let compactions = run(&mut c, 40, |k| 100 + k);
    // First P after the start, to the start's revision; then every P, to the revision
    // of P + one tick ago.
    assert_eq!(compactions, vec![(10, 100), (20, 109), (30, 119), (40, 129)]);
}

#[test]
fn periodic_mode_over_an_hour_compacts_hourly() {
    // P = 3h: a tick every 6 min, a window of 31 samples; the first compaction after
    // 3h (tick 30), then hourly (every 10 ticks), each keeping 3h to 3h06m.
    let mut c = periodic(3 * 60 * MIN_MS, 1);
    let compactions = run(&mut c, 50, |k| 1_000 + k);
    assert_eq!(compactions, vec![(30, 1), (40, 1_009), (50, 1_019)]);
}

#[test]
fn periodic_mode_retries_failures_every_tick() {
    let mut c = periodic(10 * MIN_MS, 100);
    let tick = MIN_MS as i64;
    for k in 1..10 {
        assert_eq!(c.tick(k * tick, 100 + k, true), None);
    }
    // The first attempt fails (never reported): every later tick tries again, to the
    // oldest sample (the window of 11 fills at tick 10, then moves on).
    assert_eq!(c.tick(10 * tick, 110, true), Some(100));
    assert_eq!(c.tick(11 * tick, 111, true), Some(100));
    assert_eq!(c.tick(12 * tick, 112, true), Some(101));
    c.compacted(12 * tick, 101);
    for k in 13..22 {
        assert_eq!(c.tick(k * tick, 100 + k, true), None, "tick {k}: within P of the success");
    }
    assert_eq!(c.tick(22 * tick, 122, true), Some(111));
}

#[test]
fn periodic_mode_compacts_the_same_revision_when_idle() {
    // No writes: the same revision again each interval (the store answers "already
    // compacted", which counts as success, as in etcd).
    let mut c = periodic(5_000, 7);
    let compactions = run(&mut c, 30, |_| 7);
    assert_eq!(compactions, vec![(10, 7), (20, 7), (30, 7)]);
}
