//! Small-file tests: round trip, replace, missing, damage detected.

use std::path::Path;

use super::*;
use crate::env::sim_disk::{CrashMode, FaultConfig, SimDisk};

const PATH: &str = "/n/raft/vote";

#[test]
fn round_trip_replace_and_crash() {
    let disk = SimDisk::new(1, FaultConfig::none());
    let path = Path::new(PATH);
    assert_eq!(load_small_file(&disk, path).unwrap(), None);
    save_small_file(&disk, path, b"term 1").unwrap();
    save_small_file(&disk, path, b"term 2, voted for 3").unwrap();
    disk.crash(CrashMode::DropUnsynced);
    assert_eq!(load_small_file(&disk, path).unwrap().unwrap(), b"term 2, voted for 3");
    save_small_file(&disk, path, b"").unwrap();
    assert_eq!(load_small_file(&disk, path).unwrap().unwrap(), b"");
}

#[test]
fn every_flipped_bit_is_corruption_naming_the_file() {
    let disk = SimDisk::new(1, FaultConfig::none());
    let path = Path::new(PATH);
    save_small_file(&disk, path, b"vote").unwrap();
    for byte in 0..disk.file_len(path).unwrap() {
        for bit in 0..8 {
            disk.flip_bit(path, byte, bit).unwrap();
            let err = load_small_file(&disk, path).unwrap_err();
            assert!(err.to_string().contains(PATH), "{err}");
            disk.flip_bit(path, byte, bit).unwrap();
        }
    }
}

#[test]
fn truncated_file_is_corruption() {
    let disk = SimDisk::new(1, FaultConfig::none());
    let path = Path::new(PATH);
    save_small_file(&disk, path, b"vote").unwrap();
    disk.truncate(path, 10).unwrap();
    assert!(matches!(load_small_file(&disk, path), Err(WalError::Corrupt { offset: 0, .. })));
}
