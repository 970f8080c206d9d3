//! Member changes on a real 3-member cluster of the `metastore` binary, with a
//! client writing all along (driven by the Rust etcd-client crate, as `etcdctl
//! member ...` would):
//!
//! 1. a 4th member is added as a voter and started with
//!    `--initial-cluster-state existing`; it joins and catches up;
//! 2. etcd's errors for bad changes: taken peer URL, unknown member, promoting a
//!    voter, a second learner, MoveLeader on a follower or to a stranger;
//! 3. one of the original members is removed: the cluster keeps taking writes and
//!    the removed process shuts itself down;
//! 4. a learner is added, started, caught up and promoted to voter;
//! 5. MoveLeader hands leadership to the joined member;
//! 6. every write the client saw acknowledged is on every member, HashKV is equal;
//! 7. a member started with another cluster's token next to this cluster refuses to
//!    start ("cluster ID mismatch").
//!
//! And `--auto-promote-learners`: a learner promoted by the leader once in sync.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions, MemberAddOptions};
use support::cluster::{
    agreed_leader, connect, get, retry, start_cluster, status, Member, CATCH_UP, FAILOVER,
};
use support::{free_port, temp_dir, Proc};

const FLAGS: &[&str] = &["--snapshot-count", "50"];

/// The gRPC message of an error, for comparing with etcd's.
fn message(e: etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("{:?}: {}", s.code(), s.message()),
        other => format!("not a gRPC status: {other}"),
    }
}

/// Write `w/<n>` through `client` until `stop`; returns the keys acknowledged.
async fn writer(mut client: Client, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut acked = Vec::new();
    let mut n = 0u32;
    while !stop.load(Ordering::SeqCst) {
        let key = format!("w/{n:05}");
        n += 1;
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_secs(3), client.put(key.as_str(), "x", None)).await
        {
            acked.push(key);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    acked
}

/// Wait until member `m` has applied at least `revision` (serializable reads).
async fn wait_applied(m: &Member, revision: i64) {
    let deadline = Instant::now() + CATCH_UP;
    while get(m, "probe", true).await.2 < revision {
        assert!(Instant::now() < deadline, "{} never applied revision {revision}", m.proc.member);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Start a member that joins the running cluster and connect to it.
async fn join(name: &str, cluster: &str, client_port: u16, peer_port: u16) -> Member {
    let dir = temp_dir(&format!("join-{name}"));
    let mut flags = FLAGS.to_vec();
    flags.extend(["--initial-cluster-state", "existing"]);
    let mut proc = Proc::spawn_member(name, cluster, &dir, client_port, peer_port, &flags);
    proc.wait_ready();
    let client = connect(&proc).await;
    let s = retry("status of joined member", Instant::now() + FAILOVER, || {
        let mut c = client.clone();
        async move { c.status().await }
    })
    .await;
    let id = s.header().expect("header").member_id();
    Member { proc, client, id }
}

fn peer_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_join_leave_and_get_promoted_while_clients_write() {
    let started = Instant::now();
    let (mut members, mut cluster) = start_cluster(&["m1", "m2", "m3"], FLAGS).await;
    let peer_port = |m: &Member| m.proc.peer_port;
    let m2_peer = peer_port(&members[1]);
    let m1_peer = peer_port(&members[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let writes = tokio::spawn(writer(members[1].client.clone(), stop.clone()));

    // 1. Add m4 as a voter (through a member that may or may not lead), start it.
    let (c4, p4) = (free_port(), free_port());
    let mut admin = members[2].client.clone();
    let added = admin.member_add([peer_url(p4)], None).await.expect("member add m4");
    let m4_id = added.member().expect("added member").id();
    assert!(!added.member().unwrap().is_learner());
    assert_eq!(added.member_list().len(), 4, "MemberAdd lists every member");
    cluster.push(format!("m4={}", peer_url(p4)));
    let m4 = join("m4", &cluster.join(","), c4, p4).await;
    assert_eq!(m4.id, m4_id, "the joined member took the ID MemberAdd gave it");
    members.push(m4);
    let rev = retry("put via m4", Instant::now() + FAILOVER, || {
        let mut c = members[3].client.clone();
        async move { c.put("via/m4", "ok", None).await }
    })
    .await
    .header()
    .unwrap()
    .revision();
    for m in &members {
        wait_applied(m, rev).await;
    }
    eprintln!("t35: m4 joined after {:?}", started.elapsed());

    // 2. etcd's errors.
    let e = admin.member_add([peer_url(m1_peer)], None).await.expect_err("taken URL");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: Peer URLs already exists");
    let e = admin.member_remove(12345).await.expect_err("unknown member");
    assert_eq!(message(e), "NotFound: etcdserver: member not found");
    let e = admin.member_promote(members[0].id).await.expect_err("promote a voter");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: can only promote a learner member");
    let e = admin.member_add(["not a url"], None).await.expect_err("bad URL");
    assert_eq!(message(e), "InvalidArgument: etcdserver: given member URLs are invalid");
    let all: Vec<usize> = (0..members.len()).collect();
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let follower = (leader + 1) % members.len();
    let e = members[follower].client.clone().move_leader(members[leader].id).await.expect_err("not leader");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: not leader");
    let e = members[leader].client.clone().move_leader(777).await.expect_err("stranger");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: bad leader transferee");

    // 3. Remove m1: the cluster keeps going, m1 shuts itself down.
    let removed = admin.member_remove(members[0].id).await.expect("member remove m1");
    assert_eq!(removed.members().len(), 3);
    assert!(removed.members().iter().all(|m| m.id() != members[0].id));
    let (code, log) = members[0].proc.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(0), "removed m1 exits; log:\n{log}");
    assert!(log.contains("permanently removed"), "m1 says why it stopped; log:\n{log}");
    let m1 = members.remove(0);
    drop(m1);
    // If m1 led, the others elect a new leader first (member changes get "no leader"
    // meanwhile, as from etcd).
    let rest: Vec<usize> = (0..members.len()).collect();
    agreed_leader(&members, &rest, Instant::now() + FAILOVER).await;
    eprintln!("t35: m1 removed after {:?}", started.elapsed());

    // 4. A learner: added, second learner refused, started, caught up, promoted.
    let (c5, p5) = (free_port(), free_port());
    let added = admin
        .member_add([peer_url(p5)], Some(MemberAddOptions::new().with_is_learner()))
        .await
        .expect("member add m5 as learner");
    assert!(added.member().expect("added").is_learner());
    let e = admin
        .member_add([peer_url(free_port())], Some(MemberAddOptions::new().with_is_learner()))
        .await
        .expect_err("a second learner");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: too many learner members in cluster");
    cluster.remove(0);
    cluster.push(format!("m5={}", peer_url(p5)));
    let m5 = join("m5", &cluster.join(","), c5, p5).await;
    let m5_id = m5.id;
    members.push(m5);
    let deadline = Instant::now() + CATCH_UP;
    loop {
        match admin.member_promote(m5_id).await {
            Ok(r) => {
                assert!(r.members().iter().all(|m| !m.is_learner()), "all voters now");
                break;
            }
            Err(e) => {
                let msg = message(e);
                assert!(msg.contains("in sync with leader"), "promote: {msg}");
                assert!(Instant::now() < deadline, "m5 never caught up enough to promote");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    eprintln!("t35: m5 promoted after {:?}", started.elapsed());

    // 5. MoveLeader to m4.
    let all: Vec<usize> = (0..members.len()).collect();
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let m4_index = members.iter().position(|m| m.id == m4_id).expect("m4");
    members[leader].client.clone().move_leader(m4_id).await.expect("move leader");
    assert_eq!(agreed_leader(&members, &all, Instant::now() + FAILOVER).await, m4_index);
    assert_eq!(status(&members[m4_index]).await.expect("status").leader(), m4_id);

    // 6. Every acknowledged write is everywhere; HashKV agrees.
    stop.store(true, Ordering::SeqCst);
    let acked = writes.await.expect("writer");
    assert!(acked.len() > 20, "the writer made progress throughout: {} writes", acked.len());
    let last = retry("final put", Instant::now() + FAILOVER, || {
        let mut c = members[0].client.clone();
        async move { c.put("done", "1", None).await }
    })
    .await
    .header()
    .unwrap()
    .revision();
    let mut hashes = Vec::new();
    for m in &members {
        wait_applied(m, last).await;
        let got = m.client.clone().get("w/", Some(GetOptions::new().with_prefix().with_serializable())).await;
        let keys: Vec<String> =
            got.expect("get w/").kvs().iter().map(|kv| String::from_utf8_lossy(kv.key()).into()).collect();
        for k in &acked {
            assert!(keys.contains(k), "acknowledged {k} missing on {}", m.proc.member);
        }
        hashes.push(m.client.clone().hash_kv(last).await.expect("hash_kv").hash());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "HashKV differs: {hashes:?}");
    eprintln!("t35: {} acknowledged writes on all {} members", acked.len(), members.len());

    // 7. Another cluster's member next to this one refuses to start.
    let (cx, px) = (free_port(), free_port());
    let foreign = format!("x1={},m2={}", peer_url(px), peer_url(m2_peer));
    let mut x =
        Proc::spawn_member("x1", &foreign, &temp_dir("x1"), cx, px, &["--initial-cluster-token", "another"]);
    let (code, log) = x.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(1), "foreign member must refuse to start; log:\n{log}");
    assert!(log.contains("cluster ID mismatch"), "says why; log:\n{log}");

    for m in &mut members {
        m.proc.sigterm();
    }
    for m in &mut members {
        let (code, log) = m.proc.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{} on SIGTERM; log:\n{log}", m.proc.member);
    }
    eprintln!("t35: done in {:?}", started.elapsed());
}

/// `--auto-promote-learners` (MetaStore's own flag): the leader promotes a learner
/// once MemberPromote's checks pass, and not before (a learner that has not started
/// stays one); the promoted member holds every key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_promotes_a_learner_in_sync_with_auto_promote_learners() {
    let flags = ["--auto-promote-learners", "--snapshot-count", "50"];
    let (members, mut cluster) = start_cluster(&["a1"], &flags).await;
    let mut admin = members[0].client.clone();
    for i in 0..300 {
        admin.put(format!("k/{i:03}"), "v", None).await.expect("put");
    }
    let (c2, p2) = (free_port(), free_port());
    let added = admin
        .member_add([peer_url(p2)], Some(MemberAddOptions::new().with_is_learner()))
        .await
        .expect("member add a2 as learner");
    let a2_id = added.member().expect("added").id();
    let is_learner = |list: &etcd_client::MemberListResponse| {
        list.members().iter().find(|m| m.id() == a2_id).map(|m| m.is_learner())
    };
    // Several promoter rounds (every 5 heartbeats) pass while a2 has not started.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let list = admin.member_list().await.expect("member list");
    assert_eq!(is_learner(&list), Some(true), "not promoted before it is in sync");

    cluster.push(format!("a2={}", peer_url(p2)));
    let dir = temp_dir("auto-promote-a2");
    let mut proc = Proc::spawn_member(
        "a2",
        &cluster.join(","),
        &dir,
        c2,
        p2,
        &["--auto-promote-learners", "--initial-cluster-state", "existing"],
    );
    proc.wait_ready();
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let list = admin.member_list().await.expect("member list");
        if is_learner(&list) == Some(false) {
            break;
        }
        assert!(Instant::now() < deadline, "a2 never promoted: {:?}", list.members());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Promoted within 90% of the leader's log (etcd's rule): the rest follows.
    let a2 = connect(&proc).await;
    loop {
        let got = a2
            .clone()
            .get("k/", Some(GetOptions::new().with_prefix().with_count_only().with_serializable()))
            .await
            .expect("get on a2");
        if got.count() == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "a2 holds {} of 300 keys", got.count());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A voter now: the two-voter cluster needs it for a write.
    admin.put("after", "promotion", None).await.expect("put with a2 voting");
}
