//! WAL record codec: one record = one self-checking frame. Pure bytes, no I/O.
//!
//! # Frame layout (all integers little-endian)
//!
//! ```text
//! offset  size  field
//!      0     4  payload_len  u32, bytes of payload (<= MAX_PAYLOAD_BYTES)
//!      4     4  crc          u32, CRC32C (Castagnoli) of bytes [8, 17 + payload_len)
//!      8     1  kind         u8, meaning chosen by the caller
//!      9     8  index        u64, e.g. the Raft log index
//!     17     n  payload
//! ```
//!
//! Worked example: kind 1, index 5, payload `"hi"` is 19 bytes:
//!
//! ```text
//! 02 00 00 00   payload_len = 2
//! 0b e1 67 d1   crc = crc32c(01 05 00 00 00 00 00 00 00 68 69) = 0xd167e10b
//! 01            kind
//! 05 00 00 00 00 00 00 00   index = 5
//! 68 69         "hi"
//! ```
//!
//! The length is not under the CRC, but a damaged length moves the CRC's range, so
//! it shows up as a CRC mismatch or as a frame running past the end of the data.
//! A zeroed region never decodes: `crc32c` of nine zero bytes is not zero.

use std::fmt;

#[cfg(test)]
#[path = "record_test.rs"]
mod record_test;

/// Bytes before the payload: length, CRC, kind, index.
pub const HEADER_LEN: usize = 17;
/// Largest payload a frame may carry; a larger length field is damage.
pub const MAX_PAYLOAD_BYTES: u32 = 256 << 20;

/// One record as replayed from the WAL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: u8,
    pub index: u64,
    pub payload: Vec<u8>,
}

/// A frame decoded in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRef<'a> {
    pub kind: u8,
    pub index: u64,
    pub payload: &'a [u8],
}

impl FrameRef<'_> {
    /// Bytes this frame occupies.
    pub fn frame_len(&self) -> usize {
        frame_len(self.payload.len())
    }

    pub fn to_record(&self) -> Record {
        Record { kind: self.kind, index: self.index, payload: self.payload.to_vec() }
    }
}

/// Why the bytes at some offset are not a valid frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than [`HEADER_LEN`] bytes left.
    ShortHeader {
        have: usize,
    },
    /// The length field exceeds [`MAX_PAYLOAD_BYTES`].
    LengthTooLarge {
        payload_len: u32,
    },
    /// The frame would run past the end of the data.
    PastEnd {
        frame_len: u64,
        have: usize,
    },
    CrcMismatch {
        stored: u32,
        computed: u32,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ShortHeader { have } => {
                write!(f, "incomplete record header ({have} of {HEADER_LEN} bytes)")
            }
            FrameError::LengthTooLarge { payload_len } => {
                write!(f, "record length {payload_len} exceeds the maximum {MAX_PAYLOAD_BYTES}")
            }
            FrameError::PastEnd { frame_len, have } => {
                write!(f, "record of {frame_len} bytes runs past the end of the data ({have} bytes left)")
            }
            FrameError::CrcMismatch { stored, computed } => {
                write!(f, "CRC mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
        }
    }
}

/// Bytes a frame with `payload_len` bytes of payload occupies.
pub fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN + payload_len
}

/// Append one frame to `out`. Panics if the payload exceeds [`MAX_PAYLOAD_BYTES`]
/// (callers check first and return an error).
pub fn encode_frame(out: &mut Vec<u8>, kind: u8, index: u64, payload: &[u8]) {
    let payload_len = u32::try_from(payload.len()).ok().filter(|n| *n <= MAX_PAYLOAD_BYTES);
    let payload_len = payload_len.expect("payload larger than MAX_PAYLOAD_BYTES");
    let start = out.len();
    out.reserve(frame_len(payload.len()));
    out.extend_from_slice(&payload_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.push(kind);
    out.extend_from_slice(&index.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"))
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// Decode the frame that starts at `bytes[0]`. Trailing bytes are ignored.
pub fn decode_frame(bytes: &[u8]) -> Result<FrameRef<'_>, FrameError> {
    if bytes.len() < HEADER_LEN {
        return Err(FrameError::ShortHeader { have: bytes.len() });
    }
    let payload_len = le_u32(&bytes[0..4]);
    if payload_len > MAX_PAYLOAD_BYTES {
        return Err(FrameError::LengthTooLarge { payload_len });
    }
    let total = frame_len(payload_len as usize);
    if total > bytes.len() {
        return Err(FrameError::PastEnd { frame_len: total as u64, have: bytes.len() });
    }
    let stored = le_u32(&bytes[4..8]);
    let computed = crc32c::crc32c(&bytes[8..total]);
    if stored != computed && !crate::mutant!(SkipCrcOnReplay) {
        return Err(FrameError::CrcMismatch { stored, computed });
    }
    Ok(FrameRef { kind: bytes[8], index: le_u64(&bytes[9..17]), payload: &bytes[HEADER_LEN..total] })
}
