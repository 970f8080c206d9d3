//! Replay of one segment image, and the rule that tells a torn tail from corruption.
//!
//! # The rule
//!
//! Frames are decoded from offset 0 until the first offset `X` where the bytes are
//! not a valid frame (short header, length over the maximum, frame past the end of
//! the file, CRC mismatch). Then:
//!
//! - **Torn tail** (truncate the file to `X`, keep going) iff the segment is the
//!   last one AND no valid frame starts at any byte offset in `(X, end)`. This covers
//!   a crash mid-append (header or payload cut short, length pointing past the end),
//!   a zeroed or preallocated tail, and a garbled final write.
//! - **Corruption** (refuse: `WalError::Corrupt` naming the file and `X`) otherwise:
//!   a bad frame in an earlier segment (its last sync finished before the next
//!   segment was created, so none of it can be torn), or a bad frame followed by a
//!   valid frame anywhere later in the file.
//!
//! Why search every offset rather than only where the bad frame's length says the
//! next frame is: a flipped bit in a *length* field in the middle of the log makes
//! that length point past the end (or into a payload), and trusting it would
//! truncate durable records silently. The search finds the real next frame at its
//! original offset. It costs one pass over the tail, which in the torn case is at
//! most the one batch being written at the crash.
//!
//! Limits, stated honestly: (1) damage to the *last* durable record of the last
//! segment, with nothing after it, is indistinguishable from a torn write and is
//! truncated (every CRC-framed log shares this); (2) a payload that itself embeds a
//! valid frame, cut by a crash, reads as corruption: a loud false alarm, never
//! silent loss.

use crate::storage::record::{self, FrameError, Record, HEADER_LEN};

#[cfg(test)]
#[path = "replay_test.rs"]
mod replay_test;

/// The first bad frame in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BadFrame {
    pub offset: u64,
    pub error: FrameError,
    /// Offset of the first valid frame after `offset`, if any.
    pub next_valid_offset: Option<u64>,
}

/// Every valid frame before the first bad one.
#[derive(Debug)]
pub(crate) struct SegmentScan {
    pub records: Vec<Record>,
    /// Bytes covered by `records`.
    pub valid_bytes: u64,
    pub bad: Option<BadFrame>,
}

/// What to do with a scanned segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Clean,
    TornTail { truncate_to: u64 },
    Corrupt { offset: u64, reason: String },
}

pub(crate) fn scan_segment(bytes: &[u8]) -> SegmentScan {
    let mut records = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        match record::decode_frame(&bytes[offset..]) {
            Ok(frame) => {
                offset += frame.frame_len();
                records.push(frame.to_record());
            }
            Err(error) => {
                let next_valid_offset = find_valid_frame(bytes, offset + 1).map(|o| o as u64);
                let bad = BadFrame { offset: offset as u64, error, next_valid_offset };
                return SegmentScan { records, valid_bytes: offset as u64, bad: Some(bad) };
            }
        }
    }
    SegmentScan { records, valid_bytes: offset as u64, bad: None }
}

/// First offset `>= from` where a complete frame with a good CRC starts.
///
/// A frame that starts after the last non-zero byte is all zeros, which is never a
/// valid frame (checked below), so the search stops there: a reserved tail of
/// zeros (`Disk::open_append_reserved`, megabytes after a crash) costs one pass.
pub(crate) fn find_valid_frame(bytes: &[u8], from: usize) -> Option<usize> {
    let mut last_start = bytes.len().checked_sub(HEADER_LEN)?;
    if record::decode_frame(&[0; HEADER_LEN]).is_err() {
        last_start = last_start.min(bytes.iter().rposition(|b| *b != 0)?);
    }
    (from..=last_start).find(|&at| record::decode_frame(&bytes[at..]).is_ok())
}

pub(crate) fn judge(scan: &SegmentScan, is_last_segment: bool) -> Verdict {
    let Some(bad) = &scan.bad else {
        return Verdict::Clean;
    };
    match (is_last_segment, bad.next_valid_offset) {
        (true, None) => Verdict::TornTail { truncate_to: bad.offset },
        (_, Some(next)) => Verdict::Corrupt {
            offset: bad.offset,
            reason: format!("{}, but a valid record follows at byte offset {next}", bad.error),
        },
        (false, None) => Verdict::Corrupt {
            offset: bad.offset,
            reason: format!("{} in a segment that is not the last (it cannot be a torn write)", bad.error),
        },
    }
}
