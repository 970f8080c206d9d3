//! `--grpc-keepalive-interval` / `--grpc-keepalive-timeout`: an HTTP/2 client that
//! goes silent (it never answers the server's PING, as a dead or half-open peer
//! does not) loses its connection; a live gRPC client idle across several pings
//! keeps its own and is served; with etcd's defaults (2 h) nobody is pinged.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::cluster::{connect, put, start_cluster, Member, FAILOVER};

/// HTTP/2's connection preface and an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// HTTP/2 frame type PING.
const PING: u8 = 0x6;

/// Open an HTTP/2 connection that reads and never answers; returns whether the
/// server pinged it and whether the server closed it, within `wait`.
fn silent_client(port: u16, wait: Duration) -> (bool, bool) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.write_all(PREFACE).expect("preface");
    let deadline = Instant::now() + wait;
    let mut buf = Vec::new();
    let (mut pinged, mut chunk) = (false, [0u8; 4096]);
    while Instant::now() < deadline {
        tcp.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match tcp.read(&mut chunk) {
            Ok(0) => return (pinged, true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (pinged, true),
        }
        // Walk the frames read so far (9-byte headers: length, type, flags, stream).
        let mut at = 0;
        while at + 9 <= buf.len() {
            let len =
                (usize::from(buf[at]) << 16) | (usize::from(buf[at + 1]) << 8) | usize::from(buf[at + 2]);
            if buf[at + 3] == PING && buf[at + 4] & 1 == 0 {
                pinged = true;
            }
            at += 9 + len;
        }
    }
    (pinged, false)
}

async fn live_client_survives(m: &Member, idle: Duration) {
    let client = connect(&m.proc).await;
    let mut c = client.clone();
    c.put("before", "1", None).await.expect("put before the idle time");
    tokio::time::sleep(idle).await;
    let mut c = client.clone();
    c.put("after", "1", None).await.expect("the same connection, idle across pings, still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_live_ones_kept() {
    let flags = ["--grpc-keepalive-interval", "1s", "--grpc-keepalive-timeout", "1s"];
    let (mut members, _) = start_cluster(&["k1"], &flags).await;
    put(&members[0], "ready", "1", Instant::now() + FAILOVER).await;
    let port = members[0].proc.client_port;
    let (pinged, closed) =
        tokio::task::spawn_blocking(move || silent_client(port, Duration::from_secs(10))).await.unwrap();
    assert!(pinged, "the server pings an idle connection");
    assert!(closed, "the server closes a connection that does not answer its ping");
    live_client_survives(&members[0], Duration::from_secs(4)).await;
    assert_eq!(members[0].proc.terminate(), Some(0));

    // etcd's defaults: no ping within seconds, the silent connection stays.
    let (mut members, _) = start_cluster(&["k2"], &[]).await;
    let port = members[0].proc.client_port;
    let (pinged, closed) =
        tokio::task::spawn_blocking(move || silent_client(port, Duration::from_secs(3))).await.unwrap();
    assert!(!pinged && !closed, "with a 2 h interval: pinged {pinged}, closed {closed}");
    assert_eq!(members[0].proc.terminate(), Some(0));
}
