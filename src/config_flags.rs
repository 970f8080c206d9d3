//! etcd 3.4's command line, read as its Go `flag` package reads it: every flag etcd
//! 3.4.23 defines, each with the kind of value it takes, checked the moment it is
//! given, with etcd's messages; and MetaStore's own few (marked as such in [`FLAGS`]),
//! read the same way.
//!
//! ```text
//! --name n1  -name n1  --name=n1        a value flag takes the next argument, or "=v"
//! --auto-tls  --auto-tls=false           a bool flag takes only "=v" (the next argument
//!                                        would be a positional one)
//! --no-such-flag                         "flag provided but not defined: -no-such-flag"
//! --name                                 "flag needs an argument: -name"
//! --max-wals abc                         "invalid value \"abc\" for flag -max-wals: parse error"
//! ---x                                   "bad flag syntax: ---x"
//! --name n1 foo --x                      parsing stops at "foo": "'foo' is not a valid flag"
//! ```
//!
//! The first four are usage errors (etcd prints its usage and exits 2); a positional
//! argument is a verification error (exit 1), as everything [`super::build`] refuses.
//! Flags marked `acted: false` are accepted so that MetaStore starts wherever etcd
//! does, and have no effect (docs/compat.md lists them).

use std::collections::BTreeMap;

use super::{parse_bool, parse_duration_ms, ConfigError};

/// What a flag's value must look like (Go's flag type behind it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` or `--flag=true|false|1|0|t|f|...`.
    Bool,
    /// Any string.
    Text,
    /// An unsigned integer (Go `uint`/`uint64`).
    Uint,
    /// An unsigned 32-bit integer (etcd's `Uint32Value`).
    Uint32,
    /// A signed integer (Go `int`/`int64`).
    Int,
    /// A Go duration: `10m`, `1m30s`, `500ms`, `0`.
    Duration,
    /// Comma-separated URLs (etcd's `UniqueURLsValue`).
    Urls,
    /// One of a fixed set (etcd's `SelectiveStringValue`).
    Choice(&'static [&'static str]),
    /// A flag etcd dropped long ago: accepted like a bool, warned about, ignored.
    Retired,
}

/// One etcd flag.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    /// etcd's default, as the string the flag would be given.
    pub default: &'static str,
    /// Whether MetaStore acts on it (false: accepted and ignored; see docs/compat.md).
    pub acted: bool,
    /// Whether etcd 3.4 reads it from `--config-file` under its own name (the TLS
    /// flags come from `client-transport-security` / `peer-transport-security`, and a
    /// few flags have no key at all).
    pub in_file: bool,
}

const fn flag(name: &'static str, kind: Kind, default: &'static str, acted: bool) -> Flag {
    Flag { name, kind, default, acted, in_file: true }
}

/// A flag etcd 3.4's config file has no top-level key for.
const fn cli_only(name: &'static str, kind: Kind, default: &'static str, acted: bool) -> Flag {
    Flag { name, kind, default, acted, in_file: false }
}

use Kind::{Bool, Duration, Int, Retired, Text, Uint, Uint32, Urls};

const CLUSTER_STATES: &[&str] = &["new", "existing"];
const FALLBACKS: &[&str] = &["exit", "proxy"];
const PROXY_MODES: &[&str] = &["off", "readonly", "on"];

/// Every flag of etcd 3.4.23 (`etcd --help`), in its help's order.
pub const FLAGS: &[Flag] = &[
    cli_only("config-file", Text, "", true),
    // Member.
    flag("name", Text, "default", true),
    flag("data-dir", Text, "", true),
    flag("wal-dir", Text, "", true),
    flag("snapshot-count", Uint, "100000", true),
    flag("heartbeat-interval", Uint, "100", true),
    flag("election-timeout", Uint, "1000", true),
    flag("initial-election-tick-advance", Bool, "true", false),
    flag("listen-peer-urls", Urls, "http://localhost:2380", true),
    flag("listen-client-urls", Urls, "http://localhost:2379", true),
    flag("listen-metrics-urls", Urls, "", true),
    flag("max-snapshots", Uint, "5", false),
    flag("max-wals", Uint, "5", false),
    flag("quota-backend-bytes", Int, "0", true),
    flag("backend-batch-interval", Duration, "0", false),
    flag("backend-batch-limit", Int, "0", false),
    flag("max-txn-ops", Uint, "128", true),
    flag("max-request-bytes", Uint, "1572864", true),
    flag("grpc-keepalive-min-time", Duration, "5s", false),
    flag("grpc-keepalive-interval", Duration, "2h", true),
    flag("grpc-keepalive-timeout", Duration, "20s", true),
    flag("max-concurrent-streams", Uint32, "4294967295", true),
    // Clustering.
    flag("initial-advertise-peer-urls", Urls, "http://localhost:2380", true),
    flag("initial-cluster", Text, "", true),
    flag("initial-cluster-state", Kind::Choice(CLUSTER_STATES), "new", true),
    flag("initial-cluster-token", Text, "etcd-cluster", true),
    flag("advertise-client-urls", Urls, "http://localhost:2379", true),
    flag("discovery", Text, "", false),
    flag("discovery-fallback", Kind::Choice(FALLBACKS), "proxy", false),
    flag("discovery-proxy", Text, "", false),
    flag("discovery-srv", Text, "", false),
    flag("discovery-srv-name", Text, "", false),
    flag("strict-reconfig-check", Bool, "true", true),
    flag("pre-vote", Bool, "false", false),
    flag("auto-compaction-retention", Text, "0", true),
    flag("auto-compaction-mode", Text, "periodic", true),
    flag("enable-v2", Bool, "false", false),
    // Proxy (v2).
    flag("proxy", Kind::Choice(PROXY_MODES), "off", false),
    flag("proxy-failure-wait", Uint, "5000", false),
    flag("proxy-refresh-interval", Uint, "30000", false),
    flag("proxy-dial-timeout", Uint, "1000", false),
    flag("proxy-write-timeout", Uint, "5000", false),
    flag("proxy-read-timeout", Uint, "0", false),
    // Security (the file has them under client-/peer-transport-security).
    cli_only("cert-file", Text, "", true),
    cli_only("key-file", Text, "", true),
    cli_only("client-cert-auth", Bool, "false", true),
    cli_only("client-crl-file", Text, "", true),
    cli_only("client-cert-allowed-hostname", Text, "", false),
    cli_only("trusted-ca-file", Text, "", true),
    cli_only("auto-tls", Bool, "false", true),
    cli_only("peer-cert-file", Text, "", true),
    cli_only("peer-key-file", Text, "", true),
    cli_only("peer-client-cert-auth", Bool, "false", true),
    cli_only("peer-trusted-ca-file", Text, "", true),
    cli_only("peer-cert-allowed-cn", Text, "", false),
    cli_only("peer-cert-allowed-hostname", Text, "", false),
    cli_only("peer-auto-tls", Bool, "false", true),
    cli_only("peer-crl-file", Text, "", true),
    flag("cipher-suites", Text, "", true),
    flag("cors", Text, "*", false),
    flag("host-whitelist", Text, "*", false),
    cli_only("experimental-peer-skip-client-san-verification", Bool, "false", false),
    // Auth.
    flag("auth-token", Text, "simple", true),
    flag("bcrypt-cost", Uint, "10", true),
    flag("auth-token-ttl", Uint, "300", true),
    // Profiling, monitoring and logging.
    flag("enable-pprof", Bool, "false", false),
    flag("metrics", Text, "basic", true),
    flag("logger", Text, "zap", true),
    flag("log-outputs", Text, "default", true),
    flag("log-output", Text, "", true),
    flag("log-level", Text, "info", true),
    flag("debug", Bool, "false", true),
    flag("log-package-levels", Text, "", false),
    // Version.
    cli_only("version", Bool, "false", true),
    // gRPC gateway.
    flag("enable-grpc-gateway", Bool, "true", false),
    // Experimental.
    flag("experimental-initial-corrupt-check", Bool, "false", true),
    flag("experimental-corrupt-check-time", Duration, "0s", true),
    flag("experimental-enable-v2v3", Text, "", false),
    flag("experimental-enable-lease-checkpoint", Bool, "false", false),
    flag("experimental-enable-lease-checkpoint-persist", Bool, "false", false),
    flag("experimental-compaction-batch-limit", Int, "0", false),
    flag("experimental-backend-bbolt-freelist-type", Text, "", false),
    flag("experimental-watch-progress-notify-interval", Duration, "10m", true),
    flag("experimental-warning-apply-duration", Duration, "100ms", false),
    // Unsafe.
    flag("force-new-cluster", Bool, "false", false),
    flag("unsafe-no-fsync", Bool, "false", false),
    // MetaStore's own (etcd 3.4 has no such flag).
    flag("auto-promote-learners", Bool, "false", true),
    // Retired long ago; etcd still accepts them with a warning.
    cli_only("cluster-active-size", Retired, "", false),
    cli_only("cluster-remove-delay", Retired, "", false),
    cli_only("cluster-sync-interval", Retired, "", false),
    cli_only("config", Retired, "", false),
    cli_only("force", Retired, "", false),
    cli_only("max-result-buffer", Retired, "", false),
    cli_only("max-retry-attempts", Retired, "", false),
    cli_only("peer-heartbeat-interval", Retired, "", false),
    cli_only("peer-election-timeout", Retired, "", false),
    cli_only("retry-interval", Retired, "", false),
    cli_only("snapshot", Retired, "", false),
    cli_only("v", Retired, "", false),
    cli_only("vv", Retired, "", false),
];

/// The flag named `name`, if etcd 3.4 (or MetaStore) has it.
pub fn find(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

/// The flags given on a command line, by name (the last one given wins, as in Go).
#[derive(Debug, Default)]
pub struct CommandLine {
    pub values: BTreeMap<String, String>,
    /// `-h` / `-help` / `--help` (Go's flag package answers them itself).
    pub help: bool,
}

/// Read `args` (without argv[0]) as Go's flag package does for etcd's flag set.
pub fn parse_args(args: &[String]) -> Result<CommandLine, ConfigError> {
    let mut line = CommandLine::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            break;
        }
        let Some(stripped) = arg.strip_prefix('-').filter(|s| !s.is_empty()) else {
            break; // the first positional argument ends the flags
        };
        i += 1;
        let stripped = stripped.strip_prefix('-').unwrap_or(stripped);
        if stripped.is_empty() || stripped.starts_with('-') || stripped.starts_with('=') {
            return Err(ConfigError::Usage(format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        if matches!(name, "h" | "help") {
            line.help = true;
            continue;
        }
        let flag = find(name)
            .ok_or_else(|| ConfigError::Usage(format!("flag provided but not defined: -{name}")))?;
        let value = match (inline, flag.kind) {
            (Some(v), _) => v,
            (None, Bool | Retired) => "true".to_string(),
            (None, _) => {
                let v = args
                    .get(i)
                    .ok_or_else(|| ConfigError::Usage(format!("flag needs an argument: -{name}")))?;
                i += 1;
                v.clone()
            }
        };
        check_value(flag, &value).map_err(|why| ConfigError::Usage(flag_error(flag, &value, &why)))?;
        line.values.insert(name.to_string(), value);
    }
    if let Some(extra) = args.get(i) {
        return Err(ConfigError::Invalid(format!("'{extra}' is not a valid flag")));
    }
    Ok(line)
}

/// Go's message for a value its flag refuses.
fn flag_error(flag: &Flag, value: &str, why: &str) -> String {
    match flag.kind {
        Bool | Retired => format!("invalid boolean value {value:?} for -{}: {why}", flag.name),
        _ => format!("invalid value {value:?} for flag -{}: {why}", flag.name),
    }
}

/// Check `value` against `flag`'s kind; the error is Go's reason ("parse error", ...).
pub fn check_value(flag: &Flag, value: &str) -> Result<(), String> {
    let parse_error = || "parse error".to_string();
    match flag.kind {
        Bool => parse_bool(flag.name, value).map(|_| ()).map_err(|_| parse_error()),
        Retired | Text => Ok(()),
        Uint => value.parse::<u64>().map(|_| ()).map_err(|_| parse_error()),
        Uint32 => value
            .parse::<u32>()
            .map(|_| ())
            .map_err(|_| format!("strconv.ParseUint: parsing {value:?}: invalid syntax")),
        Int => value.parse::<i64>().map(|_| ()).map_err(|_| parse_error()),
        Duration => parse_duration_ms(flag.name, value).map(|_| ()).map_err(|_| parse_error()),
        Urls => value.split(',').try_for_each(check_url),
        Kind::Choice(allowed) => {
            if allowed.contains(&value) {
                Ok(())
            } else {
                Err("invalid value".to_string())
            }
        }
    }
}

/// Whether `value` means the flag's default (`false` for a bool defaulting to false,
/// `5000` for `5000`, `2h` for `120m`).
fn is_default(flag: &Flag, value: &str) -> bool {
    match flag.kind {
        Bool => parse_bool(flag.name, value).ok() == parse_bool(flag.name, flag.default).ok(),
        Uint | Uint32 | Int => value.parse::<i128>().ok() == flag.default.parse::<i128>().ok(),
        Duration => {
            parse_duration_ms(flag.name, value).ok() == parse_duration_ms(flag.name, flag.default).ok()
        }
        _ => value == flag.default,
    }
}

/// etcd's `types.NewURLs` check of one URL.
fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("URL scheme must be http, https, unix, or unixs: {url}"));
    };
    if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
        return Err(format!("URL scheme must be http, https, unix, or unixs: {url}"));
    }
    let (host, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    if matches!(scheme, "http" | "https") && host.rsplit_once(':').is_none_or(|(_, port)| port.is_empty()) {
        return Err(format!("URL address does not have the form \"host:port\": {url}"));
    }
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {url}"));
    }
    Ok(())
}

/// The flags that are set (on the command line, in the environment or in a config
/// file) to something other than etcd's default and that MetaStore does not act on,
/// with the warning to log for each.
pub fn inert_warnings(set: &BTreeMap<String, String>) -> Vec<String> {
    let mut warnings = Vec::new();
    for (name, value) in set.iter() {
        match find(name) {
            Some(f) if f.kind == Retired => warnings.push(format!("flag \"-{name}\" is no longer supported - ignoring.")),
            Some(f) if !f.acted && !is_default(f, value) => warnings.push(format!(
                "flag --{name} is accepted for etcd compatibility but has no effect in MetaStore (docs/compat.md)"
            )),
            _ => {}
        }
    }
    warnings
}
