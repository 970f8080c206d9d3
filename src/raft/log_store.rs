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
use crate::storage::{Record, Wal, WalOptions};

const ENTRY: u8 = 1;
const TRUNCATE: u8 = 2;
const PURGE: u8 = 3;
const COMMITTED: u8 = 4;

/// In-memory image of the durable log.
#[derive(Default)]
struct LogImage {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
}

impl LogImage {
    fn replay(records: Vec<Record>) -> io::Result<LogImage> {
        let mut img = LogImage::default();
        for rec in records {
            match rec.kind {
                ENTRY => {
                    let entry: Entry = decode(&rec.payload)?;
                    img.entries.insert(entry.index(), entry);
                }
                TRUNCATE => {
                    img.entries.split_off(&rec.index);
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
        Ok(img)
    }

    fn purge(&mut self, log_id: LogId) {
        let keep = self.entries.split_off(&(log_id.index() + 1));
        self.entries = keep;
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
    /// Open the log in `dir` (creating it), replaying the WAL. A torn tail is cut; a
    /// corrupt record before the tail is an error naming the file and offset.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path) -> io::Result<LogStore> {
        let (wal, records) = Wal::open(disk.clone(), &dir.join("wal"), WalOptions::default())
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

    /// Write records to the WAL buffer (not yet durable).
    fn write_records(&self, records: &[(u8, u64, Vec<u8>)]) -> io::Result<()> {
        let mut wal = self.wal();
        for (kind, index, payload) in records {
            wal.append(*kind, *index, payload).map_err(wal_err)?;
        }
        Ok(())
    }

    /// fsync the WAL off the async workers.
    async fn sync(&self) -> io::Result<()> {
        let this = self.clone();
        crate::env::blocking(move || this.wal().sync().map(|_| ()).map_err(wal_err)).await
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let img = self.image();
        Ok(img.entries.range(range).map(|(_, e)| e.clone()).collect())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(*self.inner.vote.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let img = self.image();
        let last = img.entries.values().next_back().map(|e| e.log_id()).or(img.last_purged);
        Ok(LogState { last_purged_log_id: img.last_purged, last_log_id: last })
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
        self.image().committed = committed;
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
        self.write_records(&records)?;
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
        {
            let mut img = self.image();
            for e in entries {
                img.entries.insert(e.index(), e);
            }
        }
        let result = self.sync().await;
        let reported = result.as_ref().map(|_| ()).map_err(|e| io::Error::new(e.kind(), e.to_string()));
        callback.io_completed(reported);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let first_removed = last_log_id.map(|l| l.index() + 1).unwrap_or(0);
        self.write_records(&[(TRUNCATE, first_removed, Vec::new())])?;
        self.image().entries.split_off(&first_removed);
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
