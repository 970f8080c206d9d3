//! The HTTP face under clients that misbehave: idle connections with half a request,
//! bodies cut short and half-closed connections, a stream request dribbled one byte
//! per chunk, broken chunked framing, an oversized body, bytes that are not HTTP.
//! Each is answered with an HTTP error or dropped, the process does not panic, and a
//! well-behaved client on another connection is served throughout, its writes intact.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use support::http::{self, Request};
use support::{free_port, temp_dir, Proc};

const CALL: Duration = Duration::from_secs(15);

fn post(path: &str, body: &str) -> Request {
    let mut r = Request::new("POST", path);
    r.body = Some(body.as_bytes().to_vec());
    r
}

/// A well-behaved client: a put and a range of the same key through the gateway.
fn healthy_round_trip(port: u16, i: usize) {
    let value = format!("v{i}");
    // Standard base64 (padded), as the gateway writes bytes.
    let b64 = |s: &str| {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    };
    let put = http::call(
        port,
        &post("/v3/kv/put", &format!(r#"{{"key":"{}","value":"{}"}}"#, b64("k"), b64(&value))),
        CALL,
    )
    .expect("put");
    assert_eq!(put.head.status, 200, "put: {}", String::from_utf8_lossy(&put.body));
    let got = http::call(port, &post("/v3/kv/range", &format!(r#"{{"key":"{}"}}"#, b64("k"))), CALL)
        .expect("range");
    assert_eq!(got.head.status, 200);
    let body = String::from_utf8_lossy(&got.body).to_string();
    assert!(body.contains(&format!(r#""value":"{}""#, b64(&value))), "range after put {i}: {body}");
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(CALL)).unwrap();
    s
}

/// Read until the server closes or `CALL` passes; what came.
fn read_some(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.windows(4).any(|w| w == b"\r\n\r\n") && out.len() > 12 {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&out).to_string()
}

#[test]
fn hostile_http_clients_do_not_hurt_others() {
    let dir = temp_dir("http-hostile");
    let port = free_port();
    let mut p = Proc::spawn(&dir, port, free_port(), &[]);
    p.wait_serving();
    healthy_round_trip(port, 0);

    // Idle connections holding half a request line or half the headers.
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = connect(port);
        let part: &[u8] =
            if i % 2 == 0 { b"POST /v3/kv/ra" } else { b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\n" };
        s.write_all(part).unwrap();
        idle.push(s);
    }
    healthy_round_trip(port, 1);

    // A body shorter than its Content-Length, then the write side closed.
    let mut s = connect(port);
    s.write_all(b"POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"key\":\"aw==\"")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let answer = read_some(&mut s);
    assert!(!answer.starts_with("HTTP/1.1 200"), "a cut body must not be applied: {answer}");
    healthy_round_trip(port, 2);

    // A watch request dribbled one byte per chunk (a 64 KiB key), never finished.
    let mut dribble = connect(port);
    dribble.write_all(b"POST /v3/watch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
    let mut msg = b"{\"create_request\":{\"key\":\"".to_vec();
    msg.extend(std::iter::repeat_n(b'A', 64 * 1024));
    for b in &msg {
        dribble.write_all(format!("1\r\n{}\r\n", *b as char).as_bytes()).unwrap();
    }
    healthy_round_trip(port, 3);

    // Broken chunked framing.
    let mut s = connect(port);
    s.write_all(
        b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    )
    .unwrap();
    let answer = read_some(&mut s);
    assert!(!answer.starts_with("HTTP/1.1 200"), "broken framing answered 200: {answer}");

    // Not HTTP at all.
    let mut s = connect(port);
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xfe, 0x00, 0x01, 0x02, b'\r', b'\n', b'\r', b'\n'])
        .unwrap();
    let _ = read_some(&mut s);
    healthy_round_trip(port, 4);

    // A body over the gateway's limit (2 × (1.5 MiB + 512 KiB)): refused as the gRPC
    // face refuses an oversized message, nothing written.
    let mut big = b"{\"key\":\"eA==\",\"value\":\"".to_vec();
    big.extend(std::iter::repeat_n(b'Q', 5 * 1024 * 1024));
    big.extend_from_slice(b"\"}");
    let mut r = Request::new("POST", "/v3/kv/put");
    r.body = Some(big);
    let resp = http::call(port, &r, Duration::from_secs(60)).expect("oversized put");
    let body = String::from_utf8_lossy(&resp.body).to_string();
    assert_eq!(resp.head.status, 429, "{body}");
    assert!(body.contains("\"code\":8") && body.contains("larger than max"), "{body}");
    let x = http::call(port, &post("/v3/kv/range", r#"{"key":"eA=="}"#), CALL).expect("range x");
    assert!(!String::from_utf8_lossy(&x.body).contains("\"kvs\""), "the oversized put was applied");

    // Everyone gone: still healthy, no panic logged.
    drop(idle);
    drop(dribble);
    healthy_round_trip(port, 5);
    let health = http::call(port, &Request::new("GET", "/health"), CALL).expect("health");
    assert_eq!(String::from_utf8_lossy(&health.body), r#"{"health":"true"}"#);
    p.drain_log();
    let log = p.log_tail(10_000);
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}
