//! The peer port's message bound, pushed past on a real 3-member cluster:
//!
//! 1. a follower that is down while 12 MiB of 1 MiB values are written catches up
//!    when it returns: the leader cuts what it owes into messages under the peer
//!    port's bound (one message of 12 MiB would be refused for ever);
//! 2. a Txn through a follower whose answer is larger than gRPC's default 4 MiB
//!    (the leader's answer travels back over the peer port) succeeds;
//! 3. a raw peer message past the bound is refused (OutOfRange, before it is read whole), a garbage
//!    one under it with InvalidArgument, and the cluster goes on serving;
//! 4. a snapshot stream that never ends is refused past twice the quota plus 64 MiB.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};
use metastore::proto::metastorepeerpb::raft_peer_client::RaftPeerClient;
use metastore::proto::metastorepeerpb::RaftMessage;
use support::cluster::{agreed_leader, get, put, retry, start_cluster, CATCH_UP, FAILOVER};

/// `--max-request-bytes` is etcd's default (1.5 MiB): 1 MiB values pass it.
const MIB: usize = 1 << 20;

fn value(i: usize) -> String {
    let c = char::from(b'a' + (i % 26) as u8);
    std::iter::repeat_n(c, MIB).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_messages_stay_under_the_bound_and_past_it_are_refused() {
    // No snapshot while the follower is down: it must catch up from the log.
    let (mut members, _) = start_cluster(&["p1", "p2", "p3"], &["--snapshot-count", "100000"]).await;
    let all = [0, 1, 2];
    let leader = agreed_leader(&members, &all, Instant::now() + FAILOVER).await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;

    // 1. The follower misses 12 MiB of writes.
    members[follower].proc.kill9();
    let mut last_rev = 0;
    for i in 0..12 {
        last_rev = put(&members[leader], &format!("big/{i:02}"), &value(i), Instant::now() + FAILOVER).await;
    }
    members[follower].proc.restart(&[]);
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let (v, _, rev) = get(&members[follower], "big/11", true).await;
        if rev >= last_rev {
            assert_eq!(v.as_deref(), Some(value(11).as_bytes()), "the follower holds the last big value");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the follower is still at revision {rev} of {last_rev}; its log:\n{}",
            members[follower].proc.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hash_at = |i: usize| {
        let c = members[i].client.clone();
        async move { c.maintenance_client().hash_kv(last_rev).await }
    };
    let mut hashes = Vec::new();
    for i in all {
        let h = retry("hash_kv", Instant::now() + FAILOVER, || hash_at(i)).await;
        hashes.push(h.hash());
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "HashKV at {last_rev} differs: {hashes:x?}");

    // 2. A Txn through a follower whose answer (12 MiB of ranged values) is larger
    //    than gRPC's default message size; the write in it makes it go to the leader.
    let txn = Txn::new().when([Compare::version("big/00", CompareOp::Greater, 0)]).and_then([
        TxnOp::put("big/marker", "x", None),
        TxnOp::get("big/", Some(GetOptions::new().with_prefix())),
    ]);
    let kv = members[other].client.kv_client().max_decoding_message_size(usize::MAX);
    let resp = retry("a large txn through a follower", Instant::now() + FAILOVER, || {
        let (mut kv, txn) = (kv.clone(), txn.clone());
        async move { kv.txn(txn).await }
    })
    .await;
    assert!(resp.succeeded(), "the compare holds");
    let ranged = resp.op_responses().into_iter().find_map(|op| match op {
        TxnOpResponse::Get(r) => Some(r.kvs().len()),
        _ => None,
    });
    assert_eq!(ranged, Some(13), "the txn's range sees the 12 big values and its own marker");

    // 3. Raw messages on a member's peer port.
    let peer = format!("http://127.0.0.1:{}", members[other].proc.peer_port);
    let mut raw = RaftPeerClient::connect(peer).await.expect("connect to the peer port");
    let over = RaftMessage { data: vec![0; 16 * MIB], cluster_id: 0 };
    let status = raw.append_entries(over).await.expect_err("a 16 MiB peer message is refused");
    assert_eq!(status.code(), tonic::Code::OutOfRange, "{status:?}");
    // Garbage under the bound, with the right cluster ID so that it is decoded.
    let (_, cluster_id, _) = get(&members[other], "after", true).await;
    let garbage = RaftMessage { data: vec![0xff; 1000], cluster_id };
    let status = raw.propose(garbage).await.expect_err("a garbage peer message is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    let rev = put(&members[other], "after", "ok", Instant::now() + FAILOVER).await;
    assert!(rev > last_rev, "the cluster still takes writes");
    for m in &mut members {
        assert!(m.proc.terminate().is_some(), "{} exits on SIGTERM", m.proc.member);
    }
}

/// A snapshot stream from a "peer" that never ends is refused once it passes twice
/// the member's quota plus 64 MiB, before it is held whole; the member goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_snapshot_stream_is_refused() {
    use metastore::proto::metastorepeerpb::SnapshotChunk;
    use metastore::raft::types::{LogId, SnapshotMeta, Vote};

    let quota = MIB as u64;
    let (mut members, _) = start_cluster(&["s1"], &["--quota-backend-bytes", &quota.to_string()]).await;
    let (_, cluster_id, _) = get(&members[0], "any", true).await;
    let peer = format!("http://127.0.0.1:{}", members[0].proc.peer_port);
    let mut raw = RaftPeerClient::connect(peer).await.expect("connect to the peer port");
    let vote = metastore::raft::network::encode(&Vote::new_committed(99, 12345)).unwrap();
    let meta = SnapshotMeta { last_log_id: Some(LogId::new_term_index(99, 1_000_000)), ..Default::default() };
    let meta = metastore::raft::network::encode(&meta).unwrap();
    let limit = metastore::raft::network::max_snapshot_bytes(quota);
    let chunks = (limit as usize / MIB) + 8;
    let stream = tokio_stream::iter((0..chunks).map(move |i| SnapshotChunk {
        vote: if i == 0 { vote.clone() } else { Vec::new() },
        meta: if i == 0 { meta.clone() } else { Vec::new() },
        data: vec![0x5a; MIB],
        done: false,
        cluster_id,
    }));
    let status = raw.install_snapshot(stream).await.expect_err("an endless snapshot is refused");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("quota-backend-bytes"), "{status:?}");
    put(&members[0], "after", "ok", Instant::now() + FAILOVER).await;
    let (v, _, _) = get(&members[0], "after", false).await;
    assert_eq!(v.as_deref(), Some(&b"ok"[..]), "the member still serves, its state its own");
    assert_eq!(members[0].proc.terminate(), Some(0));
}
