//! Auto compaction in the real binary: `--auto-compaction-mode revision` (with the
//! test-only `METASTORE_AUTO_COMPACTION_INTERVAL_MS` in place of etcd's 5 minutes)
//! and `periodic` with a short duration; history below the compaction is gone with
//! etcd's error; a bad mode refuses to start with etcd's message.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{Client, GetOptions};
use support::{temp_dir, Proc};

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

async fn client(p: &Proc) -> Client {
    Client::connect([p.endpoint()], None).await.expect("connect etcd-client")
}

/// Range `foo` at `revision`: Ok(()) or the gRPC message of the error.
async fn get_at(c: &mut Client, revision: i64) -> Result<(), String> {
    match c.get("foo", Some(GetOptions::new().with_revision(revision))).await {
        Ok(_) => Ok(()),
        Err(etcd_client::Error::GRpcStatus(s)) => Err(s.message().to_string()),
        Err(other) => panic!("expected a gRPC status, got {other:?}"),
    }
}

/// Wait (bounded) until a Range at `revision` is refused as compacted.
async fn wait_compacted_past(p: &mut Proc, c: &mut Client, revision: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match get_at(c, revision).await {
            Err(msg) if msg == COMPACTED => return,
            Err(msg) => panic!("Range at {revision}: unexpected error {msg:?}"),
            Ok(()) if Instant::now() > deadline => {
                panic!("revision {revision} not compacted within 30 s; log:\n{}", p.log_tail(40))
            }
            Ok(()) => tokio::time::sleep(Duration::from_millis(100)).await,
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
    assert_eq!(get_at(&mut c, current - 10).await, Ok(()), "revision 21 (the compaction) stays readable");
    assert_eq!(get_at(&mut c, 2).await, Err(COMPACTED.to_string()));
    assert!(p.wait_line("completed auto revision compaction", Duration::from_secs(5)).is_some());

    // 5 more writes: the next compaction goes to current - 10 = 26, never past it.
    let current = puts(&mut c, 5).await;
    wait_compacted_past(&mut p, &mut c, current - 11).await;
    assert_eq!(get_at(&mut c, current - 10).await, Ok(()));
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
    assert_eq!(get_at(&mut c, current).await, Ok(()), "the current revision is never compacted away");
    assert!(p.wait_line("completed auto periodic compaction", Duration::from_secs(5)).is_some());
    assert_eq!(p.terminate(), Some(0));
}

#[test]
fn a_bad_mode_refuses_to_start_with_etcds_message() {
    let dir = temp_dir("autocompact-bad");
    let flags = ["--auto-compaction-mode", "hourly", "--auto-compaction-retention", "1"];
    let mut p = Proc::spawn(&dir, support::free_port(), support::free_port(), &flags);
    let (code, log) = p.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(2), "log:\n{log}");
    assert!(log.contains("unknown auto-compaction-mode \"hourly\""), "log:\n{log}");
}
