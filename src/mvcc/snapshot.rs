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
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::mvcc::key_index::KeyIndex;
use crate::mvcc::range::Index;
use crate::mvcc::store::KvStore;

const SNAPSHOT_MAGIC: &[u8; 8] = b"MSMVCC01";
const CRC_LEN: usize = 4;

#[derive(Serialize)]
struct BodyRef<'a> {
    current_revision: i64,
    compact_revision: i64,
    keys: KeysRef<'a>,
}

/// Serialises the index as a sequence of (key, KeyIndex) without copying it.
struct KeysRef<'a>(&'a Index);

impl Serialize for KeysRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for entry in self.0.iter() {
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

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
        let body = BodyRef {
            current_revision: self.current_revision,
            compact_revision: self.compact_revision,
            keys: KeysRef(&self.index),
        };
        let start = out.len();
        out.extend_from_slice(SNAPSHOT_MAGIC);
        // Serialising plain data into a Vec without a size limit has no failure mode.
        bincode::DefaultOptions::new()
            .serialize_into(&mut *out, &body)
            .expect("bincode into a Vec without a size limit cannot fail");
        let crc = crc32c::crc32c(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

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
