//! FsDisk: the production [`Disk`] over `std::fs`, the only file that may touch it.
//!
//! - `DiskFile::sync` is `fdatasync` (`File::sync_data`): enough for appends, since
//!   the file size is metadata fdatasync must flush when it changed.
//! - `open_append_reserved` (the WAL's segments) reserves space ahead of the writes
//!   with `fallocate` and writes into it, as etcd preallocates its WAL files.
//! - `write_atomic` writes `<name>.tmp`, fsyncs it, renames it over `<name>` and
//!   fsyncs the directory, so a crash leaves the old or the new content.
//! - `create_dir_all` fsyncs the parent of every directory it creates, and
//!   `truncate` ends with `sync_all`: both are durable when they return.
//! - `sync_dir` opens the directory and `sync_all`s it (a no-op off unix, where a
//!   directory cannot be opened as a file).

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::env::disk::{Disk, DiskFile};

#[cfg(test)]
#[path = "fs_disk_test.rs"]
pub(crate) mod fs_disk_test;

/// Real files. Stateless: every call goes to the OS.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsDisk;

impl FsDisk {
    pub fn new() -> Self {
        FsDisk
    }
}

/// An append handle; tracks the length to avoid a `stat` per call.
struct FsFile {
    file: File,
    len: u64,
    /// Space reserved ahead of `len` (`open_append_reserved`), if any.
    reserve: Option<Reserve>,
}

/// The space of a reserved file: its size on disk as this handle made it, the step it
/// grows by, and whether it still grows (not after the file system refused a step).
#[derive(Clone, Copy, Debug)]
struct Reserve {
    allocated: u64,
    step: u64,
    grow: bool,
}

impl FsFile {
    /// Write at `len` within reserved space, growing the reservation first if needed.
    #[cfg(unix)]
    fn append_reserved(&mut self, mut reserve: Reserve, data: &[u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = self.len + data.len() as u64;
        if end > reserve.allocated && reserve.grow {
            let steps = (end - reserve.allocated).div_ceil(reserve.step);
            let allocated = reserve.allocated + steps * reserve.step;
            match fallocate(&self.file, reserve.allocated, allocated - reserve.allocated) {
                Ok(()) => reserve.allocated = allocated,
                // Out of space for a whole step (or any other refusal): plain writes
                // from here, which need only the bytes written.
                Err(_) => reserve.grow = false,
            }
        }
        // A failed write leaves `len` where it was: bytes past it are torn-tail garbage
        // to a reader (and the WAL stops using a file whose write failed).
        let written = self.file.write_all_at(data, self.len);
        if written.is_ok() {
            self.len = end;
            reserve.allocated = reserve.allocated.max(end);
        }
        self.reserve = Some(reserve);
        written
    }

    #[cfg(not(unix))]
    fn append_reserved(&mut self, _: Reserve, _: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// `fallocate(2)` mode 0: `len` bytes from `offset` allocated (reading as zeros),
/// the file extended over them. Retried when interrupted by a signal.
#[cfg(target_os = "linux")]
fn fallocate(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let (offset, len) = (
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?,
    );
    loop {
        // SAFETY: a plain syscall on an fd this File owns and keeps open for the call.
        match unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, len) } {
            0 => return Ok(()),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn fallocate(_: &File, _: u64, _: u64) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

impl Drop for FsFile {
    /// A clean close gives the reserved space back, so the file ends at its last
    /// append (best effort and not synced: after a crash, readers meet the zeros).
    /// Only if the file is still the size this handle made it: a handle that outlived
    /// a reopen of its file must not cut what the new one wrote.
    fn drop(&mut self) {
        if let Some(reserve) = self.reserve {
            if self.file.metadata().is_ok_and(|m| m.len() == reserve.allocated) {
                let _ = self.file.set_len(self.len);
            }
        }
    }
}

impl DiskFile for FsFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(reserve) = self.reserve {
            return self.append_reserved(reserve, data);
        }
        match self.file.write_all(data) {
            Ok(()) => {
                self.len += data.len() as u64;
                Ok(())
            }
            Err(err) => {
                // Part of `data` may have been written: learn the real length.
                self.len = self.file.metadata().map(|m| m.len()).unwrap_or(self.len);
                Err(err)
            }
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn len(&self) -> u64 {
        self.len
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn tmp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("{}: not a file path", path.display()))
    })?;
    let mut tmp_name = name.to_os_string();
    tmp_name.push(".tmp");
    Ok(path.with_file_name(tmp_name))
}

impl FsDisk {
    fn write_synced_tmp(tmp: &Path, parts: &[&[u8]]) -> io::Result<()> {
        let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()
    }
}

impl Disk for FsDisk {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let missing: Vec<&Path> =
            path.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).collect();
        fs::create_dir_all(path)?;
        for dir in missing.iter().rev() {
            self.sync_dir(dir_of(dir))?;
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        fs::metadata(path).map(|m| m.len())
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let len = file.metadata()?.len();
        Ok(Box::new(FsFile { file, len, reserve: None }))
    }

    #[cfg(unix)]
    fn open_append_reserved(&self, path: &Path, step_bytes: u64) -> io::Result<Box<dyn DiskFile>> {
        // Written at positions (pwrite), not in append mode: appends land inside the
        // reserved space rather than after it.
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        let step = step_bytes.max(1);
        // Reserve the first step now; where the file system cannot, plain appends.
        match fallocate(&file, len, step) {
            Ok(()) => Ok(Box::new(FsFile {
                file,
                len,
                reserve: Some(Reserve { allocated: len + step, step, grow: true }),
            })),
            Err(_) => {
                // A refused fallocate may still have extended the file part way (out of
                // space on ext4): cut it back before appending after its end.
                if file.metadata()?.len() != len {
                    file.set_len(len)?;
                    file.sync_all()?;
                }
                drop(file);
                self.open_append(path)
            }
        }
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    #[cfg(unix)]
    fn read_at(&self, path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; len];
        File::open(path)?.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.write_atomic_parts(path, &[data])
    }

    fn write_atomic_parts(&self, path: &Path, parts: &[&[u8]]) -> io::Result<()> {
        let tmp = tmp_path(path)?;
        let result = Self::write_synced_tmp(&tmp, parts)
            .and_then(|()| fs::rename(&tmp, path))
            .and_then(|()| self.sync_dir(dir_of(path)));
        if result.is_err() {
            let _ = fs::remove_file(&tmp); // best effort; NotFound after the rename is fine
        }
        result
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    #[cfg(unix)]
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    #[cfg(not(unix))]
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        fs::metadata(path).map(|_| ())
    }
}
