//! Checkers for a single sequential client's history against the state read back
//! after the last recovery. Every op writes a value unique to it.
//!
//! - **Durability**: for each key, the final value was written by the last
//!   acknowledged op on that key or by an op whose outcome is unknown (an earlier
//!   one only at a revision above the acknowledged op's: it took effect late). An
//!   acknowledged write can be overwritten only by a later write, never lost.
//! - **No phantom writes**: a final value was written by some op on that key, not by
//!   one the store refused (NOSPACE: "database space exceeded").
//! - **Atomicity**: the two keys of a pair txn always carry the same value.
//! - **Revisions**: acknowledged revisions strictly increase in op order; the final
//!   read's revision is at least the last acknowledged one; a value still carrying an
//!   acknowledged write has that write's revision as its mod_revision.

use std::collections::BTreeMap;

use crate::traffic::{Op, OpKind, Outcome, PAIR_A, PAIR_B};

fn keys_of(op: &Op) -> Vec<Vec<u8>> {
    match &op.kind {
        OpKind::Put { key } => vec![key.clone()],
        OpKind::PairTxn => vec![PAIR_A.to_vec(), PAIR_B.to_vec()],
    }
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Check `history` against the final `(revision, kvs)`. Returns the number of ops
/// checked or the first violation, naming the guarantee it breaks.
pub fn check(history: &[Op], final_rev: i64, kvs: &[(Vec<u8>, Vec<u8>, i64)]) -> Result<u64, String> {
    let state: BTreeMap<&[u8], (&[u8], i64)> =
        kvs.iter().map(|(k, v, r)| (k.as_slice(), (v.as_slice(), *r))).collect();
    check_revisions(history, final_rev)?;
    let mut per_key: BTreeMap<Vec<u8>, Vec<&Op>> = BTreeMap::new();
    for op in history {
        for k in keys_of(op) {
            per_key.entry(k).or_default().push(op);
        }
    }
    for (key, ops) in &per_key {
        check_key(key, ops, state.get(key.as_slice()).copied())?;
    }
    for k in state.keys() {
        if !per_key.contains_key(*k) {
            return Err(format!("no phantom writes: key {:?} exists but was never written", show(k)));
        }
    }
    let a = state.get(PAIR_A).map(|(v, _)| *v);
    let b = state.get(PAIR_B).map(|(v, _)| *v);
    if a != b {
        return Err(format!(
            "atomicity: pair txn keys differ after recovery: {:?} vs {:?}",
            a.map(show),
            b.map(show)
        ));
    }
    Ok(history.len() as u64)
}

fn check_revisions(history: &[Op], final_rev: i64) -> Result<(), String> {
    let mut last = 0;
    for op in history {
        if let Outcome::Ok { revision } = op.outcome {
            if revision <= last {
                return Err(format!(
                    "revision monotonic: op {} acknowledged at revision {revision} after revision {last}",
                    op.id
                ));
            }
            last = revision;
        }
    }
    if final_rev < last {
        return Err(format!("durability: final revision {final_rev} is below acknowledged revision {last}"));
    }
    Ok(())
}

fn check_key(key: &[u8], ops: &[&Op], found: Option<(&[u8], i64)>) -> Result<(), String> {
    let last_acked = ops.iter().rposition(|op| matches!(op.outcome, Outcome::Ok { .. }));
    let Some((value, mod_rev)) = found else {
        if let Some(i) = last_acked {
            return Err(format!(
                "durability: key {:?} is missing but op {} wrote it and was acknowledged",
                show(key),
                ops[i].id
            ));
        }
        return Ok(());
    };
    let Some(pos) = ops.iter().position(|op| op.value == value) else {
        return Err(format!(
            "no phantom writes: key {:?} holds {:?}, which no op wrote",
            show(key),
            show(value)
        ));
    };
    if let Outcome::Refused { reason } = &ops[pos].outcome {
        return Err(format!(
            "no phantom writes: key {:?} holds op {}'s value, but the op was refused ({reason})",
            show(key),
            ops[pos].id
        ));
    }
    if let Some(i) = last_acked {
        // An op whose outcome is unknown may take effect long after it was given up
        // on (a forwarded proposal delayed by a paused member, say): then after the
        // acknowledged one, so at a higher revision.
        let late = matches!(ops[pos].outcome, Outcome::Unknown { .. })
            && matches!(ops[i].outcome, Outcome::Ok { revision } if revision < mod_rev);
        if pos < i && !late {
            return Err(format!(
                "durability: key {:?} holds op {}'s value but later op {} was acknowledged",
                show(key),
                ops[pos].id,
                ops[i].id
            ));
        }
    }
    if let Outcome::Ok { revision } = ops[pos].outcome {
        if revision != mod_rev {
            return Err(format!(
                "revisions: key {:?} holds op {}'s value at mod_revision {mod_rev}, acknowledged at {revision}",
                show(key),
                ops[pos].id
            ));
        }
    }
    Ok(())
}
