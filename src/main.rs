//! The `metastore` binary: etcd's flags and `ETCD_*` variables, or etcd's YAML
//! `--config-file` → [`Config`] → a node serving etcd's gRPC API, logging as etcd
//! does ([`metastore::logging`]). Refuses what etcd refuses with etcd's exit status (2
//! for a bad command line, 1 for a bad configuration). Prints etcd's readiness lines
//! once serving; on SIGINT or SIGTERM stops serving, lets in-flight writes finish or
//! fail, and exits 0.
//! `metastore bench ...` runs the load generator ([`metastore::bench`]) instead, and
//! `metastore snapshot restore ...` restores a snapshot file into a new data dir
//! ([`metastore::snapshot_cmd`]).

#[cfg(madsim)]
fn main() {
    eprintln!("metastore: this is a simulation build (--cfg madsim); run the simulator in sim/ instead");
}

#[cfg(not(madsim))]
fn main() {
    etcdmain::main()
}

/// The real binary (named after etcd's package, so capnslog lines read `etcdmain:`).
#[cfg(not(madsim))]
mod etcdmain {
    use std::sync::Arc;

    use metastore::config::{self, Config, ConfigError};
    use metastore::env::fs_disk::FsDisk;
    use metastore::env::Disk;
    use metastore::node::Node;
    use metastore::server::{CLUSTER_VERSION, SERVER_VERSION};

    const USAGE: &str = "usage: metastore [flags]\n\
        usage: metastore --config-file FILE   etcd's YAML configuration file (flags and ETCD_* are then ignored)\n\
        \n  etcd 3.4's flags, e.g. --name, --data-dir, --wal-dir, --listen-client-urls, --advertise-client-urls,\n  \
        --listen-peer-urls, --initial-advertise-peer-urls, --initial-cluster, --initial-cluster-state,\n  \
        --initial-cluster-token, --snapshot-count, --max-txn-ops, --max-request-bytes,\n  \
        --quota-backend-bytes, --heartbeat-interval, --election-timeout, --auto-compaction-mode,\n  \
        --auto-compaction-retention, --log-level, --logger, --log-outputs, --version;\n  \
        TLS: --cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --client-crl-file, --auto-tls,\n  \
        --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth, --peer-crl-file,\n  \
        --peer-auto-tls, --cipher-suites.\n  \
        MetaStore's own: --auto-promote-learners (the leader promotes a learner once it is in sync).\n  \
        Each may also be set as ETCD_<FLAG_NAME> (e.g. ETCD_DATA_DIR). Flags MetaStore accepts but does\n  \
        not act on are listed in docs/compat.md.\n\n\
        usage: metastore bench <workload> [flags]   a load generator; see metastore bench --help\n\
        usage: metastore snapshot restore <file> [flags]   a snapshot file into a new data dir; \
        see metastore snapshot --help";

    /// Refuse the configuration as etcd does: a bad command line with the usage and
    /// exit status 2, a bad configuration with "error verifying flags" and status 1.
    fn refuse(e: &ConfigError) -> ! {
        match e {
            ConfigError::Usage(m) => eprintln!("{m}\n{USAGE}"),
            ConfigError::Invalid(m) => {
                eprintln!("metastore: error verifying flags, {m}. See 'metastore --help'.")
            }
        }
        std::process::exit(e.exit_code());
    }

    /// The text of a `--config-file` (through the env facade, as every file).
    fn read_config_file(path: &str) -> Result<String, String> {
        let bytes =
            FsDisk::new().read(std::path::Path::new(path)).map_err(|e| format!("open {path}: {e}"))?;
        String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8 text"))
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("bench") {
            std::process::exit(metastore::bench::main(&args[1..]));
        }
        if args.first().map(String::as_str) == Some("snapshot") {
            std::process::exit(metastore::snapshot_cmd::main(&args[1..]));
        }
        let cfg = match config::load(&args, &|k| std::env::var(k).ok(), &read_config_file) {
            Ok(c) => c,
            Err(e) => refuse(&e),
        };
        if cfg.show_help {
            println!("{USAGE}");
            return;
        }
        if cfg.show_version {
            println!("etcd Version: {SERVER_VERSION}");
            println!("Git SHA: metastore-{}", env!("CARGO_PKG_VERSION"));
            println!("Go Version: n/a (metastore, Rust)");
            println!("Go OS/Arch: {}/{}", std::env::consts::OS, std::env::consts::ARCH);
            return;
        }
        if let Err(e) = metastore::logging::install(&cfg, &FsDisk::new()) {
            refuse(&ConfigError::Invalid(e));
        }
        let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("metastore: cannot start runtime: {e}");
                std::process::exit(1);
            }
        };
        let code = rt.block_on(run(cfg));
        std::process::exit(code);
    }

    async fn run(cfg: Config) -> i32 {
        // Before anything is started or announced: a SIGTERM sent as soon as the
        // readiness lines appear must stop the member cleanly, not kill it.
        let mut signals = Signals::install();
        if !cfg.config_file.is_empty() {
            tracing::info!(
                path = %cfg.config_file,
                "loaded server configuration, other configuration command line flags and environment variables will be ignored if provided"
            );
        }
        for w in &cfg.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(
            etcd_version = SERVER_VERSION,
            name = %cfg.name,
            data_dir = %cfg.data_dir,
            wal_dir = %cfg.wal_dir,
            member_dir = %std::path::Path::new(&cfg.data_dir).join("member").display(),
            "starting metastore"
        );
        let node = match Node::start(&cfg, Arc::new(FsDisk::new())).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "failed to start");
                eprintln!("metastore: {e}");
                return 1;
            }
        };
        let member = format!("{:x}", node.member_id());
        let cluster = format!("{:x}", node.cluster_id());
        tracing::info!(cluster_version = CLUSTER_VERSION, "enabled capabilities for version");
        tracing::info!(
            local_member_id = %member,
            cluster_id = %cluster,
            client_urls = %cfg.advertise_client_urls.join(","),
            "published local member to cluster through raft"
        );
        for addr in &node.client_addrs {
            tracing::info!(address = %addr, "ready to serve client requests");
        }
        if cfg.logger == "zap" {
            // What etcd 3.4's zap logger says instead, per listener.
            for url in &cfg.listen_client_urls {
                let Ok(address) = metastore::config::listen_addr(url) else { continue };
                if url.starts_with("https://") {
                    tracing::info!(%address, "serving client traffic securely");
                } else {
                    tracing::info!(%address, "serving client traffic insecurely; this is strongly discouraged!");
                }
            }
        }
        let code = tokio::select! {
            () = signals.wait() => {
                tracing::info!("received signal; shutting down");
                0
            }
            () = node.wait_removed() => {
                tracing::warn!("the member has been permanently removed from the cluster; shutting down");
                0
            }
            fatal = node.wait_fatal() => {
                // As etcd does on a WAL/fsync failure: stop rather than serve without
                // durability; a supervisor restarts us and recovery replays the disk.
                tracing::error!(error = %fatal, "raft stopped on a fatal error; exiting");
                eprintln!("metastore: fatal: {fatal}");
                1
            }
        };
        node.stop().await;
        tracing::info!("stopped");
        code
    }

    /// SIGTERM and SIGINT, listened for from the start.
    struct Signals {
        term: Option<tokio::signal::unix::Signal>,
        int: Option<tokio::signal::unix::Signal>,
    }

    impl Signals {
        fn install() -> Signals {
            use tokio::signal::unix::{signal, SignalKind};
            Signals { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok() }
        }

        /// The first of either signal.
        async fn wait(&mut self) {
            let term = async {
                match self.term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match self.int.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = term => {}
                () = int => {}
            }
        }
    }
}
