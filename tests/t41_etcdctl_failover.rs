//! The real etcdctl (3.4, Debian's etcd-client) against 3 real members, through a
//! kill of the raft leader: every etcdctl gets all three endpoints, as users give
//! them, and must carry on by itself.
//!
//! - `etcdctl watch --prefix` sees each change once, in order, across the kill;
//! - `etcdctl lease keep-alive` keeps a lease (and its key) alive past its TTL;
//! - `etcdctl lock` and `etcdctl elect` keep the lock and the leadership: the second
//!   locker and candidate wait until the first let go (SIGINT, as a user does), and
//!   `etcdctl elect -l` reports the new leader;
//! - `etcdctl lease revoke` deletes the key; a member still serving open etcdctl
//!   streams exits 0 on SIGTERM within etcd's bound (the request timeout).
//!
//! Needs etcdctl 3.4: `$ETCDCTL_BIN`, `/usr/bin/etcdctl` or PATH. Without it the test
//! fails, unless `METASTORE_SKIP_ETCDCTL=1` (then it prints that it was skipped).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::cluster::{agreed_leader, start_cluster, FAILOVER};

const WAIT: Duration = Duration::from_secs(15);

/// A running etcdctl whose stdout lines are collected by a reader thread.
struct Ctl {
    child: Child,
    what: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    /// Its stderr, for failure messages.
    errors: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Ctl {
    fn spawn(bin: &PathBuf, endpoints: &str, args: &[&str]) -> Ctl {
        let mut child = Command::new(bin)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn etcdctl");
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ctl { child, what: format!("etcdctl {}", args.join(" ")), lines, seen: Vec::new(), errors }
    }

    /// Every line printed so far.
    fn poll(&mut self) -> &[String] {
        while let Ok(l) = self.lines.try_recv() {
            self.seen.push(l);
        }
        &self.seen
    }

    /// Wait until at least `n` lines have been printed; returns them all.
    fn wait_lines(&mut self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while self.poll().len() < n {
            assert!(
                Instant::now() < deadline,
                "{}: wanted {n} lines within {timeout:?}, got {:?}",
                self.what,
                self.seen
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.seen.clone()
    }

    fn stderr(&self) -> String {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    fn interrupt(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
    }

    /// Wait for it to exit; its exit code.
    fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                self.poll();
                return status.code();
            }
            if Instant::now() >= deadline {
                self.poll();
                panic!("{} did not exit within {timeout:?}: {:?}", self.what, self.seen);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ctl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run one etcdctl command to completion, retried (for up to `WAIT`) while it fails,
/// as a user or script retries through a failover; its stdout.
fn run(bin: &PathBuf, endpoints: &str, args: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = Command::new(bin)
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .arg("--command-timeout=3s")
            .args(args)
            .output()
            .expect("run etcdctl");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(Instant::now() < deadline, "etcdctl {} kept failing: {err}", args.join(" "));
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The `watch` output (PUT/DELETE, key, value per event) as (kind, key, value).
fn events(lines: &[String]) -> Vec<(String, String, String)> {
    lines.chunks(3).filter(|c| c.len() == 3).map(|c| (c[0].clone(), c[1].clone(), c[2].clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_watch_lease_lock_elect_survive_a_leader_kill() {
    let Some(bin) = support::etcdctl_binary("t41_etcdctl_failover") else { return };
    let (mut members, _) = start_cluster(&["c1", "c2", "c3"], &[]).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let eps: String = members.iter().map(|m| m.proc.endpoint()).collect::<Vec<_>>().join(",");
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();

    // Leader-independent state, all through etcdctl.
    let mut watch = Ctl::spawn(&bin, &eps, &["watch", "--prefix", "w/"]);
    let granted = run(&bin, &eps, &["lease", "grant", "5"]);
    let lease = granted.split_whitespace().nth(1).expect("lease ID").to_string();
    assert!(granted.contains("granted with TTL(5s)"), "{granted}");
    assert_eq!(run(&bin, &eps, &["put", "--lease", &lease, "l/key", "v"]).trim(), "OK");
    let mut keepalive = Ctl::spawn(&bin, &eps, &["lease", "keep-alive", &lease]);
    keepalive.wait_lines(1, WAIT);
    let mut lock_a = Ctl::spawn(&bin, &eps, &["lock", "job"]);
    let a_key = lock_a.wait_lines(1, WAIT)[0].clone();
    assert!(a_key.starts_with("job/"), "{a_key}");
    let mut elect_a = Ctl::spawn(&bin, &eps, &["elect", "vote", "alice"]);
    assert_eq!(elect_a.wait_lines(2, WAIT)[1], "alice");
    let mut observe = Ctl::spawn(&bin, &eps, &["elect", "-l", "vote"]);
    assert_eq!(observe.wait_lines(2, WAIT)[1], "alice");
    let mut lock_b = Ctl::spawn(&bin, &eps, &["lock", "job", "echo", "b-has-the-lock"]);
    let mut elect_b = Ctl::spawn(&bin, &eps, &["elect", "vote", "bob"]);
    // B's key waits behind A's for both (as etcdctl's concurrency recipes queue).
    for prefix in ["job/", "vote/"] {
        let deadline = Instant::now() + WAIT;
        while run(&bin, &eps, &["get", "--prefix", prefix, "--keys-only"])
            .lines()
            .filter(|l| !l.is_empty())
            .count()
            < 2
        {
            assert!(Instant::now() < deadline, "the second waiter on {prefix} never queued");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    run(&bin, &eps, &["put", "w/1", "before"]);
    watch.wait_lines(3, WAIT);
    let pings_before_kill = keepalive.poll().len();

    members[leader].proc.kill9();
    agreed_leader(&members, &survivors, Instant::now() + FAILOVER).await;
    run(&bin, &eps, &["put", "w/2", "after"]);
    run(&bin, &eps, &["del", "w/1"]);
    watch.wait_lines(9, WAIT);

    // Past the lease's TTL since the kill: it lived on through the keep-alives.
    std::thread::sleep(Duration::from_secs(6));
    assert!(keepalive.poll().len() > pings_before_kill, "no keep-alive answered after the kill");
    let got = run(&bin, &eps, &["get", "l/key", "--print-value-only"]);
    if got.trim() != "v" {
        let pings = keepalive.poll().to_vec();
        let logs: Vec<String> = survivors.iter().map(|&i| members[i].proc.log_tail(40)).collect();
        panic!(
            "the kept-alive lease's key is gone ({pings_before_kill} keep-alives before the kill): {pings:?}\n\
             stderr: {}\nsurvivors' logs:\n{}",
            keepalive.stderr(),
            logs.join("\n----\n")
        );
    }
    let ttl = run(&bin, &eps, &["lease", "timetolive", &lease, "--keys"]);
    assert!(ttl.contains("attached keys([l/key])"), "{ttl}");

    // The lock and the leadership stayed with A across the failover.
    assert!(lock_b.poll().is_empty(), "b got the lock while a held it: {:?}", lock_b.seen);
    assert!(elect_b.poll().is_empty(), "bob won while alice led: {:?}", elect_b.seen);
    let owner = run(&bin, &eps, &["get", "--prefix", "job/", "--keys-only", "--sort-by=CREATE", "--limit=1"]);
    assert_eq!(owner.lines().next(), Some(a_key.as_str()), "the lock changed hands");
    // A lets go; B gets both.
    lock_a.interrupt();
    elect_a.interrupt();
    let code = lock_b.wait_exit(WAIT);
    let printed = lock_b.poll().to_vec();
    assert_eq!(printed, ["b-has-the-lock"], "exit code {code:?}, stderr: {}", lock_b.stderr());
    assert_eq!(elect_b.wait_lines(2, WAIT)[1], "bob");
    let observed = observe.wait_lines(4, WAIT);
    assert_eq!(observed[3], "bob", "the observer missed the new leader: {observed:?}");

    // Revoke: the key goes with the lease.
    keepalive.interrupt();
    assert!(run(&bin, &eps, &["lease", "revoke", &lease]).contains("revoked"));
    assert_eq!(run(&bin, &eps, &["get", "l/key"]).trim(), "");

    // The watch saw each change once, in order, across the kill.
    std::thread::sleep(Duration::from_millis(500));
    let seen = events(watch.poll());
    let want = [("PUT", "w/1", "before"), ("PUT", "w/2", "after"), ("DELETE", "w/1", "")];
    let want: Vec<(String, String, String)> =
        want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(seen, want, "etcdctl watch output");

    // A member with etcdctl streams still open on it stops on SIGTERM, as etcd does:
    // after at most a request timeout (5 s + 2 election timeouts), exit code 0.
    for &i in &survivors {
        members[i].proc.sigterm();
    }
    for &i in &survivors {
        let (code, log) = members[i].proc.wait_exit(Duration::from_secs(12));
        assert_eq!(code, Some(0), "member {i} did not stop on SIGTERM with streams open: {log}");
    }
}
