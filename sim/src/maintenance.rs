//! Maintenance traffic: an operator's client doing etcd's Maintenance calls while the
//! nemesis crashes members and tears their disks, all from the seed ([`plan`]).
//!
//! - **Defragment** a random member (a fresh snapshot, the log before it dropped).
//! - **Snapshot** a random member, read to the end of the stream, decoded and kept for
//!   the checkers ([`crate::maintenance_check`]): a stream the server completes must be
//!   etcd's file, holding the state at its revision. A stream broken by a crash is not
//!   a violation (etcdctl would fail and retry), only counted.
//! - **NOSPACE episodes**, as an operator lives them: AlarmActivate(NOSPACE) under an
//!   alarm ID of the episode's own (so that a late, unacknowledged disarm of an earlier
//!   episode cannot clear it), held for a while under traffic, then etcd's recovery:
//!   compact (never above what every watcher has seen), defragment every member,
//!   AlarmGet, disarm. The span of revisions over which the alarm is known to have
//!   stood goes to the checker: no put may land in it.
//! - With a small `--quota-backend-bytes` (some seeds), real puts raise NOSPACE too;
//!   a watchdog sees it in AlarmGet and runs the same recovery. Those alarms' spans
//!   are not checked (a late disarm of a member's ID may clear a later alarm of it).
//!
//! Phases ([`Phase`]): while the faults run, the plan's steps; once they stop, no new
//! steps but the watchdog keeps clearing (the liveness writes must get through); at
//! the end, clear every alarm still standing and return the [`Report`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::Rng;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::maintenance_client::MaintenanceClient;
use pb::alarm_request::AlarmAction;
use tonic::transport::Channel;

use crate::maintenance_check::{decode_snapshot, AlarmSpan, SnapshotMessage, SnapshotSeen};

/// etcd's AlarmType NOSPACE.
const NOSPACE: i32 = 1;
/// Alarm IDs of the episodes: this plus the episode number (no member has such an ID).
const EPISODE_ALARM_ID: u64 = 0x6d61_696e_7400_0000;

/// What the actor may do now (set by the scenario).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    Faults = 0,
    Quiet = 1,
    Stop = 2,
}

#[derive(Clone, Debug)]
pub enum Step {
    Defragment {
        member: usize,
    },
    Snapshot {
        member: usize,
    },
    /// Raise NOSPACE through `member`, hold it `hold_ms`, then recover.
    NoSpace {
        member: usize,
        hold_ms: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Plan {
    /// (pause before, step)
    pub steps: Vec<(u64, Step)>,
    /// A small `--quota-backend-bytes` for every member, on some seeds.
    pub quota_bytes: Option<u64>,
}

/// The seed's plan for a cluster of `size`.
pub fn plan(rng: &mut impl Rng, size: usize) -> Plan {
    let steps = (0..rng.gen_range(3..9))
        .map(|_| {
            let member = rng.gen_range(0..size);
            let step = match rng.gen_range(0..10) {
                0..=2 => Step::Defragment { member },
                3..=5 => Step::Snapshot { member },
                _ => Step::NoSpace { member, hold_ms: rng.gen_range(300..3000) },
            };
            (rng.gen_range(200..2500), step)
        })
        .collect();
    let quota_bytes = rng.gen_bool(0.4).then(|| rng.gen_range(1_200..4_000));
    Plan { steps, quota_bytes }
}

/// What the actor did and saw.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub spans: Vec<AlarmSpan>,
    pub snapshots: Vec<SnapshotSeen>,
    /// By kind: `maint:defrag`, `maint:snapshot`, `maint:nospace`, ... (done / failed).
    pub counts: BTreeMap<String, u64>,
    /// For the fingerprint.
    pub events: Vec<String>,
    /// Broken guarantees seen on the way (a complete snapshot stream that is not
    /// etcd's file, an alarm gone before its disarm, alarms that would not clear).
    pub violations: Vec<String>,
}

impl Report {
    fn count(&mut self, kind: &str) {
        *self.counts.entry(kind.to_string()).or_default() += 1;
    }
}

struct Actor {
    urls: Vec<String>,
    /// Where each watcher would resume: compactions stay below the lowest.
    watch_progress: Vec<Arc<AtomicI64>>,
    phase: Arc<AtomicU8>,
    report: Report,
    episodes: u64,
}

/// Run `plan` until the phase is [`Phase::Stop`]; return what happened.
pub async fn run(
    plan: Plan,
    urls: Vec<String>,
    watch_progress: Vec<Arc<AtomicI64>>,
    phase: Arc<AtomicU8>,
) -> Report {
    let mut a = Actor { urls, watch_progress, phase, report: Report::default(), episodes: 0 };
    let watchdog = plan.quota_bytes.is_some();
    for (pause_ms, step) in plan.steps {
        if !a.sleep_in(Duration::from_millis(pause_ms), Phase::Faults, watchdog).await {
            break;
        }
        a.step(step).await;
    }
    while a.phase() < Phase::Stop {
        a.sleep_in(Duration::from_millis(300), Phase::Quiet, true).await;
    }
    a.clear_all().await;
    a.report
}

impl Actor {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Faults,
            1 => Phase::Quiet,
            _ => Phase::Stop,
        }
    }

    /// Sleep `d` while the phase is at most `within`, clearing alarms every 300 ms
    /// if `watchdog`. False if the phase moved past `within`.
    async fn sleep_in(&mut self, d: Duration, within: Phase, watchdog: bool) -> bool {
        let end = tokio::time::Instant::now() + d;
        loop {
            if self.phase() > within {
                return false;
            }
            let now = tokio::time::Instant::now();
            if now >= end {
                return true;
            }
            tokio::time::sleep((end - now).min(Duration::from_millis(300))).await;
            if watchdog {
                if let Some((rev, standing)) = self.alarm_get().await {
                    if !standing.is_empty() {
                        self.report.events.push(format!("watchdog: NOSPACE {standing:x?} at rev {rev}"));
                        self.report.count("maint:quota nospace");
                        self.recover(&standing, None).await;
                    }
                }
            }
        }
    }

    async fn step(&mut self, step: Step) {
        match step {
            Step::Defragment { member } => {
                let r = defragment(&self.urls[member]).await;
                self.report.count(if r.is_ok() { "maint:defrag" } else { "maint:defrag failed" });
                self.report.events.push(format!("defragment m{member}: {r:?}"));
            }
            Step::Snapshot { member } => self.snapshot(member).await,
            Step::NoSpace { member, hold_ms } => self.episode(member, hold_ms).await,
        }
    }

    async fn snapshot(&mut self, member: usize) {
        match snapshot_stream(&self.urls[member]).await {
            // Cut short (a crash ends a stream as if it were done): not the server's word.
            Ok((_, messages)) if !claims_complete(&messages) => {
                self.report.count("maint:snapshot broken");
                self.report.events.push(format!("snapshot m{member} cut after {} messages", messages.len()));
            }
            Ok((revision, messages)) => match decode_snapshot(member, revision, &messages) {
                Ok(seen) => {
                    self.report.count("maint:snapshot");
                    self.report
                        .events
                        .push(format!("snapshot m{member} at rev {revision}: {} keys", seen.kvs.len()));
                    self.report.snapshots.push(seen);
                }
                Err(e) => self.report.violations.push(format!("snapshot of m{member}: {e}")),
            },
            Err(e) => {
                self.report.count("maint:snapshot broken");
                self.report.events.push(format!("snapshot m{member} broken: {e}"));
            }
        }
    }

    /// Raise, hold, recover; record the span the alarm is known to have stood over.
    async fn episode(&mut self, member: usize, hold_ms: u64) {
        self.episodes += 1;
        let id = EPISODE_ALARM_ID + self.episodes;
        let raised = self.alarm_change(member, AlarmAction::Activate, id).await;
        self.report.count("maint:nospace");
        self.report.events.push(format!("raise NOSPACE {id:x} through m{member}: {raised:?}"));
        self.sleep_in(Duration::from_millis(hold_ms), Phase::Faults, false).await;
        let seen = self.alarm_get().await;
        let raised_at = match (raised, &seen) {
            (Some(rev), Some((_, standing))) if !standing.contains(&id) => {
                let v = format!("alarms: NOSPACE {id:x} raised at revision {rev} is gone before its disarm");
                self.report.violations.push(v);
                return;
            }
            (Some(rev), _) => Some(rev),
            (None, Some((rev, standing))) if standing.contains(&id) => Some(*rev),
            _ => None,
        };
        let mut standing = seen.map(|(_, s)| s).unwrap_or_default();
        if !standing.contains(&id) {
            standing.push(id); // the raise may yet apply: disarm it anyway
        }
        self.recover(&standing, raised_at.map(|r| (id, r))).await;
    }

    /// etcd's NOSPACE recovery: compact, defragment every member, disarm. With
    /// `span` = (our alarm, raised at), record how far it is known to have stood.
    async fn recover(&mut self, standing: &[u64], span: Option<(u64, i64)>) {
        let target = self.pick();
        let safe = self.watch_progress.iter().map(|p| p.load(Ordering::SeqCst)).min().unwrap_or(2) - 1;
        if safe > 1 {
            let r = crate::traffic::compact(&self.urls[target], safe).await;
            self.report.events.push(format!("compact at {safe} through m{target}: {r:?}"));
        }
        for m in 0..self.urls.len() {
            let r = defragment(&self.urls[m]).await;
            self.report.count(if r.is_ok() { "maint:defrag" } else { "maint:defrag failed" });
        }
        let before = self.alarm_get().await;
        if let (Some((id, raised_at)), Some((standing_at, now))) = (span, &before) {
            if !now.contains(&id) {
                let v = format!(
                    "alarms: NOSPACE {id:x} raised at revision {raised_at} is gone before its disarm"
                );
                self.report.violations.push(v);
            } else if *standing_at > raised_at {
                self.report.spans.push(AlarmSpan { alarm_id: id, raised_at, standing_at: *standing_at });
            }
        }
        let mut ids: Vec<u64> = standing.to_vec();
        ids.extend(before.map(|(_, s)| s).unwrap_or_default());
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let r = self.alarm_change(target, AlarmAction::Deactivate, id).await;
            self.report.events.push(format!("disarm NOSPACE {id:x}: {r:?}"));
        }
    }

    /// After the run: disarm until AlarmGet shows no NOSPACE (a late raise may apply).
    async fn clear_all(&mut self) {
        for _ in 0..20 {
            match self.alarm_get().await {
                Some((_, standing)) if standing.is_empty() => return,
                Some((_, standing)) => self.recover(&standing, None).await,
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.report
            .violations
            .push("liveness: NOSPACE alarms still stand after 20 rounds of disarming".into());
    }

    fn pick(&self) -> usize {
        madsim::rand::thread_rng().gen_range(0..self.urls.len())
    }

    /// Linearizable AlarmGet(NOSPACE) through any member: (header revision, alarm IDs).
    async fn alarm_get(&mut self) -> Option<(i64, Vec<u64>)> {
        let first = self.pick();
        for i in 0..self.urls.len() {
            let url = &self.urls[(first + i) % self.urls.len()];
            let req = pb::AlarmRequest { action: AlarmAction::Get as i32, member_id: 0, alarm: NOSPACE };
            if let Ok(r) = alarm(url, req).await {
                let ids = r.alarms.iter().filter(|a| a.alarm == NOSPACE).map(|a| a.member_id).collect();
                return Some((r.header.map(|h| h.revision).unwrap_or(-1), ids));
            }
        }
        None
    }

    /// Raise or clear alarm `id`, trying each member from `member` on: the header
    /// revision of the first acknowledged attempt (None: none was).
    async fn alarm_change(&mut self, member: usize, action: AlarmAction, id: u64) -> Option<i64> {
        for i in 0..self.urls.len() {
            let url = &self.urls[(member + i) % self.urls.len()];
            let req = pb::AlarmRequest { action: action as i32, member_id: id, alarm: NOSPACE };
            if let Ok(r) = alarm(url, req).await {
                return Some(r.header.map(|h| h.revision).unwrap_or(-1));
            }
        }
        None
    }
}

async fn client(url: &str) -> Result<MaintenanceClient<Channel>, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).map_err(|e| e.to_string())?;
    let channel = tokio::time::timeout(Duration::from_secs(1), endpoint.connect())
        .await
        .map_err(|_| "connect timeout".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(MaintenanceClient::new(channel))
}

async fn alarm(url: &str, req: pb::AlarmRequest) -> Result<pb::AlarmResponse, String> {
    let mut c = client(url).await?;
    match tokio::time::timeout(Duration::from_secs(3), c.alarm(req)).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(s.message().to_string()),
        Err(_) => Err("timeout".into()),
    }
}

async fn defragment(url: &str) -> Result<(), String> {
    let mut c = client(url).await?;
    match tokio::time::timeout(Duration::from_secs(10), c.defragment(pb::DefragmentRequest {})).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(s)) => Err(s.message().to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// Whether a stream ends as a finished one does: a message with no bytes remaining,
/// then a 32-byte one (the digest). Whether it is right is the checker's business.
fn claims_complete(messages: &[SnapshotMessage]) -> bool {
    match messages {
        [.., (0, _), (0, digest)] => digest.len() == crate::maintenance_check::DIGEST_LEN,
        _ => false,
    }
}

/// Read a Snapshot stream to its end: (header revision, messages). Err if it broke.
async fn snapshot_stream(url: &str) -> Result<(i64, Vec<SnapshotMessage>), String> {
    let mut c = client(url).await?;
    let stream = tokio::time::timeout(Duration::from_secs(5), c.snapshot(pb::SnapshotRequest {}))
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|s| s.message().to_string())?;
    let mut stream = stream.into_inner();
    let (mut revision, mut messages) = (None, Vec::new());
    loop {
        match tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
            Ok(Ok(Some(m))) => {
                let rev = m.header.map(|h| h.revision).unwrap_or(-1);
                if *revision.get_or_insert(rev) != rev {
                    return Err(format!("header revision moved from {revision:?} to {rev} mid-stream"));
                }
                messages.push((m.remaining_bytes, m.blob));
            }
            Ok(Ok(None)) => return Ok((revision.unwrap_or(-1), messages)),
            Ok(Err(s)) => return Err(s.message().to_string()),
            Err(_) => return Err("timeout".into()),
        }
    }
}
