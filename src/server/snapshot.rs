//! Maintenance.Snapshot's stream: the member's state as etcd's backend file (a bbolt
//! database, see `storage::etcd_db`), sent as etcd 3.4 sends it.
//!
//! ```text
//! message 1..n   blob = the next 32 KiB of the file (the last one shorter),
//!                remaining_bytes = file bytes still to come after it
//! message n+1    blob = SHA-256 of the whole file (32 B), remaining_bytes = 0
//! ```
//!
//! etcdctl appends every blob to the file it saves, so the saved file is the database
//! plus its 32-byte digest: `snapshot save` checks that the length is 32 more than a
//! multiple of 512, `snapshot restore` checks the digest and cuts it off. Every
//! message carries the response header at the snapshot's revision.
//!
//! The file is encoded under one read of the state (apply waits meanwhile; a copy of
//! the state to encode from later would take as long), off the async workers, and
//! then streamed from memory.

use futures::Stream;
use sha2::{Digest, Sha256};
use tonic::Status;

use crate::proto::etcdserverpb::{ResponseHeader, SnapshotResponse};
use crate::raft::state_machine::SmShared;
use crate::storage::bbolt::BboltError;
use crate::storage::etcd_db::EtcdDb;

/// etcd's send buffer (`snapshotSendBufferSize`): eight pages a message.
pub const SNAPSHOT_CHUNK_BYTES: usize = 32 * 1024;

/// The encoded file, cut into message-sized chunks, and what it was taken at.
pub struct SnapshotImage {
    pub chunks: Vec<Vec<u8>>,
    pub size_bytes: u64,
    pub revision: i64,
    pub consistent_index: u64,
}

/// Encode the state as etcd's backend file under one read lock. `cluster_version` is
/// "major.minor.0". Blocks for as long as encoding takes: call it off the async workers.
pub fn encode_snapshot(shared: &SmShared, cluster_version: &str) -> Result<SnapshotImage, BboltError> {
    let state = shared.read();
    let consistent_index = shared.applied_index();
    let db = EtcdDb::of(&state, consistent_index, cluster_version);
    let plan = db.plan()?;
    let size_bytes = plan.size_bytes();
    let mut chunks = Chunks::new(size_bytes);
    db.write(&plan, &mut |bytes| chunks.push(bytes))?;
    let chunks = chunks.finish();
    debug_assert_eq!(chunks.iter().map(|c| c.len() as u64).sum::<u64>(), size_bytes);
    Ok(SnapshotImage { chunks, size_bytes, revision: state.kv.current_revision(), consistent_index })
}

/// Cuts a byte stream into chunks of [`SNAPSHOT_CHUNK_BYTES`].
struct Chunks {
    done: Vec<Vec<u8>>,
    open: Vec<u8>,
}

impl Chunks {
    fn new(size_bytes: u64) -> Self {
        let count = size_bytes.div_ceil(SNAPSHOT_CHUNK_BYTES as u64) as usize;
        Chunks { done: Vec::with_capacity(count), open: Vec::with_capacity(SNAPSHOT_CHUNK_BYTES) }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (SNAPSHOT_CHUNK_BYTES - self.open.len()).min(bytes.len());
            self.open.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.open.len() == SNAPSHOT_CHUNK_BYTES {
                let full = std::mem::replace(&mut self.open, Vec::with_capacity(SNAPSHOT_CHUNK_BYTES));
                self.done.push(full);
            }
        }
    }

    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.open.is_empty() {
            self.done.push(self.open);
        }
        self.done
    }
}

/// The messages of the stream: the chunks with the bytes remaining after each, then
/// the SHA-256 of them all (computed as they go out).
pub fn snapshot_messages(
    image: SnapshotImage,
    header: Option<ResponseHeader>,
) -> impl Stream<Item = Result<SnapshotResponse, Status>> + Send + 'static {
    let mut remaining = image.size_bytes;
    let mut chunks = image.chunks.into_iter();
    let mut digest = Some(Sha256::new());
    futures::stream::iter(std::iter::from_fn(move || {
        if let Some(blob) = chunks.next() {
            remaining -= blob.len() as u64;
            if let Some(d) = digest.as_mut() {
                d.update(&blob);
            }
            return Some(Ok(SnapshotResponse { header, remaining_bytes: remaining, blob }));
        }
        let sha = digest.take()?.finalize().to_vec();
        Some(Ok(SnapshotResponse { header, remaining_bytes: 0, blob: sha }))
    }))
}

#[cfg(test)]
#[path = "snapshot_test.rs"]
mod snapshot_test;
