//! The search: a Wing–Gong/Lowe depth-first search for a linearization, walking the
//! store's revisions in order.
//!
//! After [`prepare`](super::prepare) every acknowledged op has a fixed place: the
//! write that produced revision r is the r-th change, the reads at r sit right after
//! it (reads change nothing, so they are checked eagerly, never branched on; real time
//! among acknowledged ops was already checked). The only choices left are at *gaps*:
//! revisions no acknowledged op claims, which some pending (unknown) write must have
//! produced. At a gap g the candidates are the unused pending writes that
//!
//! - were invoked early enough (`lo <= g`: nothing that returned before them is at g
//!   or later), and are not pinned to another gap (the only writer of a kv a read
//!   returned with mod_revision at that gap);
//! - would change the store now (a failing CAS or a delete of nothing cannot make a
//!   revision);
//! - write what reads say the write at g wrote (`need`, `touches`), touch no key a
//!   read says stayed unmodified across g (`frozen`, `alive`), and meet every
//!   [`demand`](super::demand) that needs this very gap,
//!
//! one per distinct request (identical pending requests are interchangeable). Order:
//! the writers a read pinned here or a tight demand asks for; else first the *urgent*
//! writes (the sole writer of a value a txn compared against later, earliest deadline
//! first), then all others newest first (an old unused one has already been passed
//! over at earlier gaps). A choice is applied, then checked against each written key's
//! next observation ([`timeline`](super::timeline) lookahead); then every acknowledged
//! op up to the next gap is replayed against the model; a mismatch backtracks to the
//! latest gap with another candidate.
//!
//! `width` bounds the candidates tried per gap: the checker runs narrow passes before
//! the complete one (see `search_in_passes` in the parent module).
//!
//! Memo: a gap whose candidates all failed is remembered by (revision, set of used
//! pending writes, key-space hash); the same situation reached by another order of
//! choices is skipped. Sets and states are stored as 64-bit hashes (Zobrist for the
//! set): a collision could only wrongly skip a branch, i.e. report a violation, with
//! probability around n²/2¹²⁸ for n remembered gaps.

use std::collections::{HashMap, HashSet};

use super::demand::{self, Demand};
use super::prepare::{seen_by, Prepared, Touch};
use super::timeline::{Seen, Timeline};
use super::Guarantee;
use crate::history::{show, show_list, KeyValue, Request, Revision};
use crate::model::{mix64, KvState};

/// At most this many failed gaps are remembered (a few hundred MB at worst).
const MEMO_CAP: usize = 4 << 20;

/// The deepest point the search reached before failing, for the report.
pub(super) struct Dead {
    pub revision: Revision,
    pub guarantee: Guarantee,
    pub detail: String,
    pub ops: Vec<usize>,
    /// The model state there, restricted to the keys involved.
    pub state: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Linearizable,
    Refuted,
    Exhausted,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SearchStats {
    pub steps: u64,
    pub backtracks: u64,
    pub memo_hits: u64,
    pub gaps_filled: usize,
}

/// Why a path died.
enum Miss<'h> {
    /// Acknowledged op's response differs from the model's.
    Response(usize),
    /// A kv op `.0` returned says the write at this revision left it so; it did not.
    Need(usize, &'h KeyValue),
    /// An op saw the key put (or created) at this revision; it was not.
    Touch(Touch<'h>),
    /// No acknowledged op claims the revision and no pending write can produce it.
    Gap,
    /// After this revision the key can no longer become what op `.1` saw.
    Ahead(&'h [u8], usize),
}

enum Step {
    Done,
    Gap,
    Dead,
    Budget,
}

enum Next {
    Descend,
    Refuted,
    Exhausted,
}

/// Where a gap's candidates come from: the pending writes that put what a read saw
/// at this revision and meet the [`demand`](super::demand)s that need this gap; or (neither)
/// first the urgent ones whose deadline is not past, earliest deadline first, then
/// every pending write, newest first.
enum Source {
    Listed(Vec<usize>, usize),
    Scan { urgent: usize, cursor: usize },
}

/// A gap being filled: its candidates (indexes into `pending`) and the one applied.
struct Frame<'h> {
    gap: Revision,
    mark: usize,
    memo: (Revision, u64, u64),
    source: Source,
    /// Requests tried here: identical pending requests are interchangeable.
    tried: HashSet<&'h Request>,
    chosen: Option<usize>,
}

pub(super) struct Search<'p, 'h> {
    p: &'p Prepared<'h>,
    state: KvState,
    used: Vec<bool>,
    used_hash: u64,
    failed: HashSet<(Revision, u64, u64)>,
    stack: Vec<Frame<'h>>,
    max_steps: u64,
    /// Candidates tried per gap at most (`usize::MAX`: all, a complete search).
    width: usize,
    pub stats: SearchStats,
    pub deepest: Option<Dead>,
}

fn zobrist(k: usize) -> u64 {
    mix64(k as u64 ^ 0x005e_ed0f_1a7e)
}

impl<'p, 'h> Search<'p, 'h> {
    pub(super) fn new(p: &'p Prepared<'h>, max_steps: u64, width: usize) -> Self {
        Search {
            p,
            state: p.initial.clone(),
            used: vec![false; p.pending.len()],
            used_hash: 0,
            failed: HashSet::new(),
            stack: vec![],
            max_steps,
            width,
            stats: SearchStats::default(),
            deepest: None,
        }
    }

    pub(super) fn run(&mut self) -> End {
        if let Some(miss) = self.verify(self.state.revision()) {
            self.note(miss);
            return End::Refuted;
        }
        let mut descend = true;
        loop {
            if descend {
                match self.advance() {
                    Step::Done => {
                        self.stats.gaps_filled = self.stack.len();
                        return End::Linearizable;
                    }
                    Step::Budget => return End::Exhausted,
                    Step::Gap => self.open_gap(),
                    Step::Dead => {}
                }
            }
            match self.next_choice() {
                Next::Descend => descend = true,
                Next::Refuted => return End::Refuted,
                Next::Exhausted => return End::Exhausted,
            }
        }
    }

    /// Replay acknowledged writes (and the reads after each) up to the next gap.
    fn advance(&mut self) -> Step {
        loop {
            let g = self.state.revision() + 1;
            if g > self.p.last_revision {
                return Step::Done;
            }
            if self.stats.steps >= self.max_steps {
                return Step::Budget;
            }
            let Some(&w) = self.p.write_at.get(&g) else { return Step::Gap };
            self.stats.steps += 1;
            let request = &self.p.op(w).request;
            if self.state.respond(request) != *self.p.response(w) {
                self.note(Miss::Response(w));
                return Step::Dead;
            }
            self.state.apply(request);
            if let Some(miss) = self.verify(g).or_else(|| self.ahead(g, request)) {
                self.note(miss);
                return Step::Dead;
            }
        }
    }

    /// Everything known about revision `g`, checked right after it was produced.
    fn verify(&mut self, g: Revision) -> Option<Miss<'h>> {
        let p = self.p;
        for &(i, kv) in p.need.get(&g).into_iter().flatten() {
            if self.state.get(&kv.key).as_ref() != Some(kv) {
                return Some(Miss::Need(i, kv));
            }
        }
        for &t in p.touches.get(&g).into_iter().flatten() {
            let entry = self.state.entry(t.key);
            if !entry.is_some_and(|e| e.mod_revision == g && (!t.created || e.create_revision == g)) {
                return Some(Miss::Touch(t));
            }
        }
        for &r in p.reads_at.get(&g).into_iter().flatten() {
            self.stats.steps += 1;
            if self.state.respond(&p.op(r).request) != *p.response(r) {
                return Some(Miss::Response(r));
            }
        }
        None
    }

    /// Lookahead: can each key `request` wrote at `g` still become what it is next
    /// seen as? (See [`timeline`](super::timeline).)
    fn ahead(&self, g: Revision, request: &'h Request) -> Option<Miss<'h>> {
        request.written_keys().into_iter().find_map(|key| {
            let line = self.p.timelines.get(key)?;
            let (h, seen, op) = line.next_seen(g)?;
            (!self.reachable(g, key, line, h, seen)).then_some(Miss::Ahead(key, op))
        })
    }

    /// Whether `key`, as it is right after revision `g`, can be `seen` at `h >= g`:
    /// through the acknowledged writes of it in between, plus pending ones at gaps.
    fn reachable(
        &self,
        g: Revision,
        key: &'h [u8],
        line: &Timeline<'h>,
        h: Revision,
        seen: Seen<'h>,
    ) -> bool {
        let now = self.state.entry(key);
        if let Seen::Kv(kv) = seen {
            // Same generation: alive throughout, and versions only grow.
            return kv.create_revision > g
                || now.is_some_and(|e| {
                    e.create_revision == kv.create_revision
                        && e.version + line.puts_in(g, kv.mod_revision) as i64 <= kv.version
                });
        }
        if let Seen::Mod(m) = seen {
            return m > g || (m == g && now.is_some());
        }
        // The key as the last acknowledged write in (g, h] (or now) leaves it, and
        // whether a pending write at a later gap could still fix it.
        let last = line.last_write_in(g, h);
        let from = last.map_or(g, |(r, _)| r);
        let present = last.map_or(now.is_some(), |(_, put)| put);
        let fixable = self.gap_in(from, h);
        match seen {
            Seen::Absent => !present || (fixable && line.pending_delete),
            Seen::Present => present || fixable,
            Seen::Value(v) => {
                let holds = match last {
                    Some((r, true)) => {
                        self.p.write_at.get(&r).is_some_and(|&w| self.p.op(w).request.puts(key, v))
                    }
                    Some((_, false)) => false,
                    None => now.is_some_and(|e| e.value == v),
                };
                holds || (fixable && self.p.pending_puts(key, v).iter().any(|&j| !self.used[j]))
            }
            Seen::Kv(_) | Seen::Mod(_) => unreachable!("handled above"),
        }
    }

    /// Whether some revision in `(lo, hi]` is a gap.
    fn gap_in(&self, lo: Revision, hi: Revision) -> bool {
        self.gaps_in(lo, hi) > 0
    }

    /// How many revisions in `(lo, hi]` are gaps.
    fn gaps_in(&self, lo: Revision, hi: Revision) -> usize {
        let gaps = &self.p.gaps;
        gaps.partition_point(|&r| r <= hi).saturating_sub(gaps.partition_point(|&r| r <= lo))
    }

    /// Push a frame for the gap at the next revision, unless it is known to fail.
    fn open_gap(&mut self) {
        let gap = self.state.revision() + 1;
        let memo = (gap, self.used_hash, self.state.keys_hash());
        if self.failed.contains(&memo) {
            self.stats.memo_hits += 1;
            return;
        }
        let p = self.p;
        self.stats.steps += 1 + p.watched.len() as u64 / 4;
        let forced = match demand::forced(p, &self.state, gap, |lo, hi| self.gaps_in(lo, hi)) {
            Ok(forced) => forced,
            Err((key, op)) => return self.note(Miss::Ahead(key, op)),
        };
        let meets = |k: &usize| forced.iter().all(|d| d.met_by(&p.op(p.pending[*k]).request));
        let source = match (p.need.get(&gap).and_then(|n| n.first()), forced.first()) {
            (Some((_, kv)), _) => {
                Source::Listed(p.pending_puts(&kv.key, &kv.value).iter().copied().filter(meets).collect(), 0)
            }
            (None, Some(&first)) => {
                Source::Listed(self.meeting(first).iter().copied().filter(meets).collect(), 0)
            }
            (None, None) => Source::Scan {
                urgent: p.deadlines.partition_point(|&d| d < gap),
                cursor: p.lo.partition_point(|&lo| lo <= gap),
            },
        };
        let frame = Frame { gap, mark: self.state.mark(), memo, source, tried: HashSet::new(), chosen: None };
        self.stack.push(frame);
    }

    /// The pending writes (indexes into `pending`) that can meet `demand`.
    fn meeting(&self, demand: Demand<'h>) -> &'p [usize] {
        let p = self.p;
        let list = match demand {
            Demand::Puts(key) => p.by_key.get(key),
            Demand::PutsValue(key, value) => return p.pending_puts(key, value),
            Demand::Deletes(key) => p.deleters.get(key),
        };
        list.map_or(&[], Vec::as_slice)
    }

    /// The top frame's next candidate: unused, eligible by real time, fitting what
    /// reads saw, changing the store now, and not a request already tried here.
    fn pull(&mut self) -> Option<usize> {
        let p = self.p;
        let frame = self.stack.last_mut()?;
        if frame.tried.len() >= self.width {
            return None;
        }
        loop {
            self.stats.steps += 1;
            let k = match &mut frame.source {
                Source::Listed(list, next) => {
                    let k = *list.get(*next)?;
                    *next += 1;
                    k
                }
                Source::Scan { urgent, .. } if *urgent < p.urgent.len() => {
                    *urgent += 1;
                    p.urgent[*urgent - 1]
                }
                Source::Scan { cursor, .. } => {
                    *cursor = cursor.checked_sub(1)?;
                    *cursor
                }
            };
            let request = &p.op(p.pending[k]).request;
            let placeable = p.lo[k] <= frame.gap && p.pinned[k].is_none_or(|m| m == frame.gap);
            let ok = !self.used[k] && placeable && p.fits(frame.gap, request);
            if ok && self.state.would_change(request) && frame.tried.insert(request) {
                return Some(k);
            }
        }
    }

    /// Undo the top frame's choice and apply its next candidate; pop exhausted frames.
    fn next_choice(&mut self) -> Next {
        loop {
            if self.stats.steps >= self.max_steps {
                return Next::Exhausted;
            }
            let Some(top) = self.stack.last_mut() else { return Next::Refuted };
            let (mark, gap, prev) = (top.mark, top.gap, top.chosen.take());
            self.state.rollback(mark);
            if let Some(k) = prev {
                self.used[k] = false;
                self.used_hash ^= zobrist(k);
                self.stats.backtracks += 1;
            }
            let Some(k) = self.pull() else {
                let frame = self.stack.pop().expect("top frame");
                if frame.tried.is_empty() {
                    self.note(Miss::Gap);
                }
                if self.failed.len() < MEMO_CAP {
                    self.failed.insert(frame.memo);
                }
                continue;
            };
            self.stack.last_mut().expect("top frame").chosen = Some(k);
            self.used[k] = true;
            self.used_hash ^= zobrist(k);
            self.stats.steps += 1;
            let request = &self.p.op(self.p.pending[k]).request;
            self.state.apply(request);
            match self.verify(gap).or_else(|| self.ahead(gap, request)) {
                None => return Next::Descend,
                Some(miss) => self.note(miss),
            }
        }
    }

    /// Remember `miss` if it is the deepest failure so far.
    fn note(&mut self, miss: Miss<'h>) {
        let at = match miss {
            Miss::Response(i) if self.p.op(i).claims_write() => self.state.revision() + 1,
            Miss::Gap => self.state.revision() + 1,
            _ => self.state.revision(),
        };
        if self.deepest.as_ref().is_some_and(|d| d.revision >= at) {
            return;
        }
        self.deepest = Some(self.describe(miss, at));
    }

    fn describe(&self, miss: Miss<'h>, at: Revision) -> Dead {
        let p = self.p;
        let (guarantee, detail, ops, keys) = match miss {
            Miss::Response(i) => {
                let (g, d) = self.mismatch(i, at);
                (g, d, vec![i], p.op(i).request.clone())
            }
            Miss::Need(i, kv) => {
                let now = self.state.get(&kv.key);
                let guarantee = classify(now.as_ref(), Some(kv));
                let detail = format!(
                    "op #{i} returned {kv}, but after the write at revision {at} ({}) the key is {}",
                    self.writer(at),
                    now.map_or("absent".to_string(), |kv| kv.to_string())
                );
                (guarantee, detail, vec![i], Request::Get { key: kv.key.clone() })
            }
            Miss::Touch(t) => {
                let detail = format!(
                    "op #{} saw {} {} at revision {at}, but {} did not",
                    t.op,
                    show(t.key),
                    if t.created { "created" } else { "put" },
                    self.writer(at)
                );
                (Guarantee::PhantomRead, detail, vec![t.op], Request::Get { key: t.key.to_vec() })
            }
            Miss::Gap => self.gap_dead(at),
            Miss::Ahead(key, j) => {
                let seen = p.response(j).kvs.iter().find(|kv| kv.key == key);
                let now = self.state.get(key);
                let detail = format!(
                    "after revision {at} ({}) {} is {}; it cannot become what op #{j} saw at revision {}: {}",
                    self.writer(at),
                    show(key),
                    now.as_ref().map_or("absent".to_string(), |kv| kv.to_string()),
                    p.revision(j),
                    seen_by(p, j, key)
                );
                let guarantee = if p.op(j).claims_write() {
                    Guarantee::ResponseMismatch
                } else {
                    classify(now.as_ref(), seen)
                };
                (guarantee, detail, vec![j], Request::Get { key: key.to_vec() })
            }
        };
        Dead { revision: at, guarantee, detail, ops, state: self.excerpt(&keys) }
    }

    /// Who produced revision `at` on this path.
    fn writer(&self, at: Revision) -> String {
        if let Some(w) = self.p.write_at.get(&at) {
            return format!("acknowledged op #{w}");
        }
        match self.stack.last().and_then(|f| f.chosen.filter(|_| f.gap == at)) {
            Some(k) => format!("pending op #{} placed there", self.p.pending[k]),
            None => "no op".to_string(),
        }
    }

    fn mismatch(&self, i: usize, at: Revision) -> (Guarantee, String) {
        let op = self.p.op(i);
        let expected = self.state.respond(&op.request);
        let observed = self.p.response(i);
        let same_outcome = (expected.revision, expected.deleted, expected.succeeded)
            == (observed.revision, observed.deleted, observed.succeeded);
        let guarantee = if same_outcome && !op.claims_write() {
            classify_kvs(&expected.kvs, &observed.kvs)
        } else {
            Guarantee::ResponseMismatch
        };
        let when =
            if op.claims_write() { format!("to produce revision {at}") } else { format!("at revision {at}") };
        let detail =
            format!("op #{i} {} {when} returned {observed}, but the model answers {expected}", op.request);
        (guarantee, detail)
    }

    fn gap_dead(&self, at: Revision) -> (Guarantee, String, Vec<usize>, Request) {
        let eligible = (0..self.p.pending.len()).filter(|&k| !self.used[k] && self.p.lo[k] <= at).count();
        let next = self.p.acked.iter().copied().filter(|&i| self.p.revision(i) >= at).min_by_key(|&i| {
            let r = self.p.response(i);
            (r.revision, self.p.op(i).return_ns)
        });
        let detail = format!(
            "no acknowledged op produced revision {at}, and none of the {eligible} unused pending writes \
             invoked early enough can have produced it consistently with what reads returned{}",
            next.map_or(String::new(), |n| format!("; op #{n} needs revision {}", self.p.revision(n)))
        );
        let keys = next.map_or(Request::Range { prefix: vec![] }, |n| self.p.op(n).request.clone());
        (Guarantee::RevisionGap, detail, next.into_iter().collect(), keys)
    }

    /// The model state restricted to the keys `request` touches.
    fn excerpt(&self, request: &Request) -> String {
        let keys: Vec<Vec<u8>> = match request {
            Request::Range { prefix } => self.state.range(prefix).into_iter().map(|kv| kv.key).collect(),
            other => other_keys(other),
        };
        let mut parts: Vec<String> = keys
            .iter()
            .take(8)
            .map(|k| self.state.get(k).map_or(format!("{}: absent", show(k)), |kv| kv.to_string()))
            .collect();
        if keys.len() > 8 {
            parts.push(format!("... {} more", keys.len() - 8));
        }
        format!(
            "model at revision {} ({} keys): {}",
            self.state.revision(),
            self.state.len(),
            show_list(&parts)
        )
    }
}

fn other_keys(request: &Request) -> Vec<Vec<u8>> {
    match request {
        Request::Get { key } => vec![key.clone()],
        other => other.written_keys().into_iter().map(<[u8]>::to_vec).collect(),
    }
}

/// Name what a read got wrong about one key: `now` is the model's, `seen` the read's.
fn classify(now: Option<&KeyValue>, seen: Option<&KeyValue>) -> Guarantee {
    match (now, seen) {
        (Some(_), None) => Guarantee::LostWrite,
        (None, Some(_)) => Guarantee::PhantomRead,
        (Some(n), Some(s)) if s.mod_revision < n.mod_revision => Guarantee::StaleRead,
        (Some(n), Some(s)) if s.mod_revision > n.mod_revision || s.value != n.value => Guarantee::PhantomRead,
        _ => Guarantee::ResponseMismatch,
    }
}

/// [`classify`] at the first key where two key-ordered kv lists differ.
fn classify_kvs(model: &[KeyValue], seen: &[KeyValue]) -> Guarantee {
    let by_key = |kvs: &[KeyValue]| -> HashMap<Vec<u8>, KeyValue> {
        kvs.iter().map(|kv| (kv.key.clone(), kv.clone())).collect()
    };
    let (m, s) = (by_key(model), by_key(seen));
    let mut keys: Vec<&Vec<u8>> = m.keys().chain(s.keys()).collect();
    keys.sort();
    keys.into_iter()
        .find(|k| m.get(*k) != s.get(*k))
        .map_or(Guarantee::ResponseMismatch, |k| classify(m.get(k), s.get(k)))
}
