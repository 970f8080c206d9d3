//! Key permissions as intervals, and whether a user's permissions cover a request.
//!
//! etcd's forms, for a permission and for a request alike:
//! - `range_end` empty: the single key `key`;
//! - `range_end == "\0"`: every key from `key` on (`key == "\0"` too: every key);
//! - otherwise the half-open range `[key, range_end)`.
//!
//! A request is permitted when the union of the user's permissions of the needed kind
//! covers it entirely, however that union is split among roles and grants: with
//! `[a, c)` from one role and `[c, e)` from another, `[b, d)` is readable.
//!
//! ```text
//! grants:   [a ... c)        [c ... e)      {x}
//! merged:   [a ............... e)           [x, x\0)
//! [b, d)    covered            [d, f)  not covered (e..f missing)
//! x         covered            y       not covered
//! ```

use std::collections::BTreeSet;

/// The end of an interval: a key (exclusive) or past every key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Key(Vec<u8>),
    Infinite,
}

/// A half-open key interval `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interval {
    start: Vec<u8>,
    end: End,
}

impl Interval {
    /// etcd's (key, range_end) form as an interval; `None` for an empty range
    /// (`range_end <= key`, which names no key).
    pub fn from_etcd(key: &[u8], range_end: &[u8]) -> Option<Interval> {
        if range_end.is_empty() {
            let mut end = key.to_vec();
            end.push(0);
            return Some(Interval { start: key.to_vec(), end: End::Key(end) });
        }
        if range_end == [0] {
            return Some(Interval { start: key.to_vec(), end: End::Infinite });
        }
        if range_end <= key {
            return None;
        }
        Some(Interval { start: key.to_vec(), end: End::Key(range_end.to_vec()) })
    }
}

/// The union of some intervals, merged: sorted, disjoint and not touching.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalSet {
    merged: Vec<Interval>,
}

impl IntervalSet {
    pub fn new(intervals: impl IntoIterator<Item = Interval>) -> Self {
        let mut all: Vec<Interval> = intervals.into_iter().collect();
        all.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.end.cmp(&b.end)));
        let mut merged: Vec<Interval> = Vec::with_capacity(all.len());
        for iv in all {
            match merged.last_mut() {
                // Touching or overlapping: `iv.start <= last.end`.
                Some(last) if End::Key(iv.start.clone()) <= last.end => {
                    if iv.end > last.end {
                        last.end = iv.end;
                    }
                }
                _ => merged.push(iv),
            }
        }
        IntervalSet { merged }
    }

    /// Whether the union covers all of `want`.
    pub fn covers(&self, want: &Interval) -> bool {
        // The merged interval starting at or before `want.start` with the greatest
        // start is the only one that can cover it (merged intervals never touch).
        let idx = self.merged.partition_point(|iv| iv.start <= want.start);
        idx > 0 && self.merged[idx - 1].end >= want.end
    }
}

/// Read and write permissions of one user, merged over all of its roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPerms {
    pub read: IntervalSet,
    pub write: IntervalSet,
}

/// Whether `set` covers the request range (key, range_end) in etcd's form. A range
/// with `range_end <= key` names no key; it is judged as its start key alone.
pub fn covers_request(set: &IntervalSet, key: &[u8], range_end: &[u8]) -> bool {
    match Interval::from_etcd(key, range_end) {
        Some(iv) => set.covers(&iv),
        None => set.covers(&Interval::from_etcd(key, &[]).expect("a single key is an interval")),
    }
}

/// Names in sorted order, deduplicated (as etcd lists a user's roles).
pub fn sorted(names: impl IntoIterator<Item = String>) -> Vec<String> {
    names.into_iter().collect::<BTreeSet<_>>().into_iter().collect()
}
