//! WAL tests on SimDisk (and a few on FsDisk): replay, rotation, torn tails,
//! corruption, group commit, poisoning, purge.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;
use crate::env::disk::Disk;
use crate::env::fs_disk::fs_disk_test::TempDir;
use crate::env::fs_disk::FsDisk;
use crate::env::sim_disk::{CrashMode, FaultConfig, SimDisk};
use crate::storage::record::{encode_frame, frame_len};

const DIR: &str = "/node/wal";

fn sim() -> (SimDisk, Arc<dyn Disk>) {
    let disk = SimDisk::new(42, FaultConfig::none());
    (disk.clone(), Arc::new(disk))
}

fn dir() -> &'static Path {
    Path::new(DIR)
}

fn rec(index: u64) -> Record {
    Record { kind: (index % 3) as u8, index, payload: format!("payload-{index}").into_bytes() }
}

fn recs(range: std::ops::RangeInclusive<u64>) -> Vec<Record> {
    range.map(rec).collect()
}

fn open(disk: &Arc<dyn Disk>, opts: WalOptions) -> Result<(Wal, Vec<Record>), WalError> {
    Wal::open(disk.clone(), dir(), opts)
}

fn append_all(wal: &mut Wal, records: &[Record]) {
    for r in records {
        wal.append(r.kind, r.index, &r.payload).unwrap();
    }
}

/// A fresh WAL holding `records`, each synced as its own batch.
fn wal_with(disk: &Arc<dyn Disk>, records: &[Record], opts: WalOptions) -> Wal {
    let (mut wal, replayed) = open(disk, opts).unwrap();
    assert!(replayed.is_empty());
    for r in records {
        append_all(&mut wal, std::slice::from_ref(r));
        wal.sync().unwrap();
    }
    wal
}

fn only_segment(disk: &Arc<dyn Disk>) -> PathBuf {
    let names = disk.list_dir(dir()).unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    dir().join(&names[0])
}

fn small_segments() -> WalOptions {
    WalOptions { segment_size_bytes: 100 }
}

#[test]
fn round_trip_survives_restart_and_crash() {
    let (sim, disk) = sim();
    let wal = wal_with(&disk, &recs(1..=5), WalOptions::default());
    drop(wal);
    let (_, replayed) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(replayed, recs(1..=5));
    sim.crash(CrashMode::DropUnsynced);
    let (wal, replayed) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(replayed, recs(1..=5));
    assert_eq!(wal.stats().segment_count, 1);
}

#[test]
fn rotation_names_segments_in_order_and_replays_in_order() {
    let (sim, disk) = sim();
    let wal = wal_with(&disk, &recs(1..=20), small_segments());
    let names = wal.segment_file_names();
    assert!(names.len() >= 5, "{names:?}");
    assert_eq!(disk.list_dir(dir()).unwrap(), names);
    for (seq, name) in names.iter().enumerate() {
        let parsed = segment::SegmentName::parse(name).unwrap();
        assert_eq!(parsed.seq, seq as u64);
    }
    assert_eq!(segment::SegmentName::parse(&names[0]).unwrap().first_index, 1);
    drop(wal);
    sim.crash(CrashMode::DropUnsynced);
    let (mut wal, replayed) = open(&disk, small_segments()).unwrap();
    assert_eq!(replayed, recs(1..=20));
    append_all(&mut wal, &recs(21..=30));
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(&disk, small_segments()).unwrap().1, recs(1..=30));
}

#[test]
fn torn_tail_is_truncated_at_every_cut_point_of_the_last_record() {
    let mut last_frame = Vec::new();
    let r4 = rec(4);
    encode_frame(&mut last_frame, r4.kind, r4.index, &r4.payload);
    for cut in 1..last_frame.len() {
        let (sim, disk) = sim();
        drop(wal_with(&disk, &recs(1..=3), WalOptions::default()));
        let path = only_segment(&disk);
        let good_len = sim.file_len(&path).unwrap();
        let mut raw = disk.open_append(&path).unwrap();
        raw.append(&last_frame[..cut]).unwrap();
        raw.sync().unwrap();
        drop(raw);
        let (mut wal, replayed) = open(&disk, WalOptions::default()).unwrap();
        assert_eq!(replayed, recs(1..=3), "cut at {cut}");
        assert_eq!(sim.file_len(&path), Some(good_len), "cut at {cut}: tail not truncated");
        assert_eq!(sim.synced_len(&path), Some(good_len), "cut at {cut}: truncation not durable");
        append_all(&mut wal, &[rec(4)]);
        wal.sync().unwrap();
        drop(wal);
        sim.crash(CrashMode::DropUnsynced);
        assert_eq!(open(&disk, WalOptions::default()).unwrap().1, recs(1..=4), "cut at {cut}");
    }
}

#[test]
fn zeroed_tail_is_truncated() {
    let (sim, disk) = sim();
    drop(wal_with(&disk, &recs(1..=3), WalOptions::default()));
    let path = only_segment(&disk);
    let good_len = sim.file_len(&path).unwrap();
    let mut raw = disk.open_append(&path).unwrap();
    raw.append(&[0u8; 4096]).unwrap();
    raw.sync().unwrap();
    drop(raw);
    assert_eq!(open(&disk, WalOptions::default()).unwrap().1, recs(1..=3));
    assert_eq!(sim.file_len(&path), Some(good_len));
}

fn frame_offset(n: u64) -> u64 {
    (1..n).map(|i| frame_len(rec(i).payload.len()) as u64).sum()
}

#[test]
fn mid_log_corruption_is_refused_naming_file_and_offset() {
    let (sim, disk) = sim();
    drop(wal_with(&disk, &recs(1..=5), WalOptions::default()));
    let path = only_segment(&disk);
    let len_before = sim.file_len(&path).unwrap();
    let offset = frame_offset(2);
    sim.flip_bit(&path, offset + 20, 3).unwrap();
    let err = open(&disk, WalOptions::default()).unwrap_err();
    let WalError::Corrupt { file, offset: at, .. } = &err else { panic!("expected Corrupt, got {err}") };
    assert_eq!((file, *at), (&path, offset));
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("byte offset {offset}")), "{message}");
    assert_eq!(sim.file_len(&path), Some(len_before), "a refused log must not be truncated");
}

#[test]
fn damaged_length_field_mid_log_is_refused() {
    let (sim, disk) = sim();
    drop(wal_with(&disk, &recs(1..=5), WalOptions::default()));
    let path = only_segment(&disk);
    sim.flip_bit(&path, frame_offset(3) + 2, 0).unwrap();
    let err = open(&disk, WalOptions::default()).unwrap_err();
    assert!(matches!(err, WalError::Corrupt { offset, .. } if offset == frame_offset(3)), "{err}");
}

#[test]
fn damage_at_the_end_of_an_earlier_segment_is_corruption() {
    let (sim, disk) = sim();
    let wal = wal_with(&disk, &recs(1..=20), small_segments());
    let first = dir().join(&wal.segment_file_names()[0]);
    drop(wal);
    let len = sim.file_len(&first).unwrap();
    sim.flip_bit(&first, len - 1, 0).unwrap();
    let err = open(&disk, small_segments()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { file, .. } if *file == first), "{err}");
    assert!(err.to_string().contains("not the last"), "{err}");
}

#[test]
fn bit_flip_in_the_last_record_is_detected_not_replayed() {
    let last_offset = frame_offset(5);
    let last_len = frame_len(rec(5).payload.len()) as u64;
    for byte in last_offset..last_offset + last_len {
        let (sim, disk) = sim();
        drop(wal_with(&disk, &recs(1..=5), WalOptions::default()));
        sim.flip_bit(&only_segment(&disk), byte, (byte % 8) as u8).unwrap();
        let (_, replayed) = open(&disk, WalOptions::default()).unwrap();
        assert_eq!(replayed, recs(1..=4), "flip at byte {byte}");
    }
}

#[test]
fn flip_bits_crash_after_power_loss_is_caught_by_crc() {
    let mut flips = 0;
    for seed in 0..40 {
        let sim = SimDisk::new(seed, FaultConfig::none());
        let disk: Arc<dyn Disk> = Arc::new(sim.clone());
        let mut wal = wal_with(&disk, &recs(1..=3), WalOptions::default());
        append_all(&mut wal, &recs(4..=8));
        sim.set_faults(FaultConfig { power_loss_on_sync_probability: 1.0, ..FaultConfig::none() });
        assert!(wal.sync().is_err());
        drop(wal);
        sim.set_faults(FaultConfig::none());
        let flip = sim.crash(CrashMode::FlipBits).flip.expect("the unsynced batch survives partly");
        flips += 1;
        let (_, replayed) = open(&disk, WalOptions::default()).unwrap();
        assert!(replayed.len() >= 3 && replayed.len() < 8, "seed {seed}: {} records", replayed.len());
        assert_eq!(replayed, recs(1..=replayed.len() as u64), "seed {seed}, {flip:?}");
    }
    assert_eq!(flips, 40);
}

#[test]
fn group_commit_one_sync_makes_the_whole_batch_durable() {
    let (sim, disk) = sim();
    let (mut wal, _) = open(&disk, WalOptions::default()).unwrap();
    append_all(&mut wal, &recs(1..=50));
    let syncs_before = sim.counters().file_syncs;
    let report = wal.sync().unwrap();
    assert_eq!(sim.counters().file_syncs - syncs_before, 1, "one fdatasync for the batch");
    assert_eq!(report.records, 50);
    assert_eq!(report.bytes, frame_offset(51));
    append_all(&mut wal, &recs(51..=60));
    assert_eq!(wal.stats().buffered_records, 10);
    drop(wal);
    sim.crash(CrashMode::DropUnsynced);
    assert_eq!(open(&disk, WalOptions::default()).unwrap().1, recs(1..=50));
}

#[test]
fn empty_sync_does_nothing() {
    let (sim, disk) = sim();
    let (mut wal, _) = open(&disk, WalOptions::default()).unwrap();
    assert_eq!(wal.sync().unwrap(), SyncReport::default());
    assert_eq!(sim.counters().file_syncs, 0);
    assert!(disk.list_dir(dir()).unwrap().is_empty());
}

fn assert_poisoned(wal: &mut Wal) {
    assert!(wal.is_poisoned());
    assert!(matches!(wal.append(1, 99, b"x"), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.sync(), Err(WalError::Poisoned { .. })));
    assert!(matches!(wal.purge_before(99), Err(WalError::Poisoned { .. })));
    assert!(wal.stats().poisoned);
}

#[test]
fn sync_eio_poisons_the_wal_and_loses_only_the_failed_batch() {
    let (sim, disk) = sim();
    let mut wal = wal_with(&disk, &recs(1..=3), WalOptions::default());
    append_all(&mut wal, &recs(4..=6));
    sim.set_faults(FaultConfig { sync_eio_probability: 1.0, ..FaultConfig::none() });
    let err = wal.sync().unwrap_err();
    assert!(matches!(err, WalError::Io { op: "fdatasync", .. }), "{err}");
    sim.set_faults(FaultConfig::none());
    assert_poisoned(&mut wal);
    assert!(wal.sync().unwrap_err().to_string().contains("poisoned"));
    drop(wal);
    sim.crash(CrashMode::KeepAll);
    assert_eq!(open(&disk, WalOptions::default()).unwrap().1, recs(1..=3));
}

#[test]
fn append_eio_during_sync_poisons_too() {
    let (sim, disk) = sim();
    let mut wal = wal_with(&disk, &recs(1..=2), WalOptions::default());
    append_all(&mut wal, &recs(3..=3));
    sim.set_faults(FaultConfig { append_eio_probability: 1.0, ..FaultConfig::none() });
    assert!(matches!(wal.sync(), Err(WalError::Io { op: "append", .. })));
    sim.set_faults(FaultConfig::none());
    assert_poisoned(&mut wal);
}

#[test]
fn purge_removes_a_durable_prefix_but_never_the_current_segment() {
    let (sim, disk) = sim();
    let mut wal = wal_with(&disk, &recs(1..=20), small_segments());
    let names = wal.segment_file_names();
    let third_first = segment::SegmentName::parse(&names[2]).unwrap().first_index;
    assert_eq!(wal.purge_before(third_first).unwrap(), 2);
    assert_eq!(wal.segment_file_names(), names[2..].to_vec());
    assert_eq!(wal.purge_before(third_first).unwrap(), 0, "idempotent");
    drop(wal);
    sim.crash(CrashMode::DropUnsynced);
    let (mut wal, replayed) = open(&disk, small_segments()).unwrap();
    assert_eq!(replayed, recs(third_first..=20), "purge was durable");
    wal.purge_before(u64::MAX).unwrap();
    assert_eq!(wal.stats().segment_count, 1);
    assert_eq!(wal.segment_file_names().last(), names.last());
}

#[test]
fn purge_stops_at_a_segment_with_a_large_index() {
    let (_, disk) = sim();
    let (mut wal, _) = open(&disk, small_segments()).unwrap();
    for index in [1, 2, 3, 100, 4, 5, 6, 7, 8, 9, 10, 11, 12] {
        wal.append(0, index, &[0u8; 40]).unwrap();
        wal.sync().unwrap();
    }
    assert!(wal.stats().segment_count >= 4);
    // segment 1 holds index 100: it and everything after it stay.
    assert_eq!(wal.purge_before(50).unwrap(), 1);
}

#[test]
fn empty_segment_left_by_a_crash_is_removed_and_renamed_on_reuse() {
    let (sim, disk) = sim();
    let mut wal = wal_with(&disk, &recs(1..=20), small_segments());
    let durable_names = wal.segment_file_names();
    append_all(&mut wal, &recs(21..=21));
    // Force rotation into a new segment, then lose power during its first sync.
    sim.set_faults(FaultConfig { power_loss_on_sync_probability: 1.0, ..FaultConfig::none() });
    assert!(wal.sync().is_err());
    assert_eq!(wal.stats().segment_count, durable_names.len() + 1, "the batch went to a new segment");
    assert_eq!(disk.list_dir(dir()).unwrap().len(), durable_names.len() + 1);
    drop(wal);
    sim.set_faults(FaultConfig::none());
    sim.crash(CrashMode::DropUnsynced);
    let (mut wal, replayed) = open(&disk, small_segments()).unwrap();
    assert_eq!(replayed, recs(1..=20));
    assert_eq!(wal.segment_file_names(), durable_names);
    append_all(&mut wal, &recs(21..=22));
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(open(&disk, small_segments()).unwrap().1, recs(1..=22));
}

#[test]
fn malformed_segment_name_is_corruption() {
    let (_, disk) = sim();
    disk.create_dir_all(dir()).unwrap();
    disk.write_atomic(&dir().join("junk.wal"), b"").unwrap();
    let err = open(&disk, WalOptions::default()).unwrap_err();
    assert!(matches!(&err, WalError::Corrupt { file, .. } if file.ends_with("junk.wal")), "{err}");
}

#[test]
fn missing_segment_in_the_middle_is_corruption() {
    let (_, disk) = sim();
    let wal = wal_with(&disk, &recs(1..=20), small_segments());
    let second = dir().join(&wal.segment_file_names()[1]);
    drop(wal);
    disk.remove(&second).unwrap();
    let err = open(&disk, small_segments()).unwrap_err();
    assert!(err.to_string().contains("segment seq 1 missing"), "{err}");
}

#[test]
fn first_index_not_matching_the_name_is_corruption() {
    let (_, disk) = sim();
    disk.create_dir_all(dir()).unwrap();
    let mut frame = Vec::new();
    encode_frame(&mut frame, 0, 1, b"index one");
    let wrong = segment::SegmentName { seq: 0, first_index: 9 }.file_name();
    disk.write_atomic(&dir().join(wrong), &frame).unwrap();
    let err = open(&disk, WalOptions::default()).unwrap_err();
    assert!(err.to_string().contains("the name says 9"), "{err}");
}

#[test]
fn unrelated_files_in_the_dir_are_ignored() {
    let (_, disk) = sim();
    disk.create_dir_all(dir()).unwrap();
    disk.write_atomic(&dir().join("README"), b"not a segment").unwrap();
    drop(wal_with(&disk, &recs(1..=2), WalOptions::default()));
    assert_eq!(open(&disk, WalOptions::default()).unwrap().1, recs(1..=2));
}

#[test]
fn fs_disk_round_trip_rotation_and_torn_tail() {
    let tmp = TempDir::new("wal");
    let disk: Arc<dyn Disk> = Arc::new(FsDisk::new());
    let wal_dir = tmp.path().join("wal");
    let (mut wal, replayed) = Wal::open(disk.clone(), &wal_dir, small_segments()).unwrap();
    assert!(replayed.is_empty());
    for r in recs(1..=12) {
        wal.append(r.kind, r.index, &r.payload).unwrap();
        wal.sync().unwrap();
    }
    let last = wal_dir.join(wal.segment_file_names().last().unwrap());
    assert!(wal.stats().segment_count > 2);
    drop(wal);
    let good_len = disk.read(&last).unwrap().len();
    let mut raw = disk.open_append(&last).unwrap();
    raw.append(&[0x17, 0, 0, 0, 1, 2]).unwrap(); // a torn header
    raw.sync().unwrap();
    drop(raw);
    let (wal, replayed) = Wal::open(disk.clone(), &wal_dir, small_segments()).unwrap();
    assert_eq!(replayed, recs(1..=12));
    drop(wal); // closed: the reserved space after the records is given back
    assert_eq!(disk.read(&last).unwrap().len(), good_len, "torn header truncated");
    assert_eq!(Wal::open(disk, &wal_dir, small_segments()).unwrap().1, recs(1..=12));
}

/// A crash (no clean close) leaves the current segment ending in reserved zeros:
/// replay keeps every synced record, cuts the zeros, and segments closed by rotation
/// end exactly at their last record (only the last may have a tail).
#[test]
fn fs_disk_reserved_segments_after_a_crash() {
    let tmp = TempDir::new("wal-reserved");
    let disk: Arc<dyn Disk> = Arc::new(FsDisk::new());
    let wal_dir = tmp.path().join("wal");
    let (mut wal, _) = Wal::open(disk.clone(), &wal_dir, small_segments()).unwrap();
    for r in recs(1..=12) {
        wal.append(r.kind, r.index, &r.payload).unwrap();
        wal.sync().unwrap();
    }
    let names = wal.segment_file_names();
    assert!(names.len() > 2);
    let logical = wal.stats().segment_bytes;
    std::mem::forget(wal); // a crash: the handle is never closed, nothing trimmed
    let on_disk: u64 = names.iter().map(|n| disk.read(&wal_dir.join(n)).unwrap().len() as u64).sum();
    assert!(on_disk > logical, "the last segment ends in reserved space ({on_disk} vs {logical} bytes)");
    for name in &names[..names.len() - 1] {
        let image = disk.read(&wal_dir.join(name)).unwrap();
        assert_eq!(
            crate::storage::replay::scan_segment(&image).bad,
            None,
            "{name} was closed at its last record"
        );
    }
    let (mut wal, replayed) = Wal::open(disk.clone(), &wal_dir, small_segments()).unwrap();
    assert_eq!(replayed, recs(1..=12));
    for r in recs(13..=14) {
        wal.append(r.kind, r.index, &r.payload).unwrap();
        wal.sync().unwrap();
    }
    std::mem::forget(wal);
    assert_eq!(Wal::open(disk, &wal_dir, small_segments()).unwrap().1, recs(1..=14));
}

/// Every record can be read back from where its sync said it went, across segments,
/// and `open_located` finds the same places; a position that names another record
/// is refused, not misread.
fn read_back_by_position(disk: Arc<dyn Disk>, wal_dir: &Path) {
    let opts = WalOptions { segment_size_bytes: 200 };
    let (mut wal, _) = Wal::open(disk.clone(), wal_dir, opts).unwrap();
    let mut placed = Vec::new();
    for batch in [1..=3u64, 4..=4, 5..=12, 13..=20] {
        let records = recs(batch);
        let offsets: Vec<u64> =
            records.iter().map(|r| wal.append(r.kind, r.index, &r.payload).unwrap()).collect();
        let report = wal.sync().unwrap();
        for (r, off) in records.into_iter().zip(offsets) {
            let len = frame_len(r.payload.len()) as u32;
            placed.push((
                r,
                RecordPos { segment_seq: report.segment_seq, offset: report.base_offset + off, len },
            ));
        }
    }
    assert!(wal.segment_file_names().len() > 1, "the test spans segments");
    for (r, pos) in &placed {
        assert_eq!(&wal.read_record(*pos, r.kind, r.index).unwrap(), r);
    }
    let (r, pos) = &placed[5];
    assert!(matches!(wal.read_record(*pos, r.kind, r.index + 1), Err(WalError::Corrupt { .. })));
    assert!(matches!(wal.read_record(*pos, r.kind.wrapping_add(1), r.index), Err(WalError::Corrupt { .. })));
    drop(wal);
    let (wal, located) = Wal::open_located(disk, wal_dir, opts).unwrap();
    assert_eq!(located, placed);
    for (r, pos) in &placed {
        assert_eq!(&wal.read_record(*pos, r.kind, r.index).unwrap(), r);
    }
}

#[test]
fn records_read_back_by_position_on_sim_disk() {
    let (_, disk) = sim();
    read_back_by_position(disk, dir());
}

#[test]
fn records_read_back_by_position_on_fs_disk() {
    let tmp = TempDir::new("wal-read-back");
    read_back_by_position(Arc::new(FsDisk::new()), &tmp.path().join("wal"));
}
