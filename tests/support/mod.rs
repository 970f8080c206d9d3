//! Real-process test support: start the `metastore` binary (or any binary taking
//! etcd's flags, such as a real etcd) on free loopback ports in a fresh temp data
//! dir, wait for etcd's readiness line, kill or stop it.
//! Test-only code: it may touch files, processes and threads directly.

#![allow(clippy::disallowed_methods, dead_code)]

pub mod certs;
pub mod cluster;
pub mod http;
pub mod json;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A free TCP port on 127.0.0.1, checked by binding it.
///
/// Taken from 20000..32000, below Linux's ephemeral range (32768..60999): a port the
/// kernel handed out as "free" could be taken moments later as the source port of
/// some outgoing connection (etcd's, ours), and the server would fail to bind. A
/// per-process start and a counter keep parallel tests and test binaries apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = (std::process::id() % 600) * 20;
    for _ in 0..SPAN {
        let port = (LOW + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// A fresh, empty directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    let n =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("metastore-{tag}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub struct Proc {
    pub child: Child,
    /// The binary's file name, for messages.
    pub name: String,
    pub client_port: u16,
    pub peer_port: u16,
    pub data_dir: PathBuf,
    /// `--name` and `--initial-cluster`, kept for [`Proc::restart`].
    pub member: String,
    pub initial_cluster: String,
    /// Every stderr line so far (the log), fed by a reader thread.
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

pub fn args(data_dir: &Path, client_port: u16, peer_port: u16, extra: &[&str]) -> Vec<String> {
    let cluster = format!("m1=http://127.0.0.1:{peer_port}");
    member_args("m1", &cluster, data_dir, client_port, peer_port, extra)
}

/// etcd's flags for member `member` of the static cluster `initial_cluster`
/// (`name=peer_url,...`), serving clients on `client_port` and peers on `peer_port`.
pub fn member_args(
    member: &str,
    initial_cluster: &str,
    data_dir: &Path,
    client_port: u16,
    peer_port: u16,
    extra: &[&str],
) -> Vec<String> {
    let client = format!("http://127.0.0.1:{client_port}");
    let peer = format!("http://127.0.0.1:{peer_port}");
    let mut a: Vec<String> = vec![
        "--name".into(),
        member.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        client.clone(),
        "--advertise-client-urls".into(),
        client,
        "--listen-peer-urls".into(),
        peer.clone(),
        "--initial-advertise-peer-urls".into(),
        peer,
        "--initial-cluster".into(),
        initial_cluster.into(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

impl Proc {
    /// Start the binary; does not wait for readiness.
    pub fn spawn(data_dir: &Path, client_port: u16, peer_port: u16, extra: &[&str]) -> Proc {
        Proc::spawn_binary(
            Path::new(env!("CARGO_BIN_EXE_metastore")),
            data_dir,
            client_port,
            peer_port,
            extra,
        )
    }

    /// Start any binary that takes etcd's flags (metastore, or a real etcd) with
    /// [`args`]; does not wait for readiness. `ETCD_*` variables of the test's own
    /// environment are not passed on, so the flags alone configure it.
    pub fn spawn_binary(
        bin: &Path,
        data_dir: &Path,
        client_port: u16,
        peer_port: u16,
        extra: &[&str],
    ) -> Proc {
        let cluster = format!("m1=http://127.0.0.1:{peer_port}");
        Proc::spawn_member_of(bin, "m1", &cluster, data_dir, client_port, peer_port, extra)
    }

    /// Start the metastore binary as member `member` of the static cluster
    /// `initial_cluster` (`name=peer_url,...`); does not wait for readiness.
    pub fn spawn_member(
        member: &str,
        initial_cluster: &str,
        data_dir: &Path,
        client_port: u16,
        peer_port: u16,
        extra: &[&str],
    ) -> Proc {
        let bin = Path::new(env!("CARGO_BIN_EXE_metastore"));
        Proc::spawn_member_of(bin, member, initial_cluster, data_dir, client_port, peer_port, extra)
    }

    /// Start `bin` with [`member_args`]; does not wait for readiness. `ETCD_*`
    /// variables of the test's own environment are not passed on, so the flags alone
    /// configure it.
    pub fn spawn_member_of(
        bin: &Path,
        member: &str,
        initial_cluster: &str,
        data_dir: &Path,
        client_port: u16,
        peer_port: u16,
        extra: &[&str],
    ) -> Proc {
        Proc::spawn_member_env(bin, member, initial_cluster, data_dir, (client_port, peer_port), extra, &[])
    }

    /// [`Proc::spawn_member_of`] with extra environment variables `env` (name, value).
    pub fn spawn_member_env(
        bin: &Path,
        member: &str,
        initial_cluster: &str,
        data_dir: &Path,
        (client_port, peer_port): (u16, u16),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Proc {
        let name = bin.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let mut cmd = Command::new(bin);
        cmd.args(member_args(member, initial_cluster, data_dir, client_port, peer_port, extra))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            name,
            client_port,
            peer_port,
            data_dir: data_dir.to_path_buf(),
            member: member.to_string(),
            initial_cluster: initial_cluster.to_string(),
            lines: rx,
            log: Vec::new(),
        }
    }

    /// Start and wait for "ready to serve client requests".
    pub fn start(data_dir: &Path, extra: &[&str]) -> Proc {
        let mut p = Proc::spawn(data_dir, free_port(), free_port(), extra);
        p.wait_ready();
        p
    }

    /// [`Proc::start`] with extra environment variables `env` (name, value).
    pub fn start_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Proc {
        let bin = Path::new(env!("CARGO_BIN_EXE_metastore"));
        let (client_port, peer_port) = (free_port(), free_port());
        let cluster = format!("m1=http://127.0.0.1:{peer_port}");
        let mut p =
            Proc::spawn_member_env(bin, "m1", &cluster, data_dir, (client_port, peer_port), extra, env);
        p.wait_ready();
        p
    }

    /// Start again on the same ports and data dir (as the same member of the same
    /// cluster), and wait for readiness.
    pub fn restart(&mut self, extra: &[&str]) {
        self.respawn(extra);
        self.wait_ready();
    }

    /// Start again on the same ports and data dir (as the same member of the same
    /// cluster); does not wait for readiness. The old process must have exited.
    pub fn respawn(&mut self, extra: &[&str]) {
        let bin = Path::new(env!("CARGO_BIN_EXE_metastore"));
        let p = Proc::spawn_member_of(
            bin,
            &self.member,
            &self.initial_cluster,
            &self.data_dir,
            self.client_port,
            self.peer_port,
            extra,
        );
        *self = p;
    }

    /// Move every log line received so far into [`Proc::log`].
    pub fn drain_log(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }

    /// The last `n` log lines received so far, for failure messages.
    pub fn log_tail(&mut self, n: usize) -> String {
        self.drain_log();
        let from = self.log.len().saturating_sub(n);
        self.log[from..].join("\n")
    }

    /// Wait until a log line contains `needle`, or the process exits (then None).
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        self.wait_line_any(&[needle], timeout)
    }

    /// Wait until a log line contains any of `needles`, or the process exits (None).
    pub fn wait_line_any(&mut self, needles: &[&str], timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if needles.iter().any(|n| line.contains(n)) {
                        return Some(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }

    /// Wait until clients are served: metastore (and etcd's capnslog logger) print
    /// "ready to serve client requests", etcd 3.4's zap logger prints "serving client
    /// traffic insecurely" instead (both after the member is published).
    pub fn wait_serving(&mut self) {
        let needles = ["ready to serve client requests", "serving client traffic insecurely"];
        if self.wait_line_any(&needles, Duration::from_secs(60)).is_none() {
            panic!("{} did not become ready; log:\n{}", self.name, self.log.join("\n"));
        }
    }

    pub fn wait_ready(&mut self) {
        self.wait_serving();
        for needle in ["enabled capabilities for version", "published"] {
            assert!(self.log.iter().any(|l| l.contains(needle)), "missing readiness line {needle:?}");
        }
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        self.sigterm();
        let status = self.child.wait().expect("wait for metastore");
        status.code()
    }

    /// Send SIGTERM; does not wait.
    pub fn sigterm(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    /// Wait for the process to exit by itself; returns its code and the whole log.
    pub fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.log.push(line);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                while let Ok(line) = self.lines.try_recv() {
                    self.log.push(line);
                }
                return (status.code(), self.log.join("\n"));
            }
            if std::time::Instant::now() > deadline {
                self.kill9();
                return (None, self.log.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set to 1 to skip, rather than fail, tests that drive the real etcdctl when it is
/// not installed.
pub const SKIP_ETCDCTL_VAR: &str = "METASTORE_SKIP_ETCDCTL";

/// etcdctl 3.4: `$ETCDCTL_BIN`, `/usr/bin/etcdctl` or PATH. Without it, `None` if
/// [`SKIP_ETCDCTL_VAR`] is 1 (the test then prints that `test` was skipped), else a
/// panic saying how to install it.
pub fn etcdctl_binary(test: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("ETCDCTL_BIN") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => std::iter::once(PathBuf::from("/usr/bin/etcdctl"))
            .chain(
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                    .map(|d| d.join("etcdctl")),
            )
            .find(|p| p.is_file()),
    };
    if found.is_none() {
        if std::env::var(SKIP_ETCDCTL_VAR).is_ok_and(|v| v == "1") {
            eprintln!("{test}: SKIPPED ({SKIP_ETCDCTL_VAR}=1): no etcdctl");
            return None;
        }
        panic!(
            "{test} needs etcdctl 3.4 (Debian: apt-get install etcd-client, or ETCDCTL_BIN); \
             set {SKIP_ETCDCTL_VAR}=1 to skip this test"
        );
    }
    found
}
