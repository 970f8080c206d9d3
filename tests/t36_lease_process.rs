//! Leases on a real 3-member cluster of the `metastore` binary (etcd-client crate):
//!
//! 1. grants through a follower: the minimum TTL, a client-chosen ID, etcd's errors
//!    (lease exists, too large TTL, put with an unknown lease);
//! 2. TimeToLive with keys, Leases, TimeToLive of an unknown lease (TTL -1);
//! 3. a kept-alive lease outlives its TTL, also across a kill of the leader (the new
//!    leader extends every lease; keep-alives reach it through any member);
//! 4. once keep-alives stop, the lease expires: its key disappears on every member;
//! 5. Revoke deletes every key of the lease in one revision, the same on every member.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{GetOptions, LeaseGrantOptions, LeaseTimeToLiveOptions};
use support::cluster::{agreed_leader, get, retry, start_cluster, Member, FAILOVER};

/// The gRPC code and message of an error.
fn message(e: etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => format!("{:?}: {}", s.code(), s.message()),
        other => format!("not a gRPC status: {other}"),
    }
}

/// Keep lease `id` alive through member `m` for `how_long`, re-opening the stream
/// when it breaks (a killed member, a leader change), as clientv3 does.
async fn keep_alive(m: &Member, id: i64, how_long: Duration) {
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        let mut c = m.client.clone();
        let Ok(Ok((mut keeper, mut stream))) =
            tokio::time::timeout(Duration::from_secs(2), c.lease_keep_alive(id)).await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while Instant::now() < end {
            if keeper.keep_alive().await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(2), stream.message()).await {
                Ok(Ok(Some(r))) => assert!(r.ttl() > 0, "lease {id:x} was lost while kept alive"),
                _ => break,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_expire_by_the_leaders_clock_and_survive_failover() {
    let started = Instant::now();
    let (mut members, _) = start_cluster(&["l1", "l2", "l3"], &[]).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let f = (leader + 1) % 3;
    let mut c = members[f].client.clone();

    // 1. Grants and their errors.
    let short = c.lease_grant(1, None).await.expect("grant");
    assert_eq!(short.ttl(), 2, "TTL raised to the minimum (1.5 election timeouts)");
    let chosen = c.lease_grant(60, Some(LeaseGrantOptions::new().with_id(0x1234))).await.expect("grant");
    assert_eq!((chosen.id(), chosen.ttl()), (0x1234, 60));
    let e = c.lease_grant(60, Some(LeaseGrantOptions::new().with_id(0x1234))).await.expect_err("exists");
    assert_eq!(message(e), "FailedPrecondition: etcdserver: lease already exists");
    let e = c.lease_grant(9_000_000_001, None).await.expect_err("too large");
    assert_eq!(message(e), "OutOfRange: etcdserver: too large lease TTL");
    let opts = |l: i64| Some(etcd_client::PutOptions::new().with_lease(l));
    let e = c.put("orphan", "x", opts(0x999)).await.expect_err("unknown lease");
    assert_eq!(message(e), "NotFound: etcdserver: requested lease not found");
    c.put("held/a", "1", opts(0x1234)).await.expect("put with lease");
    c.put("held/b", "2", opts(0x1234)).await.expect("put with lease");

    // 2. TimeToLive, Leases.
    let ttl = c.lease_time_to_live(0x1234, Some(LeaseTimeToLiveOptions::new().with_keys())).await.unwrap();
    assert_eq!(ttl.granted_ttl(), 60);
    assert!((55..=60).contains(&ttl.ttl()), "remaining TTL {}", ttl.ttl());
    assert_eq!(ttl.keys(), [b"held/a".to_vec(), b"held/b".to_vec()]);
    let unknown = c.lease_time_to_live(0x4321, None).await.expect("time to live of unknown");
    assert_eq!((unknown.ttl(), unknown.granted_ttl()), (-1, 0));
    let listed: Vec<i64> = c.leases().await.expect("leases").leases().iter().map(|l| l.id()).collect();
    assert!(listed.contains(&0x1234) && listed.contains(&short.id()), "{listed:x?}");

    // 3. A 3 s lease kept alive through a follower for 4 s, then the leader is
    //    killed, then 5 s more: it must never lapse.
    let live = c.lease_grant(3, None).await.expect("grant").id();
    c.put("live", "yes", opts(live)).await.expect("put live");
    let keeper = members.iter().position(|m| m.id != members[leader].id).expect("a follower");
    keep_alive(&members[keeper], live, Duration::from_secs(4)).await;
    members[leader].proc.kill9();
    keep_alive(&members[keeper], live, Duration::from_secs(5)).await;
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != leader).collect();
    agreed_leader(&members, &survivors, Instant::now() + FAILOVER).await;
    let (value, _, _) = get(&members[keeper], "live", false).await;
    assert_eq!(value.as_deref(), Some(b"yes".as_slice()), "kept-alive lease lapsed across failover");
    eprintln!("t36: lease kept alive across a leader kill after {:?}", started.elapsed());

    // 4. Without keep-alives it expires (TTL 3 s + the new leader's 1 s extension).
    let deadline = Instant::now() + Duration::from_secs(15);
    for &i in &survivors {
        while get(&members[i], "live", false).await.0.is_some() {
            assert!(Instant::now() < deadline, "lease never expired on {}", members[i].proc.member);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // 5. Revoke: both keys go in one revision, everywhere.
    let s = survivors[0];
    let revoked = retry("revoke", Instant::now() + FAILOVER, || {
        let mut c = members[s].client.clone();
        async move { c.lease_revoke(0x1234).await }
    })
    .await;
    let rev = revoked.header().expect("header").revision();
    for &i in &survivors {
        let mut c = members[i].client.clone();
        let now = c.get("held/", Some(GetOptions::new().with_prefix())).await.expect("get");
        assert_eq!(now.count(), 0, "revoked keys remain on {}", members[i].proc.member);
        let before = c.get("held/", Some(GetOptions::new().with_prefix().with_revision(rev - 1))).await;
        assert_eq!(before.expect("get before").count(), 2, "both keys lived until revision {rev}");
    }
    let e = members[s].client.clone().lease_revoke(0x1234).await.expect_err("revoked twice");
    assert_eq!(message(e), "NotFound: etcdserver: requested lease not found");

    for &i in &survivors {
        members[i].proc.sigterm();
        let (code, log) = members[i].proc.wait_exit(Duration::from_secs(30));
        assert_eq!(code, Some(0), "exit on SIGTERM; log:\n{log}");
    }
    eprintln!("t36: done in {:?}", started.elapsed());
}
