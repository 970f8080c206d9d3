//! The raft log and vote, durable on the WAL (`storage::wal`) through `env::Disk`.
//!
//! WAL record kinds written here (index = raft log index unless noted):
//! - `ENTRY`     payload = bincode(Entry)
//! - `TRUNCATE`  index = first removed index; entries at or after it are gone
//! - `PURGE`     payload = bincode(LogId): entries up to it are gone (in a snapshot)
//! - `COMMITTED` payload = bincode(Option<LogId>): a hint for re-apply after restart
//!
//! Replaying the records in order rebuilds the log exactly. The vote lives in its own
//! small file (`vote`), atomically replaced and fsynced, so purging WAL segments never
//! loses it.
//!
//! Memory: only the newest entries stay decoded in memory, those above the commit
//! index minus [`ENTRIES_KEPT_IN_MEMORY`] (what replication to a follower that keeps up
//! and apply read). Older durable entries are kept as their WAL position only (24 B
//! each) and read back from the WAL when asked for: between two snapshots the log
//! holds up to `--snapshot-count` entries, and holding them all decoded cost ~450 B
//! each, most of the store's memory after 100,000 puts.
//!
//! Durability: `append` reports success to openraft only after the WAL is fsynced;
//! one fsync covers every entry buffered before it (group commit: openraft hands us
//! every entry that queued up while the previous fsync ran, as one batch).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;

use super::types::{Entry, LogId, TypeConfig, Vote};
use crate::env::Disk;
use crate::storage::meta;
use crate::storage::wal::RecordPos;
use crate::storage::{Record, Wal, WalOptions};

const ENTRY: u8 = 1;
const TRUNCATE: u8 = 2;
const PURGE: u8 = 3;
const COMMITTED: u8 = 4;

/// Entries at or below the commit index minus this many are dropped from memory
/// once durable (they are read back from the WAL when needed). The simulation keeps
/// only a few, so that its replication, apply and restarts read back from the WAL all
/// the time.
pub const ENTRIES_KEPT_IN_MEMORY: u64 = if cfg!(madsim) { 4 } else { 2048 };

/// In-memory image of the durable log.
#[derive(Default)]
struct LogImage {
    /// Entries held decoded: the newest ones, and any not yet durable.
    entries: BTreeMap<u64, Entry>,
    /// Where each durable entry is in the WAL (every entry of the log once synced).
    positions: BTreeMap<u64, RecordPos>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
}

impl LogImage {
    fn replay(records: Vec<(Record, RecordPos)>) -> io::Result<LogImage> {
        let mut img = LogImage::default();
        for (rec, pos) in records {
            match rec.kind {
                ENTRY => {
                    let entry: Entry = decode(&rec.payload)?;
                    img.entries.insert(entry.index(), entry);
                    img.positions.insert(rec.index, pos);
                }
                TRUNCATE => {
                    img.entries.split_off(&rec.index);
                    img.positions.split_off(&rec.index);
                }
                PURGE => {
                    let log_id: LogId = decode(&rec.payload)?;
                    img.purge(log_id);
                }
                COMMITTED => img.committed = decode(&rec.payload)?,
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("raft log: unknown WAL record kind {other} at index {}", rec.index),
                    ))
                }
            }
        }
        img.evict();
        Ok(img)
    }

    /// Drop from memory the durable entries at or below the commit index minus
    /// [`ENTRIES_KEPT_IN_MEMORY`].
    fn evict(&mut self) {
        let Some(committed) = self.committed else { return };
        let Some(cut) = committed.index().checked_sub(ENTRIES_KEPT_IN_MEMORY) else { return };
        if self.entries.first_key_value().is_none_or(|(i, _)| *i > cut) {
            return;
        }
        let kept = self.entries.split_off(&(cut + 1));
        let old = std::mem::replace(&mut self.entries, kept);
        // An entry not yet durable (no position) stays.
        for (index, entry) in old {
            if !self.positions.contains_key(&index) {
                self.entries.insert(index, entry);
            }
        }
    }

    fn purge(&mut self, log_id: LogId) {
        let keep = self.entries.split_off(&(log_id.index() + 1));
        self.entries = keep;
        let keep = self.positions.split_off(&(log_id.index() + 1));
        self.positions = keep;
        if self.last_purged.as_ref().is_none_or(|p| p.index() < log_id.index()) {
            self.last_purged = Some(log_id);
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    bincode::deserialize(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn encode<T: serde::Serialize>(value: &T) -> io::Result<Vec<u8>> {
    bincode::serialize(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn wal_err(e: crate::storage::WalError) -> io::Error {
    io::Error::other(e.to_string())
}

struct Inner {
    disk: Arc<dyn Disk>,
    vote_path: PathBuf,
    wal: Mutex<Wal>,
    image: Mutex<LogImage>,
    vote: Mutex<Option<Vote>>,
    /// Mutant `ApplyUncommitted`: the state machine appended entries go to at once.
    #[cfg(madsim)]
    speculate: std::sync::OnceLock<super::state_machine::StateMachine>,
}

/// openraft's log storage (and, cloned, its log reader).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

impl LogStore {
    /// Open the log: its WAL segments in `wal_dir` (created if missing), its vote in
    /// `dir`; replays the WAL. A torn tail is cut; a corrupt record before the tail is
    /// an error naming the file and offset.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path, wal_dir: &Path) -> io::Result<LogStore> {
        let (wal, records) = Wal::open_located(disk.clone(), wal_dir, WalOptions::default())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let image = LogImage::replay(records)?;
        let vote_path = dir.join("vote");
        let vote = match meta::load_small_file(disk.as_ref(), &vote_path).map_err(wal_err)? {
            Some(_) if crate::mutant!(ForgetVote) => None,
            Some(bytes) => Some(decode(&bytes)?),
            None => None,
        };
        Ok(LogStore {
            inner: Arc::new(Inner {
                disk,
                vote_path,
                wal: Mutex::new(wal),
                image: Mutex::new(image),
                vote: Mutex::new(vote),
                #[cfg(madsim)]
                speculate: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Mutant `ApplyUncommitted`: hand appended entries to `sm` at once.
    #[cfg(madsim)]
    pub fn speculate_into(&self, sm: super::state_machine::StateMachine) {
        let _ = self.inner.speculate.set(sm);
    }

    /// True if nothing was ever stored: no vote, no entry, nothing purged.
    pub fn is_pristine(&self) -> bool {
        let img = self.inner.image.lock().unwrap_or_else(|p| p.into_inner());
        let vote = self.inner.vote.lock().unwrap_or_else(|p| p.into_inner());
        vote.is_none() && img.entries.is_empty() && img.last_purged.is_none()
    }

    fn image(&self) -> std::sync::MutexGuard<'_, LogImage> {
        self.inner.image.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wal(&self) -> std::sync::MutexGuard<'_, Wal> {
        self.inner.wal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Write records to the WAL buffer (not yet durable); returns their batch offsets.
    fn write_records(&self, records: &[(u8, u64, Vec<u8>)]) -> io::Result<Vec<u64>> {
        let mut wal = self.wal();
        records
            .iter()
            .map(|(kind, index, payload)| wal.append(*kind, *index, payload).map_err(wal_err))
            .collect()
    }

    /// fsync the WAL off the async workers.
    async fn sync(&self) -> io::Result<crate::storage::wal::SyncReport> {
        let this = self.clone();
        crate::env::blocking(move || this.wal().sync().map_err(wal_err)).await
    }

    /// The entries `indexes` (written at `batch_offsets` of the batch `report` made
    /// durable) may now leave memory: note where they are, and evict.
    fn note_durable(
        &self,
        report: &crate::storage::wal::SyncReport,
        indexes: &[u64],
        batch_offsets: &[u64],
        records: &[(u8, u64, Vec<u8>)],
    ) {
        // Appends run one at a time, so this sync wrote this append's records; if it
        // wrote nothing, an earlier sync did and the offsets are not known: the entries
        // then simply stay in memory.
        if report.records == 0 {
            return;
        }
        let mut img = self.image();
        for ((index, offset), (_, _, payload)) in indexes.iter().zip(batch_offsets).zip(records) {
            let len = crate::storage::record::frame_len(payload.len());
            debug_assert!(offset + len as u64 <= report.bytes, "record {index} outside the synced batch");
            let pos = RecordPos {
                segment_seq: report.segment_seq,
                offset: report.base_offset + offset,
                len: len as u32,
            };
            img.positions.insert(*index, pos);
        }
        img.evict();
    }

    /// Entries in `range`: from memory, or read back from the WAL.
    fn read_entries<RB: RangeBounds<u64> + Clone>(&self, range: RB) -> io::Result<Vec<Entry>> {
        let img = self.image();
        // Durable entries no longer held in memory are read back from the WAL.
        let on_disk: Vec<(u64, RecordPos)> = img
            .positions
            .range(range.clone())
            .filter(|(i, _)| !img.entries.contains_key(i))
            .map(|(i, p)| (*i, *p))
            .collect();
        let mut out = Vec::with_capacity(on_disk.len());
        if !on_disk.is_empty() {
            let wal = self.wal();
            for (index, pos) in on_disk {
                let rec = wal.read_record(pos, ENTRY, index).map_err(wal_err)?;
                out.push(decode::<Entry>(&rec.payload)?);
            }
        }
        let read_back = out.len();
        out.extend(img.entries.range(range).map(|(_, e)| e.clone()));
        // Evicted entries lie below the ones held (eviction takes a prefix), so this
        // is already in order but for the unusual entry kept for want of a position.
        if read_back > 0 {
            out.sort_by_key(|e| e.index());
        }
        Ok(out)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.read_entries(range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(*self.inner.vote.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let (last_index, last_purged) = {
            let img = self.image();
            (img.entries.keys().next_back().max(img.positions.keys().next_back()).copied(), img.last_purged)
        };
        // The last entry is above the commit index, so in memory; read back otherwise.
        let last = match last_index {
            Some(i) => self.read_entries(i..=i)?.last().map(|e| e.log_id()),
            None => None,
        };
        Ok(LogState { last_purged_log_id: last_purged, last_log_id: last.or(last_purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        if crate::buggify!("raft.save_vote") {
            return Err(io::Error::other("fail point raft.save_vote"));
        }
        let bytes = encode(vote)?;
        let disk = self.inner.disk.clone();
        let path = self.inner.vote_path.clone();
        crate::env::blocking(move || meta::save_small_file(disk.as_ref(), &path, &bytes))
            .await
            .map_err(wal_err)?;
        *self.inner.vote.lock().unwrap_or_else(|p| p.into_inner()) = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        // A hint only: made durable by the next fsync, harmless if lost.
        self.write_records(&[(COMMITTED, 0, encode(&committed)?)])?;
        let mut img = self.image();
        img.committed = committed;
        img.evict();
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.image().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        if crate::buggify!("raft.append") {
            return Err(io::Error::other("fail point raft.append"));
        }
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut records = Vec::with_capacity(entries.len());
        for e in &entries {
            records.push((ENTRY, e.index(), encode(e)?));
        }
        let batch_offsets = self.write_records(&records)?;
        #[cfg(madsim)]
        if crate::mutant!(ApplyUncommitted) {
            if let Some(sm) = self.inner.speculate.get() {
                for e in &entries {
                    if let openraft::EntryPayload::Normal(req) = &e.payload {
                        sm.apply_speculatively(e.log_id(), req);
                    }
                }
            }
        }
        let indexes: Vec<u64> = entries.iter().map(|e| e.index()).collect();
        {
            let mut img = self.image();
            for e in entries {
                img.entries.insert(e.index(), e);
            }
        }
        let result = self.sync().await;
        if let Ok(report) = &result {
            self.note_durable(report, &indexes, &batch_offsets, &records);
        }
        let reported = result.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reported);
        result.map(|_| ())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let first_removed = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        self.write_records(&[(TRUNCATE, first_removed, Vec::new())])?;
        let mut img = self.image();
        img.entries.split_off(&first_removed);
        img.positions.split_off(&first_removed);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        if crate::buggify!("log.purge_stall") {
            tokio::time::sleep(std::time::Duration::from_millis(crate::env::random::random_u64() % 500))
                .await;
        }
        let index = log_id.index();
        self.write_records(&[(PURGE, index, encode(&log_id)?)])?;
        self.sync().await?;
        self.image().purge(log_id);
        let this = self.clone();
        crate::env::blocking(move || this.wal().purge_before(index + 1).map_err(wal_err)).await?;
        Ok(())
    }
}
