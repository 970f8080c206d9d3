//! Maintenance.Snapshot against the real etcdctl 3.4 and etcd 3.4:
//!
//! - etcd's e2e TestCtlV3AuthSnapshot: three puts on a fresh member, auth set up; an
//!   ordinary user may not save a snapshot, root may; `snapshot status` reports
//!   revision 4 (auth changes do not move it) and at least 3 keys;
//! - `snapshot restore` of that file and a real etcd started on it: the same keys and
//!   values, auth still on, root's password and a user's permissions still work;
//! - a longer history (overwrites, deletes, a compaction, a lease with keys, a value
//!   spanning pages, enough keys for branch pages): status reports the member's
//!   revision, and the restored etcd serves the same keys with the same revisions and
//!   versions, the same history above the compaction, refuses reads below it, and
//!   knows the lease and its keys.
//!
//! Needs etcdctl 3.4 (see `support::etcdctl_binary`); the restore half needs etcd 3.4
//! (`$ETCD_BIN` or /usr/bin/etcd) and is skipped, saying so, without it.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use etcd_client::{Client, ConnectOptions, GetOptions, LeaseTimeToLiveOptions};
use support::cluster::connect;
use support::{free_port, Proc};

/// Run etcdctl (against `endpoint`, if any); (succeeded, stdout + stderr).
fn ctl(bin: &Path, endpoint: Option<&str>, user: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new(bin);
    cmd.env("ETCDCTL_API", "3").arg("--command-timeout=20s");
    if let Some(ep) = endpoint {
        cmd.arg(format!("--endpoints={ep}"));
    }
    if let Some(u) = user {
        cmd.arg(format!("--user={u}"));
    }
    let out = cmd.args(args).output().expect("run etcdctl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ok(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str], expect: &str) {
    let (success, text) = ctl(bin, Some(endpoint), user, args);
    assert!(success && text.contains(expect), "etcdctl {args:?} as {user:?}: wanted {expect:?}, got {text}");
}

/// etcd 3.4 for the restore half: `$ETCD_BIN` or /usr/bin/etcd.
fn etcd_binary(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/etcd".into());
    if path.is_file() {
        return Some(path);
    }
    eprintln!("{test}: restore half SKIPPED: no etcd at {} (set ETCD_BIN)", path.display());
    None
}

/// An integer field of etcdctl's one-line JSON (`"revision":4`).
fn json_int(json: &str, field: &str) -> i64 {
    let tag = format!("\"{field}\":");
    let at = json.find(&tag).unwrap_or_else(|| panic!("no {field} in {json}")) + tag.len();
    let digits: String = json[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse().unwrap_or_else(|e| panic!("{field} in {json}: {e}"))
}

/// `snapshot save` as `user`, then `snapshot status`: (revision, totalKey).
fn save_and_status(bin: &Path, endpoint: &str, user: Option<&str>, file: &Path) -> (i64, i64) {
    let path = file.display().to_string();
    ok(bin, endpoint, user, &["snapshot", "save", &path], "Snapshot saved at");
    let len = std::fs::metadata(file).expect("saved file").len();
    assert_eq!(len % 512, 32, "a bbolt file (whole pages) plus the 32-byte sha256");
    let (success, json) = ctl(bin, None, None, &["--write-out=json", "snapshot", "status", &path]);
    assert!(success, "snapshot status: {json}");
    assert_eq!(json_int(&json, "totalSize") as u64, len - 32, "status: {json}");
    (json_int(&json, "revision"), json_int(&json, "totalKey"))
}

/// `snapshot restore` into a fresh data dir, and a real etcd serving from it.
fn restore_and_start(bin: &Path, etcd: &Path, file: &Path, tag: &str) -> Proc {
    let data_dir = support::temp_dir(tag).join("etcd");
    let (client_port, peer_port) = (free_port(), free_port());
    let peer = format!("http://127.0.0.1:{peer_port}");
    let cluster = format!("m1={peer}");
    let args = [
        "snapshot".to_string(),
        "restore".to_string(),
        file.display().to_string(),
        "--name=m1".to_string(),
        format!("--data-dir={}", data_dir.display()),
        format!("--initial-cluster={cluster}"),
        format!("--initial-advertise-peer-urls={peer}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (success, text) = ctl(bin, None, None, &args);
    assert!(success, "snapshot restore: {text}");
    let mut p = Proc::spawn_binary(etcd, &data_dir, client_port, peer_port, &[]);
    p.wait_serving();
    p
}

async fn login(p: &Proc, user: &str, password: &str) -> Client {
    let opts = ConnectOptions::new()
        .with_user(user, password)
        .with_connect_timeout(std::time::Duration::from_secs(2));
    Client::connect([p.endpoint()], Some(opts)).await.expect("authenticated etcd-client")
}

/// Every live key: (key, value, create_revision, mod_revision, version, lease), and
/// the header revision.
type Kv = (Vec<u8>, Vec<u8>, i64, i64, i64, i64);

async fn all_at(c: &mut Client, revision: i64) -> Result<(Vec<Kv>, i64), etcd_client::Error> {
    let opts = GetOptions::new().with_all_keys().with_revision(revision);
    let r = c.get(vec![0u8], Some(opts)).await?;
    let kvs = r
        .kvs()
        .iter()
        .map(|kv| {
            let (create, modified) = (kv.create_revision(), kv.mod_revision());
            (kv.key().to_vec(), kv.value().to_vec(), create, modified, kv.version(), kv.lease())
        })
        .collect();
    Ok((kvs, r.header().expect("header").revision()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_snapshot_as_etcds_e2e_test_and_restored_by_etcd() {
    let test = "t44 auth snapshot";
    let Some(bin) = support::etcdctl_binary(test) else { return };
    let dir = support::temp_dir("snap-auth");
    let node = Proc::start(&dir, &["--bcrypt-cost", "4"]);
    let ep = node.endpoint();
    let root = Some("root:root");
    for i in 1..=3 {
        ok(&bin, &ep, None, &["put", &format!("key{i}"), &format!("val{i}")], "OK");
    }
    ok(&bin, &ep, None, &["user", "add", "root:root"], "User root created");
    ok(&bin, &ep, None, &["user", "grant-role", "root", "root"], "Role root is granted to user root");
    ok(&bin, &ep, None, &["auth", "enable"], "Authentication Enabled");
    ok(&bin, &ep, root, &["role", "add", "test-role"], "Role test-role created");
    ok(
        &bin,
        &ep,
        root,
        &["role", "grant-permission", "test-role", "readwrite", "foo"],
        "Role test-role updated",
    );
    ok(&bin, &ep, root, &["user", "add", "test-user:pass"], "User test-user created");
    ok(&bin, &ep, root, &["user", "grant-role", "test-user", "test-role"], "Role test-role is granted");

    let file = dir.join("auth.snapshot");
    let (success, text) =
        ctl(&bin, Some(&ep), Some("test-user:pass"), &["snapshot", "save", &file.display().to_string()]);
    assert!(!success && text.contains("permission denied"), "an ordinary user saved a snapshot: {text}");
    let (revision, total_key) = save_and_status(&bin, &ep, root, &file);
    assert_eq!(revision, 4, "three puts on a fresh member");
    assert!(total_key >= 3, "totalKey {total_key}");

    let Some(etcd) = etcd_binary(test) else { return };
    let restored = restore_and_start(&bin, &etcd, &file, "snap-auth-restore");
    let ours = all_at(&mut login(&node, "root", "root").await, 0).await.expect("get from metastore");
    let theirs = all_at(&mut login(&restored, "root", "root").await, 0).await.expect("get from etcd");
    assert_eq!(theirs, ours, "the restored etcd serves the same keys at the same revision");
    assert_eq!(ours.0.len(), 3);
    let rep = restored.endpoint();
    let (success, text) = ctl(&bin, Some(&rep), None, &["get", "key1"]);
    assert!(!success && text.contains("user name is empty"), "auth is still on in etcd: {text}");
    ok(&bin, &rep, Some("test-user:pass"), &["put", "foo", "bar"], "OK");
    let (success, text) = ctl(&bin, Some(&rep), Some("test-user:pass"), &["put", "key1", "x"]);
    assert!(!success && text.contains("permission denied"), "test-user's permission carried over: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_leases_and_compaction_survive_restore_in_etcd() {
    let test = "t44 history snapshot";
    let Some(bin) = support::etcdctl_binary(test) else { return };
    let dir = support::temp_dir("snap-history");
    let node = Proc::start(&dir, &[]);
    let mut c = connect(&node).await;
    let lease = c.lease_grant(600, None).await.expect("lease").id();
    for i in 0..400 {
        let value = format!("{i:04}-{}", "v".repeat(300));
        let opts = (i % 9 == 0).then(|| etcd_client::PutOptions::new().with_lease(lease));
        c.put(format!("k{i:04}"), value, opts).await.expect("put");
    }
    for i in 0..100 {
        c.put(format!("k{i:04}"), format!("second-{i}"), None).await.expect("overwrite");
    }
    let opts = etcd_client::DeleteOptions::new().with_range("k0150");
    c.delete("k0100", Some(opts)).await.expect("delete range");
    let before_compaction = c.put("a", "1", None).await.expect("put").header().unwrap().revision();
    let compact_at = c.put("a", "2", None).await.expect("put").header().unwrap().revision();
    c.compact(compact_at, None).await.expect("compact");
    let after_compaction = c.put("a", "3", None).await.expect("put").header().unwrap().revision();
    c.put("big", vec![7u8; 100_000], None).await.expect("put a value spanning pages");
    let last = c.put("z", "last", None).await.expect("put").header().unwrap().revision();

    let file = dir.join("history.snapshot");
    let (revision, total_key) = save_and_status(&bin, &node.endpoint(), None, &file);
    assert_eq!(revision, last, "status reports the member's revision");
    // Bucket `key`: 350 live k-keys (their compacted versions and the deleted ones'
    // are gone), `a` at and after the compaction, `big`, `z`; then authEnabled,
    // authRevision, clusterVersion, the lease, consistent_index and both compact marks.
    assert_eq!(total_key, 354 + 7, "every stored version and setting is a key");

    let Some(etcd) = etcd_binary(test) else { return };
    let restored = restore_and_start(&bin, &etcd, &file, "snap-history-restore");
    let mut e = connect(&restored).await;
    for at in [0, after_compaction, compact_at] {
        let ours = all_at(&mut c, at).await.expect("metastore get");
        assert_eq!(all_at(&mut e, at).await.expect("etcd get"), ours, "keys at revision {at}");
    }
    let refused = all_at(&mut e, before_compaction).await.expect_err("below the compaction");
    assert!(refused.to_string().contains("compacted"), "{refused}");

    let ttl = |c: &mut Client| {
        let mut c = c.clone();
        async move {
            let r = c.lease_time_to_live(lease, Some(LeaseTimeToLiveOptions::new().with_keys())).await;
            let r = r.expect("lease time to live");
            (r.granted_ttl(), r.keys().to_vec())
        }
    };
    let (ours, theirs) = (ttl(&mut c).await, ttl(&mut e).await);
    assert_eq!(ours.0, 600);
    let sorted = |mut keys: Vec<Vec<u8>>| {
        keys.sort();
        keys
    };
    assert_eq!((theirs.0, sorted(theirs.1)), (ours.0, sorted(ours.1)), "the lease and its keys");
}
