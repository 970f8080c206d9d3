use super::*;
use crate::error::Code;

const MIN_TTL_S: i64 = 2;

fn k(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn keys(store: &LeaseStore, id: i64) -> Vec<Vec<u8>> {
    store.get(id).map(|l| l.keys().iter().cloned().collect()).unwrap_or_default()
}

#[test]
fn errors_carry_etcd_codes_and_messages() {
    assert_eq!(LeaseError::NotFound.code(), Code::NotFound);
    assert_eq!(LeaseError::NotFound.message(), "etcdserver: requested lease not found");
    assert_eq!(LeaseError::Exists.code(), Code::FailedPrecondition);
    assert_eq!(LeaseError::Exists.to_string(), "etcdserver: lease already exists");
    assert_eq!(LeaseError::TtlTooLarge.code(), Code::OutOfRange);
    assert_eq!(LeaseError::TtlTooLarge.message(), "etcdserver: too large lease TTL");
}

#[test]
fn min_ttl_follows_etcd_tick_arithmetic() {
    assert_eq!(min_lease_ttl_s(1_000, 100), 2, "etcd grants 2 s for a 1 s request by default");
    assert_eq!(min_lease_ttl_s(2_000, 100), 3);
    assert_eq!(min_lease_ttl_s(3_000, 500), 5, "6 ticks -> 9 ticks = 4.5 s -> 5 s");
    assert_eq!(min_lease_ttl_s(1_100, 300), 2, "3 ticks -> 4 ticks (integer) = 1.2 s -> 2 s");
    assert_eq!(min_lease_ttl_s(500, 250), 1);
    assert_eq!(min_lease_ttl_s(50, 100), 1, "never below 1 s");
    assert_eq!(min_lease_ttl_s(1_000, 0), 2, "a zero heartbeat counts as 1 ms ticks");
}

#[test]
fn grant_checks_in_etcd_order_and_raises_to_min_ttl() {
    let mut s = LeaseStore::new();
    assert_eq!(s.grant(0, 10, MIN_TTL_S), Err(LeaseError::NotFound));
    assert_eq!(s.grant(0, MAX_LEASE_TTL_S + 1, MIN_TTL_S), Err(LeaseError::NotFound), "ID checked first");
    assert_eq!(s.grant(7, MAX_LEASE_TTL_S + 1, MIN_TTL_S), Err(LeaseError::TtlTooLarge));
    assert_eq!(s.grant(7, MAX_LEASE_TTL_S, MIN_TTL_S), Ok(MAX_LEASE_TTL_S));
    assert_eq!(s.grant(7, 10, MIN_TTL_S), Err(LeaseError::Exists));
    assert_eq!(s.grant(7, MAX_LEASE_TTL_S + 1, MIN_TTL_S), Err(LeaseError::TtlTooLarge), "TTL before exists");
    assert_eq!(s.grant(8, 1, MIN_TTL_S), Ok(2));
    assert_eq!(s.grant(9, 0, MIN_TTL_S), Ok(2));
    assert_eq!(s.grant(-5, -3, MIN_TTL_S), Ok(2), "negative IDs and TTLs are accepted, as etcd does");
    assert_eq!(s.grant(10, 0, 0), Ok(1), "never below 1 s");
    assert_eq!(s.get(8).map(|l| (l.ttl_s(), l.remaining_ttl_s(), l.effective_ttl_s())), Some((2, 0, 2)));
    assert_eq!(s.ids().collect::<Vec<_>>(), vec![-5, 7, 8, 9, 10]);
    assert_eq!(s.len(), 5);
    s.check_invariants().unwrap();
}

#[test]
fn failed_grant_leaves_store_unchanged() {
    let mut s = LeaseStore::new();
    s.grant(1, 10, MIN_TTL_S).unwrap();
    s.attach(1, b"a").unwrap();
    let before = s.clone();
    assert!(s.grant(1, 20, MIN_TTL_S).is_err());
    assert!(s.grant(0, 20, MIN_TTL_S).is_err());
    assert!(s.grant(2, MAX_LEASE_TTL_S + 1, MIN_TTL_S).is_err());
    assert_eq!(s, before);
}

#[test]
fn revoke_returns_sorted_keys_once() {
    let mut s = LeaseStore::new();
    s.grant(1, 10, MIN_TTL_S).unwrap();
    for key in ["z", "a", "m"] {
        s.on_put(key.as_bytes(), 1, 0).unwrap();
    }
    assert_eq!(s.revoke(1), Ok(vec![k("a"), k("m"), k("z")]));
    assert_eq!(s.revoke(1), Err(LeaseError::NotFound));
    assert_eq!(s.revoke(0), Err(LeaseError::NotFound));
    assert!(s.is_empty());
    // The apply layer then deletes the keys; their delete events detach from a lease
    // that is already gone.
    s.on_delete(b"a", 1);
}

#[test]
fn put_moves_a_key_between_leases_and_delete_detaches() {
    let mut s = LeaseStore::new();
    s.grant(1, 10, MIN_TTL_S).unwrap();
    s.grant(2, 10, MIN_TTL_S).unwrap();
    s.on_put(b"a", 1, 0).unwrap();
    s.on_put(b"b", 1, 0).unwrap();
    s.on_put(b"c", 1, 0).unwrap();
    s.on_put(b"a", 2, 1).unwrap();
    s.on_delete(b"b", 1);
    s.on_put(b"c", 1, 1).unwrap();
    assert_eq!(keys(&s, 1), vec![k("c")]);
    assert_eq!(keys(&s, 2), vec![k("a")]);
    s.on_put(b"a", 0, 2).unwrap();
    assert_eq!(keys(&s, 2), Vec::<Vec<u8>>::new(), "a put without lease detaches");
    s.check_invariants().unwrap();
}

#[test]
fn put_to_unknown_lease_fails_without_detaching() {
    let mut s = LeaseStore::new();
    s.grant(1, 10, MIN_TTL_S).unwrap();
    s.on_put(b"a", 1, 0).unwrap();
    let before = s.clone();
    assert_eq!(s.on_put(b"a", 99, 1), Err(LeaseError::NotFound));
    assert_eq!(s.attach(99, b"a"), Err(LeaseError::NotFound));
    assert_eq!(s, before);
    assert!(!s.detach(99, b"a"));
    assert!(!s.detach(1, b"x"));
    assert!(s.detach(1, b"a"));
}

#[test]
fn checkpoint_sets_and_clears_remaining_ttl() {
    let mut s = LeaseStore::new();
    s.grant(1, 600, MIN_TTL_S).unwrap();
    assert!(s.checkpoint(1, 300));
    assert_eq!(s.get(1).map(|l| (l.remaining_ttl_s(), l.effective_ttl_s())), Some((300, 300)));
    assert!(s.checkpoint(1, 0));
    assert_eq!(s.get(1).map(Lease::effective_ttl_s), Some(600));
    assert!(s.checkpoint(1, -4));
    assert_eq!(s.get(1).map(Lease::remaining_ttl_s), Some(0), "negative clears");
    assert!(!s.checkpoint(2, 5), "unknown lease ignored");
    assert!(!s.contains(2));
}

#[test]
fn snapshot_round_trips_and_rejects_corruption() {
    let mut s = LeaseStore::new();
    s.grant(1, 600, MIN_TTL_S).unwrap();
    s.grant(-3, 5, MIN_TTL_S).unwrap();
    s.checkpoint(1, 120);
    s.on_put(b"a", 1, 0).unwrap();
    s.on_put(b"\x00\xff", -3, 0).unwrap();
    let bytes = s.encode_snapshot();
    assert_eq!(LeaseStore::decode_snapshot(&bytes), Ok(s.clone()));
    assert_eq!(LeaseStore::decode_snapshot(&LeaseStore::new().encode_snapshot()), Ok(LeaseStore::new()));
    let err = LeaseStore::decode_snapshot(&bytes[..bytes.len() - 1]).unwrap_err();
    assert!(err.message().starts_with("lease snapshot is corrupt: "), "{err}");
}

#[test]
fn decode_checks_invariants() {
    let mut shared_key = LeaseStore::new();
    shared_key.grant(1, 10, MIN_TTL_S).unwrap();
    shared_key.grant(2, 10, MIN_TTL_S).unwrap();
    shared_key.attach(1, b"k").unwrap();
    shared_key.attach(2, b"k").unwrap();
    let err = LeaseStore::decode_snapshot(&shared_key.encode_snapshot()).unwrap_err();
    assert!(err.message().contains("attached to both lease 1 and lease 2"), "{err}");

    // Hand-built image of one lease with ID 0: map length, ID, ttl_s, remaining_ttl_s,
    // key count, each a fixed-width little-endian u64 (bincode's default).
    let zero_id: Vec<u8> = [1u64, 0, 5, 0, 0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let err = LeaseStore::decode_snapshot(&zero_id).unwrap_err();
    assert!(err.message().contains("ID 0"), "{err}");
}

#[test]
fn pick_lease_id_is_positive_fresh_and_deterministic() {
    let mut s = LeaseStore::new();
    assert_eq!(pick_lease_id(42, &s), 42);
    assert_eq!(pick_lease_id(u64::MAX, &s), i64::MAX, "sign bit cleared");
    let from_zero = pick_lease_id(0, &s);
    assert!(from_zero > 0);
    assert_eq!(pick_lease_id(1 << 63, &s), pick_lease_id(1 << 63, &s));
    assert!(pick_lease_id(1 << 63, &s) > 0, "seed that masks to 0");
    s.grant(42, 10, MIN_TTL_S).unwrap();
    let next = pick_lease_id(42, &s);
    assert!(next > 0 && next != 42);
    for seed in 0..200u64 {
        let id = pick_lease_id(seed % 20, &s);
        assert!(id > 0 && !s.contains(id));
        s.grant(id, 10, MIN_TTL_S).unwrap();
    }
}
