//! Command-line flags, `ETCD_*` environment variables and `--config-file`, read as
//! etcd 3.4 reads them: `--flag value`, `--flag=value`, `-flag value`; a flag
//! `--foo-bar` may also come from `ETCD_FOO_BAR`; a flag on the command line wins over
//! the environment. With `--config-file` (or `ETCD_CONFIG_FILE`) the YAML file alone
//! configures the member: other flags and `ETCD_*` variables are ignored, as in etcd.
//! Defaults are etcd's. Every etcd 3.4 flag is accepted ([`flags::FLAGS`]); those
//! MetaStore does not act on are warned about when set (docs/compat.md lists them),
//! and a flag etcd does not have is refused with etcd's message and exit code.

use std::collections::BTreeMap;

use crate::mvcc::compactor::{AutoCompaction, REVISION_INTERVAL_MS};

/// Test-only: replaces revision-mode auto compaction's 5-minute interval (in ms), so
/// that process tests need not wait 5 minutes. Not an etcd setting, not in `--help`;
/// deployments must not set it.
pub const AUTO_COMPACTION_INTERVAL_ENV: &str = "METASTORE_AUTO_COMPACTION_INTERVAL_MS";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub name: String,
    pub data_dir: String,
    /// --wal-dir: where the raft log's segments go; empty for `<data-dir>/member/wal`
    /// (see [`Config::wal_dir_path`]).
    pub wal_dir: String,
    /// The `--config-file` this configuration came from (empty: flags and env).
    pub config_file: String,
    /// --logger: `zap` (JSON lines) or `capnslog` (etcd 3.4's text lines).
    pub logger: String,
    /// --log-outputs: `stderr`, `stdout`, file paths (unique, sorted, as etcd keeps
    /// them); `default` is stderr.
    pub log_outputs: Vec<String>,
    pub listen_client_urls: Vec<String>,
    /// `--listen-metrics-urls`: extra listeners serving only `/metrics` and `/health`
    /// (HTTPS ones with the client certificate).
    pub listen_metrics_urls: Vec<String>,
    /// `--metrics extensive` (else `basic`): also time every gRPC call.
    pub metrics_extensive: bool,
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
    /// `--max-concurrent-streams`: streams one client connection may have open (gRPC
    /// over HTTP/2; the JSON gateway of a listener shares that many calls, as etcd's).
    pub max_concurrent_streams: u32,
    /// `--grpc-keepalive-interval` / `--grpc-keepalive-timeout`: a client connection
    /// idle this long is pinged, and closed if the ping is not answered in time (a
    /// dead or half-open client does not hold its connection for ever).
    pub grpc_keepalive_interval_ms: u64,
    pub grpc_keepalive_timeout_ms: u64,
    pub quota_backend_bytes: u64,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    /// Period of progress notifications to idle watchers that asked for them.
    pub watch_progress_notify_interval_ms: u64,
    /// Refuse member changes that could lose quorum (etcd's default: on).
    pub strict_reconfig_check: bool,
    /// `--auto-promote-learners` (MetaStore's own): the leader promotes a learner once
    /// MemberPromote's checks pass.
    pub auto_promote_learners: bool,
    /// --auto-compaction-mode / --auto-compaction-retention; None when the retention
    /// is 0 (etcd's default: history is kept until a Compact RPC).
    pub auto_compaction: Option<AutoCompaction>,
    /// --log-level: debug, info, warn, error, dpanic, panic or fatal.
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

/// Why a configuration is refused, and how etcd says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The command line itself (Go's flag package: an undefined flag, a missing or
    /// malformed value): etcd prints the message and its usage, and exits 2.
    Usage(String),
    /// A value or combination etcd's validation refuses: etcd prints
    /// "error verifying flags, <message>. See 'etcd --help'." and exits 1.
    Invalid(String),
}

impl ConfigError {
    /// etcd's exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Usage(_) => 2,
            ConfigError::Invalid(_) => 1,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ConfigError::Usage(m) | ConfigError::Invalid(m) => m,
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<ConfigError> for String {
    fn from(e: ConfigError) -> String {
        e.message().to_string()
    }
}

/// Parse args (without argv[0]) and an environment lookup; a `--config-file` is
/// refused (only [`load`], given a way to read it, reads one).
pub fn parse(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
    let no_files =
        |path: &str| Err(format!("open {path}: config files are read only by the metastore binary"));
    load(args, env, &no_files).map_err(String::from)
}

/// Parse args (without argv[0]), the environment (`env` looks a variable up) and,
/// when `--config-file` or `ETCD_CONFIG_FILE` names one, the YAML config file
/// (`read_file` returns its text or an error message).
pub fn load(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    read_file: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Config, ConfigError> {
    let line = flags::parse_args(args)?;
    let env = |name: &str| env(name).filter(|v| !v.is_empty()); // etcd skips empty ones
    let interval_override = env(AUTO_COMPACTION_INTERVAL_ENV);
    let flag_true = |name: &str| line.values.get(name).is_some_and(|v| parse_bool(name, v) == Ok(true));
    if line.help || flag_true("version") {
        // As etcd: answered before the environment or a config file is read.
        let mut cfg =
            build(&BTreeMap::new(), None, Vec::new(), String::new()).map_err(ConfigError::Invalid)?;
        cfg.show_help = line.help;
        cfg.show_version = !line.help;
        return Ok(cfg);
    }
    let config_file = match line.values.get("config-file") {
        Some(path) => path.clone(),
        None => env(&env_name("config-file")).unwrap_or_default(),
    };
    let (set, mut warnings) = if config_file.is_empty() {
        (flags_and_env(&line.values, &env)?, Vec::new())
    } else {
        let text = read_file(&config_file).map_err(ConfigError::Invalid)?;
        let (set, mut warnings) = file::flags_from_yaml(&text).map_err(ConfigError::Invalid)?;
        let ignored: Vec<String> =
            line.values.keys().filter(|k| *k != "config-file").map(|k| format!("--{k}")).collect();
        if !ignored.is_empty() {
            warnings.push(format!(
                "--config-file {config_file:?} is given, so these flags are ignored: {}",
                ignored.join(" ")
            ));
        }
        (set, warnings)
    };
    warnings.extend(flags::inert_warnings(&set));
    build(&set, interval_override.as_deref(), warnings, config_file).map_err(ConfigError::Invalid)
}

/// The command line's flags, then `ETCD_*` variables for the flags it does not set;
/// a variable's value is checked as the flag's would be (etcd's message).
fn flags_and_env(
    given: &BTreeMap<String, String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut set = given.clone();
    for flag in flags::FLAGS {
        if set.contains_key(flag.name) || matches!(flag.name, "config-file" | "version") {
            continue;
        }
        let var = env_name(flag.name);
        if let Some(value) = env(&var) {
            flags::check_value(flag, &value)
                .map_err(|why| ConfigError::Invalid(format!("invalid value {value:?} for {var}: {why}")))?;
            set.insert(flag.name.to_string(), value);
        }
    }
    Ok(set)
}

/// The configuration from the flags that are set (`set`, by flag name: from the
/// command line and environment, or from a config file); etcd's defaults for the rest.
fn build(
    set: &BTreeMap<String, String>,
    auto_compaction_interval: Option<&str>,
    mut warnings: Vec<String>,
    config_file: String,
) -> Result<Config, String> {
    let get = |flag: &str| -> String {
        match set.get(flag) {
            Some(v) => v.clone(),
            None => flags::find(flag).map(|f| f.default.to_string()).unwrap_or_default(),
        }
    };
    let get_bool = |flag: &str| -> Result<bool, String> { parse_bool(flag, &get(flag)) };
    let get = &get;
    let get_bool = &get_bool;
    let logging = log_settings(get, get_bool, &mut warnings)?;
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
    let initial_cluster_state_new = get("initial-cluster-state") != "existing"; // checked as a flag
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
        wal_dir: get("wal-dir"),
        config_file,
        logger: logging.logger,
        log_level: logging.level,
        log_outputs: logging.outputs,
        listen_client_urls: split_urls(&get("listen-client-urls")),
        listen_metrics_urls: split_urls(&get("listen-metrics-urls")),
        metrics_extensive: match get("metrics").as_str() {
            "basic" | "" => false,
            "extensive" => true,
            other => return Err(format!("--metrics {other:?}: unknown option (basic or extensive)")),
        },
        advertise_client_urls: split_urls(&get("advertise-client-urls")),
        listen_peer_urls: split_urls(&get("listen-peer-urls")),
        initial_advertise_peer_urls: peer_urls,
        initial_cluster,
        initial_cluster_state_new,
        initial_cluster_token: get("initial-cluster-token"),
        snapshot_count: parse_num("snapshot-count", &get("snapshot-count"))?,
        max_txn_ops: parse_num("max-txn-ops", &get("max-txn-ops"))?,
        max_request_bytes: parse_num("max-request-bytes", &get("max-request-bytes"))?,
        // 0 means no limit, as grpc-go reads it.
        max_concurrent_streams: match parse_num::<u32>(
            "max-concurrent-streams",
            &get("max-concurrent-streams"),
        )? {
            0 => u32::MAX,
            n => n,
        },
        grpc_keepalive_interval_ms: parse_duration_ms(
            "grpc-keepalive-interval",
            &get("grpc-keepalive-interval"),
        )?,
        grpc_keepalive_timeout_ms: parse_duration_ms(
            "grpc-keepalive-timeout",
            &get("grpc-keepalive-timeout"),
        )?,
        quota_backend_bytes: if quota <= 0 { DEFAULT_QUOTA_BYTES } else { quota as u64 },
        heartbeat_interval_ms: parse_num("heartbeat-interval", &get("heartbeat-interval"))?,
        election_timeout_ms: parse_num("election-timeout", &get("election-timeout"))?,
        strict_reconfig_check: get_bool("strict-reconfig-check")?,
        auto_promote_learners: get_bool("auto-promote-learners")?,
        watch_progress_notify_interval_ms: parse_duration_ms(
            "experimental-watch-progress-notify-interval",
            &get("experimental-watch-progress-notify-interval"),
        )?,
        auto_compaction,
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
        show_version: false,
        show_help: false,
        warnings,
    })
}

/// --logger, --log-level and --log-outputs, checked as etcd's `setupLogging` does.
struct LogSettings {
    logger: String,
    level: String,
    outputs: Vec<String>,
}

/// Where zap-style logs may go besides files: etcd's names.
const LOG_STREAMS: [&str; 3] = ["default", "stderr", "stdout"];

fn log_settings(
    get: &dyn Fn(&str) -> String,
    get_bool: &dyn Fn(&str) -> Result<bool, String>,
    warnings: &mut Vec<String>,
) -> Result<LogSettings, String> {
    let mut level = get("log-level");
    if !matches!(level.as_str(), "debug" | "info" | "warn" | "error" | "dpanic" | "panic" | "fatal") {
        return Err(format!("unknown level {level:?}"));
    }
    if get_bool("debug")? {
        warnings.push(format!("Deprecated '--debug' flag is set to true (use '--log-level=debug' instead); log level {level} becomes debug"));
        level = "debug".to_string();
    }
    let unique_sorted = |v: &str| -> Vec<String> {
        let set: std::collections::BTreeSet<String> = split_urls(v).into_iter().collect();
        set.into_iter().collect()
    };
    let mut outputs = unique_sorted(&get("log-outputs"));
    let deprecated = unique_sorted(&get("log-output"));
    if !deprecated.is_empty() {
        if outputs != [LOG_STREAMS[0]] {
            return Err(
                "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'".to_string()
            );
        }
        warnings.push("'--log-output' flag has been deprecated! Please use '--log-outputs'!".to_string());
        outputs = deprecated;
    }
    if outputs.is_empty() {
        outputs.push(LOG_STREAMS[0].to_string());
    }
    let logger = get("logger");
    match logger.as_str() {
        "zap" if outputs.len() > 1 && outputs.iter().any(|o| o == LOG_STREAMS[0]) => {
            return Err(format!("multi logoutput for {:?} is not supported yet", LOG_STREAMS[0]));
        }
        "zap" => {}
        "capnslog" if outputs.len() != 1 => {
            let quoted: Vec<String> = outputs.iter().map(|o| format!("{o:?}")).collect();
            return Err(format!(
                "--logger=capnslog supports only 1 value in '--log-outputs', got [{}]",
                quoted.join(" ")
            ));
        }
        "capnslog" if !LOG_STREAMS.contains(&outputs[0].as_str()) => {
            let [d, e, o] = LOG_STREAMS;
            return Err(format!("unknown log-output {:?} (only supports {d:?}, {e:?}, {o:?})", outputs[0]));
        }
        "capnslog" => warnings
            .push("Deprecated '--logger=capnslog' flag is set; use '--logger=zap' flag instead".to_string()),
        other => return Err(format!("unknown logger option {other:?}")),
    }
    Ok(LogSettings { logger, level, outputs })
}

impl Config {
    /// The directory of the raft log's segments: `--wal-dir`, else
    /// `<data-dir>/member/wal` (as etcd's `WALDir`).
    pub fn wal_dir_path(&self) -> std::path::PathBuf {
        if self.wal_dir.is_empty() {
            std::path::Path::new(&self.data_dir).join("member").join("wal")
        } else {
            std::path::PathBuf::from(&self.wal_dir)
        }
    }
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

/// Resolve a listen URL (http or https) to a socket address (loopback names resolve
/// to 127.0.0.1).
pub fn listen_addr(url: &str) -> Result<std::net::SocketAddr, String> {
    let (host, port, _tls) = url_host_port(url)?;
    let ip = match host.as_str() {
        "localhost" | "" => std::net::Ipv4Addr::LOCALHOST.into(),
        h => h
            .parse()
            .map_err(|_| format!("cannot listen on {url}: host must be an IP address or localhost"))?,
    };
    Ok(std::net::SocketAddr::new(ip, port))
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

#[path = "config_file.rs"]
pub mod file;
#[path = "config_flags.rs"]
pub mod flags;

#[cfg(test)]
#[path = "config_test.rs"]
mod config_test;

#[cfg(test)]
#[path = "config_file_test.rs"]
mod config_file_test;
