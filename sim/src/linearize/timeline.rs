//! Per-key timelines: what acknowledged ops say about one key over revisions, and the
//! lookahead the search uses to drop a choice as soon as it contradicts the key's
//! next observation, instead of when the search gets there.
//!
//! ```text
//! key a:  put@4   kv (c4 m4 v1)@5   put@7   kv (c4 m9 v4)@9   absent@12
//! ```
//!
//! A pending put of `a` placed at gap 6 leaves a at version 2; the put at 7 makes 3,
//! and the write at 9 must then be another put of a, reaching 4: consistent. Placed at
//! gap 8 as well as 6, it would reach version 5 > 4 by revision 9: dropped at 8. A put
//! of `a` at 10 or 11 needs a delete of `a` after it, before the absence seen at 12.
//!
//! Besides returned kvs and absences, writes observe too: a txn that succeeded on
//! `value == v` saw the key holding v just before its revision, on
//! `mod_revision == m` saw it last modified at m; a delete that deleted saw it present.

use std::collections::{BTreeSet, HashMap};

use crate::history::{Compare, KeyValue, Op, Request, Revision};

/// One observation of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen<'h> {
    Kv(&'h KeyValue),
    Absent,
    /// Present, last modified at this revision.
    Mod(Revision),
    /// Present with this value.
    Value(&'h [u8]),
    Present,
}

/// What acknowledged ops say about one key.
#[derive(Default)]
pub(super) struct Timeline<'h> {
    /// (revision of the state observed, observation, op), sorted by revision.
    pub seen: Vec<(Revision, Seen<'h>, usize)>,
    /// Revisions of acknowledged writes that put / delete the key, sorted.
    pub puts: Vec<Revision>,
    pub deletes: Vec<Revision>,
    /// Some pending op deletes the key.
    pub pending_delete: bool,
}

/// Build every key's timeline from the acknowledged ops (`acked`) and pending writes.
pub(super) fn build<'h>(
    history: &'h [Op],
    acked: &[usize],
    pending: &[usize],
) -> HashMap<&'h [u8], Timeline<'h>> {
    let mut keys: BTreeSet<&'h [u8]> = BTreeSet::new();
    for &i in acked.iter().chain(pending) {
        keys.extend(history[i].request.written_keys());
        if let Request::Get { key } = &history[i].request {
            keys.insert(key);
        }
    }
    let mut lines: HashMap<&'h [u8], Timeline<'h>> = HashMap::new();
    for &i in acked {
        record(&mut lines, &keys, history, i);
    }
    for &x in pending {
        if let Request::Delete { key } = &history[x].request {
            lines.entry(key).or_default().pending_delete = true;
        }
    }
    for line in lines.values_mut() {
        line.seen.sort_by_key(|&(h, _, op)| (h, op));
        line.seen.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        line.puts.sort_unstable();
        line.deletes.sort_unstable();
    }
    lines
}

fn record<'h>(
    lines: &mut HashMap<&'h [u8], Timeline<'h>>,
    keys: &BTreeSet<&'h [u8]>,
    history: &'h [Op],
    i: usize,
) {
    let op = &history[i];
    let r = op.response().expect("acknowledged");
    let h = r.revision;
    let found = |key: &[u8]| r.kvs.iter().find(|kv| kv.key == key).map_or(Seen::Absent, Seen::Kv);
    let mut see =
        |key: &'h [u8], at: Revision, seen: Seen<'h>| lines.entry(key).or_default().seen.push((at, seen, i));
    match &op.request {
        Request::Get { key } => see(key, h, found(key)),
        Request::Range { prefix } => {
            let absent = keys.range(prefix.as_slice()..).take_while(|k| k.starts_with(prefix));
            for &key in absent.filter(|&&k| !r.kvs.iter().any(|kv| kv.key == k)) {
                see(key, h, Seen::Absent);
            }
            r.kvs.iter().for_each(|kv| see(&kv.key, h, Seen::Kv(kv)));
        }
        Request::Cas { key, compare, .. } if r.succeeded => {
            let seen = match compare {
                Compare::ModRevision(0) => Seen::Absent,
                Compare::ModRevision(m) => Seen::Mod(*m),
                Compare::Value(v) => Seen::Value(v),
            };
            see(key, h - 1, seen);
            lines.entry(key).or_default().puts.push(h);
        }
        Request::Cas { key, .. } => see(key, h, found(key)),
        Request::Delete { key } if r.deleted == 0 => see(key, h, Seen::Absent),
        Request::Delete { key } => {
            see(key, h - 1, Seen::Present);
            lines.entry(key).or_default().deletes.push(h);
        }
        other => other.written_keys().into_iter().for_each(|k| lines.entry(k).or_default().puts.push(h)),
    }
}

/// How many of `revs` (sorted) lie in `(lo, hi]`.
fn count_in(revs: &[Revision], lo: Revision, hi: Revision) -> usize {
    revs.partition_point(|&r| r <= hi).saturating_sub(revs.partition_point(|&r| r <= lo))
}

/// The last of `revs` (sorted) in `(lo, hi]`.
fn last_in(revs: &[Revision], lo: Revision, hi: Revision) -> Option<Revision> {
    let r = *revs.get(revs.partition_point(|&r| r <= hi).checked_sub(1)?)?;
    (r > lo).then_some(r)
}

impl<'h> Timeline<'h> {
    /// The key's first observation at or after revision `g`.
    pub(super) fn next_seen(&self, g: Revision) -> Option<(Revision, Seen<'h>, usize)> {
        self.seen.get(self.seen.partition_point(|&(h, _, _)| h < g)).copied()
    }

    /// The key's first returned kv read at or after revision `g`.
    pub(super) fn next_kv(&self, g: Revision) -> Option<(&'h KeyValue, usize)> {
        let from = self.seen.partition_point(|&(h, _, _)| h < g);
        self.seen[from..]
            .iter()
            .find_map(|&(_, s, op)| if let Seen::Kv(kv) = s { Some((kv, op)) } else { None })
    }

    /// Acknowledged puts of the key in `(lo, hi]`.
    pub(super) fn puts_in(&self, lo: Revision, hi: Revision) -> usize {
        count_in(&self.puts, lo, hi)
    }

    /// The last acknowledged put or delete of the key in `(lo, hi]`: its revision and
    /// whether it was a put.
    pub(super) fn last_write_in(&self, lo: Revision, hi: Revision) -> Option<(Revision, bool)> {
        let put = last_in(&self.puts, lo, hi).map(|r| (r, true));
        let delete = last_in(&self.deletes, lo, hi).map(|r| (r, false));
        put.max(delete)
    }
}
