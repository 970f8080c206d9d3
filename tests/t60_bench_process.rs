//! `metastore bench` against a real single-member `metastore` on loopback: every
//! workload's `--json` line parses, counts exactly `--total` requests, and has no
//! errors. No timing is asserted (CI machines vary); bad flags exit 2 and an
//! unreachable endpoint exits 1 with a clear message.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use support::{temp_dir, Proc};

fn bench(args: &[&str]) -> Output {
    Command::new(Path::new(env!("CARGO_BIN_EXE_metastore")))
        .arg("bench")
        .args(args)
        .output()
        .expect("run metastore bench")
}

/// The flat JSON object of one line → field name → raw value text (strings unquoted).
/// Enough for the bench's own output: no nesting, no commas inside strings
/// (first_error is only looked at when the run has errors).
fn parse_flat_json(line: &str) -> HashMap<String, String> {
    let body = line.trim().strip_prefix('{').and_then(|l| l.strip_suffix('}'));
    let body = body.unwrap_or_else(|| panic!("not a JSON object: {line}"));
    let mut fields = HashMap::new();
    for field in body.split(",\"") {
        let (name, value) =
            field.split_once("\":").unwrap_or_else(|| panic!("bad field {field:?} in {line}"));
        let name = name.trim_start_matches('"');
        fields.insert(name.to_string(), value.trim_matches('"').to_string());
    }
    fields
}

#[test]
fn every_workload_reports_one_clean_json_line() {
    let node = Proc::start(&temp_dir("bench"), &[]);
    let endpoint = node.endpoint();
    let workloads: &[&[&str]] = &[
        &["put"],
        &["range", "--consistency", "l", "--precreate", "--key-space", "50"],
        &["range", "--consistency", "s"],
        &["txn-put"],
        &["delete", "--seq-keys"],
        &["watch-latency"],
        &["lease-keepalive"],
        &["mixed", "--read-pct", "70"],
    ];
    for workload in workloads {
        let mut args = workload.to_vec();
        args.extend(["--endpoints", &endpoint, "--json", "--total", "300", "--conns", "2", "--clients", "4"]);
        let out = bench(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{workload:?}: exit {:?}\nstdout: {stdout}\nstderr: {stderr}",
            out.status
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{workload:?}: not exactly one line: {stdout}");
        assert!(stderr.is_empty(), "{workload:?}: no progress bar when stderr is not a terminal: {stderr}");
        let f = parse_flat_json(lines[0]);
        assert_eq!(f["errors"], "0", "{workload:?}: {stdout}");
        assert_eq!(f["total"], "300", "{workload:?}: {stdout}");
        assert!(!f.contains_key("first_error"), "{workload:?}: {stdout}");
        assert_eq!((f["conns"].as_str(), f["clients"].as_str()), ("2", "4"), "{stdout}");
        for number in ["seconds", "ops_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
            let v: f64 = f[number].parse().unwrap_or_else(|_| panic!("{number} is not a number: {stdout}"));
            assert!(v >= 0.0, "{number} < 0: {stdout}");
        }
        let op = f["op"].as_str();
        let expected = match workload[0] {
            "range" if workload[2] == "s" => "range-serializable",
            "range" => "range-linearizable",
            other => other,
        };
        assert_eq!(op, expected, "{stdout}");
    }
}

#[test]
fn setup_failures_and_bad_flags_are_clear() {
    let out = bench(&["put", "--total", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--total: must be at least 1"));

    let port = support::free_port();
    let out = bench(&["put", "--endpoints", &format!("127.0.0.1:{port}"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot connect to http://127.0.0.1:{port}")), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = bench(&["--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("watch-latency"));
}
