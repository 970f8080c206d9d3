//! The Disk facade: the only way the store touches persistent bytes.
//!
//! Two implementations: [`FsDisk`](super::fs_disk::FsDisk) (real files, fdatasync,
//! atomic replace by rename + directory fsync) and
//! [`SimDisk`](super::sim_disk::SimDisk) (in memory, owned by the simulator, survives
//! node restarts, injects faults; its fault model is documented at its top).
//!
//! Semantics every implementation keeps (the WAL and snapshot code rely on them):
//! - `DiskFile::append` may be lost on a crash until `DiskFile::sync` returns Ok.
//! - a failed `sync` means the unsynced bytes may be gone (as on Linux after EIO):
//!   the caller must treat the file as suspect and not acknowledge anything.
//! - `write_atomic` either leaves the old content or the complete new content, and
//!   is durable when it returns Ok.
//! - directory entries created by `open_append` / removed by `remove` are durable
//!   after `sync_dir`.

use std::io;
use std::path::Path;

/// A file opened for appending. Reads go through [`Disk::read`].
pub trait DiskFile: Send + Sync {
    /// Append bytes at the end (buffered: not durable until `sync`).
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Make every appended byte durable (fdatasync).
    fn sync(&mut self) -> io::Result<()>;
    /// Current length including unsynced bytes.
    fn len(&self) -> u64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub trait Disk: Send + Sync + 'static {
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries of a directory, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    fn exists(&self, path: &Path) -> bool;
    /// Whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// A file's size in bytes (what it takes on disk, reserved space included).
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.read(path).map(|b| b.len() as u64)
    }
    /// `len` bytes of a file from `offset` (an error if the file is shorter).
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let bytes = self.read(path)?;
        usize::try_from(offset)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end of the file"))
    }
    /// Open (creating if missing) a file for appending at its end.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>>;
    /// [`open_append`](Disk::open_append) for a log whose reader takes a tail of zeros
    /// after its last valid record as a torn tail (the WAL's replay does, in its last
    /// segment; the WAL cuts a segment to its records before starting the next). The
    /// implementation may reserve space ahead of the writes in steps of `step_bytes`,
    /// so the file may end in zeros after its last append (`DiskFile::len` still counts
    /// appended bytes only). On Linux, `FsDisk` does, with `fallocate`: an append then
    /// overwrites reserved space instead of growing the file, and its fdatasync has no
    /// new file size to commit to the file system's journal (only the conversion of the
    /// blocks it wrote). Measured on this machine: docs/performance.md, change 11.
    /// Others open as `open_append`.
    fn open_append_reserved(&self, path: &Path, step_bytes: u64) -> io::Result<Box<dyn DiskFile>> {
        let _ = step_bytes;
        self.open_append(path)
    }
    /// Cut a file to `len` bytes, durably.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Replace a file's content atomically and durably: temp file, fsync, rename,
    /// fsync of the directory.
    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()>;
    /// [`write_atomic`](Disk::write_atomic) of the concatenation of `parts` (a large
    /// buffer need not be copied to put a header before it).
    fn write_atomic_parts(&self, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
        self.write_atomic(path, &parts.concat())
    }
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Make directory entries (creations, removals, renames) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}
