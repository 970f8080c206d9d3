use super::*;

fn args(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn defaults_are_etcds() {
    let c = parse(&[], &no_env).unwrap();
    assert_eq!(c.name, "default");
    assert_eq!(c.data_dir, "default.etcd");
    assert_eq!(c.listen_client_urls, vec!["http://localhost:2379"]);
    assert_eq!(c.initial_cluster, vec![("default".to_string(), "http://localhost:2380".to_string())]);
    assert_eq!(c.initial_cluster_token, "etcd-cluster");
    assert_eq!(c.snapshot_count, 100_000);
    assert_eq!(c.max_txn_ops, 128);
    assert_eq!(c.max_request_bytes, 1_572_864);
    assert_eq!(c.quota_backend_bytes, DEFAULT_QUOTA_BYTES);
    assert!(c.initial_cluster_state_new);
}

#[test]
fn flag_forms_and_env() {
    let env = |k: &str| match k {
        "ETCD_NAME" => Some("from-env".to_string()),
        "ETCD_SNAPSHOT_COUNT" => Some("7".to_string()),
        _ => None,
    };
    let c = parse(&args("--data-dir=/tmp/x -max-txn-ops 5 --name cli"), &env).unwrap();
    assert_eq!(c.name, "cli", "command line wins over ETCD_NAME");
    assert_eq!(c.data_dir, "/tmp/x");
    assert_eq!(c.max_txn_ops, 5);
    assert_eq!(c.snapshot_count, 7);
    let c = parse(&[], &env).unwrap();
    assert_eq!(c.data_dir, "from-env.etcd");
}

#[test]
fn inert_etcd_flags_are_accepted_with_a_warning_and_do_not_eat_the_next_flag() {
    let c =
        parse(&args("--enable-v2 --name n1 --enable-pprof --max-wals 3 --force-new-cluster=false"), &no_env)
            .unwrap();
    assert_eq!(c.name, "n1");
    assert_eq!(c.warnings.len(), 3, "set to etcd's default: no warning; {:?}", c.warnings);
    assert!(c.warnings.iter().all(|w| w.contains("has no effect")), "{:?}", c.warnings);
    let c = parse(&args("-v --snapshot"), &no_env).unwrap();
    assert_eq!(
        c.warnings,
        [
            "flag \"-snapshot\" is no longer supported - ignoring.",
            "flag \"-v\" is no longer supported - ignoring."
        ]
    );
}

fn load_err(flags: &str) -> ConfigError {
    load(&args(flags), &no_env, &|p| Err(format!("open {p}: no file in this test"))).unwrap_err()
}

#[test]
fn command_line_errors_are_gos_with_etcds_exit_codes() {
    let usage = |m: &str| ConfigError::Usage(m.to_string());
    let cases = [
        ("--no-such-flag", usage("flag provided but not defined: -no-such-flag")),
        ("--name n1 -no-such-flag=3", usage("flag provided but not defined: -no-such-flag")),
        ("--name", usage("flag needs an argument: -name")),
        ("---x", usage("bad flag syntax: ---x")),
        ("--=x", usage("bad flag syntax: --=x")),
        ("--max-wals abc", usage("invalid value \"abc\" for flag -max-wals: parse error")),
        ("--enable-v2=maybe", usage("invalid boolean value \"maybe\" for -enable-v2: parse error")),
        ("--experimental-corrupt-check-time 10", usage("invalid value \"10\" for flag -experimental-corrupt-check-time: parse error")),
        ("--initial-cluster-state maybe", usage("invalid value \"maybe\" for flag -initial-cluster-state: invalid value")),
        ("--proxy bogus", usage("invalid value \"bogus\" for flag -proxy: invalid value")),
        (
            "--listen-client-urls foo",
            usage("invalid value \"foo\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: foo"),
        ),
        (
            "--listen-client-urls http://x",
            usage("invalid value \"http://x\" for flag -listen-client-urls: URL address does not have the form \"host:port\": http://x"),
        ),
        (
            "--advertise-client-urls http://1.2.3.4:5/p",
            usage("invalid value \"http://1.2.3.4:5/p\" for flag -advertise-client-urls: URL must not contain a path: http://1.2.3.4:5/p"),
        ),
        ("--name n1 foo --x", ConfigError::Invalid("'foo' is not a valid flag".to_string())),
        ("--name n1 -- --x", ConfigError::Invalid("'--x' is not a valid flag".to_string())),
        ("--logger bogus", ConfigError::Invalid("unknown logger option \"bogus\"".to_string())),
    ];
    for (flags, want) in cases {
        assert_eq!(load_err(flags), want, "{flags}");
    }
    assert_eq!(load_err("--no-such-flag").exit_code(), 2);
    assert_eq!(load_err("foo").exit_code(), 1);
    // A bool flag never takes the next argument: it is a positional one.
    assert_eq!(load_err("--auto-tls true"), ConfigError::Invalid("'true' is not a valid flag".to_string()));
}

#[test]
fn env_values_are_checked_as_flags_and_empty_ones_skipped() {
    let env = |k: &str| match k {
        "ETCD_MAX_WALS" => Some("x".to_string()),
        _ => None,
    };
    let err = load(&[], &env, &|_| unreachable!()).unwrap_err();
    assert_eq!(err, ConfigError::Invalid("invalid value \"x\" for ETCD_MAX_WALS: parse error".to_string()));
    let env = |k: &str| (k == "ETCD_NAME").then(String::new);
    assert_eq!(parse(&[], &env).unwrap().name, "default", "etcd skips an empty variable");
}

#[test]
fn help_and_version_are_answered_before_anything_else_is_read() {
    let env = |k: &str| (k == "ETCD_CONFIG_FILE").then(|| "/nowhere.yml".to_string());
    for (flags, help) in [("-h", true), ("--help", true), ("--version --config-file /x.yml", false)] {
        let c = load(&args(flags), &env, &|_| Err("must not be read".to_string())).unwrap();
        assert_eq!((c.show_help, c.show_version), (help, !help), "{flags}");
    }
}

#[test]
fn logging_flags_as_etcds_setup_logging() {
    let c = parse(&[], &no_env).unwrap();
    assert_eq!(
        (c.logger.as_str(), c.log_level.as_str(), c.log_outputs.clone()),
        ("zap", "info", vec!["default".to_string()])
    );
    let c =
        parse(&args("--log-outputs stdout,/tmp/b.log,stdout,/tmp/a.log --log-level warn"), &no_env).unwrap();
    assert_eq!(
        c.log_outputs,
        ["/tmp/a.log", "/tmp/b.log", "stdout"],
        "unique and sorted, as etcd keeps them"
    );
    assert_eq!(c.log_level, "warn");
    let c = parse(&args("--debug"), &no_env).unwrap();
    assert_eq!(c.log_level, "debug");
    assert!(c.warnings[0].contains("Deprecated '--debug'"), "{:?}", c.warnings);
    let c = parse(&args("--log-output stdout"), &no_env).unwrap();
    assert_eq!(c.log_outputs, ["stdout"]);
    let c = parse(&args("--logger capnslog --log-outputs stdout"), &no_env).unwrap();
    assert_eq!(c.logger, "capnslog");
    assert!(c.warnings.iter().any(|w| w.contains("Deprecated '--logger=capnslog'")), "{:?}", c.warnings);
    for (flags, want) in [
        ("--log-level loud", "unknown level \"loud\""),
        ("--logger zap --log-outputs default,stdout", "multi logoutput for \"default\" is not supported yet"),
        (
            "--logger capnslog --log-outputs stdout,stderr",
            "--logger=capnslog supports only 1 value in '--log-outputs', got [\"stderr\" \"stdout\"]",
        ),
        (
            "--logger capnslog --log-outputs /x.log",
            "unknown log-output \"/x.log\" (only supports \"default\", \"stderr\", \"stdout\")",
        ),
        (
            "--log-output stdout --log-outputs stderr",
            "both '--log-output' and '--log-outputs' are set; only set '--log-outputs'",
        ),
    ] {
        assert_eq!(parse(&args(flags), &no_env).unwrap_err(), want, "{flags}");
    }
}

#[test]
fn wal_dir_defaults_to_the_member_dir() {
    let c = parse(&args("--data-dir /d"), &no_env).unwrap();
    assert_eq!(c.wal_dir_path(), std::path::PathBuf::from("/d/member/wal"));
    let c = parse(&args("--data-dir /d --wal-dir /fast/wal"), &no_env).unwrap();
    assert_eq!((c.wal_dir.as_str(), c.wal_dir_path()), ("/fast/wal", std::path::PathBuf::from("/fast/wal")));
}

#[test]
fn bad_values_are_errors() {
    assert!(parse(&args("--snapshot-count abc"), &no_env).unwrap_err().contains("snapshot-count"));
    assert!(parse(&args("--initial-cluster-state maybe"), &no_env).is_err());
    assert!(parse(&args("--experimental-foo 5"), &no_env).unwrap_err().contains("not defined"));
    assert!(parse(&args("--name"), &no_env).unwrap_err().contains("needs an argument"));
    assert!(parse(&args("--initial-cluster a"), &no_env).unwrap_err().contains("missing '='"));
}

#[test]
fn urls() {
    assert_eq!(url_host_port("http://127.0.0.1:2379").unwrap(), ("127.0.0.1".into(), 2379, false));
    assert_eq!(url_host_port("https://localhost:1/").unwrap(), ("localhost".into(), 1, true));
    assert!(url_host_port("ftp://x:1").is_err());
    assert!(url_host_port("http://x").is_err());
}

#[test]
fn durations_and_default_true_flags() {
    let c = parse(&[], &no_env).unwrap();
    assert_eq!(c.watch_progress_notify_interval_ms, 600_000, "etcd's default 10m");
    assert!(c.strict_reconfig_check, "etcd's default is on");
    let c = parse(
        &args("--experimental-watch-progress-notify-interval 1m30s --strict-reconfig-check=false"),
        &no_env,
    )
    .unwrap();
    assert_eq!(c.watch_progress_notify_interval_ms, 90_000);
    assert!(!c.strict_reconfig_check);
    assert!(!parse(&[], &no_env).unwrap().auto_promote_learners, "MetaStore's own flag is off by default");
    assert!(parse(&args("--auto-promote-learners"), &no_env).unwrap().auto_promote_learners);
    let env = |k: &str| (k == "ETCD_AUTO_PROMOTE_LEARNERS").then(|| "true".to_string());
    assert!(parse(&[], &env).unwrap().auto_promote_learners);
    assert!(parse(&args("--auto-promote-learners=maybe"), &no_env).is_err());
    assert_eq!(parse_duration_ms("f", "250ms"), Ok(250));
    assert_eq!(parse_duration_ms("f", "0"), Ok(0));
    assert_eq!(parse_duration_ms("f", "1.5s"), Ok(1500));
    assert!(parse_duration_ms("f", "10").is_err());
    assert!(parse_duration_ms("f", "5 parsecs").is_err());
}

#[test]
fn tls_flags_from_flags_and_env() {
    let env = |k: &str| match k {
        "ETCD_PEER_AUTO_TLS" => Some("true".to_string()),
        "ETCD_TRUSTED_CA_FILE" => Some("/ca.crt".to_string()),
        _ => None,
    };
    let c = parse(
        &args(
            "--auto-tls --cert-file /s.crt --key-file=/s.key --client-cert-auth --client-crl-file /r.crl \
             --peer-cert-file /p.crt --peer-client-cert-auth=false \
             --cipher-suites TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        &env,
    )
    .unwrap();
    assert!(c.warnings.is_empty(), "TLS flags are real flags now: {:?}", c.warnings);
    let client = &c.client_tls;
    assert!(client.auto_tls && client.client_cert_auth);
    assert_eq!((client.cert_file.as_str(), client.key_file.as_str()), ("/s.crt", "/s.key"));
    assert_eq!((client.trusted_ca_file.as_str(), client.crl_file.as_str()), ("/ca.crt", "/r.crl"));
    let peer = &c.peer_tls;
    assert!(peer.auto_tls, "from ETCD_PEER_AUTO_TLS");
    assert!(!peer.client_cert_auth);
    assert_eq!(peer.cert_file, "/p.crt");
    assert!(peer.trusted_ca_file.is_empty() && peer.crl_file.is_empty());
    assert_eq!(c.cipher_suites.len(), 2);
    let d = parse(&[], &no_env).unwrap();
    assert!(d.client_tls.is_empty() && d.peer_tls.is_empty() && d.cipher_suites.is_empty());
}

#[test]
fn auto_compaction_is_off_by_default_and_at_retention_zero() {
    assert_eq!(parse(&[], &no_env).unwrap().auto_compaction, None, "etcd's default retention is 0");
    for flags in [
        "--auto-compaction-retention 0",
        "--auto-compaction-mode revision --auto-compaction-retention 0",
        "--auto-compaction-retention 0s",
    ] {
        let c = parse(&args(flags), &no_env).unwrap();
        assert_eq!(c.auto_compaction, None, "{flags}");
        assert!(c.warnings.is_empty(), "real flags now: {:?}", c.warnings);
    }
}

#[test]
fn auto_compaction_retention_as_etcd_reads_it() {
    let periodic = |retention_ms| Some(AutoCompaction::Periodic { retention_ms });
    let hour = 3_600_000;
    let cases = [
        ("--auto-compaction-retention 1", periodic(hour)),
        ("--auto-compaction-retention=72", periodic(72 * hour)),
        ("--auto-compaction-mode periodic --auto-compaction-retention 30m", periodic(30 * 60_000)),
        ("--auto-compaction-retention 1h30m", periodic(hour + 30 * 60_000)),
        ("--auto-compaction-retention 2s", periodic(2_000)),
        (
            "--auto-compaction-mode revision --auto-compaction-retention 1000",
            Some(AutoCompaction::Revision { retention: 1000, interval_ms: REVISION_INTERVAL_MS }),
        ),
    ];
    for (flags, want) in cases {
        assert_eq!(parse(&args(flags), &no_env).unwrap().auto_compaction, want, "{flags}");
    }
    // A duration in revision mode counts nanoseconds as revisions, as etcd does; warned.
    let c = parse(&args("--auto-compaction-mode revision --auto-compaction-retention 1s"), &no_env).unwrap();
    assert_eq!(
        c.auto_compaction,
        Some(AutoCompaction::Revision { retention: 1_000_000_000, interval_ms: REVISION_INTERVAL_MS })
    );
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
}

#[test]
fn auto_compaction_from_env_and_test_interval() {
    let env = |k: &str| match k {
        "ETCD_AUTO_COMPACTION_MODE" => Some("revision".to_string()),
        "ETCD_AUTO_COMPACTION_RETENTION" => Some("10".to_string()),
        AUTO_COMPACTION_INTERVAL_ENV => Some("250".to_string()),
        _ => None,
    };
    let c = parse(&[], &env).unwrap();
    assert_eq!(c.auto_compaction, Some(AutoCompaction::Revision { retention: 10, interval_ms: 250 }));
    let c = parse(&args("--auto-compaction-mode periodic --auto-compaction-retention 5m"), &env).unwrap();
    assert_eq!(
        c.auto_compaction,
        Some(AutoCompaction::Periodic { retention_ms: 300_000 }),
        "flags win; the test interval is revision mode's only"
    );
}

#[test]
fn bad_auto_compaction_flags_are_etcds_errors() {
    let err = |flags: &str| parse(&args(flags), &no_env).unwrap_err();
    assert_eq!(err("--auto-compaction-mode hourly"), "unknown auto-compaction-mode \"hourly\"");
    assert_eq!(
        err("--auto-compaction-mode hourly --auto-compaction-retention 0"),
        "unknown auto-compaction-mode \"hourly\"",
        "checked even when compaction is off, as etcd's Validate does"
    );
    assert_eq!(
        err("--auto-compaction-retention abc"),
        "error parsing CompactionRetention: time: invalid duration \"abc\""
    );
    assert!(err("--auto-compaction-retention -1").starts_with("error parsing CompactionRetention"));
    assert!(err("--auto-compaction-retention -1h").starts_with("error parsing CompactionRetention"));
    let env = |k: &str| (k == AUTO_COMPACTION_INTERVAL_ENV).then(|| "soon".to_string());
    let flags = args("--auto-compaction-mode revision --auto-compaction-retention 5");
    assert!(parse(&flags, &env).unwrap_err().contains(AUTO_COMPACTION_INTERVAL_ENV));
}

#[test]
fn auth_flags_default_as_etcd() {
    let c = parse(&[], &no_env).unwrap();
    assert_eq!(c.auth_token, AuthTokenSpec::Simple);
    assert_eq!((c.auth_token_ttl_s, c.bcrypt_cost), (300, 10));
    let c = parse(&args("--auth-token-ttl 5 --bcrypt-cost 4"), &no_env).unwrap();
    assert_eq!((c.auth_token_ttl_s, c.bcrypt_cost), (5, 4));
    let env = |k: &str| (k == "ETCD_AUTH_TOKEN").then(|| "simple".to_string());
    assert_eq!(parse(&[], &env).unwrap().auth_token, AuthTokenSpec::Simple);
}

#[test]
fn a_bad_bcrypt_cost_falls_back_to_10_with_etcds_warning() {
    for bad in ["3", "32", "0"] {
        let c = parse(&args(&format!("--bcrypt-cost {bad}")), &no_env).unwrap();
        assert_eq!(c.bcrypt_cost, 10);
        assert!(c.warnings.iter().any(|w| w.contains(&format!("invalid value {bad}"))), "{:?}", c.warnings);
    }
    assert!(parse(&args("--bcrypt-cost x"), &no_env).is_err());
}

#[test]
fn auth_token_jwt_options() {
    let spec = parse_auth_token("jwt,pub-key=/k.pub,priv-key=/k.key,sign-method=RS256,ttl=1s").unwrap();
    assert_eq!(
        spec,
        AuthTokenSpec::Jwt {
            pub_key: "/k.pub".into(),
            priv_key: "/k.key".into(),
            sign_method: "RS256".into(),
            ttl_ms: 1000
        }
    );
    let default_ttl = parse_auth_token("jwt,priv-key=/s,sign-method=HS256").unwrap();
    assert!(matches!(default_ttl, AuthTokenSpec::Jwt { ttl_ms: 300_000, .. }));
    for bad in [
        "jwt",
        "jwt,sign-method=RS256",
        "jwt,pub-key=/k,ttl=1s",
        "jwt,pub-key",
        "jwt,colour=blue,sign-method=RS256,pub-key=/k",
        "jwt,pub-key=/k,sign-method=RS256,ttl=soon",
        "oauth",
        "simple,ttl=1s",
    ] {
        assert!(parse_auth_token(bad).is_err(), "{bad} should be refused");
    }
    assert!(parse(&args("--auth-token nope"), &no_env).is_err());
}

#[test]
fn every_flag_accepted_but_not_acted_on_is_listed_in_docs_compat() {
    let compat = include_str!("../docs/compat.md");
    let section = compat.split("### Flags accepted but not acted on").nth(1).expect("the section");
    let section = section.split("\n### ").next().unwrap();
    // The first cell of each table row names the flags.
    let listed: String = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `--"))
        .map(|row| row.split('|').next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(" `--");
    let listed = format!("`--{listed}");
    let missing: Vec<&str> = flags::FLAGS
        .iter()
        .filter(|f| !f.acted && !listed.contains(&format!("`--{}`", f.name)))
        .map(|f| f.name)
        .collect();
    assert!(missing.is_empty(), "docs/compat.md does not list {missing:?}");
    let listed_but_acted: Vec<&str> = flags::FLAGS
        .iter()
        .filter(|f| f.acted && listed.contains(&format!("`--{}`", f.name)))
        .map(|f| f.name)
        .collect();
    assert!(listed_but_acted.is_empty(), "acted on, yet listed as inert: {listed_but_acted:?}");
}
