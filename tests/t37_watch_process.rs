//! Watch on a real 3-member cluster of the `metastore` binary (etcd-client crate): a
//! prefix watcher on a follower sees every committed change of its prefix exactly
//! once, in revision order, with prev_kv, across a kill of the leader (the client
//! resumes from the revision after the last one it saw, as clientv3 does); a watch
//! from a compacted revision is canceled with the compact revision.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{Client, EventType, WatchOptions};
use support::cluster::{agreed_leader, put, retry, start_cluster, FAILOVER};

/// (revision, key, value, is_put, prev value)
type Seen = (i64, String, String, bool, Option<String>);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Watch `w/` on `m` from `from` until `want` events arrived or `deadline`,
/// re-watching from the next revision whenever the stream breaks.
async fn collect(client: Client, mut from: i64, want: usize, deadline: Instant) -> Vec<Seen> {
    let mut seen: Vec<Seen> = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        let opts = WatchOptions::new().with_prefix().with_prev_key().with_start_revision(from);
        let mut c = client.clone();
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(2), c.watch("w/", Some(opts))).await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while seen.len() < want {
            let Ok(Ok(Some(resp))) = tokio::time::timeout(Duration::from_secs(3), stream.message()).await
            else {
                break;
            };
            assert!(!resp.canceled(), "watch canceled: {}", resp.cancel_reason());
            for e in resp.events() {
                let kv = e.kv().expect("event kv");
                seen.push((
                    kv.mod_revision(),
                    text(kv.key()),
                    text(kv.value()),
                    e.event_type() == EventType::Put,
                    e.prev_kv().map(|p| text(p.value())),
                ));
                from = kv.mod_revision() + 1;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_every_change_once_in_order_across_failover() {
    let (mut members, _) = start_cluster(&["w1", "w2", "w3"], &[]).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let watcher = (leader + 1) % 3;
    let writer = (leader + 2) % 3;
    let first = put(&members[writer], "w/0", "v0", Instant::now() + FAILOVER).await;

    // 20 puts and a delete; the leader is killed halfway.
    let client = members[watcher].client.clone();
    let collector = tokio::spawn(collect(client, first, 22, Instant::now() + Duration::from_secs(40)));
    let mut expected: Vec<Seen> = vec![(first, "w/0".into(), "v0".into(), true, None)];
    for n in 1..=20 {
        if n == 10 {
            members[leader].proc.kill9();
        }
        let key = format!("w/{}", n % 4);
        let prev = expected.iter().rev().find(|e| e.1 == key).map(|e| e.2.clone());
        let rev = put(&members[writer], &key, &format!("v{n}"), Instant::now() + FAILOVER).await;
        expected.push((rev, key, format!("v{n}"), true, prev));
    }
    let del = retry("delete", Instant::now() + FAILOVER, || {
        let mut c = members[writer].client.clone();
        async move { c.delete("w/1", None).await }
    })
    .await;
    let last_value = expected.iter().rev().find(|e| e.1 == "w/1").map(|e| e.2.clone());
    expected.push((del.header().unwrap().revision(), "w/1".into(), String::new(), false, last_value));

    let seen = collector.await.expect("collector");
    assert_eq!(seen, expected, "the watcher saw exactly the committed changes, in order");

    // A watch from a compacted revision is canceled with the compact revision.
    let compact_at = expected[5].0;
    members[writer].client.clone().compact(compact_at, None).await.expect("compact");
    // The compaction was applied where it was served; a linearizable read through the
    // watcher's member waits until that member has applied it too (its read index
    // covers the compaction), as an etcd client would have to.
    members[watcher].client.clone().get("w/0", None).await.expect("linearizable read");
    let opts = WatchOptions::new().with_prefix().with_start_revision(compact_at - 1);
    let mut stream = members[watcher].client.clone().watch("w/", Some(opts)).await.expect("watch");
    let mut compacted = 0;
    while let Ok(Ok(Some(r))) = tokio::time::timeout(Duration::from_secs(3), stream.message()).await {
        if r.canceled() {
            compacted = r.compact_revision();
            break;
        }
    }
    assert_eq!(compacted, compact_at, "compacted watch reports the compact revision");
}
