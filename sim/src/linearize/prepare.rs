//! Indexing a history for the search, and the direct checks that need no search.
//!
//! Revisions make most of a history's order explicit: an acknowledged write owns the
//! revision in its header, a read sits at the revision it read at. The direct checks
//! use only that (each one is a proof of non-linearizability, never a heuristic):
//!
//! - **duplicate revision**: two acknowledged writes claim the same revision;
//! - **real time vs revisions**: op A returned before op B was invoked, yet B's
//!   revision places it before A (a *stale read* when B is a read);
//! - **observations**: a kv a read returned says "the write at `mod_revision` set
//!   key=value" and "the write at `create_revision` created key"; the write claiming
//!   that revision must do so, and some op must be able to (else *phantom read*);
//! - **frozen and alive intervals**: a kv read at revision h with mod_revision m says
//!   the key was not modified in (m, h]; with create_revision c, not deleted in
//!   (c, h]. An acknowledged write of the key inside is a *stale read* or *lost write*.
//!
//! A txn that succeeded on `mod_revision == m` is an observation too: the key was
//! last modified at m, and not since.
//!
//! The search reuses the index: `need`/`touches` say what the write at a revision
//! must do, the intervals which pending (unknown) writes cannot sit at a revision,
//! the per-key [`timeline`](super::timeline)s what each key must become next.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::timeline::{self, Seen, Timeline};
use super::{Finding, Guarantee};
use crate::history::{show, Compare, KeyValue, Op, Outcome, Request, Response, Revision};
use crate::model::KvState;

/// How the checker treats one op of a history cut at `upto_ns`.
pub(super) enum Role {
    /// Returned (by the cut): must be linearized.
    Acked,
    /// May have taken effect, or not: a write that is unknown, or acknowledged after
    /// the cut.
    Pending,
    /// Cannot matter: failed, invoked after the cut, or a read without a response.
    Ignored,
}

pub(super) fn role(op: &Op, upto_ns: u64) -> Role {
    if op.invoke_ns > upto_ns {
        return Role::Ignored;
    }
    match &op.outcome {
        Outcome::Ok(_) if op.return_ns <= upto_ns => Role::Acked,
        Outcome::Fail { .. } => Role::Ignored,
        _ if op.request.is_read_only() => Role::Ignored,
        _ => Role::Pending,
    }
}

/// Left-open revision intervals `(lo, hi]` for one key, each from one observing op.
#[derive(Default)]
pub(super) struct Intervals {
    spans: Vec<(Revision, Revision, usize)>,
    /// `reach[i]`: the largest `hi` (and its op) among `spans[..=i]`.
    reach: Vec<(Revision, usize)>,
}

impl Intervals {
    fn add(&mut self, lo: Revision, hi: Revision, op: usize) {
        if lo < hi {
            self.spans.push((lo, hi, op));
        }
    }

    fn seal(&mut self) {
        self.spans.sort_unstable();
        let mut best = (Revision::MIN, 0);
        self.reach = self
            .spans
            .iter()
            .map(|&(_, hi, op)| {
                if hi > best.0 {
                    best = (hi, op);
                }
                best
            })
            .collect();
    }

    /// The op whose observation covers revision `g`, if any.
    pub(super) fn covering(&self, g: Revision) -> Option<usize> {
        let n = self.spans.partition_point(|s| s.0 < g);
        let (hi, op) = *self.reach.get(n.checked_sub(1)?)?;
        (hi >= g).then_some(op)
    }
}

/// A history indexed by revision.
pub(super) struct Prepared<'h> {
    pub history: &'h [Op],
    pub initial: &'h KvState,
    pub acked: Vec<usize>,
    /// The acknowledged write that produced each revision.
    pub write_at: BTreeMap<Revision, usize>,
    /// Acknowledged ops that changed nothing, by the revision they saw.
    pub reads_at: BTreeMap<Revision, Vec<usize>>,
    /// Pending writes, ordered by `lo`.
    pub pending: Vec<usize>,
    /// `lo[i]`: the first revision `pending[i]` may produce (real time).
    pub lo: Vec<Revision>,
    /// kvs (with their observing op) that the write at a revision must leave behind.
    pub need: BTreeMap<Revision, Vec<(usize, &'h KeyValue)>>,
    /// Pending writes (indexes into `pending`) that reads show must take effect by a
    /// revision (the sole kind of writer of a (key, value) a read returned), ordered
    /// by that deadline; `deadlines` parallel.
    pub urgent: Vec<usize>,
    /// `pinned[k]`: the only gap where `pending[k]` can be (see `pin_pending`).
    pub pinned: Vec<Option<Revision>>,
    pub deadlines: Vec<Revision>,
    /// Pending writes (indexes into `pending`) by a key they put, newest first.
    pub by_key: HashMap<&'h [u8], Vec<usize>>,
    /// Pending deletes (indexes into `pending`) by key, newest first.
    pub deleters: HashMap<&'h [u8], Vec<usize>>,
    /// Keys some pending write puts or deletes and some op observed, sorted.
    pub watched: Vec<&'h [u8]>,
    /// Pending writes (indexes into `pending`) by a (key, value) they put, newest first.
    pub by_put: HashMap<(&'h [u8], &'h [u8]), Vec<usize>>,
    /// Keys that the write at a revision must put (or create).
    pub touches: BTreeMap<Revision, Vec<Touch<'h>>>,
    /// Per key: revisions at which it was not modified / not deleted.
    pub frozen: HashMap<&'h [u8], Intervals>,
    pub alive: HashMap<&'h [u8], Intervals>,
    /// Per key: what acknowledged ops say about it over revisions.
    pub timelines: HashMap<&'h [u8], Timeline<'h>>,
    /// Revisions in (initial, last_revision] no acknowledged write claims, ascending.
    pub gaps: Vec<Revision>,
    /// The highest revision any acknowledged op is at.
    pub last_revision: Revision,
}

/// The write at some revision put `key` (and created it, if `created`): so says `op`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Touch<'h> {
    pub op: usize,
    pub key: &'h [u8],
    pub created: bool,
}

fn finding(guarantee: Guarantee, detail: String, ops: Vec<usize>) -> Finding {
    Finding { guarantee, detail, ops }
}

impl<'h> Prepared<'h> {
    pub(super) fn op(&self, i: usize) -> &'h Op {
        &self.history[i]
    }

    pub(super) fn response(&self, i: usize) -> &'h Response {
        self.history[i].response().expect("acknowledged op has a response")
    }

    pub(super) fn revision(&self, i: usize) -> Revision {
        self.response(i).revision
    }

    /// Whether `request` could be the write at `gap`, by what reads observed: it
    /// writes what they say the write at `gap` wrote, and no key they saw unmodified
    /// (or, for a delete, alive) across `gap`.
    pub(super) fn fits(&self, gap: Revision, request: &Request) -> bool {
        let needs = self.need.get(&gap).into_iter().flatten().all(|(_, kv)| request.puts(&kv.key, &kv.value));
        let touches = self.touches.get(&gap).into_iter().flatten().all(|t| request.puts_key(t.key));
        let deletes = matches!(request, Request::Delete { .. });
        needs
            && touches
            && request.written_keys().into_iter().all(|key| {
                let frozen = self.frozen.get(key).and_then(|f| f.covering(gap));
                let alive = self.alive.get(key).and_then(|a| a.covering(gap)).filter(|_| deletes);
                frozen.or(alive).is_none()
            })
    }

    /// Pending writes (indexes into `pending`) that put `value` at `key`.
    pub(super) fn pending_puts(&self, key: &'h [u8], value: &'h [u8]) -> &[usize] {
        self.by_put.get(&(key, value)).map_or(&[], Vec::as_slice)
    }

    /// Order position: the write producing revision r sits before the reads at r.
    fn slot(&self, i: usize) -> (Revision, u8) {
        (self.revision(i), u8::from(!self.op(i).claims_write()))
    }
}

/// Index `history` (cut at `upto_ns`) and run the direct checks.
pub(super) fn prepare<'h>(
    history: &'h [Op],
    initial: &'h KvState,
    upto_ns: u64,
) -> Result<Prepared<'h>, Finding> {
    let mut p = Prepared {
        history,
        initial,
        acked: vec![],
        write_at: BTreeMap::new(),
        reads_at: BTreeMap::new(),
        pending: vec![],
        lo: vec![],
        need: BTreeMap::new(),
        touches: BTreeMap::new(),
        by_put: HashMap::new(),
        by_key: HashMap::new(),
        deleters: HashMap::new(),
        watched: vec![],
        urgent: vec![],
        pinned: vec![],
        deadlines: vec![],
        frozen: HashMap::new(),
        alive: HashMap::new(),
        timelines: HashMap::new(),
        gaps: vec![],
        last_revision: initial.revision(),
    };
    for (i, op) in history.iter().enumerate() {
        match role(op, upto_ns) {
            Role::Acked => p.acked.push(i),
            Role::Pending => p.pending.push(i),
            Role::Ignored => continue,
        }
        well_formed(&p, i)?;
    }
    index_revisions(&mut p)?;
    check_real_time(&p)?;
    order_pending(&mut p);
    index_observations(&mut p)?;
    check_claimed_writes(&p)?;
    check_needs(&p)?;
    p.gaps = (initial.revision() + 1..=p.last_revision).filter(|r| !p.write_at.contains_key(r)).collect();
    check_gaps(&p)?;
    Ok(p)
}

fn well_formed(p: &Prepared, i: usize) -> Result<(), Finding> {
    let op = p.op(i);
    if let Request::PutMany { kvs } = &op.request {
        let mut keys: Vec<&[u8]> = kvs.iter().map(|(k, _)| k.as_slice()).collect();
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() || keys.len() != kvs.len() {
            let detail = format!("op #{i}: put_many needs distinct keys, at least one");
            return Err(finding(Guarantee::MalformedHistory, detail, vec![i]));
        }
    }
    let Some(r) = op.response() else { return Ok(()) };
    if op.return_ns < op.invoke_ns {
        let detail =
            format!("op #{i} returned at {} before it was invoked at {}", op.return_ns, op.invoke_ns);
        return Err(finding(Guarantee::MalformedHistory, detail, vec![i]));
    }
    let floor = p.initial.revision() + Revision::from(op.claims_write());
    if r.revision < floor {
        let detail = format!(
            "op #{i} is at revision {}, below the store's starting revision {}",
            r.revision,
            p.initial.revision()
        );
        return Err(finding(Guarantee::RevisionOrder, detail, vec![i]));
    }
    Ok(())
}

fn index_revisions(p: &mut Prepared) -> Result<(), Finding> {
    for idx in 0..p.acked.len() {
        let i = p.acked[idx];
        let rev = p.revision(i);
        p.last_revision = p.last_revision.max(rev);
        if !p.op(i).claims_write() {
            p.reads_at.entry(rev).or_default().push(i);
        } else if let Some(&j) = p.write_at.get(&rev) {
            let detail = format!("ops #{j} and #{i} both changed the store and both got revision {rev}");
            return Err(finding(Guarantee::DuplicateRevision, detail, vec![j, i]));
        } else {
            p.write_at.insert(rev, i);
        }
    }
    Ok(())
}

/// A returned before B was invoked, so A precedes B: B's slot must not be below A's.
fn check_real_time(p: &Prepared) -> Result<(), Finding> {
    let mut by_invoke = p.acked.clone();
    by_invoke.sort_by_key(|&i| p.op(i).invoke_ns);
    let mut by_return = p.acked.clone();
    by_return.sort_by_key(|&i| p.op(i).return_ns);
    let mut done = 0;
    let mut latest: Option<usize> = None;
    for &b in &by_invoke {
        while done < by_return.len() && p.op(by_return[done]).return_ns < p.op(b).invoke_ns {
            let a = by_return[done];
            if latest.is_none_or(|l| p.slot(a) > p.slot(l)) {
                latest = Some(a);
            }
            done += 1;
        }
        if let Some(a) = latest.filter(|&a| p.slot(b) < p.slot(a)) {
            return Err(real_time_finding(p, a, b));
        }
    }
    Ok(())
}

fn real_time_finding(p: &Prepared, a: usize, b: usize) -> Finding {
    let (ra, rb) = (p.revision(a), p.revision(b));
    let (guarantee, detail) = if !p.op(b).claims_write() {
        let d = format!(
            "op #{b} read at revision {rb}, but op #{a} had returned at revision {ra} before #{b} was invoked"
        );
        (Guarantee::StaleRead, d)
    } else if ra == rb {
        let d = format!(
            "op #{a} read at revision {ra} before op #{b}, which produced revision {rb}, was invoked"
        );
        (Guarantee::PhantomRead, d)
    } else {
        let d = format!("op #{b} got revision {rb}, below revision {ra} of op #{a}, which returned before #{b} was invoked");
        (Guarantee::RevisionOrder, d)
    };
    finding(guarantee, detail, vec![a, b])
}

/// `lo` of a pending write: one past the highest revision of any acknowledged op that
/// returned before it was invoked.
fn order_pending(p: &mut Prepared) {
    let mut by_return = p.acked.clone();
    by_return.sort_by_key(|&i| p.op(i).return_ns);
    let mut high = Vec::with_capacity(by_return.len());
    let mut max = p.initial.revision();
    for &i in &by_return {
        max = max.max(p.revision(i));
        high.push(max);
    }
    let mut with_lo: Vec<(Revision, usize)> = p
        .pending
        .iter()
        .map(|&x| {
            let n = by_return.partition_point(|&i| p.op(i).return_ns < p.op(x).invoke_ns);
            (n.checked_sub(1).map_or(p.initial.revision(), |k| high[k]) + 1, x)
        })
        .collect();
    with_lo.sort_unstable();
    p.lo = with_lo.iter().map(|&(lo, _)| lo).collect();
    p.pending = with_lo.iter().map(|&(_, x)| x).collect();
    for k in (0..p.pending.len()).rev() {
        let history = p.history;
        for (key, value) in put_pairs(&history[p.pending[k]].request) {
            p.by_put.entry((key, value)).or_default().push(k);
            p.by_key.entry(key).or_default().push(k);
        }
        if let Request::Delete { key } = &history[p.pending[k]].request {
            p.deleters.entry(key).or_default().push(k);
        }
    }
}

/// The (key, value) pairs a write puts when it changes the store.
fn put_pairs(request: &Request) -> Vec<(&[u8], &[u8])> {
    match request {
        Request::Put { key, value } | Request::Cas { key, value, .. } => vec![(key, value)],
        Request::PutMany { kvs } => kvs.iter().map(|(k, v)| (k.as_slice(), v.as_slice())).collect(),
        _ => vec![],
    }
}

fn index_observations(p: &mut Prepared) -> Result<(), Finding> {
    for idx in 0..p.acked.len() {
        let i = p.acked[idx];
        let header = p.revision(i);
        for kv in &p.response(i).kvs {
            observe(p, i, header, kv)?;
            p.frozen.entry(&kv.key).or_default().add(kv.mod_revision, header, i);
            p.alive.entry(&kv.key).or_default().add(kv.create_revision, header, i);
        }
        observe_compare(p, i)?;
    }
    p.frozen.values_mut().chain(p.alive.values_mut()).for_each(Intervals::seal);
    p.timelines = timeline::build(p.history, &p.acked, &p.pending);
    order_urgent(p);
    pin_pending(p);
    let written = |k: &[u8]| p.by_key.contains_key(k) || p.deleters.contains_key(k);
    let mut watched: Vec<&[u8]> = p.timelines.keys().copied().filter(|&k| written(k)).collect();
    watched.sort_unstable();
    p.watched = watched;
    Ok(())
}

/// Pins: a kv returned with mod_revision m at a gap m that only one pending write
/// puts was put by that write, at m; it can be nowhere else.
fn pin_pending(p: &mut Prepared) {
    p.pinned = vec![None; p.pending.len()];
    for (&m, needs) in p.need.iter().filter(|(m, _)| !p.write_at.contains_key(m)) {
        for &(_, kv) in needs {
            if let [k] =
                p.by_put.get(&(kv.key.as_slice(), kv.value.as_slice())).map_or(&[][..], Vec::as_slice)
            {
                p.pinned[*k].get_or_insert(m);
            }
        }
    }
}

/// Deadlines: a txn that succeeded on `value == v` at revision h + 1 saw the key
/// holding v at h; if no acknowledged op put v there, a pending write did, by h.
fn order_urgent(p: &mut Prepared) {
    let acked_pairs: HashSet<(&[u8], &[u8])> =
        p.acked.iter().flat_map(|&i| put_pairs(&p.history[i].request)).collect();
    let mut deadline: HashMap<usize, Revision> = HashMap::new();
    for (&key, line) in &p.timelines {
        for &(h, seen, _) in &line.seen {
            let Seen::Value(value) = seen else { continue };
            if acked_pairs.contains(&(key, value)) {
                continue;
            }
            for &k in p.by_put.get(&(key, value)).into_iter().flatten() {
                let d = deadline.entry(k).or_insert(h);
                *d = (*d).min(h);
            }
        }
    }
    let mut urgent: Vec<(Revision, Reverse<usize>)> =
        deadline.into_iter().map(|(k, d)| (d, Reverse(k))).collect();
    urgent.sort_unstable();
    p.deadlines = urgent.iter().map(|&(d, _)| d).collect();
    p.urgent = urgent.into_iter().map(|(_, Reverse(k))| k).collect();
}

fn observe<'h>(p: &mut Prepared<'h>, i: usize, header: Revision, kv: &'h KeyValue) -> Result<(), Finding> {
    let phantom = |detail: String, ops: Vec<usize>| Err(finding(Guarantee::PhantomRead, detail, ops));
    if kv.mod_revision > header || kv.create_revision > kv.mod_revision || kv.create_revision < 1 {
        return phantom(
            format!("op #{i} read at revision {header} returned {kv}: impossible revisions"),
            vec![i],
        );
    }
    let start = p.initial.revision();
    if kv.mod_revision <= start && p.initial.get(&kv.key).as_ref() != Some(kv) {
        return phantom(
            format!("op #{i} returned {kv}, which the initial state (revision {start}) lacks"),
            vec![i],
        );
    }
    if kv.create_revision <= start
        && p.initial.get(&kv.key).map(|e| e.create_revision) != Some(kv.create_revision)
    {
        return phantom(format!("op #{i} returned {kv}, not created in the initial state"), vec![i]);
    }
    if kv.mod_revision > start {
        let same = p.need.entry(kv.mod_revision).or_default();
        match same.iter().find(|(_, o)| o.key == kv.key) {
            Some(&(j, other)) if other != kv => {
                let d = format!(
                    "ops #{j} and #{i} disagree about the write at revision {}: {other} vs {kv}",
                    kv.mod_revision
                );
                return phantom(d, vec![j, i]);
            }
            Some(_) => {}
            None => same.push((i, kv)),
        }
        check_writer(p, i, &kv.to_string(), kv.mod_revision, "wrote", |r| r.puts(&kv.key, &kv.value))?;
    }
    if kv.create_revision > start {
        touch(p, kv.create_revision, Touch { op: i, key: &kv.key, created: true });
        check_writer(p, i, &kv.to_string(), kv.create_revision, "created", |r| r.puts_key(&kv.key))?;
    }
    Ok(())
}

fn touch<'h>(p: &mut Prepared<'h>, rev: Revision, t: Touch<'h>) {
    let all = p.touches.entry(rev).or_default();
    if !all.iter().any(|o| (o.key, o.created) == (t.key, t.created)) {
        all.push(t);
    }
}

/// A txn that succeeded on `mod_revision == m` at revision g saw the key last
/// modified at m: put at m, unmodified in (m, g - 1].
fn observe_compare<'h>(p: &mut Prepared<'h>, i: usize) -> Result<(), Finding> {
    let op = p.op(i);
    let (Request::Cas { key, compare: Compare::ModRevision(m), .. }, true) = (&op.request, op.claims_write())
    else {
        return Ok(());
    };
    let (m, seen_at) = (*m, p.revision(i) - 1);
    if m <= p.initial.revision() || m > seen_at {
        return Ok(());
    }
    p.frozen.entry(key).or_default().add(m, seen_at, i);
    touch(p, m, Touch { op: i, key, created: false });
    check_writer(p, i, &seen_by(p, i, key), m, "wrote", |r| r.puts_key(key))
}

/// What op `i` saw of `key`: a kv it returned, or a compare its txn passed.
pub(super) fn seen_by(p: &Prepared, i: usize, key: &[u8]) -> String {
    let op = p.op(i);
    if let Some(kv) = p.response(i).kvs.iter().find(|kv| kv.key == key) {
        return kv.to_string();
    }
    match &op.request {
        Request::Cas { compare, .. } if op.claims_write() => format!("{} {compare}", show(key)),
        Request::Delete { .. } if op.claims_write() => format!("{} present", show(key)),
        _ => format!("{} absent", show(key)),
    }
}

/// The write at `rev` must satisfy `does` (op `i` saw `seen`, which it `verb`): the
/// acknowledged write claiming `rev` if any, else some pending write.
fn check_writer(
    p: &Prepared,
    i: usize,
    seen: &str,
    rev: Revision,
    verb: &str,
    does: impl Fn(&Request) -> bool,
) -> Result<(), Finding> {
    if let Some(&w) = p.write_at.get(&rev) {
        if does(&p.op(w).request) {
            return Ok(());
        }
        let d = format!("op #{i} saw {seen}, but the write at revision {rev} (op #{w}) {verb} no such thing");
        return Err(finding(Guarantee::PhantomRead, d, vec![i, w]));
    }
    if p.pending.iter().any(|&x| does(&p.op(x).request)) {
        return Ok(());
    }
    let failed = p.history.iter().position(|o| matches!(o.outcome, Outcome::Fail { .. }) && does(&o.request));
    let d = match failed {
        Some(f) => format!("op #{i} saw {seen}, {verb} at revision {rev} only by op #{f}, which failed"),
        None => {
            format!("op #{i} saw {seen}, but no op that may have taken effect {verb} it at revision {rev}")
        }
    };
    Err(finding(Guarantee::PhantomRead, d, failed.into_iter().chain([i]).collect()))
}

/// No acknowledged write may modify a key where a read says it stayed unmodified.
fn check_claimed_writes(p: &Prepared) -> Result<(), Finding> {
    for (&rev, &w) in &p.write_at {
        let req = &p.op(w).request;
        for key in req.written_keys() {
            let frozen = p.frozen.get(key).and_then(|f| f.covering(rev));
            let alive = p.alive.get(key).and_then(|a| a.covering(rev)).filter(|_| !req.puts_key(key));
            if let Some(r) = frozen.or(alive) {
                return Err(missed_write(p, w, r, key));
            }
        }
    }
    Ok(())
}

/// Read `r` does not reflect acknowledged write `w` at a revision it covers: a stale
/// read if `w` had returned before `r` began or another read reflects `w`, else the
/// write is lost.
fn missed_write(p: &Prepared, w: usize, r: usize, key: &[u8]) -> Finding {
    let rev = p.revision(w);
    let is_put = p.op(w).request.puts_key(key);
    let seen = p.timelines.get(key).into_iter().flat_map(|t| &t.seen);
    let reflected =
        seen.filter_map(|&(_, s, _)| if let Seen::Kv(kv) = s { Some(kv) } else { None }).any(|kv| {
            if is_put {
                kv.mod_revision >= rev
            } else {
                kv.create_revision > rev
            }
        });
    let before = p.op(w).return_ns < p.op(r).invoke_ns;
    let guarantee = if before || reflected { Guarantee::StaleRead } else { Guarantee::LostWrite };
    let detail = format!(
        "op #{r} saw {} at revision {}, missing op #{w}'s {} of {} at revision {rev}",
        seen_by(p, r, key),
        p.revision(r),
        if is_put { "put" } else { "delete" },
        show(key)
    );
    finding(guarantee, detail, vec![w, r])
}

/// A kv seen with mod_revision m (or created at c) needs the key modified at m; no
/// other read may say it stayed unmodified (or alive) across m.
fn check_needs(p: &Prepared) -> Result<(), Finding> {
    for (&rev, needs) in &p.need {
        for &(i, kv) in needs {
            if let Some(j) = p.frozen.get(kv.key.as_slice()).and_then(|f| f.covering(rev)) {
                let d = format!(
                    "op #{i} returned {kv}, but op #{j} saw {} unmodified across revision {rev}",
                    show(&kv.key)
                );
                return Err(finding(Guarantee::PhantomRead, d, vec![i, j]));
            }
        }
    }
    for (&rev, touches) in &p.touches {
        for t in touches {
            let within = if t.created { &p.alive } else { &p.frozen };
            if let Some(j) = within.get(t.key).and_then(|a| a.covering(rev)) {
                let d = format!(
                    "op #{} saw {} {} at revision {rev}, but op #{j} saw {}",
                    t.op,
                    show(t.key),
                    if t.created { "created" } else { "modified" },
                    seen_by(p, j, t.key)
                );
                return Err(finding(Guarantee::PhantomRead, d, vec![t.op, j]));
            }
        }
    }
    Ok(())
}

/// Every gap (a revision no acknowledged write claims) needs its own pending write,
/// invoked early enough (Hall's condition: the k-th gap needs k pending writes with
/// `lo` at or below it) and fitting what reads observed.
fn check_gaps(p: &Prepared) -> Result<(), Finding> {
    let start = p.initial.revision();
    for (k, &gap) in p.gaps.iter().enumerate() {
        let eligible = p.lo.partition_point(|&lo| lo <= gap);
        let fitting = p.pending[..eligible].iter().any(|&x| p.fits(gap, &p.op(x).request));
        if eligible > k && fitting {
            continue;
        }
        let waiting =
            p.acked.iter().copied().filter(|&i| p.revision(i) >= gap).min_by_key(|&i| p.revision(i));
        let why = if eligible <= k {
            format!("it is gap number {} since revision {start}, but only {eligible} pending writes were invoked early enough", k + 1)
        } else {
            format!("none of the {eligible} pending writes invoked early enough fits what reads returned")
        };
        let detail = format!(
            "no acknowledged write produced revision {gap} and {why}{}",
            waiting.map_or(String::new(), |w| format!("; op #{w} is at revision {}", p.revision(w)))
        );
        return Err(finding(Guarantee::RevisionGap, detail, waiting.into_iter().collect()));
    }
    Ok(())
}
