//! [`KvStore`]: the multi-version key space, its revision counters, and the
//! single-request operations (range, put, delete_range, compact). Transactions live in
//! `txn.rs`, hashing in `hash.rs`, snapshots in `snapshot.rs`.
//!
//! # Layout and memory
//!
//! ```text
//! KvStore
//!   index: BTreeMap<Box<[u8]>, KeyIndex>     every key's bytes, exactly once
//!     KeyIndex.generations: Vec<Generation>  (24 B) one per life of the key
//!       Generation { create_revision: i64, ver: i64, versions: Vec<StoredVersion> }  (40 B)
//!         StoredVersion { rev: Revision, value: Box<[u8]>, lease: i64 }            (40 B)
//!   current_revision: i64                    1 on a fresh store, as in etcd
//!   compact_revision: i64                    -1 until the first compaction, as in etcd
//! ```
//!
//! etcd keeps a key index (key + revisions) beside a revision-keyed backend whose every
//! record repeats the key and all metadata. Here a version holds only what cannot be
//! derived: its revision, value and lease (40 B + value). `mod_revision` is the
//! revision's main, `create_revision` and `version` come from the generation, a
//! tombstone is the last version of a generation that is not the current one, and the
//! key is the map's key. A read is one map lookup plus a binary search in the
//! generation. The price: revision-ordered walks (hashing) collect and sort references
//! first; a watch that needs "all changes since r" should keep its own recent-event
//! buffer fed by the [`Event`]s writes return.

use crate::error::{Error, Result};
use crate::mvcc::key_index::KeyIndex;
use crate::mvcc::range::{self, Index};
use crate::mvcc::txn_check;
use crate::mvcc::types::{DeleteRangeRequest, DeleteRangeResponse, Event, PutRequest, PutResponse};
use crate::mvcc::types::{RangeRequest, RangeResponse};
use crate::mvcc::write::Writer;

/// The MVCC key-value store. Plain data: no I/O, no clocks, no locks; the caller
/// serialises writes (raft apply order) and persists it through snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvStore {
    pub(super) index: Index,
    pub(super) current_revision: i64,
    pub(super) compact_revision: i64,
}

impl Default for KvStore {
    fn default() -> Self {
        Self::new()
    }
}

impl KvStore {
    pub fn new() -> Self {
        KvStore { index: Index::new(), current_revision: 1, compact_revision: -1 }
    }

    /// Revision of the last write transaction (1 on a fresh store): the response
    /// header revision.
    pub fn current_revision(&self) -> i64 {
        self.current_revision
    }

    /// Last compaction revision, -1 if never compacted (etcd's `compactMainRev`).
    pub fn compact_revision(&self) -> i64 {
        self.compact_revision
    }

    /// Keys with any stored version (live, or deleted but not yet compacted away).
    pub fn key_count(&self) -> usize {
        self.index.len()
    }

    /// Keys that exist now: their newest version is not a deletion.
    pub fn live_key_count(&self) -> usize {
        self.index.values().filter(|k| k.latest().is_some()).count()
    }

    /// Stored versions, tombstones included: what compaction reclaims.
    pub fn stored_revision_count(&self) -> usize {
        self.index.values().map(KeyIndex::stored_len).sum()
    }

    /// The stored history of one key, for checkers and debugging.
    pub fn key_index(&self, key: &[u8]) -> Option<&KeyIndex> {
        self.index.get(key)
    }

    /// etcd's Range. Errors: KeyNotProvided, FutureRev, Compacted.
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        txn_check::check_range_request(req)?;
        let at = range::read_revision(req.revision, self.current_revision, self.compact_revision)?;
        Ok(range::evaluate(&self.index, req, at))
    }

    /// etcd's Put: one new revision. Errors, in etcd's order: KeyNotProvided,
    /// InvalidArgument ("value is provided" / "lease is provided"), LeaseNotFound,
    /// KeyNotFound (ignore_value / ignore_lease on a missing key).
    pub fn put(
        &mut self,
        req: &PutRequest,
        lease_ok: &dyn Fn(i64) -> bool,
    ) -> Result<(PutResponse, Vec<Event>)> {
        txn_check::check_put_request(req)?;
        if req.lease != 0 && !lease_ok(req.lease) {
            return Err(Error::LeaseNotFound);
        }
        let mut writer = Writer::begin(self);
        let result = writer.put(req);
        writer.finish(result)
    }

    /// etcd's DeleteRange: one new revision if anything was deleted, none otherwise.
    /// Needs no lease check (the lease side learns of detached keys from the events).
    /// Errors: KeyNotProvided.
    pub fn delete_range(&mut self, req: &DeleteRangeRequest) -> Result<(DeleteRangeResponse, Vec<Event>)> {
        txn_check::check_delete_request(req)?;
        let mut writer = Writer::begin(self);
        let result = writer.delete_range(req);
        writer.finish(result)
    }

    /// Delete every one of `keys` (each a single key) in one revision: a revoked
    /// lease's keys, as etcd's lessor deletes them in one txn. Keys already gone are
    /// skipped; nothing deleted means no new revision.
    pub fn delete_keys(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Event>> {
        let mut writer = Writer::begin(self);
        let mut result = Ok(());
        for key in keys {
            let req = DeleteRangeRequest { key: key.clone(), ..Default::default() };
            if let Err(e) = writer.delete_range(&req) {
                result = Err(e);
                break;
            }
        }
        writer.finish(result).map(|((), events)| events)
    }

    /// Forget every version no read at `revision` or later can see. Errors:
    /// Compacted (`revision <= compact_revision`), FutureRev (`> current_revision`).
    pub fn compact(&mut self, revision: i64) -> Result<()> {
        if revision <= self.compact_revision {
            return Err(Error::Compacted);
        }
        if revision > self.current_revision {
            return Err(Error::FutureRev);
        }
        self.compact_revision = revision;
        self.index.retain(|_, ki| {
            ki.compact(revision);
            !ki.is_empty()
        });
        Ok(())
    }
}

#[cfg(test)]
#[path = "store_test.rs"]
mod store_test;
