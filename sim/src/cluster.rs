//! Simulated members. Each is a madsim node running the real `metastore::node::Node`
//! on its own [`SimDisk`], which the harness owns: killing the node leaves the disk,
//! [`SimMember::crash`] applies a crash mode to it, and a restart finds whatever
//! survived.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::runtime::{Handle, NodeHandle};
use metastore::config::{self, Config};
use metastore::env::sim_disk::{CrashMode, CrashReport, FaultConfig, SimDisk};
use metastore::env::Clock;
use metastore::node::Node;
use metastore::raft::RaftNode;

/// Startup outcomes of one member, in order (for the checkers).
#[derive(Clone, Debug, Default)]
pub struct StartLog {
    /// Start attempts (a start still under way counts).
    pub attempts: u64,
    pub started: u64,
    /// Failed starts, in order (I/O faults during start are expected; corruption never).
    pub errors: Vec<String>,
    /// Fatal raft stops of running instances (e.g. fsync EIO).
    pub fatal: Vec<String>,
    /// Whether the most recent start attempt succeeded.
    pub up: bool,
    /// Invariants this member broke, as seen by its observer (see [`observe`]).
    pub violations: Vec<String>,
    /// The terms in which this member was seen leading, in order.
    pub led: Vec<u64>,
}

/// How long the simulated supervisor waits before restarting a failed process.
const SUPERVISOR_RESTART_DELAY: Duration = Duration::from_millis(500);

pub struct SimMember {
    pub name: String,
    pub ip: Ipv4Addr,
    pub disk: SimDisk,
    pub handle: NodeHandle,
    pub starts: Arc<Mutex<StartLog>>,
}

/// etcd-style flags for member `me` of a static cluster of `members` (name, ip).
pub fn member_config(members: &[(String, Ipv4Addr)], me: usize, snapshot_count: u64) -> Config {
    let (name, ip) = &members[me];
    let initial: Vec<String> = members.iter().map(|(n, ip)| format!("{n}=http://{ip}:2380")).collect();
    let args: Vec<String> = [
        "--name",
        name,
        "--data-dir",
        "/data",
        "--listen-client-urls",
        &format!("http://{ip}:2379"),
        "--advertise-client-urls",
        &format!("http://{ip}:2379"),
        "--listen-peer-urls",
        &format!("http://{ip}:2380"),
        "--initial-advertise-peer-urls",
        &format!("http://{ip}:2380"),
        "--initial-cluster",
        &initial.join(","),
        "--snapshot-count",
        &snapshot_count.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match config::parse(&args, &|_| None) {
        Ok(c) => c,
        Err(e) => panic!("harness built bad flags: {e}"),
    }
}

/// etcd-style flags for a single-member cluster on `ip`.
pub fn single_member_config(name: &str, ip: Ipv4Addr, snapshot_count: u64) -> Config {
    member_config(&[(name.to_string(), ip)], 0, snapshot_count)
}

impl SimMember {
    /// Create the madsim node; it starts the store at once and again on every restart.
    pub fn start(name: &str, ip: Ipv4Addr, cfg: Config, disk_seed: u64) -> SimMember {
        SimMember::start_skewed(name, ip, cfg, disk_seed, 0, 0)
    }

    /// [`SimMember::start`] with this member's clock shifted by `offset_ms` and
    /// running fast or slow by `drift_ppm` (every start gets a fresh clock, as a
    /// restarted process reads a fresh monotonic clock).
    pub fn start_skewed(
        name: &str,
        ip: Ipv4Addr,
        cfg: Config,
        disk_seed: u64,
        offset_ms: i64,
        drift_ppm: i64,
    ) -> SimMember {
        let disk = SimDisk::new(disk_seed, FaultConfig::none());
        let starts = Arc::new(Mutex::new(StartLog::default()));
        let (d, s, c) = (disk.clone(), starts.clone(), cfg);
        // The process exits on a fatal error or a failed start, as etcd (and our
        // binary) does; a supervisor (systemd's Restart=on-failure) outside the node
        // kills what is left and starts it again.
        let (exited, mut exits) = tokio::sync::mpsc::unbounded_channel::<()>();
        let handle = Handle::current()
            .create_node()
            .name(name)
            .ip(IpAddr::V4(ip))
            .init(move || {
                let (disk, starts, cfg, exited) = (d.clone(), s.clone(), c.clone(), exited.clone());
                async move {
                    let incarnation = {
                        let mut log = lock(&starts);
                        log.attempts += 1;
                        log.attempts
                    };
                    let clock = Clock::new();
                    clock.set_offset_ms(offset_ms);
                    clock.set_drift_ppm(drift_ppm);
                    let observed = starts.clone();
                    let watch = move |raft: &RaftNode| {
                        tokio::spawn(observe(raft.clone(), observed, incarnation));
                    };
                    match Node::start_observed(&cfg, Arc::new(disk.clone()), clock, watch).await {
                        Ok(node) => {
                            {
                                let mut log = lock(&starts);
                                log.started += 1;
                                log.up = true;
                            }
                            let fatal = node.wait_fatal().await;
                            let mut log = lock(&starts);
                            log.fatal.push(fatal);
                            log.up = false;
                        }
                        Err(e) => {
                            let mut log = lock(&starts);
                            log.errors.push(e);
                            log.up = false;
                        }
                    }
                    let _ = exited.send(());
                }
            })
            .build();
        let id = handle.id();
        tokio::spawn(async move {
            while exits.recv().await.is_some() {
                Handle::current().kill(id);
                tokio::time::sleep(SUPERVISOR_RESTART_DELAY).await;
                // Kill again: the nemesis may have restarted it meanwhile, and a
                // restart without a kill leaves the old sockets bound.
                Handle::current().kill(id);
                Handle::current().restart(id);
            }
        });
        SimMember { name: name.to_string(), ip, disk, handle, starts }
    }

    pub fn client_url(&self) -> String {
        format!("http://{}:2379", self.ip)
    }

    /// Kill the process, apply `mode` to its disk (what reached the platter), and
    /// restart it after `down_for`.
    pub async fn crash(&self, mode: CrashMode, down_for: Duration) -> CrashReport {
        Handle::current().kill(self.handle.id());
        let report = self.disk.crash(mode);
        tokio::time::sleep(down_for).await;
        // The supervisor may have restarted it meanwhile (see `start_skewed`).
        Handle::current().kill(self.handle.id());
        Handle::current().restart(self.handle.id());
        report
    }

    pub fn start_log(&self) -> StartLog {
        lock(&self.starts).clone()
    }
}

/// Watch one incarnation (start attempt) of a member's raft state from the moment
/// raft runs, and record what it breaks (term, applied index and store revision never
/// go back) and the terms it leads.
async fn observe(raft: RaftNode, starts: Arc<Mutex<StartLog>>, incarnation: u64) {
    let mut last = (0u64, 0u64, 0i64); // term, applied index, revision
    let state = raft.state().clone();
    raft.watch_status(|status| {
        let revision = state.read().kv.current_revision();
        let mut broken = Vec::new();
        if status.term < last.0 {
            broken.push(format!("term went back from {} to {}", last.0, status.term));
        }
        if status.applied_index < last.1 {
            broken.push(format!("applied index went back from {} to {}", last.1, status.applied_index));
        }
        if revision < last.2 {
            broken.push(format!("store revision went back from {} to {revision}", last.2));
        }
        last = (status.term, status.applied_index, revision);
        let mut log = lock(&starts);
        if log.attempts != incarnation {
            return false;
        }
        log.violations.extend(broken);
        if status.is_leader && log.led.last() != Some(&status.term) {
            log.led.push(status.term);
        }
        true
    })
    .await
}

/// The invariants over a whole run: nothing any observer recorded, and at most one
/// leader per term.
pub fn check_invariants(members: &[SimMember]) -> Result<(), String> {
    let mut leaders: std::collections::BTreeMap<u64, &str> = std::collections::BTreeMap::new();
    for m in members {
        let log = m.start_log();
        if let Some(v) = log.violations.first() {
            return Err(format!("invariant: member {}: {v}", m.name));
        }
        for term in log.led {
            match leaders.insert(term, &m.name) {
                Some(other) if other != m.name => {
                    return Err(format!("invariant: two leaders in term {term}: {other} and {}", m.name));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
