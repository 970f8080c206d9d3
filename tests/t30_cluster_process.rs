//! A real 3-member cluster of the `metastore` binary on free loopback ports (client +
//! peer port each, own data dir each), driven by the Rust etcd-client crate:
//!
//! 1. all three start at once from `--initial-cluster` and elect a leader;
//! 2. writes through every member (followers forward), linearizable and
//!    serializable reads on every member see them, one cluster_id everywhere;
//! 3. the leader (from Maintenance.Status) is killed with SIGKILL; a new leader is
//!    elected and writes through both survivors resume within 10 s;
//! 4. with `--snapshot-count 5`, enough writes (and a compaction) that the log is
//!    compacted while the old leader is down; the old leader restarts on its data
//!    dir and catches up;
//! 5. HashKV at one explicit revision is equal on all three members;
//! 6. SIGTERM: every member exits 0;
//! 7. all three restart from their data dirs with the same data and hashes, and
//!    exit 0 on SIGTERM again.
//!
//! Every assertion on timing polls until its condition or a deadline; nothing
//! depends on which member wins an election.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::GetOptions;
use support::cluster::{agreed_leader, connect, get, put, retry, status, Member, CATCH_UP, FAILOVER};
use support::{free_port, temp_dir, Proc};

/// Flags for every member: frequent snapshots, so that the log gets compacted.
const FLAGS: &[&str] = &["--snapshot-count", "5", "--initial-cluster-state", "new"];
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_member_cluster_fails_over_and_catches_up() {
    let started = Instant::now();
    let names = ["m1", "m2", "m3"];
    let ports: Vec<(u16, u16)> = names.iter().map(|_| (free_port(), free_port())).collect();
    let initial_cluster = names
        .iter()
        .zip(&ports)
        .map(|(n, (_, peer))| format!("{n}=http://127.0.0.1:{peer}"))
        .collect::<Vec<_>>()
        .join(",");
    let dirs: Vec<_> = names.iter().map(|n| temp_dir(&format!("cluster-{n}"))).collect();

    // 1. Start all three before waiting on any: each waits for a leader, which needs
    //    a quorum, before it serves clients.
    let mut procs: Vec<Proc> = names
        .iter()
        .zip(&ports)
        .zip(&dirs)
        .map(|((n, (client, peer)), dir)| Proc::spawn_member(n, &initial_cluster, dir, *client, *peer, FLAGS))
        .collect();
    for p in &mut procs {
        p.wait_ready();
    }
    let mut members = Vec::new();
    for proc in procs {
        let client = connect(&proc).await;
        let mut m = Member { proc, client, id: 0 };
        let s = retry("status", Instant::now() + FAILOVER, || {
            let mut c = m.client.clone();
            async move { c.status().await }
        })
        .await;
        m.id = s.header().expect("status header").member_id();
        members.push(m);
    }
    let mut ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct member IDs: {ids:x?}");
    let ml = members[0].client.clone().member_list().await.expect("member list");
    let mut listed: Vec<u64> = ml.members().iter().map(|m| m.id()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ids, "MemberList names every member");
    eprintln!("t30: 3 members ready after {:?}", started.elapsed());

    // 2. A write through every member (followers forward it to the leader); then on
    //    every member a linearizable read sees every write, and a serializable read
    //    right after it (same member, state only moves forward) does too.
    let deadline = Instant::now() + FAILOVER;
    let mut last_rev = 0;
    for (i, m) in members.iter().enumerate() {
        last_rev = last_rev.max(put(m, &format!("via/{i}"), &format!("v{i}"), deadline).await);
    }
    let mut cluster_ids = Vec::new();
    for m in &members {
        for i in 0..members.len() {
            let key = format!("via/{i}");
            let (value, cid, rev) = get(m, &key, false).await;
            assert_eq!(value.as_deref(), Some(format!("v{i}").as_bytes()), "{key} on {}", m.proc.member);
            assert_eq!(rev, last_rev, "linearizable read on {} is at the last write", m.proc.member);
            cluster_ids.push(cid);
            let (value, cid, rev) = get(m, &key, true).await;
            assert_eq!(value.as_deref(), Some(format!("v{i}").as_bytes()), "serializable {key}");
            assert_eq!(rev, last_rev, "serializable read on {} is at the last write", m.proc.member);
            cluster_ids.push(cid);
        }
        let s = status(m).await.expect("status");
        cluster_ids.push(s.header().expect("status header").cluster_id());
    }
    // A member that answers a write has applied it, as etcd's members wait for their
    // own apply: a serializable read right after, on the same member, sees it (also
    // on followers, which forward the write to the leader).
    for m in &members {
        for i in 0..30 {
            let key = format!("ryw/{}", m.proc.member);
            let rev = put(m, &key, &format!("{i}"), deadline).await;
            let (value, _, at) = get(m, &key, true).await;
            assert_eq!(
                value.as_deref(),
                Some(format!("{i}").as_bytes()),
                "serializable {key} on {}",
                m.proc.member
            );
            assert!(
                at >= rev,
                "serializable read on {} at {at}, before its own write at {rev}",
                m.proc.member
            );
        }
    }
    assert!(cluster_ids[0] != 0, "cluster_id is set");
    assert!(cluster_ids.iter().all(|c| *c == cluster_ids[0]), "one cluster_id everywhere: {cluster_ids:x?}");

    // 3. Kill -9 the leader; the survivors elect a new one and take writes again.
    let all = [0, 1, 2];
    let old = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != old).collect();
    let old_name = members[old].proc.member.clone();
    members[old].proc.kill9();
    let killed = Instant::now();
    let deadline = killed + FAILOVER;
    for &i in &survivors {
        put(&members[i], &format!("after-kill/{i}"), "x", deadline).await;
    }
    let failover = killed.elapsed();
    let new = agreed_leader(&members, &survivors, deadline).await;
    assert_ne!(new, old);
    eprintln!(
        "t30: killed leader {old_name}; {} leads, writes through both survivors resumed after {failover:?}",
        members[new].proc.member
    );
    assert!(failover < FAILOVER, "writes resumed only after {failover:?}");

    // 4. Enough writes for several snapshots (every 5 entries) and log purges, plus a
    //    compaction, all while the old leader is down; then it restarts on its data
    //    dir and catches up from the leader, by a snapshot since the leader has
    //    purged the entries it missed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut compact_at = 0;
    for n in 0..40 {
        let m = &members[survivors[n % 2]];
        last_rev = put(m, &format!("bulk/{n:02}"), &format!("value {n}"), deadline).await;
        if n == 20 {
            compact_at = last_rev;
        }
    }
    retry("compact", deadline, || {
        let mut c = members[survivors[1]].client.clone();
        async move { c.compact(compact_at, None).await }
    })
    .await;
    last_rev = put(&members[survivors[0]], "bulk/last", "the end", deadline).await;
    for &i in &survivors {
        let p = &mut members[i].proc;
        p.drain_log();
        let snaps = p.log.iter().filter(|l| l.contains("saved snapshot")).count();
        assert!(snaps >= 4, "{} took {snaps} snapshots over 40+ entries at --snapshot-count 5", p.member);
    }

    members[old].proc.restart(FLAGS);
    members[old].client = connect(&members[old].proc).await;
    let restarted = Instant::now();
    loop {
        let (value, cid, rev) = get(&members[old], "bulk/last", true).await;
        assert_eq!(cid, cluster_ids[0], "the restarted member keeps its cluster_id");
        if value.as_deref() == Some(b"the end".as_slice()) {
            assert_eq!(rev, last_rev, "caught up to the last write");
            break;
        }
        assert!(
            restarted.elapsed() < CATCH_UP,
            "{old_name} did not catch up (at revision {rev}, want {last_rev}); log:\n{}",
            members[old].proc.log_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("t30: {old_name} restarted and caught up after {:?}", restarted.elapsed());
    // It caught up from a snapshot, not from the log.
    let p = &mut members[old].proc;
    p.drain_log();
    assert!(
        p.log.iter().any(|l| l.contains("applied incoming raft snapshot")),
        "{old_name} caught up without a snapshot; log:\n{}",
        p.log_tail(40)
    );
    let mut c = members[old].client.clone();
    let g = c.get("bulk/", Some(GetOptions::new().with_prefix().with_serializable())).await.unwrap();
    assert_eq!(g.count(), 41, "every bulk key on the restarted member");
    assert_eq!(g.kvs()[7].value(), b"value 7");
    let err = c
        .get("bulk/00", Some(GetOptions::new().with_revision(compact_at - 1).with_serializable()))
        .await
        .expect_err("the compaction reached the restarted member");
    assert!(format!("{err}").contains("required revision has been compacted"), "{err}");
    // It is a full member again: a write through it, a linearizable read on it.
    last_rev = put(&members[old], "back", "again", Instant::now() + FAILOVER).await;
    let (value, _, rev) = get(&members[old], "back", false).await;
    assert_eq!((value.as_deref(), rev), (Some(b"again".as_slice()), last_rev));

    // 5. HashKV at one explicit revision is the same on every member, once each has
    //    applied it.
    let deadline = Instant::now() + CATCH_UP;
    for m in &members {
        while get(m, "back", true).await.2 < last_rev {
            assert!(Instant::now() < deadline, "{} never applied revision {last_rev}", m.proc.member);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut hashes = Vec::new();
    for m in &members {
        for rev in [last_rev, last_rev - 3] {
            let h = m.client.clone().hash_kv(rev).await.expect("hash_kv");
            hashes.push((rev, h.hash(), h.compact_version()));
        }
    }
    assert!(
        hashes.iter().all(|h| h.2 == compact_at),
        "compact revision everywhere is {compact_at}: {hashes:?}"
    );
    assert_eq!(hashes[0..2], hashes[2..4], "HashKV of m1 and m2: {hashes:?}");
    assert_eq!(hashes[0..2], hashes[4..6], "HashKV of m1 and m3: {hashes:?}");
    assert_ne!(hashes[0].1, hashes[1].1, "different revisions hash differently");

    // 6. SIGTERM: every member exits 0.
    for m in &mut members {
        m.proc.sigterm();
    }
    for m in &mut members {
        let (code, log) = m.proc.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{} on SIGTERM; log:\n{log}", m.proc.member);
    }
    // 7. All three restart from their data dirs (the caught-up one replays the
    //    snapshot it received and the log after it), elect a leader and still hold
    //    the same data: the same HashKV at the same revision, then a clean exit again.
    for m in &mut members {
        m.proc.respawn(FLAGS);
    }
    for m in &mut members {
        m.proc.wait_ready();
        m.client = connect(&m.proc).await;
    }
    for m in &members {
        let (value, _, rev) = get(m, "back", false).await;
        assert_eq!((value.as_deref(), rev), (Some(b"again".as_slice()), last_rev), "{}", m.proc.member);
        let h = m.client.clone().hash_kv(last_rev).await.expect("hash_kv");
        assert_eq!((last_rev, h.hash(), h.compact_version()), hashes[0], "{} after restart", m.proc.member);
    }
    for m in &mut members {
        m.proc.sigterm();
    }
    for m in &mut members {
        let (code, log) = m.proc.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(0), "{} on SIGTERM; log:\n{log}", m.proc.member);
    }
    drop(members);
    for d in &dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    eprintln!("t30: done in {:?}", started.elapsed());
}
