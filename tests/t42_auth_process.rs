//! Auth on a real 3-member cluster, driven by the real etcdctl (3.4) as operators
//! drive etcd, and by the Rust etcd-client for what etcdctl cannot show:
//!
//! - root and an application user with a `--prefix` permission; `auth enable`;
//! - through every member: the user may write and read under its prefix, is refused
//!   elsewhere ("permission denied"), a request without credentials is refused
//!   ("user name is empty"), a wrong password fails ("authentication failed"), a
//!   non-root user cannot administer;
//! - a simple token expires after `--auth-token-ttl` without use ("invalid auth
//!   token"), and a fresh login works again;
//! - a revoked permission is refused at once on every member;
//! - after a restart of every member, users, roles and permissions are all there;
//! - `auth disable`: requests without credentials work again.
//!
//! Needs etcdctl 3.4 (see `support::etcdctl_binary`).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions};
use support::cluster::{start_cluster, CATCH_UP};

/// Short token life, so the test sees one expire.
const TOKEN_TTL_S: u64 = 2;

/// Run etcdctl against `endpoint`; (succeeded, stdout + stderr).
fn ctl(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(bin);
    cmd.env("ETCDCTL_API", "3").arg(format!("--endpoints={endpoint}")).arg("--command-timeout=10s");
    if let Some(u) = user {
        cmd.arg(format!("--user={u}"));
    }
    let out = cmd.args(args).output().expect("run etcdctl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// etcdctl must succeed and print `expect`.
fn ok(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str], expect: &str) {
    let (success, text) = ctl(bin, endpoint, user, args);
    assert!(
        success && text.contains(expect),
        "etcdctl {args:?} as {user:?} on {endpoint}: wanted {expect:?}, got {text}"
    );
}

/// etcdctl must fail with `error` in its output.
fn refused(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str], error: &str) {
    let (success, text) = ctl(bin, endpoint, user, args);
    assert!(
        !success && text.contains(error),
        "etcdctl {args:?} as {user:?} on {endpoint}: wanted {error:?}, got {text}"
    );
}

/// etcdctl until it succeeds and prints `expect` (a restarted member catching up).
fn eventually(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str], expect: &str) {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let (success, text) = ctl(bin, endpoint, user, args);
        if success && text.contains(expect) {
            return;
        }
        assert!(Instant::now() < deadline, "etcdctl {args:?} on {endpoint}: wanted {expect:?}, last {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

async fn login(endpoint: &str, user: &str, password: &str) -> Client {
    let opts = ConnectOptions::new().with_user(user, password).with_connect_timeout(Duration::from_secs(2));
    Client::connect([endpoint], Some(opts)).await.expect("authenticated etcd-client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_auth_on_three_members() {
    let Some(bin) = support::etcdctl_binary("t42_auth_process") else { return };
    let ttl = TOKEN_TTL_S.to_string();
    let flags = ["--bcrypt-cost", "4", "--auth-token-ttl", &ttl];
    let (mut members, _) = start_cluster(&["a1", "a2", "a3"], &flags).await;
    let eps: Vec<String> = members.iter().map(|m| m.proc.endpoint()).collect();
    let (root, alice) = (Some("root:rootpw"), Some("alice:alicepw"));

    ok(&bin, &eps[0], None, &["user", "add", "root:rootpw"], "User root created");
    ok(&bin, &eps[1], None, &["user", "grant-role", "root", "root"], "Role root is granted to user root");
    ok(&bin, &eps[2], None, &["user", "add", "alice:alicepw"], "User alice created");
    ok(&bin, &eps[0], None, &["role", "add", "app"], "Role app created");
    ok(
        &bin,
        &eps[1],
        None,
        &["role", "grant-permission", "app", "readwrite", "/app/", "--prefix"],
        "Role app updated",
    );
    ok(&bin, &eps[2], None, &["user", "grant-role", "alice", "app"], "Role app is granted to user alice");
    ok(&bin, &eps[0], None, &["auth", "enable"], "Authentication Enabled");

    for (i, ep) in eps.iter().enumerate() {
        let key = format!("/app/k{i}");
        ok(&bin, ep, alice, &["put", &key, "v"], "OK");
        ok(&bin, ep, alice, &["get", &key, "--print-value-only"], "v");
        refused(&bin, ep, alice, &["put", "/other", "x"], "etcdserver: permission denied");
        refused(&bin, ep, alice, &["get", "/other"], "etcdserver: permission denied");
        refused(&bin, ep, alice, &["get", "/app/", "--from-key"], "etcdserver: permission denied");
        refused(&bin, ep, None, &["get", &key], "etcdserver: user name is empty");
        refused(&bin, ep, Some("alice:wrong"), &["get", &key], "authentication failed");
        refused(&bin, ep, alice, &["user", "list"], "etcdserver: permission denied");
        refused(&bin, ep, alice, &["role", "get", "root"], "etcdserver: permission denied");
        ok(&bin, ep, root, &["get", &key, "--print-value-only"], "v");
    }
    ok(&bin, &eps[1], alice, &["get", "/app/", "--prefix", "--keys-only"], "/app/k2");
    ok(&bin, &eps[2], alice, &["user", "get", "alice"], "Roles: app");

    // A simple token lives TOKEN_TTL_S after its last use, on every member.
    let mut c = login(&eps[0], "alice", "alicepw").await;
    c.put("/app/token", "1", None).await.expect("put with a fresh token");
    tokio::time::sleep(Duration::from_secs(TOKEN_TTL_S + 2)).await;
    let e = c.put("/app/token", "2", None).await.expect_err("an expired token must be refused");
    assert!(e.to_string().contains("etcdserver: invalid auth token"), "expired token: {e}");
    let mut c = login(&eps[2], "alice", "alicepw").await;
    c.put("/app/token", "3", None).await.expect("put after logging in again");

    // A revoked permission is refused at once, through every member.
    ok(
        &bin,
        &eps[0],
        root,
        &["role", "revoke-permission", "app", "/app/", "--prefix"],
        "Permission of range [/app/, /app0) is revoked from role app",
    );
    for ep in &eps {
        refused(&bin, ep, alice, &["put", "/app/k0", "w"], "etcdserver: permission denied");
    }
    ok(
        &bin,
        &eps[1],
        root,
        &["role", "grant-permission", "app", "read", "/app/", "--prefix"],
        "Role app updated",
    );

    // Everything survives a restart of every member (the simple tokens do not).
    for m in &mut members {
        m.proc.terminate();
    }
    for m in &mut members {
        m.proc.respawn(&flags);
    }
    for m in &mut members {
        m.proc.wait_ready();
    }
    for ep in &eps {
        eventually(&bin, ep, alice, &["get", "/app/k1", "--print-value-only"], "v");
        refused(&bin, ep, alice, &["put", "/app/k1", "w"], "etcdserver: permission denied");
        ok(&bin, ep, root, &["role", "get", "app"], "/app/");
        ok(&bin, ep, root, &["user", "list"], "alice");
    }

    ok(&bin, &eps[2], root, &["auth", "disable"], "Authentication Disabled");
    for ep in &eps {
        eventually(&bin, ep, None, &["put", "/other", "free"], "OK");
    }
}
