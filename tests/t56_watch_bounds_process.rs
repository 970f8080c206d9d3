//! A watch client that sends creates and never reads its answers holds a bounded
//! part of the member: the stream stops taking its requests once its queued answers
//! pass a bound (as etcd's stream stops at its full control channel). Its watchers,
//! counted by `etcd_debugging_mvcc_watcher_total`, stop growing far below what it
//! sent; other clients' writes and watches go on; when it goes, its watchers go.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::WatchOptions;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::watch_client::WatchClient;
use support::cluster::{put, start_cluster, FAILOVER};
use support::http::{call, Request};

/// Creates the non-reading client offers.
const OFFERED: usize = 300_000;

fn metric(port: u16, name: &str) -> Option<f64> {
    let resp = call(port, &Request::new("GET", "/metrics"), Duration::from_secs(5)).ok()?;
    let body = String::from_utf8_lossy(&resp.body).into_owned();
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Poll `name` until two reads 1 s apart agree; returns that value.
fn settled(port: u16, name: &str, deadline: Instant) -> f64 {
    let mut last = metric(port, name);
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let now = metric(port, name);
        if now.is_some() && now == last {
            return now.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "{name} does not settle: {last:?} then {now:?}");
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_client_that_does_not_read_holds_a_bounded_part_of_the_member() {
    let (mut members, _) = start_cluster(&["w1"], &[]).await;
    let port = members[0].proc.client_port;
    // The flooding client runs on its own runtime: shutting that down closes its
    // connection, as the exit of a client process does.
    let flooder = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (opened_tx, opened) = tokio::sync::oneshot::channel();
    flooder.spawn(async move {
        let mut raw = WatchClient::connect(format!("http://127.0.0.1:{port}")).await.expect("connect");
        let creates = (0..OFFERED).map(|i| pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(pb::WatchCreateRequest {
                key: format!("flood/{i}").into_bytes(),
                ..Default::default()
            })),
        });
        // The answers' stream is held and never read.
        let unread = raw.watch(tokio_stream::iter(creates)).await.expect("watch stream");
        let _ = opened_tx.send(());
        let _held = (raw, unread);
        std::future::pending::<()>().await;
    });
    opened.await.expect("the flooding stream opened");

    let watchers = tokio::task::spawn_blocking(move || {
        settled(port, "etcd_debugging_mvcc_watcher_total", Instant::now() + Duration::from_secs(60))
    })
    .await
    .unwrap();
    // What is created is what the client's own HTTP/2 receive window takes of the
    // answers (some 60,000 created answers here), plus the server's 64 KiB of them.
    assert!(
        watchers < (OFFERED / 3) as f64,
        "a client that reads nothing got {watchers} of its {OFFERED} watchers created"
    );
    assert!(watchers > 0.0, "the stream's first creates were taken");

    // Others are served: a watch on another connection sees a put.
    let mut other = members[0].client.clone();
    let mut events = other.watch("ok", Some(WatchOptions::new())).await.expect("watch");
    let rev = put(&members[0], "ok", "1", Instant::now() + FAILOVER).await;
    let seen = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let r = events.message().await.expect("watch").expect("open");
            if let Some(e) = r.events().first() {
                return e.kv().map(|kv| kv.mod_revision());
            }
        }
    })
    .await
    .expect("the other watcher is served");
    assert_eq!(seen, Some(rev));

    // The client goes: so do its watchers.
    flooder.shutdown_background();
    let left = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let n = metric(port, "etcd_debugging_mvcc_watcher_total").unwrap_or(f64::MAX);
            if n <= 1.0 || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .await
    .unwrap();
    assert!(left <= 1.0, "{left} watchers left after the flooding client went (1 is the other client's)");
    assert_eq!(members[0].proc.terminate(), Some(0));
}
