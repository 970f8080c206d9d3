//! `WalError`: the error of every storage operation (WAL, snapshots, small files).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub enum WalError {
    /// The disk refused an operation.
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Bytes on disk fail their checks where a torn tail cannot explain it. The node
    /// must refuse to start rather than drop acknowledged data.
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A write or sync failed earlier; nothing is accepted until a restart.
    Poisoned {
        cause: String,
    },
    RecordTooLarge {
        payload_bytes: usize,
        max_payload_bytes: u32,
    },
}

impl WalError {
    /// Adapter for `map_err`: an I/O error of `op` on `path`.
    pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError {
        let path = path.to_path_buf();
        move |source| WalError::Io { op, path, source }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, reason: impl Into<String>) -> WalError {
        WalError::Corrupt { file: file.to_path_buf(), offset, reason: reason.into() }
    }
}

impl fmt::Display for WalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalError::Io { op, path, source } => {
                write!(f, "storage I/O error: {op} {}: {source}", path.display())
            }
            WalError::Corrupt { file, offset, reason } => write!(
                f,
                "storage corruption in {} at byte offset {offset}: {reason}; refusing to continue \
                 rather than silently drop durable data (restore this member from a peer or a backup)",
                file.display()
            ),
            WalError::Poisoned { cause } => write!(
                f,
                "WAL poisoned by an earlier failure ({cause}): records appended since the last \
                 successful sync may not be durable; restart the node to recover from the disk"
            ),
            WalError::RecordTooLarge { payload_bytes, max_payload_bytes } => {
                write!(
                    f,
                    "WAL record payload of {payload_bytes} bytes exceeds the maximum {max_payload_bytes}"
                )
            }
        }
    }
}

impl std::error::Error for WalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
