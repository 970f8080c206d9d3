//! Auto compaction in the real binary: `--auto-compaction-mode revision` (with the
//! test-only `METASTORE_AUTO_COMPACTION_INTERVAL_MS` in place of etcd's 5 minutes)
//! and `periodic` with a short duration; history below the compaction is gone with
//! etcd's error; a bad mode refuses to start with etcd's message.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use support::cluster::{self, agreed_leader, put, start_cluster_env, FAILOVER};
use support::{temp_dir, Proc};

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

async fn client(p: &Proc) -> Client {
    Client::connect([p.endpoint()], None).await.expect("connect etcd-client")
}

/// Range `foo` at `revision`: Ok(()) or the gRPC message of the error; None for an
/// error that goes away by itself (no leader yet, transport).
async fn get_at(c: &mut Client, revision: i64) -> Option<Result<(), String>> {
    match c.get("foo", Some(GetOptions::new().with_revision(revision))).await {
        Ok(_) => Some(Ok(())),
        Err(e) if cluster::transient(&e) => None,
        Err(etcd_client::Error::GRpcStatus(s)) => Some(Err(s.message().to_string())),
        Err(other) => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// Wait (bounded) until a Range at `revision` is refused as compacted.
async fn wait_compacted_past(p: &mut Proc, c: &mut Client, revision: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get_at(c, revision).await {
            Some(Err(msg)) if msg == COMPACTED => return,
            Some(Err(msg)) => panic!("Range at {revision}: unexpected error {msg:?}"),
            _ if Instant::now() > deadline => {
                panic!("revision {revision} not compacted within 30 s; log:\n{}", p.log_tail(40))
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Put `foo` `n` times; the revision after the last put.
async fn puts(c: &mut Client, n: usize) -> i64 {
    let mut revision = 0;
    for i in 0..n {
        let r = c.put("foo", format!("v{i}"), None).await.unwrap();
        revision = r.header().unwrap().revision();
    }
    revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_mode_keeps_the_last_retention_revisions() {
    let dir = temp_dir("autocompact-rev");
    let flags = ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "10"];
    let mut p = Proc::start_env(&dir, &flags, &[("METASTORE_AUTO_COMPACTION_INTERVAL_MS", "200")]);
    let mut c = client(&p).await;
    let current = puts(&mut c, 30).await;
    assert_eq!(current, 31, "a fresh store is at 1; each put adds one");
    // The compactor compacts to current - 10 = 21 (earlier ticks may have compacted
    // lower first): once 20 is refused, the compaction is exactly at 21.
    wait_compacted_past(&mut p, &mut c, current - 11).await;
    assert_eq!(
        get_at(&mut c, current - 10).await,
        Some(Ok(())),
        "revision 21 (the compaction) stays readable"
    );
    assert_eq!(get_at(&mut c, 2).await, Some(Err(COMPACTED.to_string())));
    assert!(p.wait_line("completed auto revision compaction", Duration::from_secs(5)).is_some());

    // 5 more writes: the next compaction goes to current - 10 = 26, never past it.
    let current = puts(&mut c, 5).await;
    wait_compacted_past(&mut p, &mut c, current - 11).await;
    assert_eq!(get_at(&mut c, current - 10).await, Some(Ok(())));
    assert_eq!(p.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_mode_compacts_what_is_older_than_the_retention() {
    let dir = temp_dir("autocompact-periodic");
    let mut p = Proc::start(&dir, &["--auto-compaction-retention", "2s"]);
    let mut c = client(&p).await;
    let current = puts(&mut c, 10).await;
    // Without further writes, a compaction 2 s (+ a tick) later goes to `current`.
    wait_compacted_past(&mut p, &mut c, current - 1).await;
    assert_eq!(get_at(&mut c, current).await, Some(Ok(())), "the current revision is never compacted away");
    assert!(p.wait_line("completed auto periodic compaction", Duration::from_secs(5)).is_some());
    assert_eq!(p.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_compacts_and_a_new_leader_takes_over() {
    let flags = ["--auto-compaction-mode", "revision", "--auto-compaction-retention", "5"];
    let env = [("METASTORE_AUTO_COMPACTION_INTERVAL_MS", "200")];
    let (mut members, _) = start_cluster_env(&["a1", "a2", "a3"], &flags, &env).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let mut current = 0;
    for i in 0..20 {
        current = put(&members[leader], "foo", &format!("v{i}"), Instant::now() + FAILOVER).await;
    }
    // The leader's Compact goes through raft: every member compacts to current - 5.
    for m in members.iter_mut() {
        let mut c = m.client.clone();
        wait_compacted_past(&mut m.proc, &mut c, current - 6).await;
        assert_eq!(get_at(&mut c, current - 5).await, Some(Ok(())), "{}", m.proc.member);
    }

    // The leader dies; the new leader's compactor (paused until now) takes over.
    members[leader].proc.kill9();
    let survivors: Vec<usize> = all.into_iter().filter(|&i| i != leader).collect();
    let new = agreed_leader(&members, &survivors, Instant::now() + FAILOVER).await;
    for i in 0..10 {
        current = put(&members[new], "foo", &format!("w{i}"), Instant::now() + FAILOVER).await;
    }
    for &i in &survivors {
        let m = &mut members[i];
        let mut c = m.client.clone();
        wait_compacted_past(&mut m.proc, &mut c, current - 6).await;
        assert_eq!(get_at(&mut c, current - 5).await, Some(Ok(())), "{}", m.proc.member);
    }
}

#[test]
fn a_bad_mode_refuses_to_start_with_etcds_message() {
    let dir = temp_dir("autocompact-bad");
    let flags = ["--auto-compaction-mode", "hourly", "--auto-compaction-retention", "1"];
    let mut p = Proc::spawn(&dir, support::free_port(), support::free_port(), &flags);
    let (code, log) = p.wait_exit(Duration::from_secs(30));
    // etcd 3.4.23: "error verifying flags, unknown auto-compaction-mode ..." and exit 1.
    assert_eq!(code, Some(1), "log:\n{log}");
    assert!(log.contains("unknown auto-compaction-mode \"hourly\""), "log:\n{log}");
}
