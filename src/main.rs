//! The `metastore` binary: etcd's flags and `ETCD_*` variables → [`Config`] → a node
//! serving etcd's gRPC API. Prints etcd's readiness lines once serving; on SIGINT or
//! SIGTERM stops serving, lets in-flight writes finish or fail, and exits 0.
//! `metastore bench ...` runs the load generator ([`metastore::bench`]) instead, and
//! `metastore snapshot restore ...` restores a snapshot file into a new data dir
//! ([`metastore::snapshot_cmd`]).

#[cfg(madsim)]
fn main() {
    eprintln!("metastore: this is a simulation build (--cfg madsim); run the simulator in sim/ instead");
}

#[cfg(not(madsim))]
fn main() {
    real::main()
}

#[cfg(not(madsim))]
mod real {
    use std::sync::Arc;

    use metastore::config::{self, Config};
    use metastore::env::fs_disk::FsDisk;
    use metastore::node::Node;
    use metastore::server::{CLUSTER_VERSION, SERVER_VERSION};

    const USAGE: &str = "usage: metastore [flags]\n\
        \n  etcd-compatible flags, e.g. --name, --data-dir, --listen-client-urls, --advertise-client-urls,\n  \
        --listen-peer-urls, --initial-advertise-peer-urls, --initial-cluster, --initial-cluster-state,\n  \
        --initial-cluster-token, --snapshot-count, --max-txn-ops, --max-request-bytes,\n  \
        --quota-backend-bytes, --heartbeat-interval, --election-timeout, --auto-compaction-mode,\n  \
        --auto-compaction-retention, --log-level, --logger, --version;\n  \
        TLS: --cert-file, --key-file, --trusted-ca-file, --client-cert-auth, --client-crl-file, --auto-tls,\n  \
        --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth, --peer-crl-file,\n  \
        --peer-auto-tls, --cipher-suites.\n  \
        Each may also be set as ETCD_<FLAG_NAME> (e.g. ETCD_DATA_DIR).\n\n\
        usage: metastore bench <workload> [flags]   a load generator; see metastore bench --help\n\
        usage: metastore snapshot restore <file> [flags]   a snapshot file into a new data dir; \
        see metastore snapshot --help";

    fn init_logging(cfg: &Config) {
        let level = match cfg.log_level.as_str() {
            "debug" => "debug",
            "warn" => "warn",
            "error" | "panic" | "fatal" => "error",
            _ => "info",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_env("METASTORE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},openraft=warn")));
        tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init();
    }

    pub fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("bench") {
            std::process::exit(metastore::bench::main(&args[1..]));
        }
        if args.first().map(String::as_str) == Some("snapshot") {
            std::process::exit(metastore::snapshot_cmd::main(&args[1..]));
        }
        let cfg = match config::parse(&args, &|k| std::env::var(k).ok()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("metastore: {e}\n{USAGE}");
                std::process::exit(2);
            }
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
        init_logging(&cfg);
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
        for w in &cfg.warnings {
            tracing::warn!("{w}");
        }
        tracing::info!(name = %cfg.name, data_dir = %cfg.data_dir, version = SERVER_VERSION, "starting metastore");
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
        let code = tokio::select! {
            _ = wait_for_signal() => {
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

    async fn wait_for_signal() {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
}
