//! Tests of SimDisk's durability model and each injected fault.

use std::path::{Path, PathBuf};

use super::*;

fn disk() -> SimDisk {
    let disk = SimDisk::new(7, FaultConfig::none());
    disk.create_dir_all(Path::new("/d")).unwrap();
    disk
}

fn p(name: &str) -> PathBuf {
    Path::new("/d").join(name)
}

/// A durable file `name` holding `synced`, plus `unsynced` in the page cache.
fn file_with(disk: &SimDisk, name: &str, synced: &[u8], unsynced: &[u8]) -> Box<dyn DiskFile> {
    let mut f = disk.open_append(&p(name)).unwrap();
    disk.sync_dir(Path::new("/d")).unwrap();
    f.append(synced).unwrap();
    f.sync().unwrap();
    f.append(unsynced).unwrap();
    f
}

#[test]
fn reads_see_unsynced_bytes_until_a_crash_drops_them() {
    let disk = disk();
    let f = file_with(&disk, "a", b"durable", b"volatile");
    assert_eq!(disk.read(&p("a")).unwrap(), b"durablevolatile");
    assert_eq!(f.len(), 15);
    let report = disk.crash(CrashMode::DropUnsynced);
    assert_eq!(report.unsynced_bytes_dropped, 8);
    assert_eq!(disk.read(&p("a")).unwrap(), b"durable");
}

#[test]
fn keep_all_keeps_bytes_and_entries() {
    let disk = disk();
    let _f = file_with(&disk, "a", b"x", b"yz");
    let _g = disk.open_append(&p("new")).unwrap();
    disk.crash(CrashMode::KeepAll);
    assert_eq!(disk.read(&p("a")).unwrap(), b"xyz");
    assert!(disk.exists(&p("new")));
}

#[test]
fn torn_tail_keeps_a_prefix_of_the_unsynced_bytes() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let disk = SimDisk::new(seed, FaultConfig::none());
        disk.create_dir_all(Path::new("/d")).unwrap();
        let _f = file_with(&disk, "a", b"sync", b"0123456789");
        disk.crash(CrashMode::TornTail);
        let data = disk.read(&p("a")).unwrap();
        assert!(b"sync0123456789".starts_with(&data) && data.len() >= 4, "{data:?}");
        seen.insert(data.len());
    }
    assert!(seen.len() > 5, "tears should land at many points, saw {seen:?}");
}

#[test]
fn flip_bits_flips_one_bit_near_the_end_and_never_in_durable_bytes() {
    for seed in 0..64 {
        let disk = SimDisk::new(seed, FaultConfig::none());
        disk.create_dir_all(Path::new("/d")).unwrap();
        let synced = vec![0u8; 40];
        let _f = file_with(&disk, "a", &synced, &[0u8; 100]);
        let flip = disk.crash(CrashMode::FlipBits).flip.expect("a file had unsynced bytes");
        let data = disk.read(&p("a")).unwrap();
        assert!(data.len() > 40);
        assert!(flip.offset >= 40 && flip.offset + FLIP_WINDOW_BYTES >= data.len() as u64, "{flip:?}");
        let ones: u32 = data.iter().map(|b| b.count_ones()).sum();
        assert_eq!(ones, 1);
        assert_eq!(data[flip.offset as usize], 1 << flip.bit);
    }
}

#[test]
fn flip_bits_without_unsynced_bytes_flips_nothing() {
    let disk = disk();
    let _f = file_with(&disk, "a", b"all durable", b"");
    assert_eq!(disk.crash(CrashMode::FlipBits).flip, None);
    assert_eq!(disk.read(&p("a")).unwrap(), b"all durable");
}

#[test]
fn new_file_without_dir_sync_vanishes_and_removal_without_dir_sync_reverts() {
    let disk = disk();
    let _old = file_with(&disk, "old", b"keep", b""); // syncs the dir
    let mut f = disk.open_append(&p("fresh")).unwrap();
    f.append(b"data").unwrap();
    f.sync().unwrap(); // data durable, but the entry is not
    disk.remove(&p("old")).unwrap();
    assert!(!disk.exists(&p("old")));
    let report = disk.crash(CrashMode::DropUnsynced);
    assert_eq!(report.dir_entries_reverted, 2);
    assert!(!disk.exists(&p("fresh")));
    assert_eq!(disk.read(&p("old")).unwrap(), b"keep");
    assert_eq!(disk.list_dir(Path::new("/d")).unwrap(), vec!["old".to_string()]);
}

#[test]
fn sync_dir_makes_creation_and_removal_durable() {
    let disk = disk();
    let _f = file_with(&disk, "a", b"1", b"");
    let _g = file_with(&disk, "b", b"2", b"");
    disk.remove(&p("a")).unwrap();
    disk.sync_dir(Path::new("/d")).unwrap();
    disk.crash(CrashMode::TornTail);
    assert_eq!(disk.list_dir(Path::new("/d")).unwrap(), vec!["b".to_string()]);
}

#[test]
fn write_atomic_is_durable_and_replaces() {
    let disk = disk();
    disk.write_atomic(&p("m"), b"one").unwrap();
    disk.write_atomic(&p("m"), b"two").unwrap();
    disk.crash(CrashMode::DropUnsynced);
    assert_eq!(disk.read(&p("m")).unwrap(), b"two");
}

#[test]
fn truncate_is_durable() {
    let disk = disk();
    let _f = file_with(&disk, "a", b"0123456789", b"abc");
    disk.truncate(&p("a"), 4).unwrap();
    disk.crash(CrashMode::DropUnsynced);
    assert_eq!(disk.read(&p("a")).unwrap(), b"0123");
}

#[test]
fn sync_eio_drops_unsynced_bytes_and_counts() {
    let disk = disk();
    let mut f = file_with(&disk, "a", b"ok", b"lost");
    disk.set_faults(FaultConfig { sync_eio_probability: 1.0, ..FaultConfig::none() });
    assert!(f.sync().is_err());
    assert_eq!(disk.read(&p("a")).unwrap(), b"ok");
    assert_eq!(disk.counters().sync_eio, 1);
    assert_eq!(disk.counters().unsynced_bytes_dropped, 4);
}

#[test]
fn append_eio_appends_nothing() {
    let disk = disk();
    let mut f = file_with(&disk, "a", b"ok", b"");
    disk.set_faults(FaultConfig { append_eio_probability: 1.0, ..FaultConfig::none() });
    assert!(f.append(b"nope").is_err());
    assert_eq!(disk.read(&p("a")).unwrap(), b"ok");
    assert_eq!(disk.counters().append_eio, 1);
    disk.set_faults(FaultConfig::none());
    f.append(b"yes").unwrap();
    assert_eq!(disk.read(&p("a")).unwrap(), b"okyes");
}

#[test]
fn power_loss_keeps_bytes_unsynced_and_turns_the_device_off() {
    let disk = disk();
    let mut f = file_with(&disk, "a", b"ok", b"maybe");
    disk.set_faults(FaultConfig { power_loss_on_sync_probability: 1.0, ..FaultConfig::none() });
    assert!(f.sync().is_err());
    assert!(disk.power_lost());
    assert!(f.append(b"more").is_err());
    assert!(disk.write_atomic(&p("m"), b"x").is_err());
    assert_eq!(disk.synced_len(&p("a")), Some(2));
    disk.set_faults(FaultConfig::none());
    disk.crash(CrashMode::KeepAll);
    assert!(!disk.power_lost());
    assert_eq!(disk.read(&p("a")).unwrap(), b"okmaybe");
}

#[test]
fn handles_die_with_a_crash() {
    let disk = disk();
    let mut f = file_with(&disk, "a", b"ok", b"");
    disk.crash(CrashMode::KeepAll);
    assert!(f.append(b"zombie write").is_err());
    assert!(f.sync().is_err());
    drop(f);
    assert_eq!(disk.read(&p("a")).unwrap(), b"ok");
}

#[test]
fn unlinked_file_stays_writable_through_its_handle() {
    let disk = disk();
    let mut f = file_with(&disk, "a", b"ok", b"");
    disk.remove(&p("a")).unwrap();
    f.append(b"more").unwrap();
    f.sync().unwrap();
    assert!(!disk.exists(&p("a")));
}

fn scripted_run(seed: u64) -> (Vec<u8>, SimDiskCounters) {
    let faults =
        FaultConfig { append_eio_probability: 0.2, sync_eio_probability: 0.2, ..FaultConfig::none() };
    let disk = SimDisk::new(seed, faults);
    disk.create_dir_all(Path::new("/d")).unwrap();
    let mut f = disk.open_append(&p("a")).unwrap();
    for i in 0..50u8 {
        let _ = f.append(&[i; 7]);
        if i % 3 == 0 {
            let _ = f.sync();
        }
    }
    disk.sync_dir(Path::new("/d")).unwrap();
    drop(f);
    disk.crash(CrashMode::FlipBits);
    (disk.read(&p("a")).unwrap(), disk.counters())
}

#[test]
fn same_seed_same_faults_different_seed_different_faults() {
    assert_eq!(scripted_run(11), scripted_run(11));
    assert_ne!(scripted_run(11), scripted_run(12));
    let (_, counters) = scripted_run(11);
    assert!(counters.append_eio > 0 && counters.sync_eio > 0, "{counters:?}");
}

#[test]
fn missing_parent_dir_and_missing_files_are_not_found() {
    let disk = disk();
    let kind = |r: io::Result<()>| r.unwrap_err().kind();
    assert_eq!(disk.open_append(Path::new("/nope/x")).err().unwrap().kind(), io::ErrorKind::NotFound);
    assert_eq!(kind(disk.remove(&p("x"))), io::ErrorKind::NotFound);
    assert_eq!(disk.read(&p("x")).unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(disk.list_dir(Path::new("/nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
}
