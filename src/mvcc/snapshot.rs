//! The whole store as bytes, for raft snapshots.
//!
//! ```text
//! magic "MSMVCC01" (8 B, format version in the last two)
//! body: bincode (varint ints, little endian) of
//!       { current_revision: i64, compact_revision: i64,
//!         keys: [(key bytes, KeyIndex)] in ascending key order }
//! crc:  CRC-32C of magic + body, 4 B little endian
//! ```
//!
//! Decoding trusts nothing: it checks the length, magic and checksum, decodes with a
//! byte limit, refuses trailing bytes, then checks the invariants the store relies on
//! (revision counters, strictly ascending non-empty keys, each key's history). Any
//! failure is `Error::Internal("mvcc snapshot is corrupt: ...")`, never a panic.

use bincode::Options;
use std::ops::Bound;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::mvcc::key_index::KeyIndex;
use crate::mvcc::range::Index;
use crate::mvcc::store::KvStore;

const SNAPSHOT_MAGIC: &[u8; 8] = b"MSMVCC01";
const CRC_LEN: usize = 4;

#[derive(Deserialize)]
struct Body {
    current_revision: i64,
    compact_revision: i64,
    keys: Vec<(Box<[u8]>, KeyIndex)>,
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("mvcc snapshot is corrupt: {what}"))
}

impl KvStore {
    /// The full state (every stored version and both revision counters) as bytes.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_snapshot_into(&mut out);
        out
    }

    /// [`encode_snapshot`](Self::encode_snapshot) appended to `out` (whatever `out`
    /// held before is left alone and not covered by the checksum): a caller framing
    /// the store inside a larger image needs no second copy of it.
    pub fn encode_snapshot_into(&self, out: &mut Vec<u8>) {
        let mut encoder = self.begin_snapshot(out);
        // The same store, unchanged, in one step: nothing for the checks to refuse.
        let done = encoder.step(self, out, usize::MAX);
        debug_assert!(matches!(done, Ok(true)), "one unbounded step on the same store: {done:?}");
    }

    /// Start encoding the store as it is now, a few keys at a time (see
    /// [`SnapshotEncoder`]): writes the magic and the header to `out`.
    pub fn begin_snapshot(&self, out: &mut Vec<u8>) -> SnapshotEncoder {
        let start = out.len();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        let keys = self.index.values().filter(|ki| !ki.is_empty()).count() as u64;
        // The body's fields in order; a sequence's length is bincode's u64 varint.
        let header = (self.current_revision, self.compact_revision, keys);
        bincode::DefaultOptions::new()
            .serialize_into(&mut *out, &header)
            .expect("bincode into a Vec without a size limit cannot fail");
        SnapshotEncoder {
            at: self.current_revision,
            compact_revision: self.compact_revision,
            keys_left: keys,
            resume_after: None,
            start,
            done: false,
        }
    }
}

/// An encoding of a store as it stood at one revision, written in steps so that the
/// store can take writes in between (a snapshot then holds the store's lock for one
/// step at a time, not for the whole image). Each step skips what was appended
/// after that revision ([`KeyIndex::as_of`]); compaction in between cannot be undone
/// and is refused, as is a different store (one restored from a snapshot). The bytes
/// are exactly [`KvStore::encode_snapshot`]'s at that revision.
#[derive(Debug)]
pub struct SnapshotEncoder {
    at: i64,
    compact_revision: i64,
    keys_left: u64,
    /// The last key written; the next step starts after it.
    resume_after: Option<Box<[u8]>>,
    /// Where the magic starts in the output (the checksum covers from there).
    start: usize,
    done: bool,
}

impl SnapshotEncoder {
    /// The revision the encoding shows.
    pub fn revision(&self) -> i64 {
        self.at
    }

    /// Append the next keys (at most `max_keys` looked at) of `store`, which must be
    /// the store [`KvStore::begin_snapshot`] began from, moved on only by writes.
    /// `Ok(true)` once the whole image, checksum included, is in `out`.
    pub fn step(&mut self, store: &KvStore, out: &mut Vec<u8>, max_keys: usize) -> Result<bool> {
        if self.done {
            return Ok(true);
        }
        if store.compact_revision != self.compact_revision || store.current_revision < self.at {
            return Err(Error::Internal(format!(
                "mvcc snapshot at revision {}: the store was compacted to {} or replaced (now at {}) \
                 while it was encoded",
                self.at, store.compact_revision, store.current_revision
            )));
        }
        let from = match &self.resume_after {
            Some(key) => Bound::Excluded(&key[..]),
            None => Bound::Unbounded,
        };
        let max_keys = max_keys.max(1);
        let opts = bincode::DefaultOptions::new();
        let mut last: Option<&[u8]> = None;
        for (looked, (key, ki)) in store.index.range::<[u8], _>((from, Bound::Unbounded)).enumerate() {
            if looked == max_keys {
                self.resume_after = last.map(Box::from);
                return Ok(false);
            }
            last = Some(key);
            let Some(then) = ki.as_of(self.at) else { continue };
            if self.keys_left == 0 {
                return Err(self.count_error("more"));
            }
            self.keys_left -= 1;
            opts.serialize_into(&mut *out, &(key, &*then))
                .expect("bincode into a Vec without a size limit cannot fail");
        }
        if self.keys_left != 0 {
            return Err(self.count_error("fewer"));
        }
        let crc = crc32c::crc32c(&out[self.start..]);
        out.extend_from_slice(&crc.to_le_bytes());
        self.done = true;
        Ok(true)
    }

    fn count_error(&self, how: &str) -> Error {
        Error::Internal(format!("mvcc snapshot at revision {}: {how} keys than the store held then", self.at))
    }
}

impl KvStore {
    /// The store [`encode_snapshot`](Self::encode_snapshot) produced, or an error if
    /// `bytes` are not a valid snapshot.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<KvStore> {
        if bytes.len() < SNAPSHOT_MAGIC.len() + CRC_LEN {
            return Err(corrupt(format!("{} bytes is too short", bytes.len())));
        }
        let (framed, crc_bytes) = bytes.split_at(bytes.len() - CRC_LEN);
        let Some(body) = framed.strip_prefix(SNAPSHOT_MAGIC.as_slice()) else {
            return Err(corrupt("bad magic (not an mvcc snapshot, or an unknown format version)"));
        };
        let stored_crc = u32::from_le_bytes(crc_bytes.try_into().map_err(|_| corrupt("no checksum"))?);
        let actual_crc = crc32c::crc32c(framed);
        if stored_crc != actual_crc {
            return Err(corrupt(format!("checksum {actual_crc:#010x} != recorded {stored_crc:#010x}")));
        }
        let body: Body = bincode::DefaultOptions::new()
            .with_limit(bytes.len() as u64)
            .reject_trailing_bytes()
            .deserialize(body)
            .map_err(corrupt)?;
        Self::from_body(body)
    }

    /// A store from its parts (a restore from another format), checked as a decoded
    /// snapshot is: the same invariants, the same errors.
    pub fn from_parts(
        current_revision: i64,
        compact_revision: i64,
        keys: Vec<(Box<[u8]>, KeyIndex)>,
    ) -> Result<KvStore> {
        Self::from_body(Body { current_revision, compact_revision, keys })
    }

    fn from_body(body: Body) -> Result<KvStore> {
        let Body { current_revision, compact_revision, keys } = body;
        if current_revision < 1 {
            return Err(corrupt(format!("current revision {current_revision} < 1")));
        }
        if compact_revision < -1 || compact_revision > current_revision {
            return Err(corrupt(format!(
                "compact revision {compact_revision} outside -1..={current_revision}"
            )));
        }
        for (i, (key, ki)) in keys.iter().enumerate() {
            if key.is_empty() {
                return Err(corrupt("empty key"));
            }
            if i > 0 && keys[i - 1].0 >= *key {
                return Err(corrupt(format!("keys not strictly ascending at key #{i}")));
            }
            ki.validate(current_revision).map_err(|e| corrupt(format!("key #{i}: {e}")))?;
        }
        let index: Index = keys.into_iter().collect();
        Ok(KvStore { index, current_revision, compact_revision })
    }
}

#[cfg(test)]
#[path = "snapshot_test.rs"]
mod snapshot_test;
