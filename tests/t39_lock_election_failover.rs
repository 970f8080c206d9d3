//! Lock and Election across a leader kill, on 3 real members (etcd-client crate).
//! A holds the lock and leads the election, through one follower; B waits for both
//! through the other follower. The raft leader is killed (SIGKILL). Across the
//! failover B must not get either (A's lease lives on), A's key must still be the
//! owner; once A unlocks and resigns through the survivors, B gets both, and an
//! Observe stream opened before the kill reports B's value.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{LockOptions, ResignOptions};
use support::cluster::{agreed_leader, retry, start_cluster, FAILOVER};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_election_survive_a_leader_kill() {
    let (mut members, _) = start_cluster(&["f1", "f2", "f3"], &[]).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let (a_at, b_at) = ((leader + 1) % 3, (leader + 2) % 3);
    let mut a = members[a_at].client.clone();
    let mut b = members[b_at].client.clone();
    let a_lease = a.lease_grant(30, None).await.expect("grant a").id();
    let b_lease = b.lease_grant(30, None).await.expect("grant b").id();

    let held = a.lock("job", Some(LockOptions::new().with_lease(a_lease))).await.expect("lock a");
    let a_leader =
        a.campaign("vote", "a", a_lease).await.expect("campaign a").leader().cloned().expect("key");
    let mut observe = b.observe("vote").await.expect("observe");
    let first = tokio::time::timeout(WAIT, observe.message()).await.expect("observe").unwrap().expect("msg");
    assert_eq!(first.kv().expect("kv").value(), b"a");

    let mut b2 = b.clone();
    let b_lock =
        tokio::spawn(async move { b2.lock("job", Some(LockOptions::new().with_lease(b_lease))).await });
    let mut b3 = b.clone();
    let b_campaign = tokio::spawn(async move { b3.campaign("vote", "b", b_lease).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b_lock.is_finished() && !b_campaign.is_finished(), "b got in while a holds both");

    members[leader].proc.kill9();
    let survivors = [a_at, b_at];
    agreed_leader(&members, &survivors, Instant::now() + FAILOVER).await;
    // A write through the new leader, then B must still be waiting: the failover
    // neither dropped A's lease nor handed its lock or leadership to B.
    let deadline = Instant::now() + FAILOVER;
    retry("put after failover", deadline, || {
        let mut c = a.clone();
        async move { c.put("after-failover", "1", None).await }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!b_lock.is_finished(), "b got the lock across the failover while a held it");
    assert!(!b_campaign.is_finished(), "b won the election across the failover while a led");
    let owner = retry("lock owner", deadline, || {
        let mut c = a.clone();
        async move { c.get("job", Some(etcd_client::GetOptions::new().with_prefix())).await }
    })
    .await;
    // The owner is the waiter with the lowest create revision (keys sort by lease ID).
    let first = owner.kvs().iter().min_by_key(|kv| kv.create_revision()).map(|kv| kv.key());
    assert_eq!(first, Some(held.key()), "the lock changed hands across the failover");
    assert_eq!(owner.kvs().len(), 2, "both waiters' keys should be there");
    let now = retry("election leader", deadline, || {
        let mut c = a.clone();
        async move { c.leader("vote").await }
    })
    .await;
    assert_eq!(now.kv().expect("kv").value(), b"a");

    // Hand over through the survivors.
    let key = held.key().to_vec();
    retry("unlock a", deadline, || {
        let mut c = a.clone();
        let key = key.clone();
        async move { c.unlock(key).await }
    })
    .await;
    let got = tokio::time::timeout(WAIT, b_lock).await.expect("b's lock in time").unwrap().expect("lock b");
    assert!(got.key().starts_with(b"job/") && got.key() != held.key(), "{:?}", got.key());
    retry("resign a", deadline, || {
        let mut c = a.clone();
        let leader = a_leader.clone();
        async move { c.resign(Some(ResignOptions::new().with_leader(leader))).await }
    })
    .await;
    let won = tokio::time::timeout(WAIT, b_campaign).await.expect("b in time").unwrap().expect("campaign b");
    assert_eq!(won.leader().expect("key").lease(), b_lease);
    // The observer (on a survivor, opened before the kill) reports B.
    let seen = tokio::time::timeout(WAIT, async {
        loop {
            let msg = observe.message().await.expect("observe").expect("message");
            if msg.kv().map(|kv| kv.value()) == Some(b"b".as_slice()) {
                return;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "the observer never reported b as leader");
    members.clear();
}
