//! Property tests: the leader never expires a lease early, across renewals,
//! checkpoints and leader changes; the store follows put/delete events and its
//! snapshot round-trips.
//!
//! The cluster is modelled as one store, one clock and a log of proposals not yet
//! applied (checkpoints, revokes of expired leases). A client's grant or revoke
//! applies at once. A promotion first settles the log (applies or drops what is
//! pending), as a raft leader promotes only once earlier-term entries are decided.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const MIN_TTL_S: i64 = 2;

#[derive(Clone, Debug)]
enum Op {
    Grant { seed: u64, ttl_s: i64 },
    Revoke { pick: usize },
    Renew { pick: usize },
    Advance { ms: u64 },
    Expire { max: usize, lose_revokes: bool },
    Checkpoint { max: usize },
    Commit { count: usize },
    Demote,
    Promote { commit_pending: bool },
}

#[derive(Clone, Debug)]
enum Entry {
    Checkpoint(Vec<(i64, i64)>),
    Revoke(i64),
}

struct Cluster {
    store: LeaseStore,
    expiry: LeaseExpiry,
    now_ms: u64,
    /// What a promotion adds (etcd: the election timeout); 0 leaves only the rounding up.
    extend_ms: u64,
    /// Per lease: the client may count on it until here (grant or last acknowledged renewal + TTL).
    promised_ms: BTreeMap<i64, u64>,
    pending: Vec<Entry>,
}

impl Cluster {
    fn new(checkpoint_interval_ms: u64, extend_ms: u64) -> Self {
        let config = ExpiryConfig { revoke_retry_ms: 2_000, checkpoint_interval_ms };
        let mut expiry = LeaseExpiry::new(config);
        let store = LeaseStore::new();
        expiry.promote(0, &store, extend_ms);
        Cluster { store, expiry, now_ms: 0, extend_ms, promised_ms: BTreeMap::new(), pending: Vec::new() }
    }

    fn pick(&self, pick: usize) -> Option<i64> {
        let n = self.store.len();
        (n > 0).then(|| self.store.ids().nth(pick % n)).flatten()
    }

    fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Checkpoint(cps) => cps.into_iter().for_each(|(id, r)| {
                self.store.checkpoint(id, r);
            }),
            Entry::Revoke(id) => self.revoke(id),
        }
    }

    fn commit(&mut self, count: usize) {
        let count = count.min(self.pending.len());
        for entry in self.pending.drain(..count).collect::<Vec<_>>() {
            self.apply(entry);
        }
    }

    fn revoke(&mut self, id: i64) {
        if self.store.revoke(id).is_ok() {
            self.expiry.on_revoke(id);
            self.promised_ms.remove(&id);
        }
    }

    fn renew(&mut self, id: i64) {
        for _ in 0..4 {
            match self.expiry.renew(&self.store, id, self.now_ms) {
                Renewal::Renewed { ttl_s } => {
                    assert_eq!(
                        Some(ttl_s),
                        self.store.get(id).map(Lease::ttl_s),
                        "KeepAlive returns the granted TTL"
                    );
                    let until_ms = self.now_ms + ttl_s as u64 * 1000;
                    let promised = self.promised_ms.entry(id).or_default();
                    *promised = (*promised).max(until_ms);
                    return;
                }
                Renewal::NeedsCheckpointClear => {
                    self.pending.push(Entry::Checkpoint(vec![(id, 0)]));
                    self.commit(usize::MAX);
                }
                Renewal::Expired | Renewal::NotFound | Renewal::NotPrimary => return,
            }
        }
        panic!("lease {id} still needs a checkpoint clear after the log was applied");
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Grant { seed, ttl_s } => {
                let id = pick_lease_id(seed, &self.store);
                let granted = self.store.grant(id, ttl_s, MIN_TTL_S).unwrap();
                self.expiry.on_grant(id, granted, self.now_ms);
                self.promised_ms.insert(id, self.now_ms + granted as u64 * 1000);
            }
            Op::Revoke { pick } => self.pick(pick).into_iter().for_each(|id| self.revoke(id)),
            Op::Renew { pick } => self.pick(pick).into_iter().for_each(|id| self.renew(id)),
            Op::Advance { ms } => self.now_ms += ms,
            Op::Expire { max, lose_revokes } => {
                for id in self.expiry.expired(self.now_ms, max) {
                    let promised_ms = self.promised_ms[&id];
                    assert!(
                        self.now_ms >= promised_ms,
                        "lease {id} expired at {} ms, before its promised {promised_ms} ms",
                        self.now_ms
                    );
                    if !lose_revokes {
                        self.pending.push(Entry::Revoke(id));
                    }
                }
            }
            Op::Checkpoint { max } => {
                let cps = self.expiry.checkpoints(self.now_ms, max);
                if !cps.is_empty() {
                    self.pending.push(Entry::Checkpoint(cps));
                }
            }
            Op::Commit { count } => self.commit(count),
            Op::Demote => self.expiry.demote(),
            Op::Promote { commit_pending } => self.promote(commit_pending),
        }
        self.check();
    }

    fn promote(&mut self, commit_pending: bool) {
        self.expiry.demote();
        if commit_pending {
            self.commit(usize::MAX);
        } else {
            self.pending.clear();
        }
        self.expiry.promote(self.now_ms, &self.store, self.extend_ms);
        for (id, lease) in self.store.iter() {
            let remaining_ms = lease.effective_ttl_s() as u64 * 1000 + self.extend_ms;
            assert_eq!(
                self.expiry.deadline_ms(id),
                Some(self.now_ms + remaining_ms),
                "lease {id} after promote"
            );
        }
    }

    fn check(&self) {
        self.expiry.check_against(&self.store).unwrap();
        self.store.check_invariants().unwrap();
        assert!(self.promised_ms.keys().copied().eq(self.store.ids()));
        for (&id, &promised_ms) in &self.promised_ms {
            if let Some(deadline_ms) = self.expiry.deadline_ms(id) {
                assert!(
                    deadline_ms >= promised_ms,
                    "lease {id}: deadline {deadline_ms} < promised {promised_ms}"
                );
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<u64>(), -1i64..40).prop_map(|(seed, ttl_s)| Op::Grant { seed, ttl_s }),
        1 => any::<usize>().prop_map(|pick| Op::Revoke { pick }),
        4 => any::<usize>().prop_map(|pick| Op::Renew { pick }),
        6 => (0u64..6_000).prop_map(|ms| Op::Advance { ms }),
        3 => (1usize..4, any::<bool>()).prop_map(|(max, lose_revokes)| Op::Expire { max, lose_revokes }),
        3 => (1usize..4).prop_map(|max| Op::Checkpoint { max }),
        2 => (0usize..4).prop_map(|count| Op::Commit { count }),
        1 => Just(Op::Demote),
        1 => any::<bool>().prop_map(|commit_pending| Op::Promote { commit_pending }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn leader_never_expires_a_lease_early(
        checkpoint_interval_ms in prop_oneof![Just(0u64), 1_000u64..20_000],
        extend_ms in prop_oneof![Just(0u64), 0u64..2_000],
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let mut cluster = Cluster::new(checkpoint_interval_ms, extend_ms);
        for op in ops {
            cluster.step(op);
        }
    }

    #[test]
    fn store_follows_events_and_snapshot_round_trips(ops in prop::collection::vec(store_op(), 1..120)) {
        let mut store = LeaseStore::new();
        // What mvcc would hold: key -> lease of its live version.
        let mut key_lease: BTreeMap<u8, i64> = BTreeMap::new();
        for op in ops {
            apply_store_op(&mut store, &mut key_lease, op);
            store.check_invariants().unwrap();
            for (id, lease) in store.iter() {
                let expected: Vec<Vec<u8>> =
                    key_lease.iter().filter(|(_, l)| **l == id).map(|(k, _)| vec![*k]).collect();
                prop_assert_eq!(lease.keys().iter().cloned().collect::<Vec<_>>(), expected);
            }
        }
        let bytes = store.encode_snapshot();
        prop_assert_eq!(LeaseStore::decode_snapshot(&bytes), Ok(store.clone()));
        let via_serde: LeaseStore = bincode::deserialize(&bincode::serialize(&store).unwrap()).unwrap();
        prop_assert_eq!(via_serde, store);
    }
}

#[derive(Clone, Debug)]
enum StoreOp {
    Grant { id: i64, ttl_s: i64 },
    Revoke { id: i64 },
    Put { key: u8, lease: i64 },
    Delete { key: u8 },
    Checkpoint { id: i64, remaining_ttl_s: i64 },
}

fn store_op() -> impl Strategy<Value = StoreOp> {
    let id = -3i64..6;
    prop_oneof![
        2 => (id.clone(), -2i64..20).prop_map(|(id, ttl_s)| StoreOp::Grant { id, ttl_s }),
        1 => id.clone().prop_map(|id| StoreOp::Revoke { id }),
        4 => (0u8..8, id.clone()).prop_map(|(key, lease)| StoreOp::Put { key, lease }),
        2 => (0u8..8).prop_map(|key| StoreOp::Delete { key }),
        1 => (id, -1i64..20).prop_map(|(id, remaining_ttl_s)| StoreOp::Checkpoint { id, remaining_ttl_s }),
    ]
}

fn apply_store_op(store: &mut LeaseStore, key_lease: &mut BTreeMap<u8, i64>, op: StoreOp) {
    match op {
        StoreOp::Grant { id, ttl_s } => {
            let existed = store.contains(id);
            match store.grant(id, ttl_s, MIN_TTL_S) {
                Ok(granted) => assert_eq!(granted, ttl_s.max(MIN_TTL_S)),
                Err(e) => assert_eq!(e, if id == 0 { LeaseError::NotFound } else { LeaseError::Exists }),
            }
            assert!(existed || id == 0 || store.contains(id));
        }
        StoreOp::Revoke { id } => match store.revoke(id) {
            Ok(keys) => {
                let expected: Vec<Vec<u8>> =
                    key_lease.iter().filter(|(_, l)| **l == id).map(|(k, _)| vec![*k]).collect();
                assert_eq!(keys, expected);
                // The apply layer deletes them; the events detach from the gone lease.
                for key in keys {
                    store.on_delete(&key, key_lease.remove(&key[0]).unwrap_or(0));
                }
            }
            Err(e) => assert_eq!(e, LeaseError::NotFound),
        },
        StoreOp::Put { key, lease } => {
            let prev = key_lease.get(&key).copied().unwrap_or(0);
            if lease != 0 && !store.contains(lease) {
                let before = store.clone();
                assert_eq!(store.on_put(&[key], lease, prev), Err(LeaseError::NotFound));
                assert_eq!(*store, before);
            } else {
                store.on_put(&[key], lease, prev).unwrap();
                key_lease.insert(key, lease);
            }
        }
        StoreOp::Delete { key } => {
            if let Some(prev) = key_lease.remove(&key) {
                store.on_delete(&[key], prev);
            }
        }
        StoreOp::Checkpoint { id, remaining_ttl_s } => {
            assert_eq!(store.checkpoint(id, remaining_ttl_s), store.contains(id));
        }
    }
}
