//! `--max-request-bytes` (+ 512 KiB of gRPC overhead) bounds every service's
//! requests, as etcd's server-wide gRPC receive limit does: Lock, Election, Auth and
//! Watch too, not only KV, Maintenance and Cluster. Past it: ResourceExhausted with
//! grpc-go's "grpc: received message larger than max (N vs. M)". Checked against a
//! real etcd 3.4 on the same calls when one is installed (`/usr/bin/etcd` or
//! `ETCD_BIN`); the member keeps serving after each.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, LockOptions, WatchOptions};
use support::{free_port, temp_dir, Proc};

const BIG: usize = 600 * 1024;

fn etcd_binary() -> Option<PathBuf> {
    std::env::var_os("ETCD_BIN")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/etcd")))
        .filter(|p| p.is_file())
}

/// (code, message) of each oversized call, in order.
async fn oversized_calls(bin: &Path) -> Vec<(String, String)> {
    let dir = temp_dir("limits");
    let mut p = Proc::spawn_binary(bin, &dir, free_port(), free_port(), &["--max-request-bytes", "1024"]);
    p.wait_serving();
    let opts = ConnectOptions::new().with_connect_timeout(Duration::from_secs(2));
    let mut c = Client::connect([p.endpoint()], Some(opts)).await.expect("connect");
    let big = "n".repeat(BIG);
    let status = |e: etcd_client::Error| match e {
        etcd_client::Error::GRpcStatus(s) => (format!("{:?}", s.code()), s.message().to_string()),
        other => ("not a status".to_string(), other.to_string()),
    };
    let mut out = Vec::new();
    out.push(status(c.lock(big.clone(), Some(LockOptions::new().with_lease(1))).await.expect_err("lock")));
    out.push(status(c.campaign(big.clone(), "v", 1).await.expect_err("campaign")));
    out.push(status(c.user_add(big.clone(), "p", None).await.expect_err("user add")));
    // A watch stream whose create request is too large fails or ends; either way
    // no event of it ever comes and the member goes on.
    if let Ok(mut w) = c.watch(big.clone(), Some(WatchOptions::new())).await {
        let next = tokio::time::timeout(Duration::from_secs(5), w.message()).await;
        assert!(!matches!(next, Ok(Ok(Some(_)))), "an oversized watch was created: {next:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.put("after", "ok", None).await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "{} no longer serves: {e}", bin.display()),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // (etcd re-raises SIGTERM after its shutdown, so it has no exit code.)
    p.terminate();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_refuses_a_request_past_the_limit_as_etcd() {
    let ours = oversized_calls(Path::new(env!("CARGO_BIN_EXE_metastore"))).await;
    for (code, message) in &ours {
        assert_eq!(code, "ResourceExhausted", "{message}");
        assert!(message.starts_with("grpc: received message larger than max ("), "{message}");
    }
    match etcd_binary() {
        Some(etcd) => assert_eq!(ours, oversized_calls(&etcd).await, "MetaStore (left) against etcd (right)"),
        None => eprintln!("t58: no etcd installed: compared with etcd's documented answer only"),
    }
}
