//! Snapshot file tests: round trip, latest wins, old ones removed, damage detected.

use std::path::Path;

use super::*;
use crate::env::sim_disk::{CrashMode, FaultConfig, SimDisk};

const DIR: &str = "/n/snap";

fn sim() -> SimDisk {
    SimDisk::new(3, FaultConfig::none())
}

#[test]
fn none_when_no_snapshot_or_no_dir() {
    let disk = sim();
    assert_eq!(load_latest_snapshot(&disk, Path::new(DIR)).unwrap(), None);
    disk.create_dir_all(Path::new(DIR)).unwrap();
    assert_eq!(load_latest_snapshot(&disk, Path::new(DIR)).unwrap(), None);
}

#[test]
fn round_trip_survives_a_crash() {
    let disk = sim();
    let path = save_snapshot(&disk, Path::new(DIR), b"meta", b"state machine bytes").unwrap();
    disk.crash(CrashMode::DropUnsynced);
    let loaded = load_latest_snapshot(&disk, Path::new(DIR)).unwrap().unwrap();
    assert_eq!(
        loaded,
        LoadedSnapshot { path, meta: b"meta".to_vec(), data: b"state machine bytes".to_vec() }
    );
}

#[test]
fn latest_wins_and_older_files_are_removed_durably() {
    let disk = sim();
    for i in 0..3u8 {
        save_snapshot(&disk, Path::new(DIR), &[i], &[i; 10]).unwrap();
    }
    disk.crash(CrashMode::DropUnsynced);
    assert_eq!(disk.list_dir(Path::new(DIR)).unwrap(), vec![snapshot_file_name(3)]);
    let loaded = load_latest_snapshot(&disk, Path::new(DIR)).unwrap().unwrap();
    assert_eq!((loaded.meta, loaded.data), (vec![2], vec![2; 10]));
}

#[test]
fn empty_meta_and_data_round_trip() {
    let disk = sim();
    save_snapshot(&disk, Path::new(DIR), b"", b"").unwrap();
    let loaded = load_latest_snapshot(&disk, Path::new(DIR)).unwrap().unwrap();
    assert!(loaded.meta.is_empty() && loaded.data.is_empty());
}

#[test]
fn any_flipped_bit_is_reported_naming_the_file() {
    let disk = sim();
    let path = save_snapshot(&disk, Path::new(DIR), b"m", b"data!").unwrap();
    let len = disk.file_len(&path).unwrap();
    for byte in 0..len {
        disk.flip_bit(&path, byte, 5).unwrap();
        let err = load_latest_snapshot(&disk, Path::new(DIR)).unwrap_err();
        assert!(matches!(&err, WalError::Corrupt { file, .. } if *file == path), "byte {byte}: {err}");
        assert!(err.to_string().contains(&path.display().to_string()));
        disk.flip_bit(&path, byte, 5).unwrap();
    }
    assert!(load_latest_snapshot(&disk, Path::new(DIR)).is_ok());
}

#[test]
fn truncated_and_padded_files_are_corrupt() {
    let disk = sim();
    let path = save_snapshot(&disk, Path::new(DIR), b"meta", b"data").unwrap();
    let bytes = disk.read(&path).unwrap();
    disk.write_atomic(&path, &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(load_latest_snapshot(&disk, Path::new(DIR)), Err(WalError::Corrupt { .. })));
    let mut padded = bytes.clone();
    padded.push(0);
    disk.write_atomic(&path, &padded).unwrap();
    assert!(matches!(load_latest_snapshot(&disk, Path::new(DIR)), Err(WalError::Corrupt { .. })));
}

#[test]
fn temp_and_foreign_files_are_ignored() {
    let disk = sim();
    save_snapshot(&disk, Path::new(DIR), b"m", b"d").unwrap();
    let dir = Path::new(DIR);
    disk.write_atomic(&dir.join(format!("{}.tmp", snapshot_file_name(9))), b"half").unwrap();
    disk.write_atomic(&dir.join("snapshot-xyz.snap"), b"?").unwrap();
    assert_eq!(load_latest_snapshot(&disk, dir).unwrap().unwrap().data, b"d");
}

#[test]
fn failed_write_keeps_the_previous_snapshot() {
    let disk = sim();
    save_snapshot(&disk, Path::new(DIR), b"old", b"old").unwrap();
    disk.set_faults(FaultConfig { sync_eio_probability: 1.0, ..FaultConfig::none() });
    assert!(save_snapshot(&disk, Path::new(DIR), b"new", b"new").is_err());
    disk.set_faults(FaultConfig::none());
    assert_eq!(load_latest_snapshot(&disk, Path::new(DIR)).unwrap().unwrap().meta, b"old");
}
