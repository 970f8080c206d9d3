//! The real binary on free loopback ports, driven by the Rust etcd-client crate:
//! put/get/txn/delete/compact; kill -9 and restart with data intact; SIGTERM exits
//! 0; a corrupted WAL refuses to start with a message naming the file and offset.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};
use support::{temp_dir, Proc};

async fn client(p: &Proc) -> Client {
    Client::connect([p.endpoint()], None).await.expect("connect etcd-client")
}

fn grpc_message(e: etcd_client::Error) -> (tonic::Code, String) {
    match e {
        etcd_client::Error::GRpcStatus(s) => (s.code(), s.message().to_string()),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_survives_kill9_and_restart() {
    let dir = temp_dir("kv");
    let mut p = Proc::start(&dir, &["--snapshot-count", "7"]);
    let mut c = client(&p).await;

    // Revisions: a fresh store is at revision 1; each put adds one.
    let r = c.put("foo", "bar", None).await.unwrap();
    assert_eq!(r.header().unwrap().revision(), 2);
    let r = c.put("foo", "baz", Some(PutOptions::new().with_prev_key())).await.unwrap();
    assert_eq!(r.prev_key().unwrap().value(), b"bar");
    for i in 0..20 {
        c.put(format!("k/{i:02}"), format!("v{i}"), None).await.unwrap();
    }
    let g = c.get("k/", Some(GetOptions::new().with_prefix().with_limit(5))).await.unwrap();
    assert_eq!(g.kvs().len(), 5);
    assert!(g.more());
    assert_eq!(g.count(), 20);
    assert_eq!(g.header().unwrap().revision(), 23);

    // Txn: compare-and-swap both ways.
    let t = Txn::new()
        .when([Compare::value("foo", CompareOp::Equal, "baz")])
        .and_then([TxnOp::put("foo", "qux", None)])
        .or_else([TxnOp::get("foo", None)]);
    let tr = c.txn(t).await.unwrap();
    assert!(tr.succeeded());
    let t = Txn::new()
        .when([Compare::value("foo", CompareOp::Equal, "baz")])
        .and_then([TxnOp::put("foo", "never", None)])
        .or_else([TxnOp::get("foo", None)]);
    assert!(!c.txn(t).await.unwrap().succeeded());

    // Delete and compaction, with etcd's errors after it.
    let d = c.delete("k/00", None).await.unwrap();
    assert_eq!(d.deleted(), 1);
    let rev = d.header().unwrap().revision();
    c.compact(rev - 1, None).await.unwrap();
    let (code, msg) = grpc_message(c.get("foo", Some(GetOptions::new().with_revision(3))).await.unwrap_err());
    assert_eq!(code, tonic::Code::OutOfRange);
    assert_eq!(msg, "etcdserver: mvcc: required revision has been compacted");
    let (code, msg) =
        grpc_message(c.get("foo", Some(GetOptions::new().with_revision(rev + 100))).await.unwrap_err());
    assert_eq!(code, tonic::Code::OutOfRange);
    assert_eq!(msg, "etcdserver: mvcc: required revision is a future revision");
    let (code, msg) = grpc_message(c.put("", "x", None).await.unwrap_err());
    assert_eq!((code, msg.as_str()), (tonic::Code::InvalidArgument, "etcdserver: key is not provided"));

    // kill -9, restart: every acknowledged write is there, revisions continue.
    p.kill9();
    p.restart(&["--snapshot-count", "7"]);
    let mut c = client(&p).await;
    let g = c.get("foo", None).await.unwrap();
    assert_eq!(g.kvs()[0].value(), b"qux");
    assert_eq!(g.header().unwrap().revision(), rev);
    let g = c.get("k/", Some(GetOptions::new().with_prefix().with_count_only())).await.unwrap();
    assert_eq!(g.count(), 19);
    let (code, _) = grpc_message(c.get("foo", Some(GetOptions::new().with_revision(3))).await.unwrap_err());
    assert_eq!(code, tonic::Code::OutOfRange, "compaction survives restart");
    let r = c.put("after", "restart", None).await.unwrap();
    assert_eq!(r.header().unwrap().revision(), rev + 1);

    // SIGTERM: a clean exit with status 0, and the data is still there after.
    assert_eq!(p.terminate(), Some(0), "log:\n{}", p.log.join("\n"));
    p.restart(&[]);
    let mut c = client(&p).await;
    assert_eq!(c.get("after", None).await.unwrap().kvs()[0].value(), b"restart");
    drop(p);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_wal_refuses_to_start() {
    let dir = temp_dir("corrupt");
    let mut p = Proc::start(&dir, &[]);
    let mut c = client(&p).await;
    for i in 0..10 {
        c.put(format!("key{i}"), "some value that fills the record", None).await.unwrap();
    }
    assert_eq!(p.terminate(), Some(0));
    // Flip a byte early in the first segment: a bad record with good ones after it.
    let wal_dir = dir.join("member").join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal_dir).unwrap().map(|e| e.unwrap().path()).collect();
    segs.sort();
    let seg = segs.first().expect("a WAL segment").clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    assert!(bytes.len() > 200, "segment holds the writes");
    bytes[30] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();

    let mut p = Proc::spawn(&dir, p.client_port, p.peer_port, &[]);
    let (code, log) = p.wait_exit(Duration::from_secs(30));
    assert_ne!(code, Some(0), "must refuse to start; log:\n{log}");
    let name = seg.file_name().unwrap().to_string_lossy().to_string();
    assert!(log.contains(&name), "error names the file {name}; log:\n{log}");
    assert!(log.contains("offset"), "error names the offset; log:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
