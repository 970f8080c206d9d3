//! SimDisk: the simulator's disk. In memory, deterministic, and hostile.
//!
//! One `SimDisk` is one node's device. The harness owns it (it is a cheap `Clone`
//! handle over `Arc<Mutex<..>>`), hands `Arc::new(disk.clone())` to the node as its
//! `Arc<dyn Disk>`, and keeps it across kill/restart, so whatever "reached the
//! platter" is what the restarted node finds.
//!
//! # What is modelled
//!
//! - **Files are inodes with two lengths.** Every file has its bytes and a
//!   `synced_len`: bytes `[0, synced_len)` are durable, bytes `[synced_len, len)` sit
//!   in the page cache. `DiskFile::sync` moves `synced_len` to `len`. Reads see
//!   everything (page cache included).
//! - **Directory entries have their own durability.** There is a live namespace
//!   (what `exists`/`list_dir`/`read` see) and a durable one. `open_append` of a new
//!   name and `remove` change only the live namespace; `sync_dir(dir)` copies the live
//!   entries of `dir` into the durable namespace; `write_atomic` does the same for the
//!   file's directory (it ends with a directory fsync). An unlinked file stays
//!   writable through open handles, as on POSIX.
//! - **Simplifications (deliberate).** Directories made by `create_dir_all` are
//!   durable at once (FsDisk fsyncs the parents it creates). `truncate` is durable
//!   when it returns (FsDisk does `set_len` + `sync_all`). `list_dir`, `read`,
//!   `exists`, `truncate`, `remove`, `sync_dir` never fail by injection.
//!
//! # Faults, when, and with what probability
//!
//! Probabilities come from [`FaultConfig`] (all 0 by default, changeable at run time
//! with [`SimDisk::set_faults`]). Draws come from a splitmix64 PRNG seeded by
//! [`SimDisk::new`]: same seed, same operations, same faults. A probability of 0
//! draws nothing, so turning faults off does not shift the random sequence of others.
//!
//! | fault | when | probability | effect |
//! |---|---|---|---|
//! | append EIO | each `DiskFile::append` | `append_eio_probability` | error, nothing appended |
//! | sync EIO | each `DiskFile::sync` | `sync_eio_probability` | error, and that file's unsynced bytes are **dropped** (Linux marks the dirty pages clean after a writeback error) |
//! | atomic-write EIO | each `write_atomic` | `sync_eio_probability` | error, old content and entry untouched |
//! | power loss in sync | each `DiskFile::sync` (and `write_atomic`) that passed the EIO draw | `power_loss_on_sync_probability` | error; the unsynced bytes stay unsynced (their fate is decided by the next [`SimDisk::crash`]); a `write_atomic` took effect or not, 50/50; the device is then **off**: every mutating call fails until `crash` |
//! | crash | when the harness calls [`SimDisk::crash`] (after killing the node, e.g. when [`SimDisk::power_lost`] says so) | harness decides | see modes below |
//!
//! A crash first invalidates every open handle (later calls on them fail: a killed
//! process writes nothing), then applies its [`CrashMode`] to every file with
//! unsynced bytes, then makes everything that survived durable:
//!
//! - `DropUnsynced`: every unsynced byte is lost; directory entries not made durable
//!   by `sync_dir` are rolled back (new files vanish, removed files come back).
//! - `TornTail`: per file, a uniformly random prefix of its unsynced bytes survives
//!   (possibly none, possibly all, possibly cutting a record); directory entries
//!   rolled back as in `DropUnsynced`.
//! - `FlipBits`: a torn tail as above, except at least one unsynced byte survives in
//!   each file that had some; then in ONE such file (uniformly chosen) one bit is
//!   flipped in one byte among the last [`FLIP_WINDOW_BYTES`] surviving bytes, never
//!   below that file's `synced_len`: the sector being written when power failed
//!   arrived garbled. **Flips never touch bytes that were durable before the crash**
//!   (acknowledged data): silently losing those on one member is outside what Raft
//!   tolerates, and media corruption of durable bytes is tested directly with
//!   [`SimDisk::flip_bit`]. If no file had unsynced bytes, nothing is flipped.
//! - `KeepAll`: the page cache happened to be flushed: all bytes and all live
//!   directory entries survive.
//!
//! # What the checker then expects
//!
//! - Everything a `sync` (or `write_atomic`, `sync_dir`) acknowledged with Ok
//!   survives every crash mode byte for byte.
//! - Nothing is acknowledged after a failed sync: the caller treats the file as
//!   suspect (the WAL poisons itself), so dropped bytes lose nothing acknowledged.
//! - Torn and flipped bytes lie after the last acknowledged byte and within the
//!   final [`FLIP_WINDOW_BYTES`] of the file, so a reader with per-record CRCs sees a
//!   torn tail, truncates it, and replays a prefix containing every acknowledged
//!   record. A flip must be detected by the CRC, never returned as data.
//!
//! Counters of operations and injected faults: [`SimDisk::counters`].

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::env::disk::{Disk, DiskFile};

#[cfg(test)]
#[path = "sim_disk_test.rs"]
mod sim_disk_test;

/// How far back from the end of a torn file a `FlipBits` crash may flip a bit.
/// Shorter than the smallest WAL frame (17 bytes): no complete record can follow it.
pub const FLIP_WINDOW_BYTES: u64 = 16;

/// Fault probabilities, each in `[0, 1]`, drawn per operation.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    pub append_eio_probability: f64,
    pub sync_eio_probability: f64,
    pub power_loss_on_sync_probability: f64,
}

impl FaultConfig {
    /// No injected faults (crashes still happen when the harness asks).
    pub fn none() -> Self {
        Self::default()
    }
}

/// What a crash does to bytes and directory entries that were not yet durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CrashMode {
    DropUnsynced,
    TornTail,
    FlipBits,
    KeepAll,
}

impl CrashMode {
    pub const ALL: [CrashMode; 4] =
        [CrashMode::DropUnsynced, CrashMode::TornTail, CrashMode::FlipBits, CrashMode::KeepAll];
}

/// Operation and fault counters, for the simulator's summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimDiskCounters {
    pub appends: u64,
    pub file_syncs: u64,
    pub dir_syncs: u64,
    pub atomic_writes: u64,
    pub append_eio: u64,
    pub sync_eio: u64,
    pub atomic_write_eio: u64,
    pub power_losses: u64,
    pub crashes: u64,
    pub unsynced_bytes_dropped: u64,
    pub files_torn: u64,
    pub bits_flipped: u64,
    pub dir_entries_reverted: u64,
}

/// One flipped bit, as reported by a `FlipBits` crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitFlip {
    pub path: PathBuf,
    pub offset: u64,
    pub bit: u8,
}

/// What one crash did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrashReport {
    pub mode: CrashMode,
    pub unsynced_bytes_dropped: u64,
    pub files_torn: u64,
    pub dir_entries_reverted: u64,
    pub flip: Option<BitFlip>,
}

/// splitmix64: tiny, deterministic, good enough to pick faults.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`; `n` must be > 0.
    fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`; draws nothing when `p <= 0`.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < p
    }
}

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
    open_handles: usize,
}

impl Inode {
    fn unsynced(&self) -> u64 {
        (self.data.len() - self.synced_len) as u64
    }
}

struct State {
    rng: SplitMix64,
    faults: FaultConfig,
    counters: SimDiskCounters,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    live: BTreeMap<PathBuf, u64>,
    durable: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    /// Bumped by every crash; handles from an older epoch are dead.
    epoch: u64,
    powered_off: bool,
}

/// The simulated device. See the module docs for its fault model.
#[derive(Clone)]
pub struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("SimDisk").field("files", &st.live.len()).field("epoch", &st.epoch).finish()
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("simulated {what} (SimDisk fault injection)"))
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{}: no such file (SimDisk)", path.display()))
}

fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new(""))
}

impl SimDisk {
    pub fn new(seed: u64, faults: FaultConfig) -> Self {
        let state = State {
            rng: SplitMix64(seed),
            faults,
            counters: SimDiskCounters::default(),
            inodes: BTreeMap::new(),
            next_inode: 1,
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            dirs: BTreeSet::new(),
            epoch: 0,
            powered_off: false,
        };
        SimDisk { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (no partial updates
        // span a panic point), so keep going rather than cascade the panic.
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn set_faults(&self, faults: FaultConfig) {
        self.lock().faults = faults;
    }

    pub fn faults(&self) -> FaultConfig {
        self.lock().faults
    }

    pub fn counters(&self) -> SimDiskCounters {
        self.lock().counters.clone()
    }

    /// True after an injected power loss, until [`SimDisk::crash`]: the harness should
    /// kill the node, crash the disk and restart the node.
    pub fn power_lost(&self) -> bool {
        self.lock().powered_off
    }

    /// Power-cycle the device. See the module docs for what each mode does.
    pub fn crash(&self, mode: CrashMode) -> CrashReport {
        self.lock().crash(mode)
    }

    /// Length of a live file including unsynced bytes.
    pub fn file_len(&self, path: &Path) -> Option<u64> {
        let st = self.lock();
        st.live.get(path).map(|ino| st.inodes[ino].data.len() as u64)
    }

    /// Durable length of a live file.
    pub fn synced_len(&self, path: &Path) -> Option<u64> {
        let st = self.lock();
        st.live.get(path).map(|ino| st.inodes[ino].synced_len as u64)
    }

    /// Media corruption for tests: flip bit `bit` (0..8) of byte `offset` of a live
    /// file, durable or not. Not part of any crash mode.
    pub fn flip_bit(&self, path: &Path, offset: u64, bit: u8) -> io::Result<()> {
        assert!(bit < 8, "bit index {bit} out of range");
        let mut st = self.lock();
        let ino = *st.live.get(path).ok_or_else(|| not_found(path))?;
        let data = &mut st.inodes.get_mut(&ino).expect("live entry has an inode").data;
        let byte = data.get_mut(offset as usize).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("offset {offset} past end of file"))
        })?;
        *byte ^= 1 << bit;
        Ok(())
    }
}

impl State {
    fn check_power(&self) -> io::Result<()> {
        if self.powered_off {
            return Err(injected("power loss: device is off until crash()"));
        }
        Ok(())
    }

    fn check_parent_dir(&self, path: &Path) -> io::Result<()> {
        let parent = parent_of(path);
        if parent.as_os_str().is_empty() || self.dirs.contains(parent) {
            Ok(())
        } else {
            Err(not_found(parent))
        }
    }

    fn new_inode(&mut self, inode: Inode) -> u64 {
        let ino = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(ino, inode);
        ino
    }

    /// Drop inodes no name and no open handle refers to.
    fn collect_garbage(&mut self) {
        let referenced: BTreeSet<u64> = self.live.values().chain(self.durable.values()).copied().collect();
        self.inodes.retain(|ino, inode| inode.open_handles > 0 || referenced.contains(ino));
    }

    /// Make the live entries of `dir` durable (and durable-only entries vanish).
    fn persist_dir_entries(&mut self, dir: &Path) {
        self.durable.retain(|path, _| parent_of(path) != dir);
        let live_in_dir = self.live.iter().filter(|(path, _)| parent_of(path) == dir);
        let entries: Vec<(PathBuf, u64)> = live_in_dir.map(|(p, ino)| (p.clone(), *ino)).collect();
        self.durable.extend(entries);
        self.collect_garbage();
    }

    fn inode_of_handle(&mut self, ino: u64, epoch: u64) -> io::Result<&mut Inode> {
        if epoch != self.epoch {
            return Err(io::Error::other("stale file handle: the disk crashed since it was opened"));
        }
        self.check_power()?;
        Ok(self.inodes.get_mut(&ino).expect("an open handle keeps its inode alive"))
    }

    fn file_append(&mut self, ino: u64, epoch: u64, data: &[u8]) -> io::Result<()> {
        self.inode_of_handle(ino, epoch)?;
        self.counters.appends += 1;
        if self.rng.chance(self.faults.append_eio_probability) {
            self.counters.append_eio += 1;
            return Err(injected("EIO on append"));
        }
        self.inodes.get_mut(&ino).expect("checked above").data.extend_from_slice(data);
        Ok(())
    }

    fn file_sync(&mut self, ino: u64, epoch: u64) -> io::Result<()> {
        self.inode_of_handle(ino, epoch)?;
        self.counters.file_syncs += 1;
        if self.rng.chance(self.faults.sync_eio_probability) {
            self.counters.sync_eio += 1;
            let inode = self.inodes.get_mut(&ino).expect("checked above");
            self.counters.unsynced_bytes_dropped += inode.unsynced();
            let synced = inode.synced_len;
            inode.data.truncate(synced);
            return Err(injected("EIO on fdatasync (unsynced bytes dropped)"));
        }
        if self.rng.chance(self.faults.power_loss_on_sync_probability) {
            self.counters.power_losses += 1;
            self.powered_off = true;
            return Err(injected("power loss during fdatasync"));
        }
        let inode = self.inodes.get_mut(&ino).expect("checked above");
        inode.synced_len = inode.data.len();
        Ok(())
    }

    fn write_atomic(&mut self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.check_power()?;
        self.check_parent_dir(path)?;
        self.counters.atomic_writes += 1;
        if self.rng.chance(self.faults.sync_eio_probability) {
            self.counters.atomic_write_eio += 1;
            return Err(injected("EIO in write_atomic (old content kept)"));
        }
        let power_loss = self.rng.chance(self.faults.power_loss_on_sync_probability);
        if !power_loss || self.rng.chance(0.5) {
            let inode = Inode { data: data.to_vec(), synced_len: data.len(), open_handles: 0 };
            let ino = self.new_inode(inode);
            self.live.insert(path.to_path_buf(), ino);
            self.persist_dir_entries(parent_of(path));
        }
        if power_loss {
            self.counters.power_losses += 1;
            self.powered_off = true;
            return Err(injected("power loss during write_atomic"));
        }
        Ok(())
    }
}

#[path = "sim_disk_crash.rs"]
mod crash;

/// An open file on a [`SimDisk`]; dies with the next crash.
struct SimFile {
    disk: SimDisk,
    ino: u64,
    epoch: u64,
}

impl DiskFile for SimFile {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.disk.lock().file_append(self.ino, self.epoch, data)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.disk.lock().file_sync(self.ino, self.epoch)
    }

    fn len(&self) -> u64 {
        let st = self.disk.lock();
        match st.inodes.get(&self.ino) {
            Some(inode) if st.epoch == self.epoch => inode.data.len() as u64,
            _ => 0,
        }
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut st = self.disk.lock();
        if st.epoch != self.epoch {
            return; // the crash already forgot every handle
        }
        if let Some(inode) = st.inodes.get_mut(&self.ino) {
            inode.open_handles -= 1;
        }
        st.collect_garbage();
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_power()?;
        for dir in path.ancestors().filter(|d| !d.as_os_str().is_empty()) {
            if st.live.contains_key(dir) {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a file is in the way"));
            }
            st.dirs.insert(dir.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = self.lock();
        if !st.dirs.contains(path) {
            return Err(not_found(path));
        }
        let files = st.live.keys().map(PathBuf::as_path);
        let entries = files.chain(st.dirs.iter().map(PathBuf::as_path));
        let names: BTreeSet<String> = entries
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = self.lock();
        st.live.contains_key(path) || st.dirs.contains(path)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let st = self.lock();
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        Ok(st.inodes[ino].data.clone())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let st = self.lock();
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        Ok(st.inodes[ino].data.len() as u64)
    }

    fn open_append(&self, path: &Path) -> io::Result<Box<dyn DiskFile>> {
        let mut st = self.lock();
        st.check_power()?;
        st.check_parent_dir(path)?;
        if st.dirs.contains(path) {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "is a directory"));
        }
        let ino = match st.live.get(path) {
            Some(ino) => *ino,
            None => {
                let ino = st.new_inode(Inode::default());
                st.live.insert(path.to_path_buf(), ino);
                ino
            }
        };
        st.inodes.get_mut(&ino).expect("just looked up").open_handles += 1;
        let epoch = st.epoch;
        Ok(Box::new(SimFile { disk: self.clone(), ino, epoch }))
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut st = self.lock();
        st.check_power()?;
        let ino = *st.live.get(path).ok_or_else(|| not_found(path))?;
        let inode = st.inodes.get_mut(&ino).expect("live entry has an inode");
        inode.data.resize(len as usize, 0);
        inode.synced_len = inode.data.len();
        Ok(())
    }

    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        self.lock().write_atomic(path, data)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_power()?;
        st.live.remove(path).ok_or_else(|| not_found(path))?;
        st.collect_garbage();
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        st.check_power()?;
        if !st.dirs.contains(path) {
            return Err(not_found(path));
        }
        st.counters.dir_syncs += 1;
        st.persist_dir_entries(path);
        Ok(())
    }
}
