//! The write-ahead log: segmented, CRC-framed, group-committed, over [`Disk`].
//!
//! - **Append** encodes a frame (layout in [`record`](crate::storage::record)) into
//!   an in-memory batch. Nothing touches the disk.
//! - **Sync** writes the whole batch with one append and one fdatasync (group
//!   commit): when it returns Ok every record appended before it is durable. If the
//!   current segment has reached `segment_size_bytes`, the batch goes to a new
//!   segment, created and made durable (`sync_dir`) before any byte is written to it;
//!   a segment may thus overshoot the size by one batch.
//! - **Failure poisons.** After a failed write or sync the page cache and the disk
//!   may disagree (Linux drops dirty pages on writeback EIO), so the Wal refuses
//!   every further append, sync and purge with `WalError::Poisoned`; recovery is a
//!   restart that replays what really is on disk.
//! - **Open** replays every segment in order. A torn tail in the last segment is
//!   truncated durably, anything else bad is `WalError::Corrupt` naming the file and
//!   byte offset: the rule is in [`replay`](crate::storage::replay). Open then
//!   fsyncs the last segment, so bytes that only survived in the page cache of a
//!   previous process are durable before anyone relies on them.
//! - **Purge** removes the longest prefix of non-current segments whose records all
//!   have index < the bound, one durable removal at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::env::disk::{Disk, DiskFile};
use crate::storage::record::{self, Record, MAX_PAYLOAD_BYTES};
use crate::storage::replay::{self, Verdict};
use crate::storage::segment::{self, SegmentName};
use crate::storage::WalError;

#[cfg(test)]
#[path = "wal_test.rs"]
mod wal_test;

#[cfg(test)]
#[path = "wal_prop_test.rs"]
mod wal_prop_test;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// Start a new segment once the current one holds at least this many bytes.
    pub segment_size_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_size_bytes: 64 << 20 }
    }
}

/// What one `sync` made durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub records: usize,
    pub bytes: u64,
    /// Where the batch went: the segment and the byte offset of its first frame. A
    /// record [`Wal::append`] placed at batch offset `o` is at `base_offset + o`.
    pub segment_seq: u64,
    pub base_offset: u64,
}

/// Where a durable record lives: read it back with [`Wal::read_record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPos {
    pub segment_seq: u64,
    pub offset: u64,
    /// Frame length (header + payload).
    pub len: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalStats {
    pub segment_count: usize,
    /// Bytes in segment files (all durable: only `sync` writes).
    pub segment_bytes: u64,
    pub buffered_records: usize,
    pub buffered_bytes: u64,
    pub poisoned: bool,
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    name: SegmentName,
    bytes: u64,
    max_index: Option<u64>,
}

/// Records appended since the last sync.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    records: usize,
    first_index: Option<u64>,
    max_index: Option<u64>,
}

pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    opts: WalOptions,
    /// Oldest first; the last one is current and `current` is its handle.
    segments: Vec<Segment>,
    current: Option<Box<dyn DiskFile>>,
    next_seq: u64,
    batch: Batch,
    poisoned: Option<String>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal").field("dir", &self.dir).field("stats", &self.stats()).finish()
    }
}

impl Wal {
    /// Open (creating `dir` if needed) and replay. Returns the Wal positioned after
    /// the last valid record, and every record in log order.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path, opts: WalOptions) -> Result<(Wal, Vec<Record>), WalError> {
        let (wal, located) = Wal::open_located(disk, dir, opts)?;
        Ok((wal, located.into_iter().map(|(r, _)| r).collect()))
    }

    /// [`Wal::open`], with where each record lives.
    pub fn open_located(
        disk: Arc<dyn Disk>,
        dir: &Path,
        opts: WalOptions,
    ) -> Result<(Wal, Vec<(Record, RecordPos)>), WalError> {
        assert!(opts.segment_size_bytes > 0, "segment_size_bytes must be positive");
        disk.create_dir_all(dir).map_err(WalError::io("create dir", dir))?;
        let names = segment::list_segments(&*disk, dir)?;
        let mut records = Vec::new();
        let mut segments = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let is_last = i + 1 == names.len();
            segments.push(replay_segment(&*disk, dir, *name, is_last, &mut records)?);
        }
        drop_empty_tail_segments(&*disk, dir, &mut segments)?;
        // Seqs stay consecutive: the next segment follows the last one kept.
        let next_seq = match segments.last() {
            Some(last) => last.name.seq + 1,
            None => names.first().map_or(0, |n| n.seq),
        };
        let current = match segments.last() {
            Some(last) => Some(reopen_current(&*disk, dir, last, &opts)?),
            None => None,
        };
        let dir = dir.to_path_buf();
        let wal =
            Wal { disk, dir, opts, segments, current, next_seq, batch: Batch::default(), poisoned: None };
        Ok((wal, records))
    }

    /// Buffer one record; durable after the next successful [`Wal::sync`]. Returns its
    /// offset in the batch (see [`SyncReport::base_offset`]).
    pub fn append(&mut self, kind: u8, index: u64, payload: &[u8]) -> Result<u64, WalError> {
        self.check_poisoned()?;
        if payload.len() > MAX_PAYLOAD_BYTES as usize {
            let max_payload_bytes = MAX_PAYLOAD_BYTES;
            return Err(WalError::RecordTooLarge { payload_bytes: payload.len(), max_payload_bytes });
        }
        let batch_offset = self.batch.bytes.len() as u64;
        record::encode_frame(&mut self.batch.bytes, kind, index, payload);
        self.batch.records += 1;
        self.batch.first_index.get_or_insert(index);
        self.batch.max_index = self.batch.max_index.max(Some(index));
        Ok(batch_offset)
    }

    /// Read back a durable record from where a sync or open said it is, checking its
    /// frame (CRC) and that it is the record expected (kind and index).
    pub fn read_record(&self, pos: RecordPos, kind: u8, index: u64) -> Result<Record, WalError> {
        let segment = self
            .segments
            .binary_search_by_key(&pos.segment_seq, |s| s.name.seq)
            .map(|i| &self.segments[i])
            .map_err(|_| WalError::Io {
                op: "read record",
                path: self.dir.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("segment {} is gone (record {index})", pos.segment_seq),
                ),
            })?;
        let path = self.dir.join(segment.name.file_name());
        let bytes = self
            .disk
            .read_at(&path, pos.offset, pos.len as usize)
            .map_err(WalError::io("read record", &path))?;
        let frame =
            record::decode_frame(&bytes).map_err(|e| WalError::corrupt(&path, pos.offset, e.to_string()))?;
        if frame.kind != kind || frame.index != index || frame.frame_len() != pos.len as usize {
            let reason = format!(
                "expected record kind {kind} index {index}, found kind {} index {}",
                frame.kind, frame.index
            );
            return Err(WalError::corrupt(&path, pos.offset, reason));
        }
        Ok(frame.to_record())
    }

    /// Write the batch and fdatasync it. On error the Wal is poisoned.
    pub fn sync(&mut self) -> Result<SyncReport, WalError> {
        self.check_poisoned()?;
        if self.batch.records == 0 {
            return Ok(SyncReport::default());
        }
        self.write_batch().inspect_err(|err| self.poisoned = Some(err.to_string()))
    }

    /// Remove the longest prefix of non-current segments all of whose records have
    /// index < `index`. Returns how many segments were removed.
    pub fn purge_before(&mut self, index: u64) -> Result<usize, WalError> {
        self.check_poisoned()?;
        let closed = self.segments.len().saturating_sub(1);
        let purgeable =
            self.segments[..closed].iter().take_while(|s| s.max_index.is_none_or(|max| max < index)).count();
        for _ in 0..purgeable {
            let path = self.dir.join(self.segments[0].name.file_name());
            self.disk.remove(&path).map_err(WalError::io("remove segment", &path))?;
            self.segments.remove(0);
            // One durable removal at a time keeps the survivors a contiguous suffix.
            self.disk.sync_dir(&self.dir).map_err(WalError::io("sync dir", &self.dir))?;
        }
        Ok(purgeable)
    }

    pub fn stats(&self) -> WalStats {
        WalStats {
            segment_count: self.segments.len(),
            segment_bytes: self.segments.iter().map(|s| s.bytes).sum(),
            buffered_records: self.batch.records,
            buffered_bytes: self.batch.bytes.len() as u64,
            poisoned: self.poisoned.is_some(),
        }
    }

    /// File names of the segments, oldest first.
    pub fn segment_file_names(&self) -> Vec<String> {
        self.segments.iter().map(|s| s.name.file_name()).collect()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.is_some()
    }

    fn check_poisoned(&self) -> Result<(), WalError> {
        match &self.poisoned {
            Some(cause) => Err(WalError::Poisoned { cause: cause.clone() }),
            None => Ok(()),
        }
    }

    fn needs_new_segment(&self) -> bool {
        self.segments.last().is_none_or(|s| s.bytes >= self.opts.segment_size_bytes)
    }

    fn start_segment(&mut self) -> Result<(), WalError> {
        let first_index = self.batch.first_index.expect("a non-empty batch has a first index");
        // The segment being closed may end in reserved space: cut it to its records,
        // durably, before the next one exists (replay allows a tail that is not a
        // record in the last segment only).
        if let (Some(file), Some(last)) = (self.current.take(), self.segments.last()) {
            drop(file);
            let path = self.dir.join(last.name.file_name());
            self.disk.truncate(&path, last.bytes).map_err(WalError::io("close segment", &path))?;
        }
        let name = SegmentName { seq: self.next_seq, first_index };
        let path = self.dir.join(name.file_name());
        let file = self
            .disk
            .open_append_reserved(&path, reserve_step(&self.opts))
            .map_err(WalError::io("create segment", &path))?;
        self.disk.sync_dir(&self.dir).map_err(WalError::io("sync dir", &self.dir))?;
        self.next_seq += 1;
        self.segments.push(Segment { name, bytes: 0, max_index: None });
        self.current = Some(file);
        Ok(())
    }

    fn write_batch(&mut self) -> Result<SyncReport, WalError> {
        if self.needs_new_segment() {
            self.start_segment()?;
        }
        let segment = self.segments.last_mut().expect("a segment exists after start_segment");
        let (segment_seq, base_offset) = (segment.name.seq, segment.bytes);
        let path = self.dir.join(segment.name.file_name());
        let file = self.current.as_mut().expect("the current segment is open");
        file.append(&self.batch.bytes).map_err(WalError::io("append", &path))?;
        if !crate::mutant!(AckBeforeFsync) {
            let fsync = crate::metrics::Timer::start();
            file.sync().map_err(WalError::io("fdatasync", &path))?;
            crate::metrics::wal_fsync(fsync.elapsed());
        }
        let batch = std::mem::take(&mut self.batch);
        segment.bytes += batch.bytes.len() as u64;
        segment.max_index = segment.max_index.max(batch.max_index);
        assert_eq!(file.len(), segment.bytes, "segment length diverged from the WAL's count: {path:?}");
        Ok(SyncReport { records: batch.records, bytes: batch.bytes.len() as u64, segment_seq, base_offset })
    }
}

/// Read, judge and (if torn) truncate one segment; push its records onto `out`.
fn replay_segment(
    disk: &dyn Disk,
    dir: &Path,
    name: SegmentName,
    is_last: bool,
    out: &mut Vec<(Record, RecordPos)>,
) -> Result<Segment, WalError> {
    let path = dir.join(name.file_name());
    let bytes = disk.read(&path).map_err(WalError::io("read segment", &path))?;
    let scan = replay::scan_segment(&bytes);
    match replay::judge(&scan, is_last) {
        Verdict::Clean => {}
        Verdict::TornTail { truncate_to } => {
            disk.truncate(&path, truncate_to).map_err(WalError::io("truncate torn tail", &path))?;
        }
        Verdict::Corrupt { offset, reason } => return Err(WalError::corrupt(&path, offset, reason)),
    }
    if let Some(first) = scan.records.first() {
        if first.index != name.first_index {
            let reason =
                format!("first record has index {}, the name says {}", first.index, name.first_index);
            return Err(WalError::corrupt(&path, 0, reason));
        }
    }
    let max_index = scan.records.iter().map(|r| r.index).max();
    // Valid frames lie back to back from the start of the segment.
    let mut offset = 0u64;
    out.extend(scan.records.into_iter().map(|r| {
        let len = record::frame_len(r.payload.len());
        let pos = RecordPos { segment_seq: name.seq, offset, len: len as u32 };
        offset += len as u64;
        (r, pos)
    }));
    Ok(Segment { name, bytes: scan.valid_bytes, max_index })
}

/// A crash between creating a segment and syncing its first batch leaves it empty:
/// remove it (durably) so the next segment is named after its real first record.
fn drop_empty_tail_segments(
    disk: &dyn Disk,
    dir: &Path,
    segments: &mut Vec<Segment>,
) -> Result<(), WalError> {
    while let Some(last) = segments.last().filter(|s| s.bytes == 0) {
        let path = dir.join(last.name.file_name());
        disk.remove(&path).map_err(WalError::io("remove empty segment", &path))?;
        disk.sync_dir(dir).map_err(WalError::io("sync dir", dir))?;
        segments.pop();
    }
    Ok(())
}

/// How far ahead of the writes a segment's space is reserved
/// ([`Disk::open_append_reserved`]): a segment's size, in steps of at most 16 MiB.
fn reserve_step(opts: &WalOptions) -> u64 {
    opts.segment_size_bytes.clamp(4096, 16 << 20)
}

fn reopen_current(
    disk: &dyn Disk,
    dir: &Path,
    last: &Segment,
    opts: &WalOptions,
) -> Result<Box<dyn DiskFile>, WalError> {
    let path = dir.join(last.name.file_name());
    let mut file =
        disk.open_append_reserved(&path, reserve_step(opts)).map_err(WalError::io("open segment", &path))?;
    file.sync().map_err(WalError::io("fdatasync at open", &path))?;
    if file.len() != last.bytes {
        let reason = format!("file is {} bytes after replay, expected {}", file.len(), last.bytes);
        return Err(WalError::corrupt(&path, last.bytes, reason));
    }
    Ok(file)
}
