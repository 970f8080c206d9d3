//! Lock and Election on a real member (etcd-client crate): a second locker waits
//! until the first unlocks; a second candidate waits until the leader resigns;
//! Leader / Proclaim / Observe report the leader and its value (Observe every
//! proclamation, in order, however fast they come); a stale leader key
//! cannot proclaim ("election: not leader").

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use etcd_client::{LockOptions, ProclaimOptions, ResignOptions};
use support::cluster::start_cluster;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_election_hand_over_in_order() {
    let (members, _) = start_cluster(&["e1"], &[]).await;
    let mut c = members[0].client.clone();
    let a = c.lease_grant(30, None).await.expect("grant a").id();
    let b = c.lease_grant(30, None).await.expect("grant b").id();

    // Lock: b waits for a.
    let held = c.lock("job", Some(LockOptions::new().with_lease(a))).await.expect("lock a");
    assert!(held.key().starts_with(b"job/"), "{:?}", held.key());
    let mut c2 = c.clone();
    let second = tokio::spawn(async move { c2.lock("job", Some(LockOptions::new().with_lease(b))).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second locker got the lock while it was held");
    c.unlock(held.key()).await.expect("unlock");
    let got =
        tokio::time::timeout(WAIT, second).await.expect("second lock in time").unwrap().expect("lock b");
    assert_ne!(got.key(), held.key());
    c.unlock(got.key()).await.expect("unlock b");

    // Election: a leads, b waits; observe sees a, a's proclamation, then b.
    let leader_a =
        c.campaign("vote", "a-1", a).await.expect("campaign a").leader().cloned().expect("leader key");
    let mut observe = c.observe("vote").await.expect("observe");
    let first =
        tokio::time::timeout(WAIT, observe.message()).await.expect("observe").unwrap().expect("message");
    assert_eq!(first.kv().expect("kv").value(), b"a-1");
    let mut c2 = c.clone();
    let candidate_b = tokio::spawn(async move { c2.campaign("vote", "b-1", b).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!candidate_b.is_finished(), "b won while a leads");
    c.proclaim("a-2", Some(ProclaimOptions::new().with_leader(leader_a.clone()))).await.expect("proclaim");
    let now = c.leader("vote").await.expect("leader");
    assert_eq!(now.kv().expect("kv").value(), b"a-2");
    let next =
        tokio::time::timeout(WAIT, observe.message()).await.expect("observe").unwrap().expect("message");
    assert_eq!(next.kv().expect("kv").value(), b"a-2");
    // Proclamations back to back: observe reports each one, in order (etcd's
    // Observe follows the leader key's watch; none is skipped).
    for i in 3..=50 {
        let opts = ProclaimOptions::new().with_leader(leader_a.clone());
        c.proclaim(format!("a-{i}"), Some(opts)).await.expect("proclaim");
    }
    for i in 3..=50 {
        let next =
            tokio::time::timeout(WAIT, observe.message()).await.expect("observe").unwrap().expect("message");
        assert_eq!(String::from_utf8_lossy(next.kv().expect("kv").value()), format!("a-{i}"));
    }
    c.resign(Some(ResignOptions::new().with_leader(leader_a.clone()))).await.expect("resign");
    let won = tokio::time::timeout(WAIT, candidate_b).await.expect("b in time").unwrap().expect("campaign b");
    assert_eq!(won.leader().expect("leader key").lease(), b);
    let last =
        tokio::time::timeout(WAIT, observe.message()).await.expect("observe").unwrap().expect("message");
    assert_eq!(last.kv().expect("kv").value(), b"b-1");
    let e = c.proclaim("stale", Some(ProclaimOptions::new().with_leader(leader_a))).await.expect_err("stale");
    assert!(format!("{e}").contains("election: not leader"), "{e}");
}
