//! The HTTP face over TLS (HTTP/1.1 and HTTP/2 by ALPN) and over plain h2c, with the
//! real `curl`: KV through the gateway, a watch stream that sees a write, a lease
//! keepalive stream, auth tokens in the `Authorization` header, `/health` and
//! `/metrics`, the REST face and the `/ui` page. One member listens on an `https://` and an `http://` client URL.
//!
//! Needs `curl` on PATH; without it the test says so and is skipped.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::certs::Fixtures;
use support::{free_port, temp_dir, Proc};

fn curl_available() -> bool {
    Command::new("curl").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `curl` with the CA, quiet but showing errors, bounded in time; `args` appended.
fn curl(ca: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("run curl");
    (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
}

/// The string value of `"field":"…"` in a JSON text (first occurrence).
fn field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("\"{name}\":\"");
    let start = json.find(&pat)? + pat.len();
    let len = json[start..].find('"')?;
    Some(&json[start..start + len])
}

/// A streaming curl whose output lines arrive on a channel.
struct Streaming {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Streaming {
    fn start(ca: &Path, args: &[&str]) -> Streaming {
        let mut child = Command::new("curl")
            .args(["-sS", "-N", "--max-time", "60", "--cacert"])
            .arg(ca)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn curl");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Streaming { child, lines: rx }
    }

    /// The next line that contains `needle` (within 20 s).
    fn expect(&self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(20)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?} on the stream: {e}"),
            }
        }
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn gateway_over_tls_and_h2c() {
    if !curl_available() {
        println!("t54: SKIPPED: no curl on PATH");
        return;
    }
    let fdir = Fixtures::generate().write_to(&temp_dir("http-tls-fixtures"));
    let ca = fdir.join("ca.crt");
    let (tls_port, plain_port) = (free_port(), free_port());
    let urls = format!("https://127.0.0.1:{tls_port},http://127.0.0.1:{plain_port}");
    let cert = fdir.join("server.crt").display().to_string();
    let key = fdir.join("server.key.insecure").display().to_string();
    let dir = temp_dir("http-tls");
    let mut p = Proc::spawn(
        &dir,
        tls_port,
        free_port(),
        &[
            "--listen-client-urls",
            &urls,
            "--advertise-client-urls",
            &urls,
            "--cert-file",
            &cert,
            "--key-file",
            &key,
        ],
    );
    p.wait_serving();
    let https = |path: &str| format!("https://127.0.0.1:{tls_port}{path}");
    let plain = |path: &str| format!("http://127.0.0.1:{plain_port}{path}");

    // KV over TLS, HTTP/1.1 and HTTP/2 (ALPN offers both).
    let (out, err) = curl(
        &ca,
        &["--http1.1", "-X", "POST", &https("/v3/kv/put"), "-d", r#"{"key":"Zm9v","value":"YmFy"}"#],
    );
    assert!(out.contains("\"revision\""), "put over TLS/1.1: {out} {err}");
    let (out, err) = curl(
        &ca,
        &[
            "--http2",
            "-w",
            "\n%{http_version}",
            "-X",
            "POST",
            &https("/v3/kv/range"),
            "-d",
            r#"{"key":"Zm9v"}"#,
        ],
    );
    assert!(out.contains(r#""value":"YmFy""#) && out.ends_with("\n2"), "range over TLS/2: {out} {err}");
    // h2c (HTTP/2 without TLS, prior knowledge) on the plain URL.
    let (out, err) = curl(
        &ca,
        &[
            "--http2-prior-knowledge",
            "-w",
            "\n%{http_version}",
            "-X",
            "POST",
            &plain("/v3/kv/range"),
            "-d",
            r#"{"key":"Zm9v"}"#,
        ],
    );
    assert!(out.contains(r#""value":"YmFy""#) && out.ends_with("\n2"), "range over h2c: {out} {err}");
    // The REST face and the dashboard over TLS, as the API.
    let (out, err) = curl(&ca, &["-X", "PUT", &https("/kv/tls/key"), "--data-binary", "secret"]);
    assert!(out.contains("\"created\":true"), "REST put over TLS: {out} {err}");
    let (out, err) = curl(&ca, &["--http2", &https("/kv/tls/key")]);
    assert_eq!(out, "secret", "REST get over TLS/2: {err}");
    let (out, err) = curl(&ca, &[&https("/ui")]);
    assert!(out.contains("<title>MetaStore</title>"), "dashboard over TLS: {err}");
    // A plain client on the TLS port is refused.
    let (out, _) =
        curl(&ca, &["-X", "POST", &format!("http://127.0.0.1:{tls_port}/v3/kv/range"), "-d", "{}"]);
    assert!(!out.contains("\"header\""), "plaintext answered on the TLS port: {out}");

    // A watch stream over TLS sees a write made over h2c.
    let watch = Streaming::start(
        &ca,
        &["-X", "POST", &https("/v3/watch"), "-d", r#"{"create_request":{"key":"Zm9v"}}"#],
    );
    watch.expect("\"created\":true");
    let (out, err) = curl(
        &ca,
        &[
            "--http2-prior-knowledge",
            "-X",
            "POST",
            &plain("/v3/kv/put"),
            "-d",
            r#"{"key":"Zm9v","value":"YmF6"}"#,
        ],
    );
    assert!(out.contains("\"revision\""), "put over h2c: {out} {err}");
    let event = watch.expect("\"events\"");
    assert!(event.contains(r#""value":"YmF6""#) && event.starts_with("{\"result\":"), "watch event: {event}");
    drop(watch);

    // A lease and its keepalive stream over TLS.
    let (out, err) = curl(&ca, &["-X", "POST", &https("/v3/lease/grant"), "-d", r#"{"TTL":30}"#]);
    let id = field(&out, "ID").unwrap_or_else(|| panic!("grant: {out} {err}")).to_string();
    let keepalive = Streaming::start(
        &ca,
        &["-X", "POST", &https("/v3/lease/keepalive"), "-d", &format!(r#"{{"ID":"{id}"}}"#)],
    );
    let renewed = keepalive.expect("\"TTL\"");
    assert!(
        renewed.contains(&format!(r#""ID":"{id}""#)) && renewed.contains(r#""TTL":"30""#),
        "keepalive: {renewed}"
    );
    drop(keepalive);

    // Auth: the token from /v3/auth/authenticate, sent as `Authorization`.
    for (path, body) in [
        ("/v3/auth/user/add", r#"{"name":"root","password":"pw"}"#),
        ("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#),
        ("/v3/auth/enable", "{}"),
    ] {
        let (out, err) = curl(&ca, &["-X", "POST", &https(path), "-d", body]);
        assert!(out.contains("\"header\""), "{path}: {out} {err}");
    }
    let (out, err) = curl(
        &ca,
        &["-X", "POST", &https("/v3/auth/authenticate"), "-d", r#"{"name":"root","password":"pw"}"#],
    );
    let token = field(&out, "token").unwrap_or_else(|| panic!("authenticate: {out} {err}")).to_string();
    let (out, _) = curl(&ca, &["-X", "POST", &https("/v3/kv/range"), "-d", r#"{"key":"Zm9v"}"#]);
    assert!(
        !out.contains("\"kvs\"") && out.contains("\"code\""),
        "a range without a token was served: {out}"
    );
    let auth = format!("Authorization: {token}");
    let (out, err) =
        curl(&ca, &["-H", &auth, "-X", "POST", &https("/v3/kv/range"), "-d", r#"{"key":"Zm9v"}"#]);
    assert!(out.contains(r#""value":"YmF6""#), "range with the token: {out} {err}");
    let (out, _) =
        curl(&ca, &["-H", "Authorization: not-a-token", "-X", "POST", &https("/v3/kv/range"), "-d", "{}"]);
    assert!(out.contains("invalid auth token"), "a bad token: {out}");

    // Health and metrics over TLS.
    let (out, _) = curl(&ca, &[&https("/health")]);
    assert_eq!(out, r#"{"health":"true"}"#);
    let (out, _) = curl(&ca, &[&https("/metrics")]);
    assert!(out.contains("\netcd_server_has_leader 1\n"), "metrics: {}", &out[..out.len().min(500)]);
    // Gateway calls count as gRPC calls of their method (etcd's gateway is a gRPC
    // client of its own server): the successful ranges above, and the watch the
    // client closed.
    let value = |series: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
            .unwrap_or_else(|| panic!("no {series} in /metrics"))
    };
    let ranges_ok = value(
        r#"grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"}"#,
    );
    assert!(ranges_ok >= 3.0, "ranges counted OK: {ranges_ok}");
    let watches_canceled = value(
        r#"grpc_server_handled_total{grpc_code="Canceled",grpc_method="Watch",grpc_service="etcdserverpb.Watch",grpc_type="bidi_stream"}"#,
    );
    assert!(watches_canceled >= 1.0, "watches counted Canceled: {watches_canceled}");
}
