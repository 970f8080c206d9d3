//! The watch checker: what a watcher of every key saw, against etcd's watch
//! guarantees (api_guarantees.md) and against the writes clients saw acknowledged.
//!
//! The watcher watches all keys with prev_kv from revision `start`, resuming from the
//! revision after the last one it saw whenever its stream breaks. With no compaction
//! in the run, and every revision made by a write that changes something:
//!
//! ```text
//! ordered     revisions never go back across the stream (resumes included)
//! unique      no (revision, key) event twice
//! reliable    every revision start..=final has at least one event (no gap)
//! atomic      all events of one revision arrive in one response
//! acked       an acknowledged write's revision carries exactly its changes
//! prev_kv     an event's prev_kv is the key's value from the watcher's own earlier
//!             events (none after a delete or before the first put)
//! ```
//!
//! Pure code: the traffic records [`SeenEvent`]s and [`AckedWrite`]s; [`check`]
//! returns how many events it checked or the first broken guarantee.

use std::collections::{BTreeMap, HashSet};

use crate::history::show;

/// One event as the watcher received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenEvent {
    pub revision: i64,
    pub key: Vec<u8>,
    /// None for a delete.
    pub value: Option<Vec<u8>>,
    pub prev_value: Option<Vec<u8>>,
    /// Which response (counted across reconnects) carried it.
    pub response: u64,
}

/// A write a client saw acknowledged at `revision`: each key's new value (None:
/// deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    pub revision: i64,
    pub changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Check the watcher's events from `start` through `final_revision`.
pub fn check(
    seen: &[SeenEvent],
    start: i64,
    final_revision: i64,
    acked: &[AckedWrite],
) -> Result<u64, String> {
    let mut last_rev = i64::MIN;
    let mut pairs = HashSet::new();
    let mut response_of: BTreeMap<i64, u64> = BTreeMap::new();
    let mut values: BTreeMap<&[u8], Vec<u8>> = BTreeMap::new();
    let mut by_rev: BTreeMap<i64, Vec<&SeenEvent>> = BTreeMap::new();
    for e in seen {
        if e.revision < last_rev {
            return Err(format!("watch ordered: revision {} after {last_rev}", e.revision));
        }
        last_rev = e.revision;
        if !pairs.insert((e.revision, e.key.clone())) {
            return Err(format!("watch unique: {} at revision {} twice", show(&e.key), e.revision));
        }
        if *response_of.entry(e.revision).or_insert(e.response) != e.response {
            return Err(format!("watch atomic: revision {} split across responses", e.revision));
        }
        let expected_prev = values.get(e.key.as_slice()).cloned();
        if e.revision > start && e.prev_value != expected_prev {
            return Err(format!(
                "watch prev_kv: {} at revision {} came with prev {:?}, the watcher's history says {:?}",
                show(&e.key),
                e.revision,
                e.prev_value.as_deref().map(show),
                expected_prev.as_deref().map(show)
            ));
        }
        match &e.value {
            Some(v) => values.insert(&e.key, v.clone()),
            None => values.remove(e.key.as_slice()),
        };
        by_rev.entry(e.revision).or_default().push(e);
    }
    if let Some(gap) = (start..=final_revision).find(|r| !by_rev.contains_key(r)) {
        return Err(format!(
            "watch reliable: no event at revision {gap} (watched {start}..={final_revision})"
        ));
    }
    for w in acked.iter().filter(|w| w.revision >= start && w.revision <= final_revision) {
        let mut got: Vec<(Vec<u8>, Option<Vec<u8>>)> =
            by_rev[&w.revision].iter().map(|e| (e.key.clone(), e.value.clone())).collect();
        let mut want = w.changes.clone();
        got.sort();
        want.sort();
        if got != want {
            return Err(format!(
                "watch vs acknowledged write at revision {}: watcher saw {got:?}, the client wrote {want:?}",
                w.revision
            ));
        }
    }
    Ok(seen.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(rev: i64, key: &str, v: &str, prev: Option<&str>, resp: u64) -> SeenEvent {
        SeenEvent {
            revision: rev,
            key: key.into(),
            value: Some(v.into()),
            prev_value: prev.map(|p| p.into()),
            response: resp,
        }
    }

    #[test]
    fn a_clean_stream_passes() {
        let seen = vec![put(2, "a", "1", None, 0), put(3, "a", "2", Some("1"), 1), put(3, "b", "1", None, 1)];
        let acked = vec![AckedWrite {
            revision: 3,
            changes: vec![("b".into(), Some("1".into())), ("a".into(), Some("2".into()))],
        }];
        assert_eq!(check(&seen, 2, 3, &acked), Ok(3));
    }

    #[test]
    fn each_guarantee_is_checked() {
        let gap = vec![put(2, "a", "1", None, 0), put(4, "a", "2", Some("1"), 1)];
        assert!(check(&gap, 2, 4, &[]).unwrap_err().contains("reliable"));
        let dup = vec![put(2, "a", "1", None, 0), put(2, "a", "1", None, 1)];
        assert!(check(&dup, 2, 2, &[]).unwrap_err().contains("unique"));
        let back = vec![put(3, "a", "1", None, 0), put(2, "b", "1", None, 1)];
        assert!(check(&back, 2, 3, &[]).unwrap_err().contains("ordered"));
        let split = vec![put(2, "a", "1", None, 0), put(2, "b", "1", None, 1)];
        assert!(check(&split, 2, 2, &[]).unwrap_err().contains("atomic"));
        let prev = vec![put(2, "a", "1", None, 0), put(3, "a", "2", Some("0"), 1)];
        assert!(check(&prev, 2, 3, &[]).unwrap_err().contains("prev_kv"));
        let seen = vec![put(2, "a", "1", None, 0)];
        let acked = vec![AckedWrite { revision: 2, changes: vec![("a".into(), Some("9".into()))] }];
        assert!(check(&seen, 2, 2, &acked).unwrap_err().contains("acknowledged"));
    }
}
