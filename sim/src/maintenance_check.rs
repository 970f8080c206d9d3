//! Checkers for the Maintenance traffic ([`crate::maintenance`]): pure code over what
//! the actor and the other clients recorded.
//!
//! - **NOSPACE refuses puts** ([`check_no_puts_under_alarm`]). An [`AlarmSpan`] is a
//!   stretch of revisions over which a NOSPACE alarm is known to have stood: raised
//!   (acknowledged) when the store was at revision `raised_at`, still standing in a
//!   linearizable AlarmGet answered at revision `standing_at`, and cleared only after
//!   that. Alarms change no revision, so a write applied after the raise gets a revision
//!   above `raised_at`, and one applied before the AlarmGet a revision at most
//!   `standing_at`: no put (acknowledged, or seen by a watcher) may carry a revision in
//!   `(raised_at, standing_at]`. Deletes may: NOSPACE does not refuse them. Only ops
//!   that own their revision count (a put, a txn whose puts ran); a read's or a failed
//!   compare's header revision says nothing about when it applied.
//!
//!   ```text
//!   rev 40  put a        ack rev=40
//!           raise X      ack rev=40     span (40, 43]
//!   rev 41  delete b     ack rev=41     fine: deletes pass NOSPACE
//!   rev 42  put c        ack rev=42     VIOLATION: a put applied under the alarm
//!   rev 43  delete a     seen by watch
//!           alarm get    rev=43, lists X
//!           disarm X
//!   rev 44  put c        ack rev=44     fine
//!   ```
//!
//! - **Snapshots are etcd's file and the state at their revision**
//!   ([`decode_snapshot`], [`check_snapshot_against_watch`]). The stream's
//!   `remaining_bytes` count down to 0, one 32-byte message follows, and the bytes
//!   together are a bbolt database plus its SHA-256 (checked by the store's own
//!   importer, `storage::etcd_import`). The database read back must hold exactly the
//!   keys a watcher of every key (which saw every revision: the watch checker holds it
//!   to that) had seen live at the snapshot's revision, with their mod revisions.

use std::collections::BTreeMap;

use metastore::apply::ApplyLimits;
use metastore::mvcc::RangeRequest;
use metastore::storage::bbolt_read::read_buckets;
use metastore::storage::etcd_import::{import_etcd_db, split_snapshot_file, ImportOptions, SHA256_LEN};

use crate::history::{show, Op, Request};
use crate::watch_check::SeenEvent;

/// Revisions `(raised_at, standing_at]` over which the NOSPACE alarm of `alarm_id`
/// stood (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmSpan {
    pub alarm_id: u64,
    pub raised_at: i64,
    pub standing_at: i64,
}

impl AlarmSpan {
    fn covers(&self, revision: i64) -> bool {
        self.raised_at < revision && revision <= self.standing_at
    }
}

/// A put under a standing alarm, acknowledged or seen by a watcher, is a violation.
/// Returns how many spans were checked.
pub fn check_no_puts_under_alarm(
    spans: &[AlarmSpan],
    history: &[Op],
    watched: &[SeenEvent],
) -> Result<u64, String> {
    for span in spans {
        for op in history {
            let Some(resp) = op.response() else { continue };
            let puts = match &op.request {
                Request::Put { .. } | Request::PutMany { .. } => true,
                Request::Cas { .. } => resp.succeeded,
                _ => false,
            };
            if puts && span.covers(resp.revision) {
                return Err(format!(
                    "nospace refuses puts: {op} was acknowledged at revision {} while the NOSPACE alarm \
                     {:x} stood (raised at revision {}, still standing at {})",
                    resp.revision, span.alarm_id, span.raised_at, span.standing_at
                ));
            }
        }
        if let Some(e) = watched.iter().find(|e| e.value.is_some() && span.covers(e.revision)) {
            return Err(format!(
                "nospace refuses puts: a watcher saw {} put at revision {} while the NOSPACE alarm {:x} \
                 stood (raised at revision {}, still standing at {})",
                show(&e.key),
                e.revision,
                span.alarm_id,
                span.raised_at,
                span.standing_at
            ));
        }
    }
    Ok(spans.len() as u64)
}

/// The length of the stream's last message, the SHA-256 of the file.
pub const DIGEST_LEN: usize = SHA256_LEN;

/// One Maintenance.Snapshot message: `remaining_bytes` and the blob.
pub type SnapshotMessage = (u64, Vec<u8>);

/// A snapshot read back: its header revision and the live keys it holds
/// (key, value, mod revision), in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotSeen {
    pub member: usize,
    pub revision: i64,
    pub kvs: Vec<(Vec<u8>, Vec<u8>, i64)>,
}

/// Check a complete stream (the server ended it) and read the database back. Errors
/// name the broken property.
pub fn decode_snapshot(
    member: usize,
    header_revision: i64,
    messages: &[SnapshotMessage],
) -> Result<SnapshotSeen, String> {
    let Some(((first_remaining, first_blob), rest)) = messages.split_first() else {
        return Err("snapshot stream: ended without a message".into());
    };
    let size = first_remaining + first_blob.len() as u64;
    let mut remaining = *first_remaining;
    let mut data_messages = 1;
    for (r, blob) in rest {
        if remaining == 0 {
            break;
        }
        if *r != remaining.saturating_sub(blob.len() as u64) || blob.len() as u64 > remaining {
            return Err(format!(
                "snapshot stream: remaining_bytes {r} after a {}-byte blob, {remaining} were announced",
                blob.len()
            ));
        }
        remaining = *r;
        data_messages += 1;
    }
    let trailer = &messages[data_messages..];
    if remaining != 0 || trailer.len() != 1 || trailer[0].1.len() != SHA256_LEN || trailer[0].0 != 0 {
        return Err(format!(
            "snapshot stream: {} messages for a {size}-byte database, then {} more (want exactly one \
             {SHA256_LEN}-byte sha256 with remaining_bytes 0)",
            data_messages,
            trailer.len()
        ));
    }
    let file: Vec<u8> = messages.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    let db = split_snapshot_file(&file, false).map_err(|e| format!("snapshot file: {e}"))?;
    let buckets = read_buckets(db).map_err(|e| format!("snapshot file: bbolt: {e}"))?;
    let imported = import_etcd_db(&buckets, ApplyLimits::default(), ImportOptions::default())
        .map_err(|e| format!("snapshot file: {e}"))?;
    let kv = &imported.state.kv;
    if kv.current_revision() != header_revision {
        return Err(format!(
            "snapshot file: holds revision {}, its header says {header_revision}",
            kv.current_revision()
        ));
    }
    let all = RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let kvs = kv.range(&all).map_err(|e| format!("snapshot file: range: {e:?}"))?.kvs;
    Ok(SnapshotSeen {
        member,
        revision: header_revision,
        kvs: kvs.into_iter().map(|kv| (kv.key, kv.value, kv.mod_revision)).collect(),
    })
}

/// The snapshot holds what a watcher that saw every revision had seen live at the
/// snapshot's revision. `watched` must have passed the watch checker from revision 2.
pub fn check_snapshot_against_watch(snap: &SnapshotSeen, watched: &[SeenEvent]) -> Result<(), String> {
    let mut live: BTreeMap<&[u8], (&[u8], i64)> = BTreeMap::new();
    for e in watched.iter().filter(|e| e.revision <= snap.revision) {
        match &e.value {
            Some(v) => live.insert(&e.key, (v, e.revision)),
            None => live.remove(e.key.as_slice()),
        };
    }
    let want: Vec<(Vec<u8>, Vec<u8>, i64)> =
        live.into_iter().map(|(k, (v, r))| (k.to_vec(), v.to_vec(), r)).collect();
    if want != snap.kvs {
        let diff = want.iter().zip(&snap.kvs).find(|(a, b)| a != b).map(|(a, b)| {
            format!(
                "first difference: watched {}={}@{}, snapshot {}={}@{}",
                show(&a.0),
                show(&a.1),
                a.2,
                show(&b.0),
                show(&b.1),
                b.2
            )
        });
        return Err(format!(
            "snapshot: m{}'s snapshot at revision {} holds {} keys, the watched history {} at that revision; {}",
            snap.member,
            snap.revision,
            snap.kvs.len(),
            want.len(),
            diff.unwrap_or_else(|| "one is a prefix of the other".into())
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "maintenance_check_test.rs"]
mod maintenance_check_test;
