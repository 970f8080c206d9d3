//! Command-line flags and `ETCD_*` environment variables, parsed as etcd does:
//! `--flag value`, `--flag=value`, `-flag value`; a flag `--foo-bar` may also come
//! from `ETCD_FOO_BAR`; a flag on the command line wins over the environment.
//! Defaults are etcd's. etcd flags this build does not act on yet are accepted with
//! a warning, so MetaStore starts anywhere etcd starts.

use std::collections::BTreeMap;

use crate::mvcc::compactor::{AutoCompaction, REVISION_INTERVAL_MS};

/// Test-only: replaces revision-mode auto compaction's 5-minute interval (in ms), so
/// that process tests need not wait 5 minutes. Not an etcd setting, not in `--help`;
/// deployments must not set it.
pub const AUTO_COMPACTION_INTERVAL_ENV: &str = "METASTORE_AUTO_COMPACTION_INTERVAL_MS";

/// Flags that take a value and that we act on, with etcd's defaults.
const VALUE_FLAGS: &[(&str, &str)] = &[
    ("name", "default"),
    ("data-dir", ""),
    ("wal-dir", ""),
    ("listen-client-urls", "http://localhost:2379"),
    ("advertise-client-urls", "http://localhost:2379"),
    ("listen-peer-urls", "http://localhost:2380"),
    ("initial-advertise-peer-urls", "http://localhost:2380"),
    ("initial-cluster", ""),
    ("initial-cluster-state", "new"),
    ("initial-cluster-token", "etcd-cluster"),
    ("snapshot-count", "100000"),
    ("max-txn-ops", "128"),
    ("max-request-bytes", "1572864"),
    ("quota-backend-bytes", "0"),
    ("experimental-watch-progress-notify-interval", "10m"),
    ("heartbeat-interval", "100"),
    ("election-timeout", "1000"),
    ("auto-compaction-mode", "periodic"),
    ("auto-compaction-retention", "0"),
    ("log-level", "info"),
    ("logger", "zap"),
    ("log-outputs", "default"),
    // TLS (src/tls/): client side, peer side, and the TLS 1.2 suites of both.
    ("cert-file", ""),
    ("key-file", ""),
    ("trusted-ca-file", ""),
    ("client-crl-file", ""),
    ("peer-cert-file", ""),
    ("peer-key-file", ""),
    ("peer-trusted-ca-file", ""),
    ("peer-crl-file", ""),
    ("cipher-suites", ""),
    // Auth (src/auth/, server/auth.rs).
    ("auth-token", "simple"),
    ("auth-token-ttl", "300"),
    ("bcrypt-cost", "10"),
    // Corruption checks (raft/corrupt.rs).
    ("experimental-corrupt-check-time", "0s"),
];

/// Flags that are booleans (`--flag`, `--flag=true|false`).
const BOOL_FLAGS: &[&str] = &[
    "version",
    "help",
    "strict-reconfig-check",
    "auto-tls",
    "peer-auto-tls",
    "client-cert-auth",
    "experimental-initial-corrupt-check",
    "peer-client-cert-auth",
];

/// Boolean flags whose default is true.
const DEFAULT_TRUE_FLAGS: &[&str] = &["strict-reconfig-check"];

/// Boolean etcd flags we accept but do not act on yet (never consume a value).
const IGNORED_BOOL_FLAGS: &[&str] = &[
    "debug",
    "enable-pprof",
    "enable-v2",
    "force-new-cluster",
    "experimental-enable-lease-checkpoint",
    "pre-vote",
    "enable-grpc-gateway",
    "auth-token-ttl-only",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub data_dir: String,
    pub listen_client_urls: Vec<String>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// (name, peer URL) pairs, in flag order.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_state_new: bool,
    pub initial_cluster_token: String,
    pub snapshot_count: u64,
    pub max_txn_ops: usize,
    pub max_request_bytes: usize,
    pub quota_backend_bytes: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    /// Period of progress notifications to idle watchers that asked for them.
    pub watch_progress_notify_interval_ms: u64,
    /// Refuse member changes that could lose quorum (etcd's default: on).
    pub strict_reconfig_check: bool,
    /// --auto-compaction-mode / --auto-compaction-retention; None when the retention
    /// is 0 (etcd's default: history is kept until a Compact RPC).
    pub auto_compaction: Option<AutoCompaction>,
    pub log_level: String,
    /// TLS of the client URLs: --cert-file, --key-file, --trusted-ca-file,
    /// --client-cert-auth, --auto-tls, --client-crl-file.
    pub client_tls: TlsFlags,
    /// TLS of the peer URLs: the same flags with `peer-` in front.
    pub peer_tls: TlsFlags,
    /// --cipher-suites: etcd's (Go's) names of the TLS 1.2 suites allowed, in order;
    /// empty for the default set.
    pub cipher_suites: Vec<String>,
    /// --auth-token: `simple`, or `jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`.
    pub auth_token: AuthTokenSpec,
    /// --auth-token-ttl: seconds a simple token lives after its last use.
    pub auth_token_ttl_s: u64,
    /// --bcrypt-cost: the cost factor of password hashes (4 to 31).
    pub bcrypt_cost: u32,
    /// --experimental-initial-corrupt-check: compare HashKV with the other members
    /// before serving; refuse to start on a mismatch.
    pub initial_corrupt_check: bool,
    /// --experimental-corrupt-check-time: the leader's periodic check (0: off).
    pub corrupt_check_interval_ms: u64,
    pub show_version: bool,
    pub show_help: bool,
    /// Human-readable warnings about accepted-but-ignored flags.
    pub warnings: Vec<String>,
}

/// One side's TLS flags (client or peer), as etcd's `TLSInfo` holds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFlags {
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
    /// Require a client certificate signed by `trusted_ca_file` (a CA file alone
    /// requires it too, as in etcd).
    pub client_cert_auth: bool,
    /// Make a self-signed certificate at start when no cert/key files are given.
    pub auto_tls: bool,
    /// Certificates listed in this CRL (PEM or DER) are refused.
    pub crl_file: String,
}

impl TlsFlags {
    /// No certificate of any kind: https URLs of this side cannot be served.
    pub fn is_empty(&self) -> bool {
        self.cert_file.is_empty() && self.key_file.is_empty() && !self.auto_tls
    }
}

fn tls_flags(
    prefix: &str,
    crl_flag: &str,
    get: &dyn Fn(&str) -> String,
    get_bool: &dyn Fn(&str) -> Result<bool, String>,
) -> Result<TlsFlags, String> {
    Ok(TlsFlags {
        cert_file: get(&format!("{prefix}cert-file")),
        key_file: get(&format!("{prefix}key-file")),
        trusted_ca_file: get(&format!("{prefix}trusted-ca-file")),
        client_cert_auth: get_bool(&format!("{prefix}client-cert-auth"))?,
        auto_tls: get_bool(&format!("{prefix}auto-tls"))?,
        crl_file: get(crl_flag),
    })
}

/// What `--auth-token` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthTokenSpec {
    Simple,
    /// JWT: key files (either may be empty: verify-only with a public key alone),
    /// the signing method (RS256, ES256, PS256, HS256, ...), lifetime in ms.
    Jwt {
        pub_key: String,
        priv_key: String,
        sign_method: String,
        ttl_ms: u64,
    },
}

/// etcd's `--auth-token` syntax: a type, then comma-separated `option=value`s.
pub fn parse_auth_token(v: &str) -> Result<AuthTokenSpec, String> {
    let mut parts = v.split(',');
    let kind = parts.next().unwrap_or("").trim();
    let mut opts = BTreeMap::new();
    for part in parts {
        let (k, val) = part
            .split_once('=')
            .ok_or_else(|| format!("--auth-token {v:?}: option {part:?} is not key=value"))?;
        if !["pub-key", "priv-key", "sign-method", "ttl"].contains(&k) {
            return Err(format!("--auth-token {v:?}: unknown option {k:?}"));
        }
        opts.insert(k.to_string(), val.to_string());
    }
    match kind {
        "simple" | "" if opts.is_empty() => Ok(AuthTokenSpec::Simple),
        "jwt" => {
            let ttl_ms = match opts.get("ttl") {
                Some(t) => parse_duration_ms("auth-token", t)?,
                None => 5 * 60 * 1000,
            };
            let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
            if get("sign-method").is_empty() {
                return Err(format!("--auth-token {v:?}: jwt needs sign-method"));
            }
            if get("pub-key").is_empty() && get("priv-key").is_empty() {
                return Err(format!("--auth-token {v:?}: jwt needs pub-key or priv-key"));
            }
            Ok(AuthTokenSpec::Jwt {
                pub_key: get("pub-key"),
                priv_key: get("priv-key"),
                sign_method: get("sign-method"),
                ttl_ms,
            })
        }
        _ => Err(format!("--auth-token {v:?}: auth: invalid auth options")),
    }
}

/// Default backend quota, as etcd: 2 GiB.
pub const DEFAULT_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;

fn env_name(flag: &str) -> String {
    format!("ETCD_{}", flag.replace('-', "_").to_uppercase())
}

fn split_urls(s: &str) -> Vec<String> {
    s.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect()
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.trim().parse().map_err(|_| format!("invalid value {v:?} for flag -{flag}: parse error"))
}

/// A Go duration as etcd's flags take it: a sequence of number+unit (`h`, `m`, `s`,
/// `ms`, `us`, `ns`), e.g. `10m`, `1m30s`, `500ms`; `0` alone is zero.
fn parse_duration_ms(flag: &str, v: &str) -> Result<u64, String> {
    let bad = || format!("invalid value {v:?} for flag -{flag}: parse error");
    let v = v.trim();
    if v == "0" {
        return Ok(0);
    }
    let mut total_ns: f64 = 0.0;
    let mut rest = v;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale_ns = match &rest[..unit_len] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return Err(bad()),
        };
        total_ns += number * scale_ns;
        rest = &rest[unit_len..];
    }
    Ok((total_ns / 1e6) as u64)
}

fn parse_bool(flag: &str, v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {v:?} for -{flag}: parse error")),
    }
}

/// Parse args (without argv[0]) and an environment lookup.
pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(stripped) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return Err(format!("'{arg}' is not a valid flag"));
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (stripped.to_string(), None),
        };
        let is_bool = BOOL_FLAGS.contains(&name.as_str()) || IGNORED_BOOL_FLAGS.contains(&name.as_str());
        let value = match inline {
            Some(v) => v,
            None if is_bool => "true".to_string(),
            None => {
                let known = VALUE_FLAGS.iter().any(|(f, _)| *f == name);
                match args.get(i) {
                    Some(v) if known || !v.starts_with('-') => {
                        i += 1;
                        v.clone()
                    }
                    _ if known => return Err(format!("flag needs an argument: -{name}")),
                    _ => String::new(),
                }
            }
        };
        if !is_known(&name) || IGNORED_BOOL_FLAGS.contains(&name.as_str()) {
            warnings.push(format!("flag --{name} is accepted but not supported yet; ignoring it"));
        }
        values.insert(name, value);
    }
    let get = |flag: &str| -> String {
        if let Some(v) = values.get(flag) {
            return v.clone();
        }
        if let Some(v) = env(&env_name(flag)) {
            return v;
        }
        VALUE_FLAGS.iter().find(|(f, _)| *f == flag).map(|(_, d)| d.to_string()).unwrap_or_default()
    };
    let get_bool = |flag: &str| -> Result<bool, String> {
        match values.get(flag).cloned().or_else(|| env(&env_name(flag))) {
            Some(v) => parse_bool(flag, &v),
            None => Ok(DEFAULT_TRUE_FLAGS.contains(&flag)),
        }
    };
    let interval_override = env(AUTO_COMPACTION_INTERVAL_ENV);
    build(&get, &get_bool, interval_override.as_deref(), warnings)
}

fn is_known(name: &str) -> bool {
    VALUE_FLAGS.iter().any(|(f, _)| *f == name) || BOOL_FLAGS.contains(&name)
}

fn build(
    get: &dyn Fn(&str) -> String,
    get_bool: &dyn Fn(&str) -> Result<bool, String>,
    auto_compaction_interval: Option<&str>,
    mut warnings: Vec<String>,
) -> Result<Config, String> {
    let name = get("name");
    let data_dir = match get("data-dir") {
        d if d.is_empty() => format!("{name}.etcd"),
        d => d,
    };
    let peer_urls = split_urls(&get("initial-advertise-peer-urls"));
    let initial_cluster = match get("initial-cluster") {
        s if s.is_empty() => peer_urls.iter().map(|u| (name.clone(), u.clone())).collect(),
        s => parse_initial_cluster(&s)?,
    };
    let state = get("initial-cluster-state");
    let initial_cluster_state_new = match state.as_str() {
        "new" => true,
        "existing" => false,
        other => return Err(format!("invalid value {other:?} for flag -initial-cluster-state")),
    };
    let quota = parse_num::<i64>("quota-backend-bytes", &get("quota-backend-bytes"))?;
    let auto_compaction = parse_auto_compaction(
        &get("auto-compaction-mode"),
        &get("auto-compaction-retention"),
        auto_compaction_interval,
        &mut warnings,
    )?;
    Ok(Config {
        name,
        data_dir,
        listen_client_urls: split_urls(&get("listen-client-urls")),
        advertise_client_urls: split_urls(&get("advertise-client-urls")),
        listen_peer_urls: split_urls(&get("listen-peer-urls")),
        initial_advertise_peer_urls: peer_urls,
        initial_cluster,
        initial_cluster_state_new,
        initial_cluster_token: get("initial-cluster-token"),
        snapshot_count: parse_num("snapshot-count", &get("snapshot-count"))?,
        max_txn_ops: parse_num("max-txn-ops", &get("max-txn-ops"))?,
        max_request_bytes: parse_num("max-request-bytes", &get("max-request-bytes"))?,
        quota_backend_bytes: if quota <= 0 { DEFAULT_QUOTA_BYTES } else { quota as u64 },
        heartbeat_interval_ms: parse_num("heartbeat-interval", &get("heartbeat-interval"))?,
        election_timeout_ms: parse_num("election-timeout", &get("election-timeout"))?,
        strict_reconfig_check: get_bool("strict-reconfig-check")?,
        watch_progress_notify_interval_ms: parse_duration_ms(
            "experimental-watch-progress-notify-interval",
            &get("experimental-watch-progress-notify-interval"),
        )?,
        auto_compaction,
        log_level: get("log-level"),
        client_tls: tls_flags("", "client-crl-file", get, get_bool)?,
        peer_tls: tls_flags("peer-", "peer-crl-file", get, get_bool)?,
        cipher_suites: split_urls(&get("cipher-suites")),
        auth_token: parse_auth_token(&get("auth-token"))?,
        auth_token_ttl_s: parse_num("auth-token-ttl", &get("auth-token-ttl"))?,
        bcrypt_cost: match parse_num::<u32>("bcrypt-cost", &get("bcrypt-cost"))? {
            c @ 4..=31 => c,
            c => {
                // etcd's answer: a warning, and its default.
                warnings.push(format!("Use default bcrypt-cost 10 instead of the invalid value {c}"));
                10
            }
        },
        initial_corrupt_check: get_bool("experimental-initial-corrupt-check")?,
        corrupt_check_interval_ms: parse_duration_ms(
            "experimental-corrupt-check-time",
            &get("experimental-corrupt-check-time"),
        )?,
        show_version: get_bool("version")?,
        show_help: get_bool("help")?,
        warnings,
    })
}

/// etcd 3.4's `--auto-compaction-mode` and `--auto-compaction-retention`
/// (embed.Config.Validate and embed's parseCompactionRetention): the mode is
/// `periodic` (the default) or `revision`, else `unknown auto-compaction-mode "x"`. A
/// retention that is a non-negative integer counts hours (periodic) or revisions
/// (revision); anything else must be a Go duration (`30m`, `1h30m`), else
/// `error parsing CompactionRetention: ...`. A retention of 0 turns compaction off.
/// As in etcd, a duration in revision mode counts its nanoseconds as revisions
/// (with a warning here: it is almost surely a mistake); an empty mode leaves an
/// integer retention off and refuses a duration. Unlike etcd, a negative duration is
/// refused (etcd would spin).
pub fn parse_auto_compaction(
    mode: &str,
    retention: &str,
    interval_override_ms: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<Option<AutoCompaction>, String> {
    if !matches!(mode, "" | "periodic" | "revision") {
        return Err(format!("unknown auto-compaction-mode {mode:?}"));
    }
    let retention = retention.trim();
    let policy = match retention.parse::<i64>() {
        Ok(n) if n >= 0 => match mode {
            "periodic" => AutoCompaction::Periodic { retention_ms: (n as u64).saturating_mul(3_600_000) },
            "revision" => AutoCompaction::Revision { retention: n, interval_ms: REVISION_INTERVAL_MS },
            _ => return Ok(None),
        },
        _ => {
            let ms = parse_duration_ms("auto-compaction-retention", retention).map_err(|_| {
                format!("error parsing CompactionRetention: time: invalid duration {retention:?}")
            })?;
            match mode {
                "periodic" => AutoCompaction::Periodic { retention_ms: ms },
                "revision" => {
                    let revisions = i64::try_from(ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
                    warnings.push(format!(
                        "--auto-compaction-retention {retention:?} is a duration but the mode is revision: \
                         keeping {revisions} revisions (as etcd does)"
                    ));
                    AutoCompaction::Revision { retention: revisions, interval_ms: REVISION_INTERVAL_MS }
                }
                _ => return Err("unsupported compaction mode ".to_string()),
            }
        }
    };
    let policy = match (policy, interval_override_ms) {
        (AutoCompaction::Periodic { retention_ms: 0 }, _)
        | (AutoCompaction::Revision { retention: 0, .. }, _) => return Ok(None),
        (AutoCompaction::Revision { retention, .. }, Some(v)) => {
            let interval_ms = parse_num::<u64>(AUTO_COMPACTION_INTERVAL_ENV, v)?.max(1);
            AutoCompaction::Revision { retention, interval_ms }
        }
        (policy, _) => policy,
    };
    Ok(Some(policy))
}

/// `name1=url1,name2=url2` (a name may appear more than once, one per URL).
pub fn parse_initial_cluster(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((n, u)) = part.split_once('=') else {
            return Err(format!("invalid value {s:?} for flag -initial-cluster: missing '=' in {part:?}"));
        };
        out.push((n.to_string(), u.to_string()));
    }
    Ok(out)
}

/// `http://host:port` → `host:port` for binding. Returns an error naming the URL for
/// anything we cannot listen on.
pub fn url_host_port(url: &str) -> Result<(String, u16, bool), String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("unix://").or_else(|| url.strip_prefix("unixs://")) {
        return Err(format!("unix socket URL {r:?} is not supported yet"));
    } else {
        return Err(format!("URL scheme must be http, https, unix, or unixs: {url}"));
    };
    let hostport = rest.trim_end_matches('/');
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("URL address does not have the form \"host:port\": {url}"))?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port in URL {url}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    Ok((host, port, tls))
}

#[cfg(test)]
#[path = "config_test.rs"]
mod config_test;
