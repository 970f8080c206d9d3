//! Snapshot files: one self-checking file per snapshot, written atomically.
//!
//! Files are named `snapshot-{seq:016x}.snap`; a save takes the next `seq`, writes
//! the file with `write_atomic` (temp file, fsync, rename, directory fsync), and
//! only then removes older snapshot files. The latest is the highest `seq`; a
//! corrupt latest snapshot is an error naming the file, never a silent fallback.
//!
//! # Layout (integers little-endian)
//!
//! ```text
//! offset      size      field
//!      0         8      magic "MSSNAP\0\x01" (format version 1)
//!      8         4      meta_len u32
//!     12         8      data_len u64
//!     20         4      crc: CRC32C of bytes [8, 20) ++ meta ++ data
//!     24  meta_len      meta (e.g. last included log id, membership)
//!      …  data_len      data (the state machine image)
//! ```
//!
//! The file must be exactly `24 + meta_len + data_len` bytes.

use std::path::{Path, PathBuf};

use crate::env::disk::Disk;
use crate::storage::WalError;

#[cfg(test)]
#[path = "snapshot_test.rs"]
mod snapshot_test;

const MAGIC: &[u8; 8] = b"MSSNAP\0\x01";
const HEADER_LEN: usize = 24;
const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";

/// A snapshot read back and verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedSnapshot {
    pub path: PathBuf,
    pub meta: Vec<u8>,
    pub data: Vec<u8>,
}

fn snapshot_file_name(seq: u64) -> String {
    format!("{PREFIX}{seq:016x}{SUFFIX}")
}

fn parse_seq(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let well_formed = hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    well_formed.then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

/// Snapshot sequence numbers present in `dir`, ascending (empty if `dir` is absent).
fn list_seqs(disk: &dyn Disk, dir: &Path) -> Result<Vec<u64>, WalError> {
    if !disk.exists(dir) {
        return Ok(Vec::new());
    }
    let names = disk.list_dir(dir).map_err(WalError::io("list", dir))?;
    let mut seqs: Vec<u64> = names.iter().filter_map(|n| parse_seq(n)).collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// Header and meta: the file is these bytes followed by `data` (kept apart so that
/// the state image, the bulk of it, is written from where it is, not copied).
fn encode_head(meta: &[u8], data: &[u8]) -> Vec<u8> {
    let meta_len = u32::try_from(meta.len()).expect("snapshot meta larger than 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + meta.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&meta_len.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c_append(crc32c::crc32c(&out[8..20]), meta), data);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(meta);
    out
}

fn decode(path: &Path, mut bytes: Vec<u8>) -> Result<LoadedSnapshot, WalError> {
    let corrupt = |offset: u64, reason: String| WalError::corrupt(path, offset, reason);
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(corrupt(0, format!("not a snapshot file (bad magic or {} bytes)", bytes.len())));
    }
    let meta_len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as u64;
    let data_len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let expected_len = (HEADER_LEN as u64).checked_add(meta_len).and_then(|n| n.checked_add(data_len));
    if expected_len != Some(bytes.len() as u64) {
        let reason = format!("header says meta {meta_len} + data {data_len} bytes, file is {}", bytes.len());
        return Err(corrupt(8, reason));
    }
    let stored = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c_append(crc32c::crc32c(&bytes[8..20]), &bytes[HEADER_LEN..]);
    if stored != computed {
        return Err(corrupt(20, format!("CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")));
    }
    let meta = bytes[HEADER_LEN..HEADER_LEN + meta_len as usize].to_vec();
    // The data stays in the buffer it was read into (moved down, not copied out).
    bytes.drain(..HEADER_LEN + meta_len as usize);
    Ok(LoadedSnapshot { path: path.to_path_buf(), meta, data: bytes })
}

/// Write a new snapshot durably, then remove the older ones. Returns its path. An
/// error from the cleanup step (op "remove old snapshot") leaves the new snapshot
/// durable and latest.
pub fn save_snapshot(disk: &dyn Disk, dir: &Path, meta: &[u8], data: &[u8]) -> Result<PathBuf, WalError> {
    disk.create_dir_all(dir).map_err(WalError::io("create dir", dir))?;
    let older = list_seqs(disk, dir)?;
    let seq = older.last().map_or(1, |s| s + 1);
    let path = dir.join(snapshot_file_name(seq));
    disk.write_atomic_parts(&path, &[&encode_head(meta, data), data])
        .map_err(WalError::io("write snapshot", &path))?;
    for old in older {
        let old_path = dir.join(snapshot_file_name(old));
        disk.remove(&old_path).map_err(WalError::io("remove old snapshot", &old_path))?;
    }
    disk.sync_dir(dir).map_err(WalError::io("sync dir", dir))?;
    Ok(path)
}

/// The newest snapshot in `dir`, verified; `None` if there is none.
pub fn load_latest_snapshot(disk: &dyn Disk, dir: &Path) -> Result<Option<LoadedSnapshot>, WalError> {
    let Some(seq) = list_seqs(disk, dir)?.pop() else {
        return Ok(None);
    };
    let path = dir.join(snapshot_file_name(seq));
    let bytes = disk.read(&path).map_err(WalError::io("read snapshot", &path))?;
    decode(&path, bytes).map(Some)
}
