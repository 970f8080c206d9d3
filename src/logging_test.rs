//! Log lines as etcd writes them: zap's JSON keys and types, its time and caller
//! formats, capnslog's text, and the outputs (files, /dev/null, a missing directory).

use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt;

use super::*;
use crate::env::sim_disk::{FaultConfig, SimDisk};

/// The lines `emit` logs through an [`EtcdLog`] of `format`.
fn lines_of(format: Format, emit: impl FnOnce()) -> Vec<String> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let layer = EtcdLog::new(format, vec![Sink::Buffer(buffer.clone())]);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, emit);
    let lines = buffer.lock().unwrap().clone();
    lines
}

fn json(line: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(line) {
        Ok(serde_json::Value::Object(map)) => map,
        other => panic!("not a JSON object: {line}: {other:?}"),
    }
}

#[test]
fn zap_lines_have_etcds_keys_in_order_and_typed_fields() {
    let member = format!("{:x}", 0xbdae9bbc11dd390d_u64);
    let lines = lines_of(Format::Zap, || {
        tracing::info!(local_member_id = %member, snapshot_count = 100_000u64, delta = -3i64, pre_vote = false,
            "starting \"local\" member\n");
        tracing::warn!("plain warning");
        tracing::debug!(error = %std::io::Error::other("boom"), "a debug line");
    });
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with("{\"level\":\"info\",\"ts\":\""), "{}", lines[0]);
    let first = json(&lines[0]);
    let mut keys: Vec<&str> = first.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["caller", "delta", "level", "local-member-id", "msg", "pre-vote", "snapshot-count", "ts"]
    );
    let at = |key: &str| lines[0].find(&format!("\"{key}\":")).unwrap();
    let order = ["level", "ts", "caller", "msg", "local-member-id", "snapshot-count", "delta", "pre-vote"];
    assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "zap's order, then the fields': {}", lines[0]);
    assert_eq!(first["msg"], "starting \"local\" member\n");
    assert_eq!(first["local-member-id"], "bdae9bbc11dd390d");
    assert_eq!(first["snapshot-count"], 100_000);
    assert_eq!(first["delta"], -3);
    assert_eq!(first["pre-vote"], false);
    let caller = first["caller"].as_str().unwrap();
    assert!(caller.starts_with("metastore/logging_test.rs:"), "{caller}");
    assert!(caller.rsplit(':').next().unwrap().parse::<u32>().is_ok(), "{caller}");
    let ts = first["ts"].as_str().unwrap();
    assert_eq!((ts.len(), &ts[10..11], &ts[19..20], &ts[23..]), (24, "T", ".", "Z"), "{ts}");
    let second = json(&lines[1]);
    assert_eq!((second["level"].as_str(), second["msg"].as_str()), (Some("warn"), Some("plain warning")));
    assert_eq!(second.len(), 4, "no fields beyond the four: {second:?}");
    let third = json(&lines[2]);
    assert_eq!((third["level"].as_str(), third["error"].as_str()), (Some("debug"), Some("boom")));
}

#[test]
fn zap_escapes_what_json_needs() {
    let record = Record {
        msg: "tab\tquote\"back\\slash\u{1}".to_string(),
        fields: vec![("nan".to_string(), Value::F64(f64::NAN)), ("x".to_string(), Value::F64(1.5))],
        ..Record::default()
    };
    let line = zap_line(&Level::ERROR, 0, "a/b.rs:1", &record);
    assert!(line.ends_with("}\n"));
    let obj = json(&line);
    assert_eq!(obj["msg"], "tab\tquote\"back\\slash\u{1}");
    assert_eq!((obj["nan"].as_str(), obj["x"].as_f64()), (Some("NaN"), Some(1.5)));
    assert_eq!(obj["level"], "error");
    assert_eq!(obj["ts"], "1970-01-01T00:00:00.000Z");
}

#[test]
fn times_as_zaps_iso8601_in_utc() {
    assert_eq!(iso8601_utc_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601_utc_ms(1_796_314_209_656), "2026-12-03T16:10:09.656Z");
    assert_eq!(iso8601_utc_ms(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
    assert_eq!(iso8601_utc_ms(-1000), "1969-12-31T23:59:59.000Z");
    assert_eq!(iso8601_utc_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
}

#[test]
fn callers_as_zaps_short_caller() {
    assert_eq!(caller(Some("src/node.rs"), Some(120)), "metastore/node.rs:120");
    assert_eq!(caller(Some("src/raft/node.rs"), Some(7)), "raft/node.rs:7");
    let dep =
        "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/openraft-0.10.0-alpha.37/src/lib.rs";
    assert_eq!(caller(Some(dep), Some(5)), "openraft/lib.rs:5");
    let dep = "/r/tonic-0.14.2/src/transport/server/mod.rs";
    assert_eq!(caller(Some(dep), Some(9)), "server/mod.rs:9");
    assert_eq!(caller(Some("main.rs"), None), "main.rs");
    assert_eq!(caller(None, Some(1)), "undefined");
}

#[test]
fn capnslog_lines_as_etcd_34s_text_logger() {
    let record = Record {
        msg: "ready to serve client requests".to_string(),
        fields: vec![("address".to_string(), Value::Str("127.0.0.1:2379".to_string()))],
        ..Record::default()
    };
    let line = capnslog_line(&Level::INFO, 1_796_314_209_656, "embed", &record);
    assert_eq!(
        line,
        "2026-12-03 16:10:09.656000 I | embed: ready to serve client requests address=127.0.0.1:2379\n"
    );
    let lines = lines_of(Format::Capnslog, || tracing::warn!(n = 1u64, "careful"));
    assert!(lines[0].ends_with(" W | logging: careful n=1"), "{lines:?}");
}

fn cfg(flags: &str) -> Config {
    let args: Vec<String> = flags.split_whitespace().map(String::from).collect();
    crate::config::parse(&args, &|_| None).unwrap()
}

#[test]
fn outputs_open_files_and_dev_null_discards() {
    let disk = SimDisk::new(1, FaultConfig::none());
    disk.create_dir_all(Path::new("/logs")).unwrap();
    let log = EtcdLog::open(&cfg("--log-outputs stderr,/logs/a.log,stdout,stderr"), &disk).unwrap();
    assert_eq!(log.sinks.len(), 3, "stderr once, stdout, the file");
    let subscriber = tracing_subscriber::registry().with(log);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(k = "v", "to the file");
        tracing::info!("and again");
    });
    let text = String::from_utf8(disk.read(Path::new("/logs/a.log")).unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(json(lines[0])["k"], "v");
    assert_eq!(json(lines[1])["msg"], "and again");

    let appended = EtcdLog::open(&cfg("--log-outputs /logs/a.log"), &disk).unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(appended), || {
        tracing::info!("third")
    });
    let text = String::from_utf8(disk.read(Path::new("/logs/a.log")).unwrap()).unwrap();
    assert_eq!(text.lines().count(), 3, "appended, never truncated");

    let discard = EtcdLog::open(&cfg("--log-outputs stdout,/dev/null"), &disk).unwrap();
    assert!(discard.sinks.is_empty());
    let err = EtcdLog::open(&cfg("--log-outputs /no/such/dir/x.log"), &disk).err().unwrap();
    assert!(err.starts_with("open sink \"/no/such/dir/x.log\": "), "{err}");
}

#[test]
fn log_levels_keep_what_etcd_keeps() {
    assert_eq!(filter_level("debug"), "debug");
    assert_eq!(filter_level("info"), "info");
    assert_eq!(filter_level("warn"), "warn");
    for level in ["error", "dpanic", "panic", "fatal"] {
        assert_eq!(filter_level(level), "error");
    }
}
