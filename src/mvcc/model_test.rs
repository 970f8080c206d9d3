//! Model-based test: random sequences of put / delete_range / txn / compact / range on
//! a four-key space, run against [`KvStore`] and against a deliberately naive
//! reference model that keeps a full copy of the visible key space for every
//! revision. Every response (errors included), every event list and both revision
//! counters must agree after every step; after every step, every revision is read
//! back (Compacted below the compaction, the model's copy at or above it) and
//! compaction must have dropped exactly the versions no read can reach. Halfway
//! through, a replica is restored from a snapshot and must end up identical.
//!
//! On failure proptest prints the minimal op sequence; rerun with
//! `cargo test mvcc::model_test` (the seed is kept in proptest-regressions/).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::error::{Error, Result};
use crate::mvcc::*;

/// Visible key space at one revision.
type State = BTreeMap<Vec<u8>, KeyValue>;

/// Lease 1 exists, lease 2 does not.
fn lease_ok(id: i64) -> bool {
    id == 1
}

// ---------------------------------------------------------------- reference model

struct Model {
    /// `states[i]` is the key space at revision `i + 1`.
    states: Vec<State>,
    compact: i64,
}

fn in_span(k: &[u8], key: &[u8], end: &[u8]) -> bool {
    match end {
        [] => k == key,
        [0] => k >= key,
        _ => key <= k && k < end,
    }
}

fn select<'a>(state: &'a State, key: &[u8], end: &[u8]) -> Vec<&'a KeyValue> {
    state.iter().filter(|(k, _)| in_span(k, key, end)).map(|(_, v)| v).collect()
}

fn model_range(state: &State, req: &RangeRequest) -> RangeResponse {
    let matching = select(state, &req.key, &req.range_end);
    let count = matching.len() as i64;
    if req.count_only {
        return RangeResponse { kvs: vec![], more: false, count };
    }
    let no_filters =
        [req.min_mod_revision, req.max_mod_revision, req.min_create_revision, req.max_create_revision]
            .iter()
            .all(|&x| x == 0);
    let pushdown = req.sort_order == SortOrder::None && no_filters && req.limit > 0;
    let take = if pushdown { req.limit as usize + 1 } else { usize::MAX };
    let mut kvs: Vec<KeyValue> = matching.into_iter().take(take).cloned().collect();
    kvs.retain(|kv| {
        (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
            && (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
            && (req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision)
            && (req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision)
    });
    let order = match (req.sort_order, req.sort_target) {
        (SortOrder::None, SortTarget::Key) => SortOrder::None,
        (SortOrder::None, _) => SortOrder::Ascend,
        (o, _) => o,
    };
    let sort_key = |kv: &KeyValue| -> (i64, Vec<u8>) {
        match req.sort_target {
            SortTarget::Key => (0, kv.key.clone()),
            SortTarget::Version => (kv.version, vec![]),
            SortTarget::Create => (kv.create_revision, vec![]),
            SortTarget::Mod => (kv.mod_revision, vec![]),
            SortTarget::Value => (0, kv.value.clone()),
        }
    };
    match order {
        SortOrder::Ascend => kvs.sort_by_key(sort_key),
        SortOrder::Descend => kvs.sort_by_key(|kv| std::cmp::Reverse(sort_key(kv))),
        SortOrder::None => {}
    }
    let mut more = false;
    if req.limit > 0 && kvs.len() > req.limit as usize {
        kvs.truncate(req.limit as usize);
        more = true;
    }
    if req.keys_only {
        kvs.iter_mut().for_each(|kv| kv.value.clear());
    }
    RangeResponse { kvs, more, count }
}

fn model_check_put(p: &PutRequest) -> Result<()> {
    if p.key.is_empty() {
        return Err(Error::KeyNotProvided);
    }
    if p.ignore_value && !p.value.is_empty() {
        return Err(Error::InvalidArgument("etcdserver: value is provided".into()));
    }
    if p.ignore_lease && p.lease != 0 {
        return Err(Error::InvalidArgument("etcdserver: lease is provided".into()));
    }
    Ok(())
}

fn model_check_txn_request(t: &TxnRequest, max_ops: usize) -> Result<()> {
    let opc = t.compare.len().max(t.success.len()).max(t.failure.len());
    if opc > max_ops {
        return Err(Error::TooManyOps);
    }
    if t.compare.iter().any(|c| c.key.is_empty()) {
        return Err(Error::KeyNotProvided);
    }
    for op in t.success.iter().chain(&t.failure) {
        match op {
            RequestOp::Range(r) if r.key.is_empty() => return Err(Error::KeyNotProvided),
            RequestOp::DeleteRange(d) if d.key.is_empty() => return Err(Error::KeyNotProvided),
            RequestOp::Put(p) => model_check_put(p)?,
            RequestOp::Txn(n) => model_check_txn_request(n, max_ops - opc)?,
            _ => {}
        }
    }
    Ok(())
}

type Dels = Vec<(Vec<u8>, Vec<u8>)>;

fn hits(dels: &Dels, k: &[u8]) -> bool {
    dels.iter().any(|(b, e)| b.as_slice() <= k && k < e.as_slice())
}

/// etcd's checkIntervals, naively: deletes as literal [key, end) string intervals.
fn model_intervals(ops: &[RequestOp]) -> Result<(BTreeSet<Vec<u8>>, Dels)> {
    let mut dels: Dels = Vec::new();
    for op in ops {
        if let RequestOp::DeleteRange(d) = op {
            let end =
                if d.range_end.is_empty() { [d.key.as_slice(), &[0]].concat() } else { d.range_end.clone() };
            dels.push((d.key.clone(), end));
        }
    }
    let mut puts = BTreeSet::new();
    for op in ops {
        let RequestOp::Txn(t) = op else { continue };
        let (then_puts, then_dels) = model_intervals(&t.success)?;
        let (else_puts, else_dels) = model_intervals(&t.failure)?;
        for k in &then_puts {
            if puts.contains(k) || hits(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &else_puts {
            if (puts.contains(k) && !then_puts.contains(k)) || hits(&dels, k) {
                return Err(Error::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(then_dels);
        dels.extend(else_dels);
    }
    for op in ops {
        let RequestOp::Put(p) = op else { continue };
        if puts.contains(&p.key) || hits(&dels, &p.key) {
            return Err(Error::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

fn model_compare(pre: &State, c: &Compare) -> bool {
    let kvs = select(pre, &c.key, &c.range_end);
    let one = |kv: &KeyValue| {
        let ord = match &c.target {
            CompareTarget::Version(x) => kv.version.cmp(x),
            CompareTarget::Create(x) => kv.create_revision.cmp(x),
            CompareTarget::Mod(x) => kv.mod_revision.cmp(x),
            CompareTarget::Lease(x) => kv.lease.cmp(x),
            CompareTarget::Value(x) => kv.value.cmp(x),
        };
        match c.result {
            CompareResult::Equal => ord.is_eq(),
            CompareResult::NotEqual => ord.is_ne(),
            CompareResult::Greater => ord.is_gt(),
            CompareResult::Less => ord.is_lt(),
        }
    };
    if kvs.is_empty() {
        return !matches!(c.target, CompareTarget::Value(_)) && one(&KeyValue::default());
    }
    kvs.into_iter().all(one)
}

/// The branch a txn takes: every compare, nested ones too, sees the pre-txn state.
fn branch<'t>(pre: &State, t: &'t TxnRequest) -> (bool, &'t [RequestOp]) {
    if t.compare.iter().all(|c| model_compare(pre, c)) {
        (true, &t.success)
    } else {
        (false, &t.failure)
    }
}

fn model_put(work: &mut State, p: &PutRequest, main: i64, events: &mut Vec<Event>) -> Result<PutResponse> {
    let prev = work.get(&p.key).cloned();
    let Some(base) = prev.clone().or_else(|| (!p.ignore_value && !p.ignore_lease).then(KeyValue::default))
    else {
        return Err(Error::KeyNotFound);
    };
    let kv = KeyValue {
        key: p.key.clone(),
        create_revision: prev.as_ref().map_or(main, |kv| kv.create_revision),
        mod_revision: main,
        version: prev.as_ref().map_or(0, |kv| kv.version) + 1,
        value: if p.ignore_value { base.value } else { p.value.clone() },
        lease: if p.ignore_lease { base.lease } else { p.lease },
    };
    work.insert(p.key.clone(), kv.clone());
    events.push(Event { kind: EventType::Put, kv, prev_kv: prev.clone() });
    Ok(PutResponse { prev_kv: if p.prev_kv { prev } else { None } })
}

fn model_delete(
    work: &mut State,
    d: &DeleteRangeRequest,
    main: i64,
    events: &mut Vec<Event>,
) -> DeleteRangeResponse {
    let gone: Vec<KeyValue> = select(work, &d.key, &d.range_end).into_iter().cloned().collect();
    for kv in &gone {
        work.remove(&kv.key);
        let tomb = KeyValue { key: kv.key.clone(), mod_revision: main, ..KeyValue::default() };
        events.push(Event { kind: EventType::Delete, kv: tomb, prev_kv: Some(kv.clone()) });
    }
    DeleteRangeResponse { deleted: gone.len() as i64, prev_kvs: if d.prev_kv { gone } else { vec![] } }
}

impl Model {
    fn new() -> Self {
        Model { states: vec![State::new()], compact: -1 }
    }

    fn current(&self) -> i64 {
        self.states.len() as i64
    }

    fn state_at(&self, rev: i64) -> &State {
        &self.states[(rev - 1) as usize]
    }

    fn latest(&self) -> &State {
        self.states.last().unwrap()
    }

    fn commit(&mut self, work: State, events: &[Event]) {
        if !events.is_empty() {
            self.states.push(work);
        }
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        if req.key.is_empty() {
            return Err(Error::KeyNotProvided);
        }
        if req.revision > self.current() {
            return Err(Error::FutureRev);
        }
        let at = if req.revision <= 0 { self.current() } else { req.revision };
        if at < self.compact {
            return Err(Error::Compacted);
        }
        Ok(model_range(self.state_at(at), req))
    }

    fn put(&mut self, p: &PutRequest) -> Result<(PutResponse, Vec<Event>)> {
        model_check_put(p)?;
        if p.lease != 0 && !lease_ok(p.lease) {
            return Err(Error::LeaseNotFound);
        }
        let mut work = self.latest().clone();
        let mut events = vec![];
        let resp = model_put(&mut work, p, self.current() + 1, &mut events)?;
        self.commit(work, &events);
        Ok((resp, events))
    }

    fn delete(&mut self, d: &DeleteRangeRequest) -> Result<(DeleteRangeResponse, Vec<Event>)> {
        if d.key.is_empty() {
            return Err(Error::KeyNotProvided);
        }
        let mut work = self.latest().clone();
        let mut events = vec![];
        let resp = model_delete(&mut work, d, self.current() + 1, &mut events);
        self.commit(work, &events);
        Ok((resp, events))
    }

    fn compact(&mut self, rev: i64) -> Result<()> {
        if rev <= self.compact {
            return Err(Error::Compacted);
        }
        if rev > self.current() {
            return Err(Error::FutureRev);
        }
        self.compact = rev;
        Ok(())
    }

    fn txn(&mut self, t: &TxnRequest, max_ops: usize) -> Result<(TxnResponse, Vec<Event>)> {
        model_check_txn_request(t, max_ops)?;
        model_intervals(&t.success)?;
        model_intervals(&t.failure)?;
        let pre = self.latest().clone();
        self.check_puts(&pre, t)?;
        self.check_ranges(&pre, t)?;
        let mut work = pre.clone();
        let mut events = vec![];
        let resp = self.apply(&pre, &mut work, t, &mut events)?;
        self.commit(work, &events);
        Ok((resp, events))
    }

    fn check_puts(&self, pre: &State, t: &TxnRequest) -> Result<()> {
        for op in branch(pre, t).1 {
            match op {
                RequestOp::Txn(n) => self.check_puts(pre, n)?,
                RequestOp::Put(p) => {
                    if (p.ignore_value || p.ignore_lease) && !pre.contains_key(&p.key) {
                        return Err(Error::KeyNotFound);
                    }
                    if p.lease != 0 && !lease_ok(p.lease) {
                        return Err(Error::LeaseNotFound);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_ranges(&self, pre: &State, t: &TxnRequest) -> Result<()> {
        for op in branch(pre, t).1 {
            match op {
                RequestOp::Txn(n) => self.check_ranges(pre, n)?,
                RequestOp::Range(r) if r.revision != 0 && r.revision > self.current() => {
                    return Err(Error::FutureRev)
                }
                RequestOp::Range(r) if r.revision != 0 && r.revision < self.compact => {
                    return Err(Error::Compacted)
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn apply(
        &self,
        pre: &State,
        work: &mut State,
        t: &TxnRequest,
        events: &mut Vec<Event>,
    ) -> Result<TxnResponse> {
        let main = self.current() + 1;
        let (succeeded, ops) = branch(pre, t);
        let mut responses = vec![];
        for op in ops {
            responses.push(match op {
                RequestOp::Range(r) if r.revision > 0 => {
                    ResponseOp::Range(model_range(self.state_at(r.revision), r))
                }
                RequestOp::Range(r) => ResponseOp::Range(model_range(work, r)),
                RequestOp::Put(p) => ResponseOp::Put(model_put(work, p, main, events)?),
                RequestOp::DeleteRange(d) => ResponseOp::DeleteRange(model_delete(work, d, main, events)),
                RequestOp::Txn(n) => ResponseOp::Txn(self.apply(pre, work, n, events)?),
            });
        }
        Ok(TxnResponse { succeeded, responses })
    }
}

// ---------------------------------------------------------------- generated ops

/// Revision codes, resolved against the current revision when the op runs:
/// 99 = current + 1, 100 + k = current - k, anything else is literal.
fn resolve(code: i64, current: i64) -> i64 {
    match code {
        99 => current + 1,
        c if c >= 100 => current - (c - 100),
        c => c,
    }
}

fn resolve_txn(t: &mut TxnRequest, current: i64) {
    for op in t.success.iter_mut().chain(t.failure.iter_mut()) {
        match op {
            RequestOp::Range(r) => r.revision = resolve(r.revision, current),
            RequestOp::Txn(n) => resolve_txn(n, current),
            _ => {}
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put(PutRequest),
    Delete(DeleteRangeRequest),
    Txn(TxnRequest, usize),
    Compact(i64),
    Range(RangeRequest),
}

fn bytes_of(s: &'static str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![99 => prop::sample::select(vec!["a", "b", "c", "d", "e", "f"]), 1 => Just("")]
        .prop_map(bytes_of)
}

fn range_end() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec!["", "", "", "\0", "c", "e", "a", "b\0", "g"]).prop_map(bytes_of)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec!["", "x", "y"]).prop_map(bytes_of)
}

fn rev_code() -> impl Strategy<Value = i64> {
    prop_oneof![4 => Just(0i64), 1 => -3i64..=3, 4 => 100i64..106, 1 => Just(99i64)]
}

fn small_filter() -> impl Strategy<Value = i64> {
    prop_oneof![6 => Just(0i64), 1 => 1i64..12]
}

fn put_strategy() -> impl Strategy<Value = PutRequest> {
    let flag = || prop::bool::weighted(0.15);
    let lease = prop::sample::select(vec![0i64, 0, 0, 0, 1, 1, 2]);
    // `conflict` keeps a value / lease next to an ignore flag (an InvalidArgument).
    (key(), value(), lease, any::<bool>(), flag(), flag(), prop::bool::weighted(0.1)).prop_map(
        |(key, value, lease, prev_kv, ignore_value, ignore_lease, conflict)| PutRequest {
            key,
            value: if ignore_value && !conflict { vec![] } else { value },
            lease: if ignore_lease && !conflict { 0 } else { lease },
            prev_kv,
            ignore_value,
            ignore_lease,
        },
    )
}

fn delete_strategy() -> impl Strategy<Value = DeleteRangeRequest> {
    (key(), range_end(), any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

/// Txn deletes are mostly single keys: wide ones make most txns DuplicateKey.
fn txn_delete_strategy() -> impl Strategy<Value = DeleteRangeRequest> {
    let end = prop::sample::select(vec!["", "", "", "", "", "", "\0", "c", "b\0"]).prop_map(bytes_of);
    (key(), end, any::<bool>()).prop_map(|(key, range_end, prev_kv)| DeleteRangeRequest {
        key,
        range_end,
        prev_kv,
    })
}

fn range_strategy() -> impl Strategy<Value = RangeRequest> {
    let order =
        prop::sample::select(vec![SortOrder::None, SortOrder::None, SortOrder::Ascend, SortOrder::Descend]);
    let target = prop::sample::select(vec![
        SortTarget::Key,
        SortTarget::Key,
        SortTarget::Version,
        SortTarget::Create,
        SortTarget::Mod,
        SortTarget::Value,
    ]);
    let shape =
        (key(), range_end(), prop::sample::select(vec![-1i64, 0, 0, 1, 2, 3]), rev_code(), order, target);
    let flags = (prop::bool::weighted(0.2), prop::bool::weighted(0.1));
    let filters = (small_filter(), small_filter(), small_filter(), small_filter());
    (shape, flags, filters).prop_map(
        |((key, range_end, limit, revision, sort_order, sort_target), (k, c), f)| RangeRequest {
            key,
            range_end,
            limit,
            revision,
            sort_order,
            sort_target,
            serializable: false,
            keys_only: k,
            count_only: c,
            min_mod_revision: f.0,
            max_mod_revision: f.1,
            min_create_revision: f.2,
            max_create_revision: f.3,
        },
    )
}

fn compare_strategy() -> impl Strategy<Value = Compare> {
    let result = prop::sample::select(vec![
        CompareResult::Equal,
        CompareResult::NotEqual,
        CompareResult::Greater,
        CompareResult::Less,
    ]);
    let target = prop_oneof![
        (0i64..4).prop_map(CompareTarget::Version),
        (0i64..8).prop_map(CompareTarget::Create),
        (0i64..10).prop_map(CompareTarget::Mod),
        value().prop_map(CompareTarget::Value),
        (0i64..3).prop_map(CompareTarget::Lease),
    ];
    (key(), range_end(), result, target).prop_map(|(key, range_end, result, target)| Compare {
        result,
        target,
        key,
        range_end,
    })
}

fn txn_strategy() -> impl Strategy<Value = TxnRequest> {
    let leaf = prop_oneof![
        3 => put_strategy().prop_map(RequestOp::Put),
        1 => txn_delete_strategy().prop_map(RequestOp::DeleteRange),
        2 => range_strategy().prop_map(RequestOp::Range),
    ];
    let op = leaf.prop_recursive(2, 12, 4, |inner| {
        let txn = (
            prop::collection::vec(compare_strategy(), 0..3),
            prop::collection::vec(inner.clone(), 0..4),
            prop::collection::vec(inner, 0..3),
        );
        txn.prop_map(|(compare, success, failure)| RequestOp::Txn(TxnRequest { compare, success, failure }))
    });
    (
        prop::collection::vec(compare_strategy(), 0..3),
        prop::collection::vec(op.clone(), 0..4),
        prop::collection::vec(op, 0..3),
    )
        .prop_map(|(compare, success, failure)| TxnRequest { compare, success, failure })
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => put_strategy().prop_map(Op::Put),
        3 => delete_strategy().prop_map(Op::Delete),
        5 => (txn_strategy(), prop::sample::select(vec![3usize, 128, 128, 128, 128, 128, 128, 128])).prop_map(|(t, m)| Op::Txn(t, m)),
        2 => prop_oneof![4 => 100i64..106, 1 => Just(99i64), 1 => -2i64..=2].prop_map(Op::Compact),
        4 => range_strategy().prop_map(Op::Range),
    ]
}

// ---------------------------------------------------------------- the check

type Outcome = Result<(String, Vec<Event>)>;

fn show<T: std::fmt::Debug>(r: Result<(T, Vec<Event>)>) -> Outcome {
    r.map(|(resp, events)| (format!("{resp:?}"), events))
}

/// Run one op on the store and on the model, resolving revision codes first.
fn step(store: &mut KvStore, model: &mut Model, op: &Op) -> (Outcome, Outcome) {
    let current = model.current();
    match op.clone() {
        Op::Put(p) => (show(store.put(&p, &lease_ok)), show(model.put(&p))),
        Op::Delete(d) => (show(store.delete_range(&d)), show(model.delete(&d))),
        Op::Txn(mut t, max_ops) => {
            resolve_txn(&mut t, current);
            (show(store.txn(&t, max_ops, &lease_ok)), show(model.txn(&t, max_ops)))
        }
        Op::Compact(code) => {
            let rev = resolve(code, current);
            let unit = |r: Result<()>| r.map(|()| (String::new(), vec![]));
            (unit(store.compact(rev)), unit(model.compact(rev)))
        }
        Op::Range(mut r) => {
            r.revision = resolve(r.revision, current);
            let read = |r: Result<RangeResponse>| r.map(|resp| (format!("{resp:?}"), vec![]));
            (read(store.range(&r)), read(model.range(&r)))
        }
    }
}

/// Every revision reads back as the model says, and compaction kept exactly the
/// versions a read at or after the compaction revision can reach.
fn check_state(store: &KvStore, model: &Model) -> std::result::Result<(), TestCaseError> {
    prop_assert_eq!(store.current_revision(), model.current());
    prop_assert_eq!(store.compact_revision(), model.compact);
    for rev in 1..=model.current() {
        let got = store.range(&RangeRequest {
            key: vec![0],
            range_end: vec![0],
            revision: rev,
            ..Default::default()
        });
        if rev < model.compact {
            prop_assert_eq!(got, Err(Error::Compacted), "revision {}", rev);
        } else {
            let want: Vec<KeyValue> = model.state_at(rev).values().cloned().collect();
            prop_assert_eq!(got.map(|r| r.kvs), Ok(want), "revision {}", rev);
        }
    }
    if model.compact >= 1 {
        let below: BTreeSet<(Vec<u8>, i64, bool)> = store
            .stored_entries()
            .iter()
            .filter(|e| e.revision().main < model.compact)
            .map(|e| (e.key.to_vec(), e.revision().main, e.stored.tombstone))
            .collect();
        let reachable: BTreeSet<(Vec<u8>, i64, bool)> = model
            .state_at(model.compact)
            .values()
            .filter(|kv| kv.mod_revision < model.compact)
            .map(|kv| (kv.key.clone(), kv.mod_revision, false))
            .collect();
        prop_assert_eq!(below, reachable, "versions kept below compaction {}", model.compact);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 4096, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(ops in prop::collection::vec(op_strategy(), 1..40), restore_at in 0usize..40) {
        let mut store = KvStore::new();
        let mut model = Model::new();
        let mut replica: Option<KvStore> = None;
        for (i, op) in ops.iter().enumerate() {
            if i == restore_at {
                replica = Some(KvStore::decode_snapshot(&store.encode_snapshot()).unwrap());
            }
            if let Some(r) = replica.as_mut() {
                let mut shadow = Model { states: model.states.clone(), compact: model.compact };
                let (got, want) = step(r, &mut shadow, op);
                prop_assert_eq!(got, want, "replica, op #{}: {:?}", i, op);
            }
            let (got, want) = step(&mut store, &mut model, op);
            prop_assert_eq!(got, want, "op #{}: {:?}", i, op);
            check_state(&store, &model)?;
        }
        if let Some(r) = replica {
            prop_assert_eq!(r.hash(), store.hash());
            prop_assert_eq!(r, store.clone());
        }
        let back = KvStore::decode_snapshot(&store.encode_snapshot()).unwrap();
        prop_assert_eq!(back.hash_kv(0), store.hash_kv(0));
        prop_assert_eq!(back, store);
    }
}
