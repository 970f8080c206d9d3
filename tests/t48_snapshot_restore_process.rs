//! `metastore snapshot restore`, end to end with real processes:
//!
//! - a real etcd 3.4 with history (versions, a delete, a compaction, keys enough for
//!   branch pages), a lease with keys, users and roles (auth off, and on), saved with
//!   `etcdctl snapshot save`; restored and served by MetaStore: the same keys, values,
//!   create/mod revisions, versions, revision, history above the compaction, the lease
//!   (TTL and keys), users, roles and permissions; the revision continues;
//! - a MetaStore snapshot restored into a new 3-member MetaStore cluster (with
//!   `--bump-revision --mark-compacted`): every member serves the same data, writes
//!   continue on every member;
//! - members restored at one revision with different data: the corruption checks
//!   (initial and periodic) find it;
//! - a member started on the data dir `etcdctl snapshot restore` wrote takes it over
//!   (etcd's e2e `TestIssue6361`); the backend of an etcd member that has run is refused;
//! - restoring onto an existing data dir, and corrupted, truncated or foreign files,
//!   refused with messages that say what is wrong.
//!
//! Needs etcdctl 3.4 (see `support::etcdctl_binary`) and, for the first, etcd 3.4
//! (`$ETCD_BIN` or /usr/bin/etcd; skipped, saying so, without it).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions, LeaseTimeToLiveOptions, PutOptions};
use support::cluster::{connect, retry, CATCH_UP};
use support::{free_port, Proc};

const METASTORE: &str = env!("CARGO_BIN_EXE_metastore");
/// A real etcd 3.4.23 snapshot (see `src/storage/etcd_import_test.rs`).
const ETCD_SNAPSHOT: &[u8] = include_bytes!("../src/storage/testdata/etcd-3.4.23.snapshot");

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

fn ok(bin: &Path, endpoint: &str, user: Option<&str>, args: &[&str]) -> String {
    let (success, text) = ctl(bin, Some(endpoint), user, args);
    assert!(success, "etcdctl {args:?} as {user:?}: {text}");
    text
}

fn etcd_binary(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("ETCD_BIN").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/etcd".into());
    if path.is_file() {
        return Some(path);
    }
    eprintln!("{test}: SKIPPED: no etcd at {} (set ETCD_BIN)", path.display());
    None
}

/// One member's place in a new cluster: name, ports, data dir.
struct Seat {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
}

fn seats(names: &[&str], tag: &str) -> (Vec<Seat>, String) {
    let seats: Vec<Seat> = names
        .iter()
        .map(|n| Seat {
            name: n.to_string(),
            client_port: free_port(),
            peer_port: free_port(),
            data_dir: support::temp_dir(&format!("{tag}-{n}")).join("data"),
        })
        .collect();
    let cluster = seats
        .iter()
        .map(|s| format!("{}=http://127.0.0.1:{}", s.name, s.peer_port))
        .collect::<Vec<_>>()
        .join(",");
    (seats, cluster)
}

/// `metastore snapshot restore FILE` for `seat` of `cluster`; (exit status, output).
fn restore(file: &Path, seat: &Seat, cluster: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(METASTORE)
        .args(["snapshot", "restore", &file.display().to_string()])
        .arg(format!("--name={}", seat.name))
        .arg(format!("--data-dir={}", seat.data_dir.display()))
        .arg(format!("--initial-cluster={cluster}"))
        .arg("--initial-cluster-token=restored")
        .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{}", seat.peer_port))
        .args(extra)
        .output()
        .expect("run metastore snapshot restore");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

/// `etcdctl snapshot restore FILE` (etcd's own) for `seat` of `cluster`; must succeed.
fn etcdctl_restore(bin: &Path, file: &Path, seat: &Seat, cluster: &str) {
    let (success, text) = ctl(
        bin,
        None,
        None,
        &[
            "snapshot",
            "restore",
            &file.display().to_string(),
            &format!("--name={}", seat.name),
            &format!("--data-dir={}", seat.data_dir.display()),
            &format!("--initial-cluster={cluster}"),
            "--initial-cluster-token=restored",
            &format!("--initial-advertise-peer-urls=http://127.0.0.1:{}", seat.peer_port),
        ],
    );
    assert!(success, "etcdctl snapshot restore: {text}");
}

fn spawn(seat: &Seat, cluster: &str) -> Proc {
    let flags = ["--initial-cluster-token", "restored"];
    Proc::spawn_member_of(
        Path::new(METASTORE),
        &seat.name,
        cluster,
        &seat.data_dir,
        seat.client_port,
        seat.peer_port,
        &flags,
    )
}

async fn login(p: &Proc, user: &str, password: &str) -> Client {
    let opts = ConnectOptions::new().with_user(user, password).with_connect_timeout(Duration::from_secs(2));
    Client::connect([p.endpoint()], Some(opts)).await.expect("authenticated etcd-client")
}

/// (key, value, create_revision, mod_revision, version, lease).
type Kv = (Vec<u8>, Vec<u8>, i64, i64, i64, i64);

/// Every live key at `revision` (0 = now) and the header revision.
async fn all_at(
    c: &mut Client,
    revision: i64,
    serializable: bool,
) -> Result<(Vec<Kv>, i64), etcd_client::Error> {
    let mut opts = GetOptions::new().with_all_keys().with_revision(revision);
    if serializable {
        opts = opts.with_serializable();
    }
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

/// (granted TTL, remaining TTL, sorted keys) of `lease`.
async fn lease_of(c: &mut Client, lease: i64) -> (i64, i64, Vec<Vec<u8>>) {
    let r = c.lease_time_to_live(lease, Some(LeaseTimeToLiveOptions::new().with_keys())).await.expect("ttl");
    let mut keys = r.keys().to_vec();
    keys.sort();
    (r.granted_ttl(), r.ttl(), keys)
}

/// History, a compaction, a lease with keys; returns (lease, compact revision).
async fn write_history(c: &mut Client) -> (i64, i64) {
    let lease = c.lease_grant(600, None).await.expect("lease").id();
    for v in ["1", "2", "3"] {
        c.put("foo", v, None).await.expect("put foo");
    }
    c.put("bar", "x", None).await.expect("put bar");
    c.delete("bar", None).await.expect("delete bar");
    for i in 0..300 {
        let opts = (i % 50 == 0).then(|| PutOptions::new().with_lease(lease));
        c.put(format!("k{i:03}"), format!("{i}-{}", "v".repeat(200)), opts).await.expect("put k");
    }
    let compact_at = c.put("a", "1", None).await.expect("put a").header().unwrap().revision();
    c.compact(compact_at, None).await.expect("compact");
    c.put("a", "2", None).await.expect("put a");
    c.put("big", vec![9u8; 20_000], None).await.expect("put big");
    (lease, compact_at)
}

fn set_up_auth(bin: &Path, ep: &str, enable: bool) {
    ok(bin, ep, None, &["user", "add", "root:rootpw"]);
    ok(bin, ep, None, &["user", "grant-role", "root", "root"]);
    ok(bin, ep, None, &["role", "add", "r1"]);
    ok(bin, ep, None, &["role", "grant-permission", "r1", "readwrite", "/app/", "--prefix"]);
    ok(bin, ep, None, &["user", "add", "app:apppw"]);
    ok(bin, ep, None, &["user", "grant-role", "app", "r1"]);
    if enable {
        ok(bin, ep, None, &["auth", "enable"]);
    }
}

/// What a client can see of a cluster: keys now and at the compaction, the lease,
/// users and roles (as etcdctl prints them).
#[derive(Debug, PartialEq)]
struct Seen {
    now: (Vec<Kv>, i64),
    at_compaction: (Vec<Kv>, i64),
    lease: (i64, Vec<Vec<u8>>),
    users: String,
    role: String,
    user: String,
}

async fn seen(bin: &Path, p: &Proc, c: &mut Client, lease: i64, compact_at: i64, root: Option<&str>) -> Seen {
    let ep = p.endpoint();
    let (granted, remaining, keys) = lease_of(c, lease).await;
    assert!(remaining > 0 && remaining <= granted, "lease TTL {remaining} of {granted}");
    Seen {
        now: all_at(c, 0, false).await.expect("get"),
        at_compaction: all_at(c, compact_at, false).await.expect("get at the compaction"),
        lease: (granted, keys),
        users: ok(bin, &ep, root, &["user", "list"]),
        role: ok(bin, &ep, root, &["role", "get", "r1"]),
        user: ok(bin, &ep, root, &["user", "get", "app"]),
    }
}

async fn etcd_to_metastore(auth_enabled: bool) {
    let test = format!("t48 etcd snapshot (auth {auth_enabled})");
    let Some(bin) = support::etcdctl_binary(&test) else { return };
    let Some(etcd) = etcd_binary(&test) else { return };
    let tag = if auth_enabled { "restore-etcd-auth" } else { "restore-etcd" };
    let dir = support::temp_dir(tag);
    let mut etcd_proc = Proc::spawn_binary(&etcd, &dir.join("etcd"), free_port(), free_port(), &[]);
    etcd_proc.wait_serving();
    let mut c = connect(&etcd_proc).await;
    let (lease, compact_at) = write_history(&mut c).await;
    set_up_auth(&bin, &etcd_proc.endpoint(), auth_enabled);
    let root = auth_enabled.then_some("root:rootpw");
    let mut c = if auth_enabled { login(&etcd_proc, "root", "rootpw").await } else { c };
    let theirs = seen(&bin, &etcd_proc, &mut c, lease, compact_at, root).await;
    let file = dir.join("etcd.snapshot");
    ok(&bin, &etcd_proc.endpoint(), root, &["snapshot", "save", &file.display().to_string()]);
    drop(etcd_proc);

    let (seats, cluster) = seats(&["m1"], tag);
    let (status, text) = restore(&file, &seats[0], &cluster, &[]);
    assert_eq!(status, Some(0), "restore: {text}");
    assert!(text.contains(&format!("revision {}", theirs.now.1)), "{text}");
    let mut ms = spawn(&seats[0], &cluster);
    ms.wait_ready();
    let mut m = if auth_enabled { login(&ms, "root", "rootpw").await } else { connect(&ms).await };
    let ours = seen(&bin, &ms, &mut m, lease, compact_at, root).await;
    assert_eq!(ours, theirs, "MetaStore serves what etcd served");
    let refused = all_at(&mut m, compact_at - 1, false).await.expect_err("below the compaction");
    assert!(refused.to_string().contains("compacted"), "{refused}");
    let next = m.put("after", "restore", None).await.expect("put").header().unwrap().revision();
    assert_eq!(next, theirs.now.1 + 1, "the revision continues");

    let ep = ms.endpoint();
    let app = Some("app:apppw");
    ok(&bin, &ep, app, &["put", "/app/x", "1"]);
    if auth_enabled {
        let (success, text) = ctl(&bin, Some(&ep), None, &["get", "foo"]);
        assert!(!success && text.contains("user name is empty"), "auth is still on: {text}");
        let (success, text) = ctl(&bin, Some(&ep), app, &["put", "/other", "1"]);
        assert!(!success && text.contains("permission denied"), "app's permissions carried over: {text}");
        let (success, text) = ctl(&bin, Some(&ep), Some("app:wrong"), &["get", "/app/x"]);
        assert!(!success && text.contains("authentication failed"), "the password hash carried over: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_snapshot_restored_into_metastore() {
    etcd_to_metastore(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_snapshot_with_auth_on_restored_into_metastore() {
    etcd_to_metastore(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metastore_snapshot_restored_into_three_members() {
    let test = "t48 three members";
    let Some(bin) = support::etcdctl_binary(test) else { return };
    let dir = support::temp_dir("restore-3");
    let source = Proc::start(&dir.join("source"), &[]);
    let mut c = connect(&source).await;
    let (lease, _) = write_history(&mut c).await;
    let before = all_at(&mut c, 0, false).await.expect("get");
    let file = dir.join("ms.snapshot");
    ok(&bin, &source.endpoint(), None, &["snapshot", "save", &file.display().to_string()]);
    drop(source);

    const BUMP: i64 = 1000;
    let (seats, cluster) = seats(&["m1", "m2", "m3"], "restore-3");
    for seat in &seats {
        let (status, text) = restore(&file, seat, &cluster, &["--bump-revision", "1000", "--mark-compacted"]);
        assert_eq!(status, Some(0), "restore {}: {text}", seat.name);
    }
    let mut procs: Vec<Proc> = seats.iter().map(|s| spawn(s, &cluster)).collect();
    for p in &mut procs {
        p.wait_ready();
    }
    let deadline = Instant::now() + CATCH_UP;
    for p in &procs {
        let mut m = connect(p).await;
        let got = retry("serializable get", deadline, || {
            let mut m = m.clone();
            async move { all_at(&mut m, 0, true).await }
        })
        .await;
        assert_eq!(
            got,
            (before.0.clone(), before.1 + BUMP),
            "{}: the same keys, the revision bumped",
            p.member
        );
        let refused = all_at(&mut m, before.1, false).await.expect_err("compacted at the bumped revision");
        assert!(refused.to_string().contains("compacted"), "{refused}");
        assert_eq!(lease_of(&mut m, lease).await.0, 600, "{}: the lease", p.member);
    }
    let mut second = connect(&procs[1]).await;
    let rev = retry("put", deadline, || {
        let mut c = second.clone();
        async move { c.put("after", "restore", None).await }
    })
    .await
    .header()
    .unwrap()
    .revision();
    assert_eq!(rev, before.1 + BUMP + 1);
    for p in &procs {
        let (kvs, header) = all_at(&mut connect(p).await, 0, false).await.expect("linearizable get");
        assert_eq!(header, rev, "{}", p.member);
        assert!(kvs.iter().any(|kv| kv.0 == b"after"), "{}", p.member);
    }
    let members = second.member_list().await.expect("member list");
    assert_eq!(members.members().len(), 3);

    // A restored member restarts on its data dir (the WAL now starts after the
    // restored snapshot) with everything in place.
    let third = &mut procs[2];
    third.sigterm();
    assert_eq!(third.wait_exit(Duration::from_secs(20)).0, Some(0), "m3 stops cleanly");
    third.restart(&["--initial-cluster-token", "restored"]);
    let mut m3 = connect(third).await;
    let got = retry("linearizable get after restart", Instant::now() + CATCH_UP, || {
        let mut m = m3.clone();
        async move { all_at(&mut m, 0, false).await }
    })
    .await;
    assert_eq!(got.1, rev, "m3 after restart");
    assert!(got.0.iter().any(|kv| kv.0 == b"after"), "m3 after restart");
    assert_eq!(got.0.len(), before.0.len() + 1);
    let refused = all_at(&mut m3, before.1, true).await.expect_err("still compacted");
    assert!(refused.to_string().contains("compacted"), "{refused}");
}

/// Two members restored from the file, the third with an empty data dir joining them
/// (`--initial-cluster-state existing`): its log is behind the restored snapshot, so
/// the leader sends it the snapshot, and it serves the same state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_the_restore_gets_the_state_by_snapshot() {
    let test = "t48 blank member";
    let Some(bin) = support::etcdctl_binary(test) else { return };
    let dir = support::temp_dir("restore-blank");
    let source = Proc::start(&dir.join("source"), &[]);
    let mut c = connect(&source).await;
    write_history(&mut c).await;
    let before = all_at(&mut c, 0, false).await.expect("get");
    let file = dir.join("ms.snapshot");
    ok(&bin, &source.endpoint(), None, &["snapshot", "save", &file.display().to_string()]);
    drop(source);

    let (seats, cluster) = seats(&["m1", "m2", "m3"], "restore-blank");
    for seat in &seats[..2] {
        let (status, text) = restore(&file, seat, &cluster, &[]);
        assert_eq!(status, Some(0), "restore {}: {text}", seat.name);
    }
    let mut procs: Vec<Proc> = seats[..2].iter().map(|s| spawn(s, &cluster)).collect();
    for p in &mut procs {
        p.wait_ready();
    }
    let blank = &seats[2];
    let flags = ["--initial-cluster-token", "restored", "--initial-cluster-state", "existing"];
    let mut third = Proc::spawn_member_of(
        Path::new(METASTORE),
        &blank.name,
        &cluster,
        &blank.data_dir,
        blank.client_port,
        blank.peer_port,
        &flags,
    );
    third.wait_ready();
    let m3 = connect(&third).await;
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let got = retry("serializable get", deadline, || {
            let mut m = m3.clone();
            async move { all_at(&mut m, 0, true).await }
        })
        .await;
        if got == before {
            break;
        }
        assert!(Instant::now() < deadline, "m3 never caught up: revision {} of {}", got.1, before.1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What etcd's e2e `TestIssue6361` needs: a member started on the data dir that
/// `etcdctl snapshot restore` wrote (etcd's `member/snap/db` and WAL) serves what
/// `metastore snapshot restore` of the same file serves, keeps it across a restart
/// with writes in between, and the backend of an etcd member that has run is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_etcdctl_restored_is_taken_over() {
    let test = "t48 etcdctl restore";
    let Some(bin) = support::etcdctl_binary(test) else { return };
    let dir = support::temp_dir("restore-etcdctl");
    let file = dir.join("etcd.snapshot");
    std::fs::write(&file, ETCD_SNAPSHOT).expect("write");
    let (mine, cluster) = seats(&["m1"], "restore-etcdctl");
    let seat = &mine[0];
    etcdctl_restore(&bin, &file, seat, &cluster);
    let (ours, ours_cluster) = seats(&["m1"], "restore-etcdctl-ours");
    let (status, text) = restore(&file, &ours[0], &ours_cluster, &[]);
    assert_eq!(status, Some(0), "restore: {text}");
    let want = {
        let mut reference = spawn(&ours[0], &ours_cluster);
        reference.wait_ready();
        let mut c = connect(&reference).await;
        all_at(&mut c, 0, false).await.expect("get")
    };
    assert!(!want.0.is_empty(), "the fixture holds keys");

    let mut taken = spawn(seat, &cluster);
    taken.wait_ready();
    let mut c = connect(&taken).await;
    assert_eq!(all_at(&mut c, 0, false).await.expect("get"), want, "served as our own restore serves it");
    let wrote = c.put("after", "takeover", None).await.expect("put").header().unwrap().revision();
    assert_eq!(wrote, want.1 + 1, "the revision continues");
    taken.terminate();
    taken.restart(&[]);
    let mut c = connect(&taken).await;
    let (kvs, rev) = all_at(&mut c, 0, false).await.expect("get after restart");
    assert_eq!(rev, wrote, "nothing lost across the restart");
    assert!(kvs.iter().any(|kv| kv.0 == b"after" && kv.1 == b"takeover"), "the write survived");
    taken.terminate();
    // Its identity file lost, the member that took the db over is not taken over again
    // (that would drop its log): it refuses to start, its files untouched.
    let identity = seat.data_dir.join("member").join("identity");
    let saved = std::fs::read(&identity).expect("identity");
    std::fs::remove_file(&identity).expect("remove identity");
    taken.respawn(&[]);
    let (code, log) = taken.wait_exit(Duration::from_secs(20));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("no member identity file"), "{log}");
    std::fs::write(&identity, saved).expect("put the identity back");
    taken.restart(&[]);
    let mut c = connect(&taken).await;
    assert_eq!(all_at(&mut c, 0, false).await.expect("get").1, wrote, "nothing lost");
    drop(taken);

    // Flags that do not name the member: refused before etcd's WAL is touched.
    let (typo, typo_cluster) = seats(&["m1"], "restore-etcdctl-typo");
    etcdctl_restore(&bin, &file, &typo[0], &typo_cluster);
    let wal_dir = typo[0].data_dir.join("member").join("wal");
    let etcd_wal = std::fs::read_dir(&wal_dir).expect("etcd's wal").count();
    let mut wrong = Proc::spawn_member_of(
        Path::new(METASTORE),
        "m9",
        &typo_cluster,
        &typo[0].data_dir,
        typo[0].client_port,
        typo[0].peer_port,
        &["--initial-cluster-token", "restored"],
    );
    let (code, log) = wrong.wait_exit(Duration::from_secs(20));
    assert_ne!(code, Some(0), "{log}");
    assert!(log.contains("couldn't find local name"), "{log}");
    assert_eq!(
        std::fs::read_dir(&wal_dir).expect("etcd's wal").count(),
        etcd_wal,
        "etcd's WAL left as it was"
    );

    // The db of a member that has run (a snapshot file's db: its consistent index is the
    // source member's) in a data dir without MetaStore's identity: refused, untouched.
    let (ran, ran_cluster) = seats(&["m1"], "restore-etcdctl-ran");
    let snap_dir = ran[0].data_dir.join("member").join("snap");
    std::fs::create_dir_all(&snap_dir).expect("mkdir");
    let db = &ETCD_SNAPSHOT[..ETCD_SNAPSHOT.len() - 32];
    std::fs::write(snap_dir.join("db"), db).expect("write db");
    let mut refused = spawn(&ran[0], &ran_cluster);
    let (code, log) = refused.wait_exit(Duration::from_secs(20));
    assert_ne!(code, Some(0), "refused: {log}");
    assert!(log.contains("etcd member that has run") && log.contains("snapshot restore"), "{log}");
    assert_eq!(std::fs::read(snap_dir.join("db")).expect("db"), db, "the db is left as it was");
    assert!(!ran[0].data_dir.join("member").join("identity").exists(), "no identity written");
}

/// A snapshot file of a fresh single member holding `key` = `value` (revision 2),
/// read through Maintenance.Snapshot as etcdctl saves it.
async fn snapshot_of(dir: &Path, key: &str, value: &str) -> PathBuf {
    let node = Proc::start(&dir.join("source"), &[]);
    let mut c = connect(&node).await;
    c.put(key, value, None).await.expect("put");
    let mut stream = c.snapshot().await.expect("snapshot");
    let mut bytes = Vec::new();
    while let Some(m) = stream.message().await.expect("snapshot message") {
        bytes.extend_from_slice(m.blob());
    }
    let file = dir.join("snapshot.db");
    std::fs::write(&file, bytes).expect("write snapshot");
    file
}

/// Corruption found: three members restored at the same revision, one of them with
/// another value (its data is not what its log says). With
/// `--experimental-initial-corrupt-check` the odd member refuses to start, naming the
/// members it disagrees with; with `--experimental-corrupt-check-time` the leader
/// raises CORRUPT, and writes are then refused with etcd's "corrupt cluster".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_members_are_found_by_the_corruption_checks() {
    let dir = support::temp_dir("restore-diverged");
    let good = snapshot_of(&dir.join("a"), "k", "one").await;
    let odd = snapshot_of(&dir.join("b"), "k", "two").await;
    let restore_all = |tag: &str| {
        let (seats, cluster) = seats(&["m1", "m2", "m3"], tag);
        for (i, seat) in seats.iter().enumerate() {
            let file = if i == 2 { &odd } else { &good };
            let (status, text) = restore(file, seat, &cluster, &[]);
            assert_eq!(status, Some(0), "restore {}: {text}", seat.name);
        }
        (seats, cluster)
    };
    let spawn_with = |seat: &Seat, cluster: &str, flags: &[&str]| {
        let mut all = vec!["--initial-cluster-token", "restored"];
        all.extend(flags);
        Proc::spawn_member_of(
            Path::new(METASTORE),
            &seat.name,
            cluster,
            &seat.data_dir,
            seat.client_port,
            seat.peer_port,
            &all,
        )
    };

    // The initial check: m1 and m2 agree and serve; m3 refuses to start.
    let (seats, cluster) = restore_all("diverged-initial");
    let initial = ["--experimental-initial-corrupt-check"];
    let mut agreeing: Vec<Proc> = seats[..2].iter().map(|s| spawn_with(s, &cluster, &initial)).collect();
    for p in &mut agreeing {
        p.wait_ready();
    }
    let mut m3 = spawn_with(&seats[2], &cluster, &initial);
    let (code, log) = m3.wait_exit(Duration::from_secs(60));
    assert_ne!(code, Some(0), "the diverged member must not start: {log}");
    assert!(log.contains("found data inconsistency with peers"), "{log}");
    drop(agreeing);

    // The periodic check: CORRUPT raised; writes refused.
    let (seats, cluster) = restore_all("diverged-periodic");
    let periodic = ["--experimental-corrupt-check-time", "1s"];
    let mut procs: Vec<Proc> = seats.iter().map(|s| spawn_with(s, &cluster, &periodic)).collect();
    for p in &mut procs {
        p.wait_ready();
    }
    let mut c = connect(&procs[0]).await;
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let alarms = c.alarm(etcd_client::AlarmAction::Get, etcd_client::AlarmType::None, None).await;
        let corrupt = alarms
            .map(|a| a.alarms().iter().any(|a| a.alarm() == etcd_client::AlarmType::Corrupt))
            .unwrap_or(false);
        if corrupt {
            break;
        }
        assert!(Instant::now() < deadline, "no CORRUPT alarm raised");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let refused = c.put("k", "three", None).await.expect_err("a write under CORRUPT");
    assert!(refused.to_string().contains("corrupt cluster"), "{refused}");
}

#[test]
fn existing_dirs_and_bad_files_are_refused() {
    let dir = support::temp_dir("restore-refused");
    let (seats, cluster) = seats(&["m1"], "restore-refused");
    let seat = &seats[0];
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let good = write("good.db", ETCD_SNAPSHOT);
    std::fs::create_dir_all(&seat.data_dir).expect("mkdir");
    std::fs::write(seat.data_dir.join("keep"), b"mine").expect("write");
    let (status, text) = restore(&good, seat, &cluster, &[]);
    assert_eq!(status, Some(1), "{text}");
    assert!(text.contains(&format!("data-dir {:?} exists", seat.data_dir.display().to_string())), "{text}");
    assert_eq!(std::fs::read(seat.data_dir.join("keep")).expect("read"), b"mine", "untouched");
    std::fs::remove_dir_all(&seat.data_dir).expect("rm");

    let mut flipped = ETCD_SNAPSHOT.to_vec();
    flipped[9000] ^= 1;
    let mut bad_meta = ETCD_SNAPSHOT[..ETCD_SNAPSHOT.len() - 32].to_vec();
    bad_meta[16 + 20] ^= 1;
    bad_meta[4096 + 16 + 20] ^= 1;
    let cases: [(&str, &[u8], &[&str], &str); 6] = [
        ("flipped.db", &flipped, &[], "corrupt or truncated: its sha256"),
        ("cut.db", &ETCD_SNAPSHOT[..ETCD_SNAPSHOT.len() - 4096], &["--skip-hash-check"], "truncated"),
        ("cut2.db", &ETCD_SNAPSHOT[..7000], &[], "missing hash"),
        ("bad-meta.db", &bad_meta, &["--skip-hash-check"], "no valid meta page"),
        ("foreign.db", b"these are not the bytes you are looking for", &["--skip-hash-check"], "not a bbolt"),
        ("missing.db", b"", &[], "missing hash"),
    ];
    for (name, bytes, extra, want) in cases {
        let path = write(name, bytes);
        let (status, text) = restore(&path, seat, &cluster, extra);
        assert_eq!(status, Some(1), "{name}: {text}");
        assert!(text.contains(want) && text.contains(name), "{name}: want {want:?}, got {text}");
        assert!(!seat.data_dir.exists(), "{name}: nothing written");
    }
    let (status, text) = restore(&dir.join("absent.db"), seat, &cluster, &[]);
    assert_eq!(status, Some(1), "{text}");
    assert!(text.contains("absent.db"), "{text}");
}
