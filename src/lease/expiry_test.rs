use super::*;

const MIN_TTL_S: i64 = 2;
const EXTEND_MS: u64 = 1_000;

fn config(checkpoint_interval_ms: u64) -> ExpiryConfig {
    ExpiryConfig { revoke_retry_ms: 2_000, checkpoint_interval_ms }
}

/// A store with the given (id, ttl_s) leases and a primary promoted at `now_ms`.
fn leader(leases: &[(i64, i64)], now_ms: u64, checkpoint_interval_ms: u64) -> (LeaseStore, LeaseExpiry) {
    let mut store = LeaseStore::new();
    for &(id, ttl_s) in leases {
        store.grant(id, ttl_s, MIN_TTL_S).unwrap();
    }
    let mut expiry = LeaseExpiry::new(config(checkpoint_interval_ms));
    expiry.promote(now_ms, &store, EXTEND_MS);
    expiry.check_against(&store).unwrap();
    (store, expiry)
}

/// Grant applied on the leader: store, then hook.
fn grant(store: &mut LeaseStore, expiry: &mut LeaseExpiry, id: i64, ttl_s: i64, now_ms: u64) {
    let granted = store.grant(id, ttl_s, MIN_TTL_S).unwrap();
    expiry.on_grant(id, granted, now_ms);
}

fn revoke(store: &mut LeaseStore, expiry: &mut LeaseExpiry, id: i64) {
    store.revoke(id).unwrap();
    expiry.on_revoke(id);
}

#[test]
fn etcd_defaults() {
    let c = ExpiryConfig::default();
    assert_eq!((c.revoke_retry_ms, c.checkpoint_interval_ms), (7_000, 300_000));
    assert_eq!(ExpiryConfig::etcd_defaults(2_000).revoke_retry_ms, 9_000);
}

#[test]
fn a_follower_knows_no_deadline() {
    let mut store = LeaseStore::new();
    let mut expiry = LeaseExpiry::new(ExpiryConfig::default());
    grant(&mut store, &mut expiry, 1, 10, 0);
    assert!(!expiry.is_primary());
    assert!(expiry.is_empty());
    assert_eq!(expiry.renew(&store, 1, 0), Renewal::NotPrimary);
    assert_eq!(expiry.expired(u64::MAX, 10), Vec::<i64>::new());
    assert_eq!(expiry.checkpoints(u64::MAX, 10), Vec::<(i64, i64)>::new());
    assert_eq!(expiry.remaining_ms(1, 0), None);
    assert_eq!(expiry.next_wakeup_ms(), None);
    expiry.check_against(&store).unwrap();
}

#[test]
fn promote_counts_from_checkpoint_or_ttl_plus_extension() {
    let mut store = LeaseStore::new();
    store.grant(1, 10, MIN_TTL_S).unwrap();
    store.grant(2, 10, MIN_TTL_S).unwrap();
    store.checkpoint(2, 7);
    let mut expiry = LeaseExpiry::new(config(0));
    expiry.promote(5_000, &store, EXTEND_MS);
    assert!(expiry.is_primary());
    assert_eq!(expiry.deadline_ms(1), Some(16_000));
    assert_eq!(expiry.deadline_ms(2), Some(13_000));
    assert_eq!(expiry.len(), 2);
    expiry.demote();
    assert!(!expiry.is_primary());
    assert_eq!(expiry.deadline_ms(1), None);
    expiry.check_against(&store).unwrap();
}

#[test]
fn time_to_live_truncates_toward_zero_like_etcd() {
    let (mut store, mut expiry) = leader(&[], 0, 0);
    grant(&mut store, &mut expiry, 1, 10, 1_000);
    assert_eq!(expiry.remaining_ms(1, 1_000), Some(10_000));
    assert_eq!(expiry.time_to_live_s(1, 1_000), Some(10));
    assert_eq!(expiry.time_to_live_s(1, 1_001), Some(9), "etcd says 9 right after a 10 s grant");
    assert_eq!(expiry.time_to_live_s(1, 10_999), Some(0));
    assert_eq!(expiry.time_to_live_s(1, 11_999), Some(0), "-0.999 s truncates to 0");
    assert_eq!(expiry.remaining_ms(1, 12_000), Some(-1_000));
    assert_eq!(expiry.time_to_live_s(1, 12_000), Some(-1));
    assert_eq!(expiry.time_to_live_s(2, 0), None);
}

#[test]
fn renew_resets_to_granted_ttl() {
    let (mut store, mut expiry) = leader(&[], 0, 0);
    grant(&mut store, &mut expiry, 1, 1, 0);
    assert_eq!(store.get(1).map(Lease::ttl_s), Some(2), "raised to min TTL");
    assert_eq!(expiry.renew(&store, 1, 1_500), Renewal::Renewed { ttl_s: 2 });
    assert_eq!(expiry.deadline_ms(1), Some(3_500));
    assert_eq!(expiry.renew(&store, 1, 3_499), Renewal::Renewed { ttl_s: 2 });
    assert_eq!(expiry.deadline_ms(1), Some(5_499));
    assert_eq!(expiry.renew(&store, 1, 5_499), Renewal::Expired, "deadline reached");
    assert_eq!(expiry.deadline_ms(1), Some(5_499), "an expired lease is not renewed");
    assert_eq!(expiry.renew(&store, 9, 0), Renewal::NotFound);
    expiry.check_against(&store).unwrap();
}

#[test]
fn renew_with_a_stored_checkpoint_waits_for_the_clear() {
    let (mut store, mut expiry) = leader(&[(1, 600)], 0, 0);
    store.checkpoint(1, 300);
    expiry.promote(0, &store, 0);
    assert_eq!(expiry.deadline_ms(1), Some(300_000));
    assert_eq!(expiry.renew(&store, 1, 10_000), Renewal::NeedsCheckpointClear);
    assert_eq!(expiry.deadline_ms(1), Some(300_000), "not extended before the clear commits");
    assert_eq!(expiry.renew(&store, 1, 10_000), Renewal::NeedsCheckpointClear, "still stored");
    store.checkpoint(1, 0);
    assert_eq!(expiry.renew(&store, 1, 11_000), Renewal::Renewed { ttl_s: 600 });
    assert_eq!(expiry.deadline_ms(1), Some(611_000));
}

#[test]
fn renew_after_an_emitted_checkpoint_needs_a_clear_even_before_it_applies() {
    let (store, mut expiry) = leader(&[(1, 60)], 0, 10_000);
    assert_eq!(expiry.checkpoints(10_000, 10), vec![(1, 51)], "61 s deadline - 10 s, rounded up");
    // The checkpoint is proposed but not applied yet: the store still shows none.
    assert_eq!(expiry.renew(&store, 1, 10_500), Renewal::NeedsCheckpointClear);
    // The clear was proposed after the checkpoint and both applied (net: no checkpoint).
    assert_eq!(expiry.renew(&store, 1, 10_600), Renewal::Renewed { ttl_s: 60 });
}

#[test]
fn expired_is_bounded_earliest_first_and_retried() {
    let (mut store, mut expiry) = leader(&[], 0, 0);
    for (id, ttl_s) in [(5, 4), (3, 2), (4, 2), (1, 9), (2, 3)] {
        grant(&mut store, &mut expiry, id, ttl_s, 0);
    }
    assert_eq!(expiry.next_wakeup_ms(), Some(2_000));
    assert_eq!(expiry.expired(1_999, 10), Vec::<i64>::new());
    assert_eq!(expiry.expired(4_000, 2), vec![3, 4], "same deadline: by ID");
    assert_eq!(expiry.expired(4_000, 10), vec![2, 5]);
    assert_eq!(expiry.expired(4_000, 10), Vec::<i64>::new(), "reported once per retry interval");
    revoke(&mut store, &mut expiry, 3);
    revoke(&mut store, &mut expiry, 2);
    assert_eq!(expiry.next_wakeup_ms(), Some(6_000));
    assert_eq!(expiry.expired(5_999, 10), Vec::<i64>::new());
    assert_eq!(expiry.expired(6_000, 10), vec![4, 5], "revoke lost: reported again");
    assert_eq!(expiry.renew(&store, 4, 6_000), Renewal::Expired);
    assert_eq!(expiry.expired(9_000, 10), vec![4, 5, 1], "retries (due 8 s) before lease 1 (due 9 s)");
    expiry.check_against(&store).unwrap();
}

#[test]
fn checkpoints_only_long_leases_rounding_up() {
    let (mut store, mut expiry) = leader(&[(1, 2), (2, 30), (3, 60)], 0, 10_000);
    // Deadlines 3 s, 31 s, 61 s (extension included). Lease 1 is shorter than an interval.
    assert_eq!(expiry.next_wakeup_ms(), Some(3_000));
    assert_eq!(expiry.checkpoints(9_999, 10), Vec::<(i64, i64)>::new());
    assert_eq!(expiry.checkpoints(10_000, 10), vec![(2, 21), (3, 51)]);
    assert_eq!(expiry.checkpoints(10_000, 10), Vec::<(i64, i64)>::new());
    assert_eq!(expiry.checkpoints(20_400, 1), vec![(2, 11)], "bounded: 10.6 s rounds up to 11");
    assert_eq!(expiry.checkpoints(20_400, 1), vec![(3, 41)]);
    assert_eq!(expiry.checkpoints(30_400, 10), vec![(2, 1), (3, 31)]);
    // Lease 2 now has under an interval left: no more checkpoints until renewed.
    assert_eq!(expiry.checkpoints(40_400, 10), vec![(3, 21)]);
    store.checkpoint(2, 11);
    store.checkpoint(2, 0);
    assert_eq!(expiry.renew(&store, 2, 30_500), Renewal::NeedsCheckpointClear, "one was emitted");
    assert_eq!(expiry.renew(&store, 2, 30_500), Renewal::Renewed { ttl_s: 30 });
    assert_eq!(expiry.checkpoints(40_500, 10), vec![(2, 20)], "renewal rescheduled lease 2");
    expiry.check_against(&store).unwrap();
}

#[test]
fn no_checkpoint_while_remaining_is_the_full_ttl() {
    // Right after a promotion the extension makes the remaining time exceed the TTL.
    let (_store, mut expiry) = leader(&[(1, 60)], 0, 1_000);
    assert_eq!(expiry.checkpoints(1_000, 10), Vec::<(i64, i64)>::new(), "60 s left of 60");
    assert_eq!(expiry.checkpoints(2_000, 10), vec![(1, 59)]);
}

#[test]
fn checkpointing_off_with_zero_interval() {
    let (_store, mut expiry) = leader(&[(1, 9_000)], 0, 0);
    assert_eq!(expiry.checkpoints(8_000_000, 10), Vec::<(i64, i64)>::new());
    assert_eq!(expiry.next_wakeup_ms(), Some(9_001_000));
}

#[test]
fn hooks_keep_step_with_the_store() {
    let (mut store, mut expiry) = leader(&[(1, 10)], 0, 1_000);
    grant(&mut store, &mut expiry, 2, 10, 100);
    assert_eq!(expiry.deadline_ms(2), Some(10_100), "a grant gets no extension");
    revoke(&mut store, &mut expiry, 1);
    expiry.check_against(&store).unwrap();
    expiry.on_revoke(77);
    // A grant applied without its hook: a renewal tracks it rather than losing it.
    store.grant(3, 10, MIN_TTL_S).unwrap();
    assert!(expiry.check_against(&store).is_err());
    assert_eq!(expiry.renew(&store, 3, 500), Renewal::Renewed { ttl_s: 10 });
    expiry.check_against(&store).unwrap();
}

#[test]
fn worked_example_from_the_module_doc() {
    let mut store = LeaseStore::new();
    let mut a = LeaseExpiry::new(config(3_000));
    a.promote(0, &store, EXTEND_MS);
    let l = pick_lease_id(0x694d_a201_cb20_4807, &store);
    grant(&mut store, &mut a, l, 10, 0);
    assert_eq!(a.deadline_ms(l), Some(10_000));
    for (id, remaining_ttl_s) in a.checkpoints(3_000, CHECKPOINT_BATCH_MAX) {
        assert_eq!((id, remaining_ttl_s), (l, 7));
        store.checkpoint(id, remaining_ttl_s);
    }
    assert_eq!(a.renew(&store, l, 4_000), Renewal::NeedsCheckpointClear);
    store.checkpoint(l, 0);
    assert_eq!(a.renew(&store, l, 4_000), Renewal::Renewed { ttl_s: 10 });
    assert_eq!(a.deadline_ms(l), Some(14_000));
    assert_eq!(a.checkpoints(6_000, CHECKPOINT_BATCH_MAX), vec![(l, 8)]);
    store.checkpoint(l, 8);
    a.demote();

    let mut b = LeaseExpiry::new(config(3_000));
    b.promote(7_500, &store, EXTEND_MS);
    assert_eq!(b.deadline_ms(l), Some(16_500));
    assert_eq!(b.time_to_live_s(l, 8_000), Some(8));
    assert_eq!(store.get(l).map(Lease::ttl_s), Some(10));
    assert_eq!(b.expired(16_499, EXPIRED_BATCH_MAX), Vec::<i64>::new());
    assert_eq!(b.expired(16_500, EXPIRED_BATCH_MAX), vec![l]);
    revoke(&mut store, &mut b, l);
    b.check_against(&store).unwrap();
}

#[test]
fn hundred_thousand_leases_expire_in_bounded_batches() {
    const N: i64 = 100_000;
    let (mut store, mut expiry) = leader(&[], 0, DEFAULT_CHECKPOINT_INTERVAL_MS);
    for id in 1..=N {
        grant(&mut store, &mut expiry, id, 2 + (id * 7919) % 600, (id / 100) as u64);
    }
    for id in (1..=N).step_by(3) {
        assert!(matches!(expiry.renew(&store, id, 1_000), Renewal::Renewed { .. }));
    }
    let mut last_deadline_ms = 0;
    let mut now_ms = 0;
    while !store.is_empty() {
        now_ms += LESSOR_TICK_MS;
        let batch = expiry.expired(now_ms, EXPIRED_BATCH_MAX);
        assert!(batch.len() <= EXPIRED_BATCH_MAX);
        for id in batch {
            let deadline_ms = expiry.deadline_ms(id).unwrap();
            assert!(deadline_ms <= now_ms && deadline_ms >= last_deadline_ms, "earliest first");
            last_deadline_ms = deadline_ms;
            revoke(&mut store, &mut expiry, id);
        }
        expiry.checkpoints(now_ms, CHECKPOINT_BATCH_MAX);
    }
    assert!(expiry.is_empty());
    assert!(now_ms < 800_000, "drained at 1000 leases per second: {now_ms}");
}
