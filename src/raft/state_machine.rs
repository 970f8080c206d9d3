//! openraft's state machine: committed entries go to `apply::KvState`; snapshots of
//! it are written through `storage::snapshot` (temp file, fsync, rename, dir fsync).
//!
//! The state lives in memory behind a lock shared with the gRPC services, which read
//! it directly (serializable reads, or linearizable ones once ReadIndex says the
//! state is applied far enough). On start it is rebuilt from the latest snapshot;
//! openraft then re-applies the committed log after it.

use std::collections::HashMap;
use std::io;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Notify;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};

use super::lessor::Lessor;
use super::types::{LogId, SnapshotMeta, StoredMembership, TypeConfig};
use crate::apply::{ApplyLimits, KvState};
use crate::env::Disk;
use crate::storage::snapshot;
use crate::watch::{HubConfig, StreamId, WatchHub};

pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Cursor<Vec<u8>>>;

/// Keys a snapshot writes per hold of the state's read lock: ~0.5 ms of encoding.
#[cfg(not(madsim))]
const SNAPSHOT_KEYS_PER_STEP: usize = 1024;
/// In the simulation, a few: its stores are small, and writes, compactions and
/// installed snapshots should land between the steps.
#[cfg(madsim)]
const SNAPSHOT_KEYS_PER_STEP: usize = 4;

/// Everything the state machine and the services share.
pub struct SmShared {
    state: RwLock<KvState>,
    applied: RwLock<(Option<LogId>, StoredMembership)>,
    /// The lease clock (primary on the leader only); told of applied grants/revokes.
    pub(super) lessor: Lessor,
    /// Watchers on this member, fed every applied change under the state lock (lock
    /// order: state, then hub, then wakers).
    watch: Mutex<WatchHub>,
    /// Wakes the gRPC stream of each watch stream that has output.
    watch_wakers: Mutex<HashMap<StreamId, Arc<Notify>>>,
    /// Held while a snapshot is written in steps (see `build_snapshot`): what it cannot
    /// follow (a compaction, an installed snapshot) waits for it.
    snapshot_pin: tokio::sync::Mutex<()>,
    /// Mutant `ApplyUncommitted`: entries applied when appended, by log id.
    #[cfg(madsim)]
    speculated: Mutex<std::collections::BTreeMap<LogId, crate::apply::Applied>>,
}

impl SmShared {
    pub fn read(&self) -> RwLockReadGuard<'_, KvState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, KvState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn applied_index(&self) -> u64 {
        let a = self.applied.read().unwrap_or_else(|p| p.into_inner());
        a.0.as_ref().map(|l| l.index).unwrap_or(0)
    }

    pub fn watch_hub(&self) -> MutexGuard<'_, WatchHub> {
        self.watch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open a watch stream and the waker that says it has output.
    pub fn open_watch_stream(&self) -> (StreamId, Arc<Notify>) {
        let id = self.watch_hub().open_stream();
        let waker = Arc::new(Notify::new());
        self.watch_wakers.lock().unwrap_or_else(|p| p.into_inner()).insert(id, waker.clone());
        (id, waker)
    }

    pub fn close_watch_stream(&self, id: StreamId) {
        self.watch_hub().close_stream(id);
        self.watch_wakers.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    /// Wake every stream the hub has output for.
    pub fn wake_watch_streams(&self, hub: &mut WatchHub) {
        let ready = hub.ready_streams();
        if ready.is_empty() {
            return;
        }
        let wakers = self.watch_wakers.lock().unwrap_or_else(|p| p.into_inner());
        for id in ready {
            if let Some(w) = wakers.get(&id) {
                w.notify_one();
            }
        }
    }

    /// Catch up unsynced watchers from the store's history (at most `max_events`
    /// events), wake streams with output; returns how many watchers are still behind.
    pub fn sync_watchers(&self, max_events: usize) -> usize {
        let state = self.read();
        let mut hub = self.watch_hub();
        let behind = match hub.sync_unsynced(&state.kv, max_events) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "watch catch-up failed");
                0
            }
        };
        self.wake_watch_streams(&mut hub);
        behind
    }

    pub fn membership(&self) -> StoredMembership {
        self.applied.read().unwrap_or_else(|p| p.into_inner()).1.clone()
    }
}

#[derive(Clone)]
pub struct StateMachine {
    shared: Arc<SmShared>,
    disk: Arc<dyn Disk>,
    snap_dir: PathBuf,
    limits: ApplyLimits,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl StateMachine {
    /// Open the state machine from the latest snapshot in `dir/snap`, if any. A
    /// corrupt snapshot is an error (the node refuses to start).
    pub fn open(
        disk: Arc<dyn Disk>,
        dir: &Path,
        limits: ApplyLimits,
        lessor: Lessor,
    ) -> io::Result<StateMachine> {
        let snap_dir = dir.join("snap");
        disk.create_dir_all(&snap_dir)?;
        let (state, applied) =
            match snapshot::load_latest_snapshot(disk.as_ref(), &snap_dir).map_err(invalid)? {
                Some(loaded) => {
                    let meta: SnapshotMeta = bincode::deserialize(&loaded.meta).map_err(invalid)?;
                    let state = KvState::decode(&loaded.data, limits)
                        .map_err(|e| invalid(format!("{}: {e}", loaded.path.display())))?;
                    (state, (meta.last_log_id, meta.last_membership))
                }
                None => (KvState::new(limits), (None, StoredMembership::default())),
            };
        let watch = Mutex::new(WatchHub::new(HubConfig::default(), state.kv.current_revision()));
        let shared = Arc::new(SmShared {
            state: RwLock::new(state),
            applied: RwLock::new(applied),
            lessor,
            watch,
            watch_wakers: Mutex::new(HashMap::new()),
            snapshot_pin: tokio::sync::Mutex::new(()),
            #[cfg(madsim)]
            speculated: Mutex::new(Default::default()),
        });
        Ok(StateMachine { shared, disk, snap_dir, limits })
    }

    pub fn shared(&self) -> Arc<SmShared> {
        self.shared.clone()
    }

    /// Apply one write and hand its changes to the watchers, under the state lock (so
    /// that catch-up never sees the store ahead of the hub). `log_id`, when given, is
    /// recorded as applied under the same lock, so that a snapshot never pairs a state
    /// with an applied index it is ahead of.
    fn apply_normal(&self, req: &crate::apply::Request, log_id: Option<LogId>) -> crate::apply::Applied {
        let mut state = self.shared.write();
        let (applied, events) = state.apply_with_events(req);
        if let Some(log_id) = log_id {
            self.shared.applied.write().unwrap_or_else(|p| p.into_inner()).0 = Some(log_id);
        }
        crate::metrics::kv_applied(req, &applied);
        if !events.is_empty() {
            let mut hub = self.shared.watch_hub();
            if let Err(e) = hub.notify(applied.revision, &events) {
                tracing::error!(error = %e, "watch notify failed");
            }
            self.shared.wake_watch_streams(&mut hub);
        }
        applied
    }

    /// Mutant `ApplyUncommitted`: apply a normal entry as it is appended to the log.
    #[cfg(madsim)]
    pub fn apply_speculatively(&self, log_id: LogId, req: &crate::apply::Request) {
        let applied = self.apply_normal(req, None);
        self.shared.lessor.on_applied(req, &applied);
        self.shared.speculated.lock().unwrap_or_else(|p| p.into_inner()).insert(log_id, applied);
    }

    /// Write the snapshot durably; hands `data` back (no second copy of the image).
    /// Timed as etcd's backend commit (see [`crate::metrics::backend_commit`]).
    async fn persist(&self, meta: &SnapshotMeta, data: Vec<u8>) -> io::Result<Vec<u8>> {
        let meta_bytes = bincode::serialize(meta).map_err(invalid)?;
        let disk = self.disk.clone();
        let dir = self.snap_dir.clone();
        let commit = crate::metrics::Timer::start();
        let saved = crate::env::blocking(move || {
            snapshot::save_snapshot(disk.as_ref(), &dir, &meta_bytes, &data).map(|_| data)
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))?;
        crate::metrics::backend_commit(commit.elapsed());
        Ok(saved)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        if crate::buggify!("raft.snapshot") {
            return Err(io::Error::other("fail point raft.snapshot"));
        }
        // The image shows the state at one applied index, but is written a few
        // thousand keys at a time under the read lock, so writes go on between steps
        // (encoding it whole once stalled every write for ~50 ms at 100K keys). What the
        // steps cannot follow waits on the pin: compaction and an installed snapshot.
        let _pin = self.shared.snapshot_pin.lock().await;
        let started = crate::metrics::Timer::start();
        let (mut data, mut encoder, meta) = {
            let state = self.shared.read();
            // Entries are marked applied under the state's write lock: this pair agrees.
            let applied = self.shared.applied.read().unwrap_or_else(|p| p.into_inner());
            let meta = SnapshotMeta { last_log_id: applied.0, last_membership: applied.1.clone() };
            let (data, encoder) = state.begin_encode();
            (data, encoder, meta)
        };
        let mut steps = 0u32;
        let mut held_us = 0u128;
        loop {
            let step = crate::metrics::Timer::start();
            let done = self.shared.read().encode_step(&mut encoder, &mut data, SNAPSHOT_KEYS_PER_STEP);
            held_us += step.elapsed().as_micros();
            steps += 1;
            match done {
                Ok(true) => break,
                Ok(false) => tokio::task::yield_now().await,
                Err(e) => {
                    return Err(io::Error::other(format!("snapshot at revision {}: {e}", encoder.revision())))
                }
            }
        }
        let encode_ms = started.elapsed().as_millis() as u64;
        let held_ms = (held_us / 1000) as u64;
        let data = self.persist(&meta, data).await?;
        tracing::info!(bytes = data.len(), encode_ms, held_ms, steps, last_log_id = ?meta.last_log_id, "saved snapshot");
        Ok(Snapshot { meta, snapshot: Cursor::new(data) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok(self.shared.applied.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        if crate::buggify!("apply.stall") {
            tokio::time::sleep(std::time::Duration::from_millis(crate::env::random::random_u64() % 300))
                .await;
        }
        while let Some((entry, responder)) = entries.try_next().await? {
            let applied = match &entry.payload {
                EntryPayload::Normal(req) => {
                    if matches!(req, crate::apply::Request::Compact { .. })
                        && crate::buggify!("apply.compact")
                    {
                        return Err(io::Error::other("fail point apply.compact"));
                    }
                    #[cfg(madsim)]
                    let speculated = self
                        .shared
                        .speculated
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&entry.log_id);
                    #[cfg(madsim)]
                    if let Some(applied) = speculated {
                        self.shared.applied.write().unwrap_or_else(|p| p.into_inner()).0 = Some(entry.log_id);
                        if let Some(responder) = responder {
                            responder.send(applied);
                        }
                        continue;
                    }
                    // A snapshot being written cannot follow a compaction: it waits.
                    let _pin = match req {
                        crate::apply::Request::Compact { .. } => Some(self.shared.snapshot_pin.lock().await),
                        _ => None,
                    };
                    let applied = self.apply_normal(req, Some(entry.log_id));
                    self.shared.lessor.on_applied(req, &applied);
                    Some(applied)
                }
                EntryPayload::Blank => {
                    let _state = self.shared.write();
                    self.shared.applied.write().unwrap_or_else(|p| p.into_inner()).0 = Some(entry.log_id);
                    None
                }
                EntryPayload::Membership(m) => {
                    let mut state = self.shared.write();
                    // A removed member's published attributes go with it.
                    state.members.retain(|id, _| m.get_node(id).is_some());
                    let mut a = self.shared.applied.write().unwrap_or_else(|p| p.into_inner());
                    a.0 = Some(entry.log_id);
                    a.1 = StoredMembership::new(Some(entry.log_id), m.clone());
                    None
                }
            };
            if let Some(responder) = responder {
                let revision = self.shared.read().kv.current_revision();
                responder.send(applied.unwrap_or(crate::apply::Applied {
                    revision,
                    result: Ok(crate::apply::Response::Compact),
                }));
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Cursor<Vec<u8>>,
    ) -> Result<(), io::Error> {
        // A snapshot being written from the state cannot follow its replacement.
        let _pin = self.shared.snapshot_pin.lock().await;
        let data = snapshot.into_inner();
        let bytes = data.len();
        let state = KvState::decode(&data, self.limits).map_err(invalid)?;
        drop(self.persist(meta, data).await?);
        let revision = state.kv.current_revision();
        let mut guard = self.shared.write();
        *guard = state;
        let mut hub = self.shared.watch_hub();
        if let Err(e) = hub.restore(revision) {
            tracing::error!(error = %e, "watchers cannot follow the installed snapshot");
        }
        self.shared.wake_watch_streams(&mut hub);
        drop(hub);
        *self.shared.applied.write().unwrap_or_else(|p| p.into_inner()) =
            (meta.last_log_id, meta.last_membership.clone());
        drop(guard);
        // As etcd logs it: a member that fell behind the leader's purged log.
        tracing::info!(bytes, last_log_id = ?meta.last_log_id, "applied incoming raft snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let disk = self.disk.clone();
        let dir = self.snap_dir.clone();
        let loaded = crate::env::blocking(move || snapshot::load_latest_snapshot(disk.as_ref(), &dir))
            .await
            .map_err(invalid)?;
        match loaded {
            None => Ok(None),
            Some(loaded) => {
                let meta: SnapshotMeta = bincode::deserialize(&loaded.meta).map_err(invalid)?;
                Ok(Some(Snapshot { meta, snapshot: Cursor::new(loaded.data) }))
            }
        }
    }
}
