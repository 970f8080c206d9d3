//! FsDisk against a real temporary directory (test-only use of std::fs for cleanup).

#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// A fresh directory under the system temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let unique = format!(
            "metastore-{tag}-{}-{:?}-{}",
            std::process::id(),
            std::thread::current().id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(unique.replace(['(', ')'], ""));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn append_sync_read_and_len() {
    let tmp = TempDir::new("fs-append");
    let disk = FsDisk::new();
    disk.create_dir_all(&tmp.path().join("a/b")).unwrap();
    let path = tmp.path().join("a/b/f");
    let mut f = disk.open_append(&path).unwrap();
    f.append(b"hello ").unwrap();
    f.append(b"world").unwrap();
    f.sync().unwrap();
    assert_eq!(f.len(), 11);
    drop(f);
    let f = disk.open_append(&path).unwrap();
    assert_eq!(f.len(), 11, "reopen positions at the end");
    assert_eq!(disk.read(&path).unwrap(), b"hello world");
}

#[test]
fn write_atomic_replaces_and_leaves_no_temp_file() {
    let tmp = TempDir::new("fs-atomic");
    let disk = FsDisk::new();
    disk.create_dir_all(tmp.path()).unwrap();
    let path = tmp.path().join("vote");
    disk.write_atomic(&path, b"one").unwrap();
    disk.write_atomic(&path, b"two").unwrap();
    assert_eq!(disk.read(&path).unwrap(), b"two");
    assert_eq!(disk.list_dir(tmp.path()).unwrap(), vec!["vote".to_string()]);
}

#[test]
fn list_truncate_remove_exists() {
    let tmp = TempDir::new("fs-misc");
    let disk = FsDisk::new();
    disk.create_dir_all(tmp.path()).unwrap();
    for name in ["c", "a", "b"] {
        disk.write_atomic(&tmp.path().join(name), b"0123456789").unwrap();
    }
    assert_eq!(disk.list_dir(tmp.path()).unwrap(), vec!["a", "b", "c"]);
    disk.truncate(&tmp.path().join("a"), 3).unwrap();
    assert_eq!(disk.read(&tmp.path().join("a")).unwrap(), b"012");
    disk.remove(&tmp.path().join("b")).unwrap();
    disk.sync_dir(tmp.path()).unwrap();
    assert!(!disk.exists(&tmp.path().join("b")));
    assert!(disk.exists(&tmp.path().join("c")));
    assert!(disk.read(&tmp.path().join("b")).is_err());
}

#[test]
fn a_reserved_file_writes_inside_its_reservation_and_gives_it_back_on_close() {
    let tmp = TempDir::new("fs-reserved");
    let disk = FsDisk::new();
    disk.create_dir_all(tmp.path()).unwrap();
    let path = tmp.path().join("seg");
    let on_disk = || fs::metadata(&path).unwrap().len();
    let mut f = disk.open_append_reserved(&path, 4096).unwrap();
    f.append(b"hello ").unwrap();
    f.append(b"world").unwrap();
    f.sync().unwrap();
    assert_eq!(f.len(), 11, "len counts appended bytes only");
    let reserved = on_disk();
    assert!(reserved == 4096 || reserved == 11, "reserved (or no fallocate here): {reserved}");
    // Past the reservation: it grows in steps.
    f.append(&[7u8; 5000]).unwrap();
    f.sync().unwrap();
    assert_eq!(f.len(), 5011);
    assert!(on_disk() >= 5011);
    let image = disk.read(&path).unwrap();
    assert_eq!(&image[..11], b"hello world");
    assert!(image[11..5011].iter().all(|b| *b == 7));
    assert!(image[5011..].iter().all(|b| *b == 0), "the rest reads as zeros");
    drop(f);
    assert_eq!(on_disk(), 5011, "a clean close trims the reservation");
    let mut f = disk.open_append_reserved(&path, 4096).unwrap();
    assert_eq!(f.len(), 5011, "reopen positions at the end");
    f.append(b"!").unwrap();
    f.sync().unwrap();
    drop(f);
    assert_eq!(disk.read(&path).unwrap().len(), 5012);
    assert_eq!(disk.read(&path).unwrap()[5011], b'!');
}
