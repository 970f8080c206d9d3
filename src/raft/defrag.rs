//! etcd's Defragment, for this member: what etcd does by rewriting its bbolt file,
//! MetaStore does by taking a fresh snapshot of the applied state and dropping the
//! raft log it covers (the WAL's whole segments below it are deleted), so the disk
//! holds one snapshot and the log since.
//!
//! Unlike etcd's, it never stops the world: the snapshot is encoded under the state's
//! read lock (as every snapshot is) and written, fsynced and renamed outside it;
//! requests keep being served. A crash at any point loses nothing: the old snapshot
//! and the log stay until the new snapshot is durable, and a purge only drops what a
//! durable snapshot covers.

use std::time::Duration;

use openraft_rt::WatchReceiver;

use super::node::RaftNode;
use crate::error::Error;

/// How long one snapshot request may take before it is asked for again.
const ROUND: Duration = Duration::from_secs(1);

impl RaftNode {
    /// Snapshot everything applied when called, then purge the log up to it.
    pub async fn defragment(&self, within: Duration) -> Result<(), Error> {
        let target = self.state().applied_index();
        let work = async {
            let snapshot = loop {
                self.raft().trigger().snapshot().await.map_err(|_| Error::Stopped)?;
                let mut rx = self.raft().metrics();
                let reached = tokio::time::timeout(ROUND, async {
                    loop {
                        let at = rx.borrow_watched().snapshot.map(|s| s.index());
                        if at.is_some_and(|i| i >= target) {
                            return at;
                        }
                        if rx.changed().await.is_err() {
                            return None;
                        }
                    }
                })
                .await;
                match reached {
                    Ok(Some(index)) => break index,
                    Ok(None) => return Err(Error::Stopped),
                    Err(_) => continue,
                }
            };
            self.raft().trigger().purge_log(snapshot).await.map_err(|_| Error::Stopped)?;
            let mut rx = self.raft().metrics();
            while rx.borrow_watched().purged.is_none_or(|p| p.index() < snapshot) {
                rx.changed().await.map_err(|_| Error::Stopped)?;
            }
            tracing::info!(snapshot_index = snapshot, "defragmented: fresh snapshot, log before it purged");
            Ok(())
        };
        match tokio::time::timeout(within, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout),
        }
    }
}
