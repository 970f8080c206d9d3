//! The crash of a [`SimDisk`](super::SimDisk): what survives a power cut, per
//! [`CrashMode`]. The rules are stated in the fault model at the top of `sim_disk.rs`.

use std::path::PathBuf;

use super::{BitFlip, CrashMode, CrashReport, State, FLIP_WINDOW_BYTES};

impl State {
    pub(super) fn crash(&mut self, mode: CrashMode) -> CrashReport {
        self.epoch += 1;
        self.powered_off = false;
        self.counters.crashes += 1;
        for inode in self.inodes.values_mut() {
            inode.open_handles = 0;
        }
        let mut report = CrashReport {
            mode,
            unsynced_bytes_dropped: 0,
            files_torn: 0,
            dir_entries_reverted: 0,
            flip: None,
        };
        report.dir_entries_reverted = self.settle_namespace(mode);
        self.collect_garbage();
        let torn = self.cut_unsynced_tails(mode, &mut report);
        if mode == CrashMode::FlipBits && !torn.is_empty() {
            report.flip = Some(self.flip_in_torn_region(&torn));
        }
        for inode in self.inodes.values_mut() {
            inode.synced_len = inode.data.len();
        }
        self.counters.unsynced_bytes_dropped += report.unsynced_bytes_dropped;
        self.counters.files_torn += report.files_torn;
        self.counters.dir_entries_reverted += report.dir_entries_reverted;
        self.counters.bits_flipped += u64::from(report.flip.is_some());
        report
    }

    /// Roll the live namespace back to the durable one (or, for `KeepAll`, the other
    /// way round). Returns how many entries differed.
    fn settle_namespace(&mut self, mode: CrashMode) -> u64 {
        let differing = self.live.iter().filter(|(path, ino)| self.durable.get(*path) != Some(*ino)).count()
            + self.durable.keys().filter(|path| !self.live.contains_key(*path)).count();
        if mode == CrashMode::KeepAll {
            self.durable = self.live.clone();
        } else {
            self.live = self.durable.clone();
        }
        differing as u64
    }

    /// Apply the mode to every surviving file with unsynced bytes. Returns, for
    /// `TornTail`/`FlipBits`, the files where some unsynced bytes survived, with the
    /// synced length they had before the crash.
    fn cut_unsynced_tails(&mut self, mode: CrashMode, report: &mut CrashReport) -> Vec<(PathBuf, u64)> {
        let mut survivors = Vec::new();
        let paths: Vec<(PathBuf, u64)> = self.durable.iter().map(|(p, ino)| (p.clone(), *ino)).collect();
        for (path, ino) in paths {
            let inode = self.inodes.get_mut(&ino).expect("durable entry has an inode");
            let unsynced = inode.unsynced();
            if unsynced == 0 {
                continue;
            }
            let keep = match mode {
                CrashMode::DropUnsynced => 0,
                CrashMode::KeepAll => unsynced,
                CrashMode::TornTail => self.rng.below(unsynced + 1),
                CrashMode::FlipBits => 1 + self.rng.below(unsynced),
            };
            let synced = inode.synced_len;
            inode.data.truncate(synced + keep as usize);
            report.unsynced_bytes_dropped += unsynced - keep;
            if keep < unsynced {
                report.files_torn += u64::from(keep > 0);
            }
            if keep > 0 && matches!(mode, CrashMode::TornTail | CrashMode::FlipBits) {
                survivors.push((path, synced as u64));
            }
        }
        survivors
    }

    /// Flip one bit in the last [`FLIP_WINDOW_BYTES`] of one torn file, never in bytes
    /// that were durable before the crash.
    fn flip_in_torn_region(&mut self, torn: &[(PathBuf, u64)]) -> BitFlip {
        let (path, synced_before) = &torn[self.rng.below(torn.len() as u64) as usize];
        let ino = self.durable[path];
        let data = &mut self.inodes.get_mut(&ino).expect("durable entry has an inode").data;
        let len = data.len() as u64;
        let window = (len - synced_before).min(FLIP_WINDOW_BYTES);
        assert!(window > 0, "FlipBits keeps at least one unsynced byte");
        let offset = len - 1 - self.rng.below(window);
        let bit = self.rng.below(8) as u8;
        assert!(offset >= *synced_before, "a flip must never touch durable bytes");
        data[offset as usize] ^= 1 << bit;
        BitFlip { path: path.clone(), offset, bit }
    }
}
