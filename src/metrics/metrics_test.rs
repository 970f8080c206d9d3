//! The rendered text read back by a Prometheus text parser (prometheus-parse), plus
//! a strict line check of our own: names, types and help as etcd's dashboards need
//! them, and counters that move when things happen.
//!
//! The counters are process-wide and other tests may move them concurrently, so the
//! checks on them are lower bounds; tests that register a node take [`NODE_LOCK`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use prometheus_parse::{LineInfo, Scrape, Value};

use super::*;
use crate::mvcc::{DeleteRangeResponse, PutRequest, PutResponse, RangeResponse};

/// Serializes the tests that register a node sampler (one global slot).
pub(super) static NODE_LOCK: Mutex<()> = Mutex::new(());

pub(super) fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("parses")
}

/// Family name → declared type, checking the exposition rules on the way: every
/// line is a comment or a sample, each family has one `# HELP` and one `# TYPE`
/// before its samples, every sample belongs to the family declared last.
pub(super) fn families(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    let mut helped = BTreeSet::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(helped.insert(name.clone()), "two HELP lines for {name}");
            assert!(rest.len() > name.len() + 1, "empty help for {name}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(helped.contains(name), "TYPE before HELP for {name}");
            assert!(["counter", "gauge", "histogram", "untyped"].contains(&kind), "{line}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none(), "two TYPE lines for {name}");
            current = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(matches!(LineInfo::parse(line), LineInfo::Sample { .. }), "not a sample: {line:?}");
        let sample = line.split(['{', ' ']).next().unwrap();
        let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("sample before any TYPE: {line}"));
        let ok = match kind.as_str() {
            "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| sample == format!("{family}{s}")),
            _ => sample == family,
        };
        assert!(ok, "sample {sample} in family {family}");
        if let Some(labels) = line.split_once('{').map(|(_, r)| r.split_once('}').expect("closed labels").0) {
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (key, value) =
                    pair.split_once("=\"").unwrap_or_else(|| panic!("label {pair:?} in {line}"));
                assert!(key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{line}");
                assert!(!value.contains('"') || value.ends_with('"'), "{line}");
            }
        }
    }
    assert_eq!(helped.len(), types.len(), "a HELP without TYPE");
    types
}

/// The value of the one sample named `name` with `labels` (all of them).
pub(super) fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?} is ambiguous");
    matching.first().map(|s| match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{name} is {other:?}"),
    })
}

fn sample_node() -> NodeSample {
    NodeSample {
        member_id: 0x8e9e05c52164694d,
        has_leader: true,
        is_leader: true,
        is_learner: false,
        committed_index: 42,
        applied_index: 41,
        quota_backend_bytes: 2 << 30,
        db_size_bytes: 4096,
        db_size_in_use_bytes: 4096,
        live_keys: 7,
        current_revision: 9,
        compact_revision: -1,
        watch_streams: 2,
        watchers: 5,
        slow_watchers: 1,
    }
}

/// What etcd's dashboards and e2e tests read, with etcd's types.
const EXPECTED: &[(&str, &str)] = &[
    ("etcd_server_has_leader", "gauge"),
    ("etcd_server_is_leader", "gauge"),
    ("etcd_server_is_learner", "gauge"),
    ("etcd_server_leader_changes_seen_total", "counter"),
    ("etcd_server_proposals_committed_total", "gauge"),
    ("etcd_server_proposals_applied_total", "gauge"),
    ("etcd_server_proposals_pending", "gauge"),
    ("etcd_server_proposals_failed_total", "counter"),
    ("etcd_server_health_success", "untyped"),
    ("etcd_server_health_failures", "untyped"),
    ("etcd_server_quota_backend_bytes", "gauge"),
    ("etcd_server_version", "gauge"),
    ("etcd_cluster_version", "gauge"),
    ("etcd_server_id", "gauge"),
    ("etcd_mvcc_db_total_size_in_bytes", "gauge"),
    ("etcd_mvcc_db_total_size_in_use_in_bytes", "gauge"),
    ("etcd_debugging_mvcc_keys_total", "gauge"),
    ("etcd_debugging_mvcc_current_revision", "gauge"),
    ("etcd_debugging_mvcc_compact_revision", "gauge"),
    ("etcd_debugging_mvcc_watch_stream_total", "gauge"),
    ("etcd_debugging_mvcc_watcher_total", "gauge"),
    ("etcd_debugging_mvcc_slow_watcher_total", "gauge"),
    ("etcd_mvcc_range_total", "counter"),
    ("etcd_mvcc_put_total", "counter"),
    ("etcd_mvcc_delete_total", "counter"),
    ("etcd_mvcc_txn_total", "counter"),
    ("etcd_disk_wal_fsync_duration_seconds", "histogram"),
    ("etcd_disk_backend_commit_duration_seconds", "histogram"),
    ("etcd_network_peer_round_trip_time_seconds", "histogram"),
    ("etcd_network_client_grpc_sent_bytes_total", "counter"),
    ("etcd_network_client_grpc_received_bytes_total", "counter"),
    ("grpc_server_started_total", "counter"),
    ("grpc_server_handled_total", "counter"),
    ("grpc_server_msg_received_total", "counter"),
    ("grpc_server_msg_sent_total", "counter"),
];

#[test]
fn every_family_is_there_with_etcds_type() {
    let _node = NODE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let _registered = register_node(sample_node);
    let _ = peer_rtt(0xabc);
    let text = render();
    let types = families(&text);
    for (name, kind) in EXPECTED {
        assert_eq!(types.get(*name).map(String::as_str), Some(*kind), "{name}");
    }
    #[cfg(not(madsim))]
    if std::path::Path::new("/proc/self/stat").exists() {
        for (name, kind) in [
            ("process_cpu_seconds_total", "counter"),
            ("process_resident_memory_bytes", "gauge"),
            ("process_virtual_memory_bytes", "gauge"),
            ("process_open_fds", "gauge"),
            ("process_max_fds", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
        }
    }
    let scrape = parse(&text);
    assert!(scrape.docs.contains_key("etcd_server_has_leader"));
    assert!(text.contains("\netcd_server_has_leader 1\n"), "as etcd writes it");
    assert!(
        text.contains(&format!("\netcd_server_version{{server_version=\"{SERVER_VERSION_FOR_TEST}\"}} 1\n"))
    );
    assert!(text.contains("\netcd_cluster_version{cluster_version=\""));
    assert_eq!(value(&scrape, "etcd_server_id", &[("server_id", "8e9e05c52164694d")]), Some(1.0));
    assert_eq!(value(&scrape, "etcd_server_proposals_committed_total", &[]), Some(42.0));
    assert_eq!(value(&scrape, "etcd_server_proposals_applied_total", &[]), Some(41.0));
    assert_eq!(value(&scrape, "etcd_debugging_mvcc_keys_total", &[]), Some(7.0));
    assert_eq!(value(&scrape, "etcd_debugging_mvcc_compact_revision", &[]), Some(-1.0));
    assert!(value(&scrape, "etcd_server_proposals_pending", &[]).is_some());
}

const SERVER_VERSION_FOR_TEST: &str = crate::server::SERVER_VERSION;

#[test]
fn node_families_leave_with_the_node() {
    let _node = NODE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let first = register_node(sample_node);
    let second = register_node(|| NodeSample { has_leader: false, ..sample_node() });
    drop(first); // replaced already: dropping it keeps the second
    assert!(render().contains("\netcd_server_has_leader 0\n"));
    drop(second);
    let text = render();
    assert!(!text.contains("etcd_server_has_leader"), "no node, no node figures");
    assert!(text.contains("etcd_server_version{"), "the rest still renders");
}

fn counter_value(name: &str) -> f64 {
    value(&parse(&render()), name, &[]).unwrap_or_else(|| panic!("{name} missing"))
}

#[test]
fn kv_counters_move_with_applied_entries() {
    let (puts, deletes, ranges, txns) = (
        counter_value("etcd_mvcc_put_total"),
        counter_value("etcd_mvcc_delete_total"),
        counter_value("etcd_mvcc_range_total"),
        counter_value("etcd_mvcc_txn_total"),
    );
    let put = Request::Put(PutRequest { key: b"k".to_vec(), value: b"v".to_vec(), ..Default::default() });
    let ok = |r: Response| Applied { revision: 2, result: Ok(r) };
    kv_applied(&put, &ok(Response::Put(PutResponse::default())));
    kv_applied(&put, &Applied { revision: 2, result: Err(crate::error::Error::NoSpace) });
    let inner = TxnResponse { succeeded: true, responses: vec![ResponseOp::Put(PutResponse::default())] };
    let txn = TxnResponse {
        succeeded: true,
        responses: vec![
            ResponseOp::Range(RangeResponse::default()),
            ResponseOp::DeleteRange(DeleteRangeResponse::default()),
            ResponseOp::Txn(inner),
        ],
    };
    kv_applied(&Request::Txn(Default::default()), &ok(Response::Txn(txn)));
    range_served();
    assert!(counter_value("etcd_mvcc_put_total") >= puts + 2.0, "the put and the nested txn's");
    assert!(counter_value("etcd_mvcc_delete_total") >= deletes + 1.0);
    assert!(counter_value("etcd_mvcc_range_total") >= ranges + 2.0);
    assert!(counter_value("etcd_mvcc_txn_total") >= txns + 1.0);
}

#[test]
fn proposals_pend_and_fail() {
    let failed = counter_value("etcd_server_proposals_failed_total");
    let changes = counter_value("etcd_server_leader_changes_seen_total");
    let applied = Proposal::start();
    let abandoned = Proposal::start();
    let refused = Proposal::start();
    assert!(PROPOSALS_PENDING.load(Ordering::Relaxed) >= 3);
    applied.finish(true);
    refused.finish(false);
    drop(abandoned);
    leader_changed();
    let (healthy, unhealthy) =
        (counter_value("etcd_server_health_success"), counter_value("etcd_server_health_failures"));
    health_checked(true);
    health_checked(false);
    health_checked(false);
    assert!(counter_value("etcd_server_health_success") > healthy);
    assert!(counter_value("etcd_server_health_failures") >= unhealthy + 2.0);
    assert!(counter_value("etcd_server_proposals_failed_total") >= failed + 2.0);
    assert!(counter_value("etcd_server_leader_changes_seen_total") > changes);
}

#[test]
fn histograms_have_etcds_buckets_and_move() {
    let before = parse(&render());
    wal_fsync(Duration::from_micros(1500));
    backend_commit(Duration::from_secs(20));
    peer_rtt(0x1f).observe(Duration::from_micros(250));
    let text = render();
    let wal_bounds: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("etcd_disk_wal_fsync_duration_seconds_bucket"))
        .map(|l| l.split("le=\"").nth(1).unwrap().split('"').next().unwrap())
        .collect();
    assert_eq!(
        wal_bounds,
        [
            "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256", "0.512",
            "1.024", "2.048", "4.096", "8.192", "+Inf"
        ]
    );
    assert!(text.contains("etcd_network_peer_round_trip_time_seconds_bucket{To=\"1f\",le=\"0.0001\"}"));
    assert!(text.contains("etcd_network_peer_round_trip_time_seconds_bucket{To=\"1f\",le=\"3.2768\"}"));
    let after = parse(&text);
    let buckets = |scrape: &Scrape, name: &str, labels: &[(&str, &str)]| -> Vec<(f64, f64)> {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .unwrap_or_else(|| panic!("{name}"));
        match &s.value {
            Value::Histogram(h) => h.iter().map(|b| (b.less_than, b.count)).collect(),
            other => panic!("{name} is {other:?}"),
        }
    };
    let grew = |name: &str, labels: &[(&str, &str)], le: f64| {
        let count = |h: Vec<(f64, f64)>| h.iter().find(|(b, _)| *b == le).map(|(_, c)| *c).unwrap_or(0.0);
        let was = if labels.is_empty() { count(buckets(&before, name, labels)) } else { 0.0 };
        assert!(count(buckets(&after, name, labels)) > was, "{name} le={le}");
    };
    grew("etcd_disk_wal_fsync_duration_seconds", &[], 0.002);
    grew("etcd_disk_backend_commit_duration_seconds", &[], f64::INFINITY);
    grew("etcd_network_peer_round_trip_time_seconds", &[("To", "1f")], 0.0004);
}

#[test]
fn a_histogram_counts_cumulatively_on_inclusive_bounds() {
    let h: Histogram<3> = Histogram::new([0.001, 0.01, 0.1]);
    for ms in [1, 1, 5, 100, 101, 5000] {
        h.observe(Duration::from_millis(ms));
    }
    let s = h.snapshot();
    assert_eq!(s.buckets, vec![(0.001, 2), (0.01, 1), (0.1, 1), (f64::INFINITY, 2)]);
    assert_eq!(s.count, 6);
    assert!((s.sum_seconds - 5.208).abs() < 1e-9);
    assert_eq!(exponential::<4>(0.5, 3.0), [0.5, 1.5, 4.5, 13.5]);
}

#[test]
fn extensive_adds_handling_time_histograms() {
    let basic = families(&render());
    assert!(!basic.contains_key("grpc_server_handling_seconds"));
    set_extensive(true);
    let text = render();
    set_extensive(false);
    assert_eq!(families(&text).get("grpc_server_handling_seconds").map(String::as_str), Some("histogram"));
    let line = "grpc_server_handling_seconds_bucket{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",\
                grpc_type=\"unary\",le=\"0.005\"}";
    assert!(text.contains(line), "labels in etcd's order");
}

#[test]
fn content_type_is_the_text_format() {
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
}
