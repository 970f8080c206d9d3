//! The corruption checks on a healthy 3-member cluster: with
//! `--experimental-initial-corrupt-check` every member starts (its HashKV agrees
//! with the others'), and with `--experimental-corrupt-check-time 1s` the leader's
//! rounds over writes, a compaction and a member restart raise no alarm: members
//! that agree are never called corrupt. (Members that do disagree are found, with
//! real processes, by t48's `diverged_members_are_found_by_the_corruption_checks`.)

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{AlarmAction, AlarmType};
use support::cluster::{connect, put, start_cluster, CATCH_UP};

const FLAGS: [&str; 3] = ["--experimental-initial-corrupt-check", "--experimental-corrupt-check-time", "1s"];

/// Whether the member logged that its initial check passed (before it served).
fn passed_initial_check(p: &mut support::Proc) -> bool {
    p.log_tail(usize::MAX).contains("initial corruption checking passed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_members_pass_every_corruption_check() {
    let (mut members, _) = start_cluster(&["c1", "c2", "c3"], &FLAGS).await;
    for m in &mut members {
        assert!(passed_initial_check(&mut m.proc), "{}", m.proc.log_tail(30));
    }
    let deadline = Instant::now() + CATCH_UP;
    for i in 0..60 {
        put(&members[i % 3], &format!("k{}", i % 7), &format!("v{i}"), deadline).await;
    }
    let mut c = members[0].client.clone();
    let rev = c.status().await.expect("status").header().expect("header").revision();
    c.compact(rev - 10, None).await.expect("compact");
    for i in 0..20 {
        put(&members[i % 3], &format!("after{i}"), "v", deadline).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    members[2].proc.terminate();
    members[2].proc.restart(&FLAGS);
    assert!(passed_initial_check(&mut members[2].proc), "{}", members[2].proc.log_tail(30));
    tokio::time::sleep(Duration::from_secs(3)).await;

    for m in &members {
        let mut c = connect(&m.proc).await;
        let alarms = c.alarm(AlarmAction::Get, AlarmType::None, None).await.expect("alarm list");
        let raised: Vec<_> = alarms.alarms().iter().map(|a| (a.member_id(), a.alarm())).collect();
        assert!(raised.is_empty(), "{}: {raised:?}", m.proc.member);
        let got = c.get("after19", None).await.expect("reads are not refused");
        assert_eq!(got.kvs().len(), 1);
    }
}
