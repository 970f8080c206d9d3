//! Media corruption of durable data: one flipped bit inside a WAL record that a
//! correct store can tell from a torn write (anything but the last valid record of
//! the last segment). Such a bit must never be served: the member refuses to start.

use std::path::{Path, PathBuf};

use madsim::rand::Rng;
use metastore::env::sim_disk::SimDisk;
use metastore::env::Disk;
use metastore::storage::record::decode_frame;

/// Where a bit was flipped.
#[derive(Clone, Debug)]
pub struct Flip {
    pub path: PathBuf,
    pub offset: u64,
    pub bit: u8,
}

/// Flip one bit of a durable WAL record under `wal_dir`, chosen by `rng`; None if
/// there is no record that could be told from a torn tail.
pub fn flip_durable_bit(disk: &SimDisk, wal_dir: &Path, rng: &mut impl Rng) -> Option<Flip> {
    let mut names: Vec<String> = disk.list_dir(wal_dir).ok()?;
    names.retain(|n| n.ends_with(".wal"));
    names.sort();
    // (file, frame offset, frame length) of every frame that may be flipped.
    let mut frames: Vec<(PathBuf, u64, u64)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let path = wal_dir.join(name);
        let bytes = disk.read(&path).ok()?;
        let mut at = 0usize;
        let mut found = Vec::new();
        while let Ok(frame) = decode_frame(&bytes[at..]) {
            found.push((path.clone(), at as u64, frame.frame_len() as u64));
            at += frame.frame_len();
        }
        if i + 1 == names.len() {
            found.pop(); // damage to the very last record reads as a torn write
        }
        frames.extend(found);
    }
    if frames.is_empty() {
        return None;
    }
    let (path, start, len) = frames[rng.gen_range(0..frames.len())].clone();
    let offset = start + rng.gen_range(0..len);
    let bit = rng.gen_range(0..8u8);
    disk.flip_bit(&path, offset, bit).ok()?;
    Some(Flip { path, offset, bit })
}
