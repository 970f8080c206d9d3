//! Demands: what the gaps before a key's next observation must do for it, derived
//! from the state now. A demand that needs every gap left in its window makes the
//! current gap's write *forced* (only writes meeting it are tried); one with no gap
//! left kills the path at once, instead of where the key is read.
//!
//! - **version deficit**: a read returned k at version v, mod_revision m, in the
//!   generation alive now; the acknowledged puts of k up to m leave it short of v:
//!   that many pending puts of k must fill gaps before m (an excess is fatal);
//! - **absence**: k is next seen absent at h but will still exist after the last
//!   acknowledged write of it before h: a pending delete of k must fill a gap after
//!   that write;
//! - **value / presence**: k is next seen holding v (or present) at h, and the last
//!   acknowledged write before h does not leave it so: a pending put of k=v (of k)
//!   must fill a gap after that write.
//!
//! ```text
//! gaps:            g=10        12          (11 and 13 acknowledged)
//! k:  v3 now       ?           ?     read at 13: k (m12 v5)   -> 1 more put of k at 10,
//!                                                               and the put at 12: forced
//! ```

use super::prepare::Prepared;
use super::timeline::Seen;
use crate::history::{Request, Revision};
use crate::model::KvState;

/// A write some gap of a window must make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Demand<'h> {
    Puts(&'h [u8]),
    PutsValue(&'h [u8], &'h [u8]),
    Deletes(&'h [u8]),
}

impl Demand<'_> {
    pub(super) fn met_by(self, request: &Request) -> bool {
        match self {
            Demand::Puts(key) => request.puts_key(key),
            Demand::PutsValue(key, value) => request.puts(key, value),
            Demand::Deletes(key) => matches!(request, Request::Delete { key: k } if k == key),
        }
    }
}

/// The demands `gap` must meet (none: the gap is free); or the key whose demand no
/// gap left can meet, with the op that observed it.
pub(super) fn forced<'h>(
    p: &Prepared<'h>,
    state: &KvState,
    gap: Revision,
    gaps_in: impl Fn(Revision, Revision) -> usize,
) -> Result<Vec<Demand<'h>>, (&'h [u8], usize)> {
    let cur = gap - 1;
    let mut tight = vec![];
    for &key in &p.watched {
        if let Some(d) = version_deficit(p, state, key, cur, &gaps_in)? {
            tight.push(d);
        }
        if let Some(d) = next_state(p, state, key, cur, &gaps_in)? {
            tight.push(d);
        }
    }
    Ok(tight)
}

fn version_deficit<'h>(
    p: &Prepared<'h>,
    state: &KvState,
    key: &'h [u8],
    cur: Revision,
    gaps_in: impl Fn(Revision, Revision) -> usize,
) -> Result<Option<Demand<'h>>, (&'h [u8], usize)> {
    let line = &p.timelines[key];
    let Some((kv, op)) = line.next_kv(cur) else { return Ok(None) };
    let now = state.entry(key);
    if kv.mod_revision <= cur || now.is_none_or(|e| e.create_revision != kv.create_revision) {
        return Ok(None);
    }
    let acked = line.puts_in(cur, kv.mod_revision) as i64;
    let at_m = i64::from(!p.write_at.contains_key(&kv.mod_revision));
    let deficit = kv.version - now.map_or(0, |e| e.version) - acked - at_m;
    let room = gaps_in(cur, kv.mod_revision - 1) as i64;
    if deficit > room || deficit < 0 {
        return Err((key, op));
    }
    Ok((deficit > 0 && deficit == room).then_some(Demand::Puts(key)))
}

fn next_state<'h>(
    p: &Prepared<'h>,
    state: &KvState,
    key: &'h [u8],
    cur: Revision,
    gaps_in: impl Fn(Revision, Revision) -> usize,
) -> Result<Option<Demand<'h>>, (&'h [u8], usize)> {
    let line = &p.timelines[key];
    let Some((h, seen, op)) = line.next_seen(cur + 1) else { return Ok(None) };
    let last = line.last_write_in(cur, h);
    let from = last.map_or(cur, |(r, _)| r);
    let present = last.map_or(state.entry(key).is_some(), |(_, put)| put);
    let demand = match seen {
        Seen::Absent if present => Demand::Deletes(key),
        Seen::Present if !present => Demand::Puts(key),
        Seen::Value(v) => {
            let holds = match last {
                Some((r, true)) => p.write_at.get(&r).is_some_and(|&w| p.op(w).request.puts(key, v)),
                Some((_, false)) => false,
                None => state.entry(key).is_some_and(|e| e.value == v),
            };
            if holds {
                return Ok(None);
            }
            Demand::PutsValue(key, v)
        }
        _ => return Ok(None),
    };
    match gaps_in(from, h) {
        0 => Err((key, op)),
        1 if from == cur => Ok(Some(demand)),
        _ => Ok(None),
    }
}
