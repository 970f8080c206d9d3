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

/// Startup outcomes of one member, in order (for the checkers).
#[derive(Clone, Debug, Default)]
pub struct StartLog {
    pub started: u64,
    /// Failed starts, in order (I/O faults during start are expected; corruption never).
    pub errors: Vec<String>,
    /// Fatal raft stops of running instances (e.g. fsync EIO).
    pub fatal: Vec<String>,
    /// Whether the most recent start attempt succeeded.
    pub up: bool,
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
        let handle = Handle::current()
            .create_node()
            .name(name)
            .ip(IpAddr::V4(ip))
            .init(move || {
                let (disk, starts, cfg) = (d.clone(), s.clone(), c.clone());
                // A supervisor (systemd's Restart=on-failure): start, serve until a
                // fatal error, exit, start again. Killing the node ends the loop.
                async move {
                    loop {
                        let clock = Clock::new();
                        clock.set_offset_ms(offset_ms);
                        clock.set_drift_ppm(drift_ppm);
                        match Node::start_with_clock(&cfg, Arc::new(disk.clone()), clock).await {
                            Ok(node) => {
                                {
                                    let mut log = lock(&starts);
                                    log.started += 1;
                                    log.up = true;
                                }
                                let fatal = node.wait_fatal().await;
                                node.stop().await;
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
                        tokio::time::sleep(SUPERVISOR_RESTART_DELAY).await;
                    }
                }
            })
            .build();
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
        Handle::current().restart(self.handle.id());
        report
    }

    pub fn start_log(&self) -> StartLog {
        lock(&self.starts).clone()
    }
}

pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
