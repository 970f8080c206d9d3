//! `metrics::render` of a member started in-process, after real client requests: the
//! node's figures come from the node and the counters move with what it served, as
//! etcd's e2e `TestV3Metrics` reads them (put and delete counts, live keys, version).
//! (`/metrics` over HTTP is the real-process tests' part.)

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::sync::Arc;

use etcd_client::{Client, DeleteOptions};
use metastore::env::fs_disk::FsDisk;
use metastore::node::Node;

/// One HTTP/1.1 request on the client port; the response's status line and body.
async fn http(port: u16, method: &str, path: &str, body: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The value of the sample line that is exactly `series` (name and labels), if any.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reports_what_it_served() {
    let dir = support::temp_dir("metrics");
    let (client_port, peer_port) = (support::free_port(), support::free_port());
    let args = support::args(&dir, client_port, peer_port, &[]);
    let cfg = metastore::config::parse(&args, &|_| None).expect("flags");
    let node = Node::start(&cfg, Arc::new(FsDisk::new())).await.expect("start");
    let endpoint = format!("http://127.0.0.1:{client_port}");
    let mut c = Client::connect([endpoint], None).await.expect("connect");

    let before = metastore::metrics::render();
    let puts0 = sample(&before, "etcd_mvcc_put_total").unwrap();
    let deletes0 = sample(&before, "etcd_mvcc_delete_total").unwrap();
    let ranges0 = sample(&before, "etcd_mvcc_range_total").unwrap();
    c.put("k", "v", None).await.unwrap();
    for i in 1..=3 {
        c.put(i.to_string(), "v", None).await.unwrap();
        c.delete(i.to_string(), Some(DeleteOptions::new())).await.unwrap();
    }
    c.get("k", None).await.unwrap();

    let text = metastore::metrics::render();
    assert_eq!(sample(&text, "etcd_server_has_leader"), Some(1.0));
    assert_eq!(sample(&text, "etcd_server_is_leader"), Some(1.0));
    assert!(sample(&text, "etcd_server_leader_changes_seen_total").unwrap() >= 1.0, "its own election");
    assert_eq!(sample(&text, "etcd_debugging_mvcc_keys_total"), Some(1.0), "k; 1, 2, 3 deleted");
    assert_eq!(sample(&text, "etcd_mvcc_put_total").unwrap() - puts0, 4.0);
    assert_eq!(sample(&text, "etcd_mvcc_delete_total").unwrap() - deletes0, 3.0);
    assert!(sample(&text, "etcd_mvcc_range_total").unwrap() > ranges0);
    let applied = sample(&text, "etcd_server_proposals_applied_total").unwrap();
    assert!(applied >= 7.0 && sample(&text, "etcd_server_proposals_committed_total").unwrap() >= applied);
    assert!(sample(&text, "etcd_mvcc_db_total_size_in_bytes").unwrap() > 0.0);
    assert!(
        sample(&text, "etcd_disk_wal_fsync_duration_seconds_count").unwrap() >= 7.0,
        "one per write at least"
    );
    let id = format!("etcd_server_id{{server_id=\"{:x}\"}}", node.member_id());
    assert_eq!(sample(&text, &id), Some(1.0));
    let version = format!("etcd_server_version{{server_version=\"{}\"}}", metastore::server::SERVER_VERSION);
    assert_eq!(sample(&text, &version), Some(1.0));

    // gRPC calls are counted once each by the layer around the client port; a
    // gateway call once, as the gRPC call it makes; /health in etcd's own counters.
    let put_ok = r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
    let range_ok = r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#;
    assert_eq!(sample(&text, put_ok).unwrap() - sample(&before, put_ok).unwrap_or(0.0), 4.0);
    let (ranges_before, healthy_before) =
        (sample(&text, range_ok).unwrap(), sample(&text, "etcd_server_health_success").unwrap());
    let (status, body) = http(client_port, "POST", "/v3/kv/range", r#"{"key":"aw=="}"#).await;
    assert!(status.contains(" 200 "), "{status} {body}");
    let (status, body) = http(client_port, "GET", "/health", "").await;
    assert!(status.contains(" 200 ") && body.contains(r#""health":"true""#), "{status} {body}");
    let text = metastore::metrics::render();
    assert_eq!(sample(&text, range_ok).unwrap() - ranges_before, 1.0, "the gateway's range, once");
    assert_eq!(sample(&text, "etcd_server_health_success").unwrap() - healthy_before, 1.0);

    node.stop().await;
    let after = metastore::metrics::render();
    assert_eq!(sample(&after, "etcd_server_has_leader"), None, "a stopped member has no figures");
    let _ = std::fs::remove_dir_all(&dir);
}
