//! The registry's collectors: on each scrape they read the statics of this module's
//! parents, the node's sample and the OS's figures, and write every family through
//! prometheus-client's encoder (which adds `_total` to counter names, escapes label
//! values and writes `# HELP` / `# TYPE`).
//!
//! Labels are written in byte order of their names, as Prometheus' Go client sorts
//! them (`grpc_code`, `grpc_method`, `grpc_service`, `grpc_type`; `To` before `le`),
//! so a line reads exactly as etcd's does.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::grpc::{self, CALLS, CODE_NAMES, METHODS};
use super::histogram::Histogram;
use super::*;
use crate::server::{CLUSTER_VERSION, SERVER_VERSION};

pub(super) fn registry() -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Etcd));
    registry.register_collector(Box::new(Grpc));
    registry.register_collector(Box::new(Process));
    registry
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// A counter family of one series; `name` without `_total` (the encoder adds it).
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A counter etcd names without `_total` (Go's client adds no suffix): written
/// untyped, as the encoder would add `_total` to a counter. Its value never falls,
/// and `rate()` and alerts read it by its name as they read etcd's.
fn counter_as_named(enc: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Unknown)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, value: impl EncodeGaugeValue) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?.encode_gauge(&value)
}

/// A gauge of one series, 1 on the label `key` = `value` (etcd's way of showing a
/// version or an ID).
fn labeled_one(enc: &mut DescriptorEncoder, name: &str, help: &str, key: &str, value: &str) -> fmt::Result {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    family.encode_family(&[(key, value)])?.encode_gauge(&1i64)
}

fn histogram_series<const N: usize>(series: &mut MetricEncoder, h: &Histogram<N>) -> fmt::Result {
    let s = h.snapshot();
    series.encode_histogram::<NoLabelSet>(s.sum_seconds, s.count, &s.buckets, None)
}

fn histogram<const N: usize>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    h: &Histogram<N>,
) -> fmt::Result {
    histogram_series(&mut enc.encode_descriptor(name, help, None, MetricType::Histogram)?, h)
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// etcd's own families: server, mvcc, disk, network.
#[derive(Debug)]
struct Etcd;

impl Collector for Etcd {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        if let Some(node) = node_sample() {
            encode_node(&mut enc, &node)?;
        }
        encode_server(&mut enc)?;
        encode_mvcc(&mut enc)?;
        encode_disk(&mut enc)?;
        encode_network(&mut enc)
    }
}

fn encode_node(enc: &mut DescriptorEncoder, n: &NodeSample) -> fmt::Result {
    gauge(
        enc,
        "etcd_server_has_leader",
        "1 while this member knows a leader, 0 otherwise",
        flag(n.has_leader),
    )?;
    gauge(
        enc,
        "etcd_server_is_leader",
        "1 while this member leads the cluster, 0 otherwise",
        flag(n.is_leader),
    )?;
    gauge(
        enc,
        "etcd_server_is_learner",
        "1 while this member is a learner, 0 otherwise",
        flag(n.is_learner),
    )?;
    let committed = "Raft log index up to which entries are committed";
    gauge(enc, "etcd_server_proposals_committed_total", committed, n.committed_index)?;
    let applied = "Raft log index up to which entries are applied on this member";
    gauge(enc, "etcd_server_proposals_applied_total", applied, n.applied_index)?;
    let quota = "The backend size at which writes are refused (--quota-backend-bytes)";
    gauge(enc, "etcd_server_quota_backend_bytes", quota, n.quota_backend_bytes)?;
    let id = format!("{:x}", n.member_id);
    labeled_one(
        enc,
        "etcd_server_id",
        "This member's ID in hex, on the label server_id (value 1)",
        "server_id",
        &id,
    )?;
    let size = "Bytes the store takes (as Status reports dbSize)";
    gauge(enc, "etcd_mvcc_db_total_size_in_bytes", size, n.db_size_bytes)?;
    let in_use = "Bytes of the store in use (as Status reports dbSizeInUse)";
    gauge(enc, "etcd_mvcc_db_total_size_in_use_in_bytes", in_use, n.db_size_in_use_bytes)?;
    gauge(
        enc,
        "etcd_debugging_mvcc_keys_total",
        "Keys that exist now (deleted ones not counted)",
        n.live_keys,
    )?;
    let rev = "The store's revision (of its last write)";
    gauge(enc, "etcd_debugging_mvcc_current_revision", rev, n.current_revision)?;
    let compacted = "The revision the store was last compacted at";
    gauge(enc, "etcd_debugging_mvcc_compact_revision", compacted, n.compact_revision)?;
    gauge(enc, "etcd_debugging_mvcc_watch_stream_total", "Watch streams open", n.watch_streams)?;
    gauge(enc, "etcd_debugging_mvcc_watcher_total", "Watchers on the open watch streams", n.watchers)?;
    let slow =
        "Watchers not on the live path: catching up from history or held back by a client that does not read";
    gauge(enc, "etcd_debugging_mvcc_slow_watcher_total", slow, n.slow_watchers)
}

fn encode_server(enc: &mut DescriptorEncoder) -> fmt::Result {
    let changes = "Times this member saw a new leader elected";
    counter(enc, "etcd_server_leader_changes_seen", changes, load(&LEADER_CHANGES))?;
    let pending = "Proposals this member waits on to commit and apply";
    gauge(enc, "etcd_server_proposals_pending", pending, PROPOSALS_PENDING.load(Ordering::Relaxed))?;
    let failed = "Proposals that failed (no leader, leader lost, timed out)";
    counter(enc, "etcd_server_proposals_failed", failed, load(&PROPOSALS_FAILED))?;
    let success = "The total number of successful health checks";
    counter_as_named(enc, "etcd_server_health_success", success, load(&HEALTH_SUCCESS))?;
    let failures = "The total number of failed health checks";
    counter_as_named(enc, "etcd_server_health_failures", failures, load(&HEALTH_FAILURES))?;
    let version = "The version this member runs, on the label server_version (value 1)";
    labeled_one(enc, "etcd_server_version", version, "server_version", SERVER_VERSION)?;
    let cluster = "The cluster's version, on the label cluster_version (value 1)";
    labeled_one(enc, "etcd_cluster_version", cluster, "cluster_version", CLUSTER_VERSION)
}

fn encode_mvcc(enc: &mut DescriptorEncoder) -> fmt::Result {
    counter(enc, "etcd_mvcc_range", "Range operations served (requests and txn ops)", load(&RANGES))?;
    counter(enc, "etcd_mvcc_put", "Put operations applied (requests and txn ops)", load(&PUTS))?;
    counter(
        enc,
        "etcd_mvcc_delete",
        "DeleteRange operations applied (requests and txn ops)",
        load(&DELETES),
    )?;
    counter(enc, "etcd_mvcc_txn", "Txn requests applied or served", load(&TXNS))
}

fn encode_disk(enc: &mut DescriptorEncoder) -> fmt::Result {
    let fsync = "Seconds each fdatasync of a WAL batch took";
    histogram(enc, "etcd_disk_wal_fsync_duration_seconds", fsync, &WAL_FSYNC)?;
    let commit = "Seconds each durable write of the state (a snapshot) took";
    histogram(enc, "etcd_disk_backend_commit_duration_seconds", commit, &BACKEND_COMMIT)
}

fn encode_network(enc: &mut DescriptorEncoder) -> fmt::Result {
    let peers: Vec<(u64, Arc<super::RttHistogram>)> =
        PEER_RTT.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if !peers.is_empty() {
        let help = "Seconds a heartbeat to a peer took to be answered, by peer ID";
        let mut family = enc.encode_descriptor(
            "etcd_network_peer_round_trip_time_seconds",
            help,
            None,
            MetricType::Histogram,
        )?;
        for (id, h) in &peers {
            let to = format!("{id:x}");
            histogram_series(&mut family.encode_family(&[("To", to.as_str())])?, h)?;
        }
    }
    let sent = "Payload bytes of the gRPC messages sent to clients";
    counter(enc, "etcd_network_client_grpc_sent_bytes", sent, load(&grpc::SENT_BYTES))?;
    let received = "Payload bytes of the gRPC messages received from clients";
    counter(enc, "etcd_network_client_grpc_received_bytes", received, load(&grpc::RECEIVED_BYTES))
}

/// Which counter of a method a family shows.
type PerMethod = fn(&grpc::MethodCounters) -> &AtomicU64;

/// go-grpc-prometheus' families, every method of [`METHODS`].
#[derive(Debug)]
struct Grpc;

impl Collector for Grpc {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let per_method: [(&str, &str, PerMethod); 3] = [
            ("grpc_server_started", "RPCs started on this server", |c| &c.started),
            ("grpc_server_msg_received", "Messages received from clients, by method", |c| &c.msg_received),
            ("grpc_server_msg_sent", "Messages sent to clients, by method", |c| &c.msg_sent),
        ];
        for (name, help, field) in per_method {
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (m, calls) in METHODS.iter().zip(&CALLS) {
                let labels =
                    [("grpc_method", m.name), ("grpc_service", m.service), ("grpc_type", m.kind.label())];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&load(field(calls)), None)?;
            }
        }
        encode_handled(&mut enc)?;
        if is_extensive() {
            let help = "Seconds from an RPC's start to its status, by method";
            let mut family =
                enc.encode_descriptor("grpc_server_handling_seconds", help, None, MetricType::Histogram)?;
            for (m, calls) in METHODS.iter().zip(&CALLS) {
                let labels =
                    [("grpc_method", m.name), ("grpc_service", m.service), ("grpc_type", m.kind.label())];
                histogram_series(&mut family.encode_family(&labels)?, &calls.handling)?;
            }
        }
        Ok(())
    }
}

fn encode_handled(enc: &mut DescriptorEncoder) -> fmt::Result {
    let help = "RPCs completed on this server, by method and status code";
    let mut family = enc.encode_descriptor("grpc_server_handled", help, None, MetricType::Counter)?;
    for (m, calls) in METHODS.iter().zip(&CALLS) {
        for (code, count) in CODE_NAMES.iter().zip(&calls.handled) {
            let labels = [
                ("grpc_code", *code),
                ("grpc_method", m.name),
                ("grpc_service", m.service),
                ("grpc_type", m.kind.label()),
            ];
            family.encode_family(&labels)?.encode_counter::<NoLabelSet, _, u64>(&load(count), None)?;
        }
    }
    Ok(())
}

/// The Go client's process collector's families, from [`crate::env::proc_stats`].
#[derive(Debug)]
struct Process;

impl Collector for Process {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let Some(p) = crate::env::proc_stats::proc_stats() else { return Ok(()) };
        let cpu = "User and system CPU time spent, seconds";
        enc.encode_descriptor("process_cpu_seconds", cpu, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&p.cpu_seconds, None)?;
        gauge(&mut enc, "process_open_fds", "Open file descriptors", p.open_fds)?;
        if let Some(max) = p.max_fds {
            gauge(&mut enc, "process_max_fds", "Most file descriptors the process may open", max)?;
        }
        gauge(
            &mut enc,
            "process_virtual_memory_bytes",
            "Virtual memory size, bytes",
            p.virtual_memory_bytes,
        )?;
        if let Some(max) = p.virtual_memory_max_bytes {
            gauge(
                &mut enc,
                "process_virtual_memory_max_bytes",
                "Most virtual memory the process may map",
                max,
            )?;
        }
        gauge(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory size, bytes",
            p.resident_memory_bytes,
        )?;
        let start = "When the process started, seconds since the Unix epoch";
        gauge(&mut enc, "process_start_time_seconds", start, p.start_time_seconds)
    }
}
