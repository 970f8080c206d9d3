//! Consistency hashes of the store, for comparing replicas (etcd's Hash / HashKV).
//!
//! Both are CRC-32C (Castagnoli) over stored versions in revision order, each written
//! as etcd's backend writes it ([`StoredEntry::write_backend_key`] and
//! [`StoredEntry::write_backend_value`], also what a Maintenance.Snapshot file holds in
//! its bucket `key`), after the bucket name `key`:
//!
//! ```text
//! key:   main (8 B big-endian) '_' sub (8 B big-endian) ['t' if tombstone]
//! value: mvccpb.KeyValue protobuf: 1 key, 2 create_revision, 3 mod_revision,
//!        4 version, 5 value, 6 lease (zero fields omitted); a tombstone is {key}
//! ```
//!
//! [`KvStore::hash_kv`] selects versions as etcd 3.5.33's `HashByRev` does, so for the
//! same history it should produce etcd's value (not checked against a live etcd): all
//! versions with `compact_revision < main <= revision`, plus, at or below the
//! compaction, the ones still visible at `revision` (all of them when no key is live at
//! `revision`, an etcd quirk), minus a tombstone at exactly `compact_revision`.
//! [`KvStore::hash`] hashes everything stored, without selection.

use crate::error::{Error, Result};
use crate::mvcc::key_index::StoredRef;
use crate::mvcc::revision::Revision;
use crate::mvcc::store::KvStore;

/// One stored version with its key, for revision-ordered walks.
#[derive(Clone, Copy, Debug)]
pub struct StoredEntry<'a> {
    pub key: &'a [u8],
    pub stored: StoredRef<'a>,
}

impl StoredEntry<'_> {
    pub fn revision(&self) -> Revision {
        self.stored.version.mod_revision
    }

    /// Append etcd's backend key of this version: its revision (`main` 8 B big-endian,
    /// `_`, `sub` 8 B big-endian) and a `t` if it is a tombstone. Revision order is
    /// the keys' byte order (revisions are positive).
    pub fn write_backend_key(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.revision().to_etcd_bytes());
        if self.stored.tombstone {
            buf.push(b't');
        }
    }

    /// Append etcd's backend value of this version: its `mvccpb.KeyValue` (zero fields
    /// omitted); a tombstone's is only its key.
    pub fn write_backend_value(&self, buf: &mut Vec<u8>) {
        let v = &self.stored.version;
        put_bytes(buf, 1, self.key);
        if !self.stored.tombstone {
            put_int(buf, 2, v.create_revision);
            put_int(buf, 3, v.mod_revision.main);
            put_int(buf, 4, v.version);
            put_bytes(buf, 5, v.value);
            put_int(buf, 6, v.lease);
        }
    }
}

impl KvStore {
    /// Every stored version, tombstones included, in revision order. Costs one
    /// reference per version (see the layout notes in `store.rs`).
    pub fn stored_entries(&self) -> Vec<StoredEntry<'_>> {
        let mut entries: Vec<StoredEntry<'_>> = self
            .index
            .iter()
            .flat_map(|(key, ki)| ki.stored().map(move |stored| StoredEntry { key, stored }))
            .collect();
        entries.sort_unstable_by_key(StoredEntry::revision);
        entries
    }

    /// CRC-32C of everything stored, in revision order.
    pub fn hash(&self) -> u32 {
        let mut hasher = EntryHasher::new();
        for entry in self.stored_entries() {
            hasher.write(&entry);
        }
        hasher.crc
    }

    /// etcd's HashKV at `revision` (0 = current): the hash and the compact revision.
    /// Errors: Compacted (`0 < revision < compact_revision`), FutureRev
    /// (`revision > current_revision`).
    pub fn hash_kv(&self, revision: i64) -> Result<(u32, i64)> {
        let compact = self.compact_revision;
        if revision > 0 && revision < compact {
            return Err(Error::Compacted);
        }
        if revision > 0 && revision > self.current_revision {
            return Err(Error::FutureRev);
        }
        let at = if revision == 0 { self.current_revision } else { revision };
        let any_live = self.index.values().any(|ki| ki.get(at).is_some());
        let mut hasher = EntryHasher::new();
        for entry in self.stored_entries() {
            let rev = entry.revision();
            if rev.main > at {
                break;
            }
            let below = rev.main <= compact;
            if below && any_live && !self.visible_at(entry.key, at, rev) {
                continue;
            }
            if rev.main == compact && entry.stored.tombstone {
                continue;
            }
            hasher.write(&entry);
        }
        Ok((hasher.crc, compact))
    }

    fn visible_at(&self, key: &[u8], at: i64, rev: Revision) -> bool {
        self.index.get(key).and_then(|ki| ki.get(at)).is_some_and(|v| v.mod_revision == rev)
    }
}

/// Feeds entries, etcd-encoded, into a running CRC-32C.
struct EntryHasher {
    crc: u32,
    buf: Vec<u8>,
}

impl EntryHasher {
    fn new() -> Self {
        EntryHasher { crc: crc32c::crc32c(b"key"), buf: Vec::new() }
    }

    fn write(&mut self, entry: &StoredEntry<'_>) {
        self.buf.clear();
        entry.write_backend_key(&mut self.buf);
        entry.write_backend_value(&mut self.buf);
        self.crc = crc32c::crc32c_append(self.crc, &self.buf);
    }
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// A protobuf length-delimited field (wire type 2), omitted when empty.
fn put_bytes(buf: &mut Vec<u8>, field: u8, bytes: &[u8]) {
    if !bytes.is_empty() {
        buf.push(field << 3 | 2);
        put_varint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }
}

/// A protobuf int64 field (wire type 0, two's complement varint), omitted when 0.
fn put_int(buf: &mut Vec<u8>, field: u8, v: i64) {
    if v != 0 {
        buf.push(field << 3);
        put_varint(buf, v as u64);
    }
}

#[cfg(test)]
#[path = "hash_test.rs"]
mod hash_test;
