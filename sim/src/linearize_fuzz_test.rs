//! Generated histories. [`generate`] runs clients concurrently against the model
//! itself: each op takes effect at one instant strictly between its invocation and its
//! return, so the history is linearizable by construction. Some clients give up
//! (unknown outcome) before or after their op took effect, and an op given up on may
//! still take effect later, or never; a few ops fail without effect. The checker must
//! accept every such history, and reject mutations that make one impossible.
//!
//! Seeded with SplitMix64 rather than proptest: the sim crate runs under madsim, and
//! a failing seed is printed for replay (`LINZ_SEED=<seed> cargo test ...`).
//!
//! Performance runs are `#[ignore]`d; run them in release:
//! `cargo test --release linearize_fuzz_test::perf -- --ignored --nocapture`.

use std::time::Instant;

use crate::history::{Compare, Op, Outcome, Request, Response};
use crate::linearize::{check, Config, Guarantee, Verdict};
use crate::model::{mix64, KvState};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn percent(&mut self, p: u64) -> bool {
        self.next() % 100 < p
    }
}

/// What a generated history looks like.
#[derive(Clone, Copy, Debug)]
pub(super) struct Shape {
    pub ops: usize,
    pub clients: usize,
    pub keys: usize,
    /// Chance that a client gives up on an op (before or after it took effect).
    pub unknown_pct: u64,
    /// Chance that an op given up on before taking effect may still take effect later.
    pub late_pct: u64,
    /// Chance that an op given up on before taking effect is recorded as failed.
    pub fail_pct: u64,
}

struct Flight {
    op: usize,
    response: Option<Response>,
}

struct Gen<'s> {
    rng: Rng,
    shape: &'s Shape,
    state: KvState,
    now: u64,
    ops: Vec<Op>,
    values: usize,
    flights: Vec<Option<Flight>>,
    /// Given up on, not yet taken effect, may still.
    limbo: Vec<usize>,
}

pub(super) fn generate(seed: u64, shape: &Shape) -> Vec<Op> {
    let mut g = Gen {
        rng: Rng(seed),
        shape,
        state: KvState::new(),
        now: 0,
        ops: vec![],
        values: 0,
        flights: (0..shape.clients).map(|_| None).collect(),
        limbo: vec![],
    };
    while g.ops.len() < shape.ops || g.flights.iter().any(Option::is_some) {
        g.now += 1 + g.rng.below(3) as u64;
        let c = g.rng.below(shape.clients);
        g.step_client(c);
        if !g.limbo.is_empty() && g.rng.percent(10) {
            let op = g.limbo.swap_remove(g.rng.below(g.limbo.len()));
            if g.rng.percent(50) {
                g.apply(op);
            }
        }
    }
    g.ops
}

impl Gen<'_> {
    fn apply(&mut self, op: usize) -> Response {
        self.state.apply(&self.ops[op].request)
    }

    fn step_client(&mut self, c: usize) {
        let (unknown, late, fail) = (self.shape.unknown_pct, self.shape.late_pct, self.shape.fail_pct);
        match self.flights[c].take() {
            None if self.ops.len() < self.shape.ops => self.invoke(c),
            None => {}
            Some(Flight { op, response: None }) if self.rng.percent(unknown) => {
                if self.rng.percent(fail) {
                    self.finish(op, Outcome::Fail { reason: "rejected".into() });
                } else {
                    self.finish(op, Outcome::Unknown { reason: "timeout before effect".into() });
                    if self.rng.percent(late) {
                        self.limbo.push(op);
                    }
                }
            }
            Some(Flight { op, response: None }) => {
                let response = self.apply(op);
                self.flights[c] = Some(Flight { op, response: Some(response) });
            }
            Some(Flight { op, response: Some(r) }) => {
                let outcome = if self.rng.percent(unknown) {
                    Outcome::Unknown { reason: "timeout".into() }
                } else {
                    Outcome::Ok(r)
                };
                self.finish(op, outcome);
            }
        }
    }

    fn invoke(&mut self, c: usize) {
        let request = self.request();
        let op = Op {
            client: c as u64,
            invoke_ns: self.now,
            return_ns: self.now,
            request,
            outcome: Outcome::Unknown { reason: "in flight".into() },
        };
        self.ops.push(op);
        self.flights[c] = Some(Flight { op: self.ops.len() - 1, response: None });
    }

    fn finish(&mut self, op: usize, outcome: Outcome) {
        self.ops[op].return_ns = self.now;
        self.ops[op].outcome = outcome;
    }

    fn key(&mut self) -> Vec<u8> {
        format!("k{}", self.rng.below(self.shape.keys)).into_bytes()
    }

    fn value(&mut self) -> Vec<u8> {
        self.values += 1;
        format!("v{}", self.values).into_bytes()
    }

    fn request(&mut self) -> Request {
        let key = self.key();
        match self.rng.below(20) {
            0..=4 => Request::Get { key },
            5..=6 => Request::Range { prefix: if self.rng.percent(50) { vec![] } else { key } },
            7..=11 => Request::Put { key, value: self.value() },
            12..=13 => Request::Delete { key },
            14..=17 => self.cas(key),
            _ => {
                let mut kvs: Vec<(Vec<u8>, Vec<u8>)> = vec![];
                for _ in 0..1 + self.rng.below(3) {
                    let (k, v) = (self.key(), self.value());
                    if !kvs.iter().any(|(have, _)| *have == k) {
                        kvs.push((k, v));
                    }
                }
                Request::PutMany { kvs }
            }
        }
    }

    /// A CAS whose compare often holds at invocation time.
    fn cas(&mut self, key: Vec<u8>) -> Request {
        let now = self.state.get(&key);
        let compare = match (self.rng.below(4), now) {
            (0, _) => Compare::ModRevision(self.rng.below(self.state.revision() as usize + 1) as i64),
            (1, Some(kv)) => Compare::Value(kv.value),
            (1, None) => Compare::Value(b"v1".to_vec()),
            (_, kv) => Compare::ModRevision(kv.map_or(0, |kv| kv.mod_revision)),
        };
        Request::Cas { key, compare, value: self.value() }
    }
}

fn shape_for(seed: u64) -> Shape {
    let mut rng = Rng(seed ^ 0xabc);
    Shape {
        ops: 20 + rng.below(200),
        clients: 1 + rng.below(6),
        keys: 1 + rng.below(6),
        unknown_pct: [0, 5, 15, 30][rng.below(4)],
        late_pct: [0, 50, 100][rng.below(3)],
        fail_pct: [0, 10][rng.below(2)],
    }
}

/// `LINZ_SEED=s` replays one seed; `LINZ_SEEDS=n` runs n seeds (default 300).
fn seeds() -> Vec<u64> {
    let var = |name| std::env::var(name).ok().and_then(|s| s.parse().ok());
    match (var("LINZ_SEED"), var("LINZ_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, n) => (0..n.unwrap_or(300)).collect(),
    }
}

#[test]
fn generated_histories_are_linearizable() {
    for seed in seeds() {
        let shape = shape_for(seed);
        let h = generate(seed, &shape);
        let verdict = check(&h, &Config::default());
        assert!(verdict.is_linearizable(), "seed {seed} {shape:?}: {verdict:#?}\nhistory: {h:#?}");
    }
}

#[test]
fn generation_is_deterministic_and_has_every_outcome() {
    let shape = Shape { ops: 500, clients: 5, keys: 4, unknown_pct: 20, late_pct: 50, fail_pct: 10 };
    let h = generate(7, &shape);
    assert_eq!(h, generate(7, &shape));
    let count = |f: fn(&Outcome) -> bool| h.iter().filter(|op| f(&op.outcome)).count();
    assert!(count(|o| matches!(o, Outcome::Ok(_))) > 300);
    assert!(count(|o| matches!(o, Outcome::Unknown { .. })) > 30);
    assert!(count(|o| matches!(o, Outcome::Fail { .. })) > 0);
    assert!(check(&h, &Config::default()).stats().gaps_filled > 0, "some unknown writes took effect");
}

/// Ways to break a history that make it non-linearizable for sure.
#[derive(Clone, Copy, Debug)]
enum Mutation {
    /// A read returns a value no op ever wrote.
    NeverWrittenValue,
    /// A write gets another acknowledged write's revision.
    DuplicateRevision,
    /// A read claims a revision more writes than exist would be needed to reach.
    UnreachableRevision,
    /// A read invoked after a write returned claims the revision before that write.
    RevisionBeforeCompletedWrite,
}

fn acked(h: &[Op], pick: impl Fn(&Op) -> bool) -> Vec<usize> {
    (0..h.len()).filter(|&i| h[i].response().is_some() && pick(&h[i])).collect()
}

fn response_mut(op: &mut Op) -> &mut Response {
    match &mut op.outcome {
        Outcome::Ok(r) => r,
        _ => unreachable!("picked acknowledged ops only"),
    }
}

/// Apply `m` if the history has what it needs; the guarantee then expected, if exact.
fn mutate(h: &mut [Op], m: Mutation, rng: &mut Rng) -> Option<Option<Guarantee>> {
    let read_only = |op: &Op| !op.claims_write() && op.request.is_read_only();
    match m {
        Mutation::NeverWrittenValue => {
            let reads = acked(h, |op| !op.response().is_some_and(|r| r.kvs.is_empty()));
            let i = *reads.get(rng.below(reads.len()))?;
            let kvs = &mut response_mut(&mut h[i]).kvs;
            let j = rng.below(kvs.len());
            kvs[j].value = b"never-written".to_vec();
            Some(Some(Guarantee::PhantomRead))
        }
        Mutation::DuplicateRevision => {
            let writes = acked(h, Op::claims_write);
            let (a, b) = (*writes.get(rng.below(writes.len()))?, *writes.get(rng.below(writes.len()))?);
            if a == b {
                return None;
            }
            response_mut(&mut h[b]).revision = h[a].response()?.revision;
            Some(Some(Guarantee::DuplicateRevision))
        }
        Mutation::UnreachableRevision => {
            let reads = acked(h, read_only);
            let i = *reads.get(rng.below(reads.len()))?;
            let writers = h.iter().filter(|op| !op.request.is_read_only()).count() as i64;
            response_mut(&mut h[i]).revision = 1 + writers + 1;
            Some(None)
        }
        Mutation::RevisionBeforeCompletedWrite => {
            let writes = acked(h, Op::claims_write);
            let w = *writes.get(rng.below(writes.len()))?;
            let after = acked(h, |op| read_only(op) && op.invoke_ns > h[w].return_ns);
            let r = *after.get(rng.below(after.len()))?;
            response_mut(&mut h[r]).revision = h[w].response()?.revision - 1;
            Some(Some(Guarantee::StaleRead))
        }
    }
}

#[test]
fn mutated_histories_are_rejected() {
    let all = [
        Mutation::NeverWrittenValue,
        Mutation::DuplicateRevision,
        Mutation::UnreachableRevision,
        Mutation::RevisionBeforeCompletedWrite,
    ];
    let mut applied = [0; 4];
    for seed in seeds() {
        let mut rng = Rng(seed ^ 0x77);
        let shape = shape_for(seed);
        for (k, &m) in all.iter().enumerate() {
            let mut h = generate(seed, &shape);
            let Some(expected) = mutate(&mut h, m, &mut rng) else { continue };
            applied[k] += 1;
            let verdict = check(&h, &Config::default());
            let Verdict::Violation(v) = &verdict else {
                panic!("seed {seed} {m:?}: expected a violation, got {verdict:#?}");
            };
            if let Some(g) = expected {
                assert_eq!(v.guarantee, g, "seed {seed} {m:?}:\n{v}");
            }
        }
    }
    if seeds().len() > 1 {
        assert!(applied.iter().all(|&n| n > 50), "mutations applied: {applied:?}");
    }
}

#[test]
fn two_thousand_ops() {
    let shape = Shape { ops: 2_000, clients: 5, keys: 8, unknown_pct: 5, late_pct: 50, fail_pct: 10 };
    let h = generate(11, &shape);
    assert!(check(&h, &Config::default()).is_linearizable());
}

fn timed(name: &str, h: &[Op]) -> Verdict {
    let start = Instant::now();
    let verdict = check(h, &Config::default());
    let kind = match &verdict {
        Verdict::Linearizable(_) => "linearizable".to_string(),
        Verdict::Violation(v) => format!("violation ({})", v.guarantee),
        Verdict::Unknown { reason, .. } => reason.clone(),
    };
    println!("{name}: {} ops -> {kind} in {:?}; {:?}", h.len(), start.elapsed(), verdict.stats());
    verdict
}

#[test]
#[ignore = "performance: run in release with --ignored --nocapture"]
fn perf() {
    for (ops, unknown_pct, late_pct) in [(5_000, 5, 50), (5_000, 20, 50), (10_000, 10, 100), (10_000, 20, 50)]
    {
        let shape = Shape { ops, clients: 5, keys: 8, unknown_pct, late_pct, fail_pct: 5 };
        for seed in 0..3 {
            let mut h = generate(seed, &shape);
            let name = format!("{ops} ops, {unknown_pct}% unknown, {late_pct}% late, seed {seed}");
            assert!(timed(&name, &h).is_linearizable());
            let mut rng = Rng(seed);
            if mutate(&mut h, Mutation::RevisionBeforeCompletedWrite, &mut rng).is_some() {
                assert!(timed(&format!("{name}, stale read"), &h).violation().is_some());
            }
        }
    }
}

/// Seeds per unknown rate: how many decide, and the slowest check.
#[test]
#[ignore = "performance: run in release with --ignored --nocapture"]
fn perf_sweep() {
    for (unknown_pct, late_pct) in [(5, 50), (10, 100), (20, 50), (30, 50)] {
        let shape = Shape { ops: 5_000, clients: 5, keys: 8, unknown_pct, late_pct, fail_pct: 5 };
        let (mut decided, mut slowest, mut total) = (0, std::time::Duration::ZERO, std::time::Duration::ZERO);
        for seed in 100..120 {
            let h = generate(seed, &shape);
            let start = Instant::now();
            let verdict = check(&h, &Config::default());
            let took = start.elapsed();
            assert!(verdict.violation().is_none(), "seed {seed}: {verdict:?}");
            decided += usize::from(verdict.is_linearizable());
            slowest = slowest.max(took);
            total += took;
        }
        println!("5000 ops, {unknown_pct}% unknown, {late_pct}% late: {decided}/20 linearizable, mean {:?}, max {slowest:?}", total / 20);
    }
}
