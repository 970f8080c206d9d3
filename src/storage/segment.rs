//! WAL segment files: naming and listing.
//!
//! A segment is named `{seq:016x}-{first_index:016x}.wal`: `seq` counts segments
//! (consecutive: purging removes only a prefix, one durable removal at a time, so a
//! gap means a lost file), `first_index` is the index of its first record. Fixed
//! width lowercase hex makes name order equal numeric order.
//!
//! ```text
//! 0000000000000000-0000000000000001.wal   records 1..=900
//! 0000000000000001-0000000000000385.wal   records 901..  (0x385 = 901)
//! ```

use std::path::Path;

use crate::env::disk::Disk;
use crate::storage::WalError;

const SUFFIX: &str = ".wal";
const HEX_WIDTH: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentName {
    pub seq: u64,
    pub first_index: u64,
}

fn parse_hex(s: &str) -> Option<u64> {
    let well_formed = s.len() == HEX_WIDTH && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if well_formed {
        u64::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

impl SegmentName {
    pub fn file_name(&self) -> String {
        format!("{:016x}-{:016x}{SUFFIX}", self.seq, self.first_index)
    }

    /// Inverse of [`SegmentName::file_name`]; `None` for anything else.
    pub fn parse(name: &str) -> Option<SegmentName> {
        let stem = name.strip_suffix(SUFFIX)?;
        let (seq, first_index) = stem.split_once('-')?;
        Some(SegmentName { seq: parse_hex(seq)?, first_index: parse_hex(first_index)? })
    }
}

/// The segments in `dir`, oldest first. Files not ending in `.wal` are ignored; a
/// `.wal` file with a malformed name or a gap in `seq` is corruption.
pub(crate) fn list_segments(disk: &dyn Disk, dir: &Path) -> Result<Vec<SegmentName>, WalError> {
    let names = disk.list_dir(dir).map_err(WalError::io("list", dir))?;
    let mut segments = Vec::new();
    for name in names.iter().filter(|n| n.ends_with(SUFFIX)) {
        let parsed = SegmentName::parse(name).ok_or_else(|| {
            WalError::corrupt(
                &dir.join(name),
                0,
                "malformed WAL segment name (want {seq:016x}-{index:016x}.wal)",
            )
        })?;
        segments.push(parsed);
    }
    segments.sort();
    for pair in segments.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            let reason = format!("segment seq {} missing before this one", pair[0].seq + 1);
            return Err(WalError::corrupt(&dir.join(pair[1].file_name()), 0, reason));
        }
    }
    Ok(segments)
}
