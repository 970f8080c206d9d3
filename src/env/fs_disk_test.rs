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
