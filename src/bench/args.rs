//! Flags of `metastore bench`: `argv` (after `bench`) → [`Args`], or a message that
//! names the bad flag. No I/O here; [`HELP`] documents every flag.
//!
//! Example: `bench put --total=300 --clients 4 --json` →
//! `Args { op: Op::Put, stop: Stop::Total(300), clients: 4, json: true, .. }`.

use std::time::Duration;

/// The `--help` text: every workload and flag.
pub const HELP: &str = "\
usage: metastore bench <workload> [flags]

A closed-loop load generator for etcd's v3 API (MetaStore or etcd itself), in the
spirit of etcd's tools/benchmark. Each client sends one request, waits for its
answer, and sends the next; latencies are of successful requests.

Workloads:
  put              Put of a key from the key space, value of --val-size bytes
  range            Range of one key; --consistency l (linearizable, default) or s
                   (serializable); reported as range-linearizable / range-serializable
  txn-put          Txn: If mod_revision(key) < i64::MAX Then Put(key, value)
  delete           DeleteRange of one key
  watch-latency    each client watches its own key, then repeatedly puts it; latency
                   is from the put's start to the watch event's arrival
  lease-keepalive  each client grants a lease (TTL 60 s), then does keep-alive round
                   trips on one stream; the lease is revoked at the end
  mixed            linearizable ranges (--read-pct percent) and puts

Flags (--flag value or --flag=value):
  --endpoints a,b,..   client URLs, http://host:port or host:port [127.0.0.1:2379];
                       connection i dials endpoint i mod N
  --conns N            gRPC connections (HTTP/2 channels) [1]
  --clients N          concurrent closed-loop clients; client j uses connection j mod conns [1]
  --total N            stop after N requests (successful or not) [10000 unless --duration]
  --duration D         stop issuing after D (e.g. 10s, 500ms, 2m; a bare number is seconds)
  --key-size N         key length; keys are zero-padded decimals, e.g. 00000042 [8]
  --val-size N         value length in bytes [8]
  --key-space N        keys are drawn from 0..N [10000]
  --seq-keys           take keys in sequence (request i uses key i mod key-space)
                       instead of uniformly at random
  --precreate          put every key of the key space before measuring (for range,
                       delete and mixed)
  --consistency l|s    range only: linearizable (l) or serializable (s) [l]
  --read-pct P         mixed only: percent of requests that are ranges, 0..=100 [50]
  --json               print exactly one JSON line: op, total, errors, seconds, ops_per_s,
                       p50_ms, p90_ms, p99_ms, p999_ms, max_ms, conns, clients, key_size,
                       val_size, key_space, and first_error if there was an error
  -h, --help           this text

Output: ops/s (successful requests per second of wall time) and latency percentiles
(nearest rank over successful requests). Request errors (including a 10 s per-request
timeout) are counted, not fatal; a setup failure (connecting, precreating keys, creating
a watch, granting a lease) is fatal: exit status 1. Bad flags: exit status 2. A progress
bar is drawn on stderr when stderr is a terminal.

Example:
  metastore bench put --endpoints 127.0.0.1:2379 --conns 10 --clients 100 --duration 10s
";

/// A workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Range { serializable: bool },
    TxnPut,
    Delete,
    WatchLatency,
    LeaseKeepalive,
    Mixed,
}

impl Op {
    /// The name printed in reports (the range consistency spelled out).
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Range { serializable: false } => "range-linearizable",
            Op::Range { serializable: true } => "range-serializable",
            Op::TxnPut => "txn-put",
            Op::Delete => "delete",
            Op::WatchLatency => "watch-latency",
            Op::LeaseKeepalive => "lease-keepalive",
            Op::Mixed => "mixed",
        }
    }
}

/// When the clients stop issuing requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// After this many requests in all (successful or not).
    Total(u64),
    /// After this much wall time (requests in flight then still finish).
    Duration(Duration),
}

/// A parsed `metastore bench` command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub op: Op,
    /// Normalized to `http://host:port`.
    pub endpoints: Vec<String>,
    pub conns: usize,
    pub clients: usize,
    pub stop: Stop,
    pub key_size: usize,
    pub val_size: usize,
    pub key_space: u64,
    pub seq_keys: bool,
    pub precreate: bool,
    /// Percent of `mixed` requests that are ranges.
    pub read_pct: u32,
    pub json: bool,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    Help,
    Run(Args),
}

const DEFAULT_TOTAL: u64 = 10_000;

/// Parse the arguments after `bench`.
pub fn parse(argv: &[String]) -> Result<Parsed, String> {
    let mut op_name: Option<&str> = None;
    let mut flags = Flags::default();
    let mut i = 0;
    while i < argv.len() {
        let arg = argv[i].as_str();
        i += 1;
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        let Some(flag) = arg.strip_prefix("--") else {
            if let Some(first) = op_name {
                return Err(format!("unexpected argument {arg:?} (the workload is already {first:?})"));
            }
            op_name = Some(arg);
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        if BOOL_FLAGS.contains(&name) {
            if inline.is_some() {
                return Err(format!("--{name} takes no value"));
            }
            flags.set_bool(name);
            continue;
        }
        if !VALUE_FLAGS.contains(&name) {
            return Err(format!("unknown flag --{name}"));
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = argv.get(i).ok_or_else(|| format!("--{name} needs a value"))?;
                i += 1;
                v.clone()
            }
        };
        flags.values.push((name.to_string(), value));
    }
    let op_name = op_name
        .ok_or("no workload given (put, range, txn-put, delete, watch-latency, lease-keepalive, mixed)")?;
    flags.build(op_name).map(Parsed::Run)
}

const BOOL_FLAGS: &[&str] = &["seq-keys", "precreate", "json"];
const VALUE_FLAGS: &[&str] = &[
    "endpoints",
    "conns",
    "clients",
    "total",
    "duration",
    "key-size",
    "val-size",
    "key-space",
    "consistency",
    "read-pct",
];

#[derive(Default)]
struct Flags {
    /// Value flags in command-line order; the last of a name wins.
    values: Vec<(String, String)>,
    seq_keys: bool,
    precreate: bool,
    json: bool,
}

impl Flags {
    fn set_bool(&mut self, name: &str) {
        match name {
            "seq-keys" => self.seq_keys = true,
            "precreate" => self.precreate = true,
            _ => self.json = true,
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn number(&self, name: &str, default: u64, min: u64) -> Result<u64, String> {
        let Some(v) = self.get(name) else { return Ok(default) };
        let n: u64 = v.parse().map_err(|_| format!("--{name}: {v:?} is not a whole number"))?;
        if n < min {
            return Err(format!("--{name}: must be at least {min}, got {n}"));
        }
        Ok(n)
    }

    fn build(&self, op_name: &str) -> Result<Args, String> {
        let op = self.op(op_name)?;
        if self.get("read-pct").is_some() && op != Op::Mixed {
            return Err("--read-pct applies to the mixed workload only".into());
        }
        let read_pct = self.number("read-pct", 50, 0)?;
        if read_pct > 100 {
            return Err(format!("--read-pct: must be 0..=100, got {read_pct}"));
        }
        let stop = match (self.get("total"), self.get("duration")) {
            (Some(_), Some(_)) => return Err("--total and --duration exclude each other".into()),
            (None, Some(d)) => Stop::Duration(parse_duration(d).map_err(|e| format!("--duration: {e}"))?),
            _ => Stop::Total(self.number("total", DEFAULT_TOTAL, 1)?),
        };
        let key_size = usize::try_from(self.number("key-size", 8, 1)?).map_err(|e| e.to_string())?;
        if key_size > 1024 * 1024 {
            return Err(format!("--key-size: at most 1 MiB, got {key_size}"));
        }
        let val_size = usize::try_from(self.number("val-size", 8, 0)?).map_err(|e| e.to_string())?;
        if val_size > 64 * 1024 * 1024 {
            return Err(format!("--val-size: at most 64 MiB, got {val_size}"));
        }
        let key_space = self.number("key-space", 10_000, 1)?;
        let clients = self.number("clients", 1, 1)? as usize;
        check_fits("--key-space", key_space, key_size)?;
        if op == Op::WatchLatency {
            check_fits("--clients (watch-latency keys are the client numbers)", clients as u64, key_size)?;
        }
        Ok(Args {
            op,
            endpoints: parse_endpoints(self.get("endpoints").unwrap_or("127.0.0.1:2379"))?,
            conns: self.number("conns", 1, 1)? as usize,
            clients,
            stop,
            key_size,
            val_size,
            key_space,
            seq_keys: self.seq_keys,
            precreate: self.precreate,
            read_pct: read_pct as u32,
            json: self.json,
        })
    }

    fn op(&self, name: &str) -> Result<Op, String> {
        let consistency = self.get("consistency");
        let op = match name {
            "put" => Op::Put,
            "range" => match consistency.unwrap_or("l") {
                "l" | "linearizable" => Op::Range { serializable: false },
                "s" | "serializable" => Op::Range { serializable: true },
                other => return Err(format!("--consistency: {other:?} is neither l nor s")),
            },
            "txn-put" => Op::TxnPut,
            "delete" => Op::Delete,
            "watch-latency" => Op::WatchLatency,
            "lease-keepalive" => Op::LeaseKeepalive,
            "mixed" => Op::Mixed,
            other => return Err(format!("unknown workload {other:?}; see metastore bench --help")),
        };
        if consistency.is_some() && !matches!(op, Op::Range { .. }) {
            return Err("--consistency applies to the range workload only".into());
        }
        Ok(op)
    }
}

/// Keys `0..count` must fit in `key_size` decimal digits, or two would be equal.
fn check_fits(what: &str, count: u64, key_size: usize) -> Result<(), String> {
    let digits = count.saturating_sub(1).max(1).ilog10() as usize + 1;
    if digits > key_size {
        return Err(format!("{what} {count} needs keys of {digits} digits, but --key-size is {key_size}"));
    }
    Ok(())
}

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds; never zero.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (digits, unit_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1_000)
    };
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a duration such as 10s or 500ms"))?;
    let ms = n.checked_mul(unit_ms).ok_or_else(|| format!("{s:?} is too long"))?;
    if ms == 0 {
        return Err("must be more than zero".into());
    }
    Ok(Duration::from_millis(ms))
}

/// A comma list of `http://host:port` or `host:port` → `http://host:port` each.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for e in list.split(',').map(str::trim) {
        if e.is_empty() {
            return Err(format!("--endpoints: empty endpoint in {list:?}"));
        }
        if e.starts_with("https://") {
            return Err(format!("--endpoints: {e}: TLS endpoints are not supported by the load tool"));
        }
        let hostport = e.strip_prefix("http://").unwrap_or(e).trim_end_matches('/');
        let port_ok =
            hostport.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok || hostport.contains('/') {
            return Err(format!("--endpoints: {e:?} is not host:port or http://host:port"));
        }
        out.push(format!("http://{hostport}"));
    }
    Ok(out)
}

#[cfg(test)]
#[path = "args_test.rs"]
mod args_test;
