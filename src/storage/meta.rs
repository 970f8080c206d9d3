//! Small durable files (the Raft vote, cluster identity): whole-file replace with a
//! CRC, via `write_atomic`.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "MSMETA\0\x01"
//!      8     4  len u32 LE
//!     12     4  crc: CRC32C of bytes [8, 12) ++ payload
//!     16   len  payload
//! ```

use std::path::Path;

use crate::env::disk::Disk;
use crate::storage::WalError;

#[cfg(test)]
#[path = "meta_test.rs"]
mod meta_test;

const MAGIC: &[u8; 8] = b"MSMETA\0\x01";
const HEADER_LEN: usize = 16;

fn crc_of(len_field: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len_field), payload)
}

/// Replace `path` with `payload`, atomically and durably (creates the parent dir).
pub fn save_small_file(disk: &dyn Disk, path: &Path, payload: &[u8]) -> Result<(), WalError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        disk.create_dir_all(dir).map_err(WalError::io("create dir", dir))?;
    }
    let len = u32::try_from(payload.len()).expect("small file larger than 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc_of(&len.to_le_bytes(), payload).to_le_bytes());
    out.extend_from_slice(payload);
    disk.write_atomic(path, &out).map_err(WalError::io("write", path))
}

/// The payload of `path`, verified; `None` if the file does not exist.
pub fn load_small_file(disk: &dyn Disk, path: &Path) -> Result<Option<Vec<u8>>, WalError> {
    if !disk.exists(path) {
        return Ok(None);
    }
    let bytes = disk.read(path).map_err(WalError::io("read", path))?;
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        let reason = format!("not a metastore small file (bad magic or {} bytes)", bytes.len());
        return Err(WalError::corrupt(path, 0, reason));
    }
    let len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
    if HEADER_LEN + len != bytes.len() {
        let reason = format!("length field says {len} payload bytes, file has {}", bytes.len() - HEADER_LEN);
        return Err(WalError::corrupt(path, 8, reason));
    }
    let stored = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
    let computed = crc_of(&bytes[8..12], &bytes[HEADER_LEN..]);
    if stored != computed {
        let reason = format!("CRC mismatch (stored {stored:#010x}, computed {computed:#010x})");
        return Err(WalError::corrupt(path, 12, reason));
    }
    Ok(Some(bytes[HEADER_LEN..].to_vec()))
}
