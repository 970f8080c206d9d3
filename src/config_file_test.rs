//! `--config-file`: etcd's keys, the TLS sections, lists, durations, nulls, what is
//! skipped, and that flags and `ETCD_*` variables are then ignored.

use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// Load with `--config-file /etc/etcd.yml` (plus `extra` flags) whose text is `yaml`.
fn load_yaml(yaml: &str, extra: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let read = |path: &str| match path {
        "/etc/etcd.yml" => Ok(yaml.to_string()),
        other => Err(format!("open {other}: no such file or directory")),
    };
    load(&args(&format!("--config-file /etc/etcd.yml {extra}")), env, &read)
}

fn no_env(_: &str) -> Option<String> {
    None
}

const FULL: &str = r#"
# As etcd's sample file writes them.
name: 'infra1'
data-dir: /var/lib/etcd/infra1
wal-dir: /fast/infra1-wal
snapshot-count: 10000
heartbeat-interval: 50
election-timeout: 500
quota-backend-bytes: 8589934592
listen-peer-urls: http://127.0.0.1:12380
listen-client-urls: http://127.0.0.1:12379,http://127.0.0.2:12379
max-snapshots: 3
max-wals: 5
cors:
initial-advertise-peer-urls: http://127.0.0.1:12380
advertise-client-urls: http://127.0.0.1:12379
discovery:
discovery-fallback: 'proxy'
initial-cluster: infra1=http://127.0.0.1:12380,infra2=http://127.0.0.1:22380
initial-cluster-token: 'tok'
initial-cluster-state: 'existing'
strict-reconfig-check: false
enable-pprof: true
proxy: 'off'
client-transport-security:
  cert-file: /c/server.crt
  key-file: /c/server.key
  client-cert-auth: true
  trusted-ca-file: /c/ca.crt
  auto-tls: false
peer-transport-security:
  cert-file:
  key-file:
  client-cert-auth: false
  trusted-ca-file:
  auto-tls: yes
log-level: debug
logger: zap
log-outputs: [stderr, /var/log/etcd.log]
auto-compaction-mode: revision
auto-compaction-retention: "1000"
cipher-suites: [
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
]
experimental-corrupt-check-time: 300000000000
experimental-watch-progress-notify-interval: 90s
auth-token: simple
bcrypt-cost: 4
"#;

#[test]
fn every_kind_of_key_is_read() {
    let c = load_yaml(FULL, "", &no_env).unwrap();
    assert_eq!(c.config_file, "/etc/etcd.yml");
    assert_eq!(
        (c.name.as_str(), c.data_dir.as_str(), c.wal_dir.as_str()),
        ("infra1", "/var/lib/etcd/infra1", "/fast/infra1-wal")
    );
    assert_eq!((c.snapshot_count, c.heartbeat_interval_ms, c.election_timeout_ms), (10_000, 50, 500));
    assert_eq!(c.quota_backend_bytes, 8_589_934_592);
    assert_eq!(c.listen_client_urls, ["http://127.0.0.1:12379", "http://127.0.0.2:12379"]);
    assert_eq!(c.initial_cluster.len(), 2);
    assert_eq!(c.initial_cluster_token, "tok");
    assert!(!c.initial_cluster_state_new && !c.strict_reconfig_check);
    let client = &c.client_tls;
    assert_eq!((client.cert_file.as_str(), client.key_file.as_str()), ("/c/server.crt", "/c/server.key"));
    assert!(client.client_cert_auth && !client.auto_tls);
    assert_eq!(client.trusted_ca_file, "/c/ca.crt");
    assert!(c.peer_tls.auto_tls, "YAML 1.1's yes, as etcd's YAML library reads it");
    assert!(c.peer_tls.cert_file.is_empty() && !c.peer_tls.client_cert_auth);
    assert_eq!((c.logger.as_str(), c.log_level.as_str()), ("zap", "debug"));
    assert_eq!(c.log_outputs, ["/var/log/etcd.log", "stderr"]);
    assert_eq!(
        c.auto_compaction,
        Some(AutoCompaction::Revision { retention: 1000, interval_ms: REVISION_INTERVAL_MS })
    );
    assert_eq!(c.cipher_suites.len(), 2);
    assert_eq!(c.corrupt_check_interval_ms, 300_000, "a duration is Go's nanoseconds");
    assert_eq!(c.watch_progress_notify_interval_ms, 90_000, "or, more leniently, a Go duration");
    assert_eq!(c.bcrypt_cost, 4);
    // Set, not acted on, not etcd's default: max-snapshots, enable-pprof (not max-wals,
    // discovery-fallback or proxy, which are given their defaults).
    let inert: Vec<&String> = c.warnings.iter().filter(|w| w.contains("has no effect")).collect();
    assert_eq!(inert.len(), 2, "{:?}", c.warnings);
}

#[test]
fn flags_and_env_are_ignored_with_a_file() {
    let env = |k: &str| match k {
        "ETCD_NAME" => Some("from-env".to_string()),
        "ETCD_SNAPSHOT_COUNT" => Some("7".to_string()),
        _ => None,
    };
    let c = load_yaml("name: from-file\n", "--name from-flag --data-dir /x", &env).unwrap();
    assert_eq!((c.name.as_str(), c.data_dir.as_str()), ("from-file", "from-file.etcd"));
    assert_eq!(c.snapshot_count, 100_000, "ETCD_SNAPSHOT_COUNT ignored");
    assert!(c.warnings.iter().any(|w| w.contains("--data-dir --name")), "{:?}", c.warnings);

    // ETCD_CONFIG_FILE names the file when the flag does not.
    let env = |k: &str| match k {
        "ETCD_CONFIG_FILE" => Some("/etc/etcd.yml".to_string()),
        "ETCD_NAME" => Some("from-env".to_string()),
        _ => None,
    };
    let read = |_: &str| Ok("name: via-env-file\n".to_string());
    let c = load(&args("--name from-flag"), &env, &read).unwrap();
    assert_eq!((c.name.as_str(), c.config_file.as_str()), ("via-env-file", "/etc/etcd.yml"));
    // Still: the command line must be etcd's.
    assert_eq!(
        load_yaml("name: x\n", "--no-such-flag", &no_env).unwrap_err(),
        ConfigError::Usage("flag provided but not defined: -no-such-flag".to_string())
    );
}

#[test]
fn an_empty_file_is_etcds_defaults_and_unknown_keys_are_skipped() {
    let c = load_yaml("", "", &no_env).unwrap();
    assert_eq!((c.name.as_str(), c.data_dir.as_str()), ("default", "default.etcd"));
    let c = load_yaml("# nothing\nname:\n", "", &no_env).unwrap();
    assert_eq!(c.name, "default", "null keeps the default");
    let c = load_yaml("NAME: upper\nself-signed-cert-validity: 1\ncert-file: /top-level.crt\n", "", &no_env)
        .unwrap();
    assert_eq!(c.name, "upper", "keys match without regard to case, as Go's JSON decoder");
    assert!(c.client_tls.cert_file.is_empty(), "TLS files come only from client-transport-security");
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
}

#[test]
fn bad_files_are_refused_naming_the_key() {
    let invalid = |yaml: &str| match load_yaml(yaml, "", &no_env) {
        Err(ConfigError::Invalid(m)) => m,
        other => panic!("{yaml:?}: {other:?}"),
    };
    assert!(invalid("name: [a").starts_with("error converting YAML to JSON: yaml: "));
    assert!(invalid("- a\n- b\n").contains("not a mapping"));
    assert!(invalid("snapshot-count: lots\n").contains("\"snapshot-count\""));
    assert!(invalid("client-transport-security: yes\n").contains("not a mapping"));
    assert!(invalid("client-transport-security:\n  client-cert-auth: maybe\n")
        .contains("client-transport-security.client-cert-auth"));
    assert!(invalid("listen-client-urls: localhost\n").contains("URL scheme"));
    assert!(invalid("name: {a: 1}\n").contains("\"name\""));
    assert!(invalid("log-level: loud\n").contains("unknown level"));
    assert!(invalid("experimental-corrupt-check-time: soon\n").contains("experimental-corrupt-check-time"));
    let err = load(&args("--config-file /missing.yml"), &no_env, &|p| Err(format!("open {p}: no such file")));
    assert_eq!(err.unwrap_err(), ConfigError::Invalid("open /missing.yml: no such file".to_string()));
}
