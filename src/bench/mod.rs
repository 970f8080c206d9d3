//! `metastore bench`: a closed-loop load generator for etcd's v3 gRPC API, in the
//! spirit of etcd's `tools/benchmark`. It owns the subcommand end to end: flags
//! ([`args`]), key choice ([`keys`]), the workloads ([`workload`]) and the summary
//! ([`report`]). Real build only (it dials real sockets with tonic's `Channel`).
//!
//! A run, e.g. `bench put --conns 2 --clients 4 --total 300`:
//!
//! 1. connection i (0..conns) dials endpoint i mod N; a failure is fatal;
//! 2. `--precreate` puts every key of the key space (not measured);
//! 3. each client j (0..clients) sets up on connection j mod conns (watch created,
//!    lease granted; a failure is fatal);
//! 4. the clock starts; every client loops: take the next request number n from a
//!    shared counter (stop once n reaches `--total`, or once `--duration` has passed),
//!    send request n, wait for its answer, record its latency or error;
//! 5. the clock stops when the last client is done; leases are revoked; the merged
//!    latencies are summarized.
//!
//! This is a client measuring wall time, so it reads the real clock (through
//! [`now`]) rather than the simulator's `env::Clock`.

pub mod args;
pub mod keys;
pub mod report;
pub mod workload;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use self::args::{Args, Parsed, Stop, HELP};
use self::keys::key;
use self::report::{Report, Stats};
use self::workload::{Worker, REQUEST_TIMEOUT};
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::kv_client::KvClient;

/// The wall clock. A load tool measures real elapsed time, which is exactly what
/// the env facade keeps away from the server; tokio's `Instant` is that clock.
pub fn now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Run `metastore bench <argv>`; returns the process exit status (0 done, 1 setup
/// failure, 2 bad flags).
pub fn main(argv: &[String]) -> i32 {
    let args = match args::parse(argv) {
        Ok(Parsed::Help) => {
            print!("{HELP}");
            return 0;
        }
        Ok(Parsed::Run(a)) => a,
        Err(e) => {
            eprintln!("metastore bench: {e}\nsee metastore bench --help");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("metastore bench: cannot start runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(report) if args.json => println!("{}", report.json()),
        Ok(report) => print!("{}", report.human()),
        Err(e) => {
            eprintln!("metastore bench: {e}");
            return 1;
        }
    }
    0
}

/// Steps 1-5 of the module doc; `Err` is a setup failure.
pub async fn run(args: &Args) -> Result<Report, String> {
    let channels = connect_all(args).await?;
    if args.precreate {
        precreate(args, &channels).await?;
    }
    let workers = futures::future::join_all(
        (0..args.clients).map(|j| Worker::setup(args, j, channels[j % channels.len()].clone())),
    )
    .await
    .into_iter()
    .enumerate()
    .map(|(j, w)| w.map_err(|e| format!("setting up client {j}: {e}")))
    .collect::<Result<Vec<_>, _>>()?;

    let counter = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let start = now();
    let progress = std::io::stderr().is_terminal().then(|| tokio::spawn(progress(args.stop, done.clone())));
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(client_loop(w, args.stop, counter.clone(), done.clone())))
        .collect();
    let mut stats = Stats::default();
    let mut cleanup_error = None;
    for t in tasks {
        let (s, finished) = t.await.map_err(|e| format!("a client task failed: {e}"))?;
        stats.merge(s);
        cleanup_error = cleanup_error.or(finished.err());
    }
    let elapsed = start.elapsed();
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[K");
    }
    if let Some(e) = cleanup_error {
        eprintln!("metastore bench: warning: cleaning up: {e}");
    }
    Ok(Report::new(args, stats, elapsed))
}

/// Open `--conns` channels; connection i dials endpoint i mod N.
async fn connect_all(args: &Args) -> Result<Vec<Channel>, String> {
    let dials = (0..args.conns).map(|i| {
        let url = args.endpoints[i % args.endpoints.len()].clone();
        async move {
            let endpoint = Endpoint::from_shared(url.clone())
                .map_err(|e| format!("bad endpoint {url}: {e}"))?
                .connect_timeout(REQUEST_TIMEOUT);
            endpoint.connect().await.map_err(|e| format!("cannot connect to {url}: {}", causes(&e)))
        }
    });
    futures::future::join_all(dials).await.into_iter().collect()
}

/// `e` and its sources, `a: b: c` (tonic's transport error alone says only
/// "transport error").
fn causes(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        s.push_str(&format!(": {c}"));
        source = c.source();
    }
    s
}

/// Put every key of the key space with a `--val-size` value, `--clients` at a time.
async fn precreate(args: &Args, channels: &[Channel]) -> Result<(), String> {
    let value = vec![b'v'; args.val_size];
    let loaders = (0..args.clients.min(args.key_space as usize)).map(|j| {
        let mut kv = KvClient::new(channels[j % channels.len()].clone());
        let value = value.clone();
        async move {
            for i in (j as u64..args.key_space).step_by(args.clients) {
                let req =
                    pb::PutRequest { key: key(i, args.key_size), value: value.clone(), ..Default::default() };
                match tokio::time::timeout(REQUEST_TIMEOUT, kv.put(req)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Err(format!("precreating key {i}: {e}")),
                    Err(_) => {
                        return Err(format!("precreating key {i}: no answer within {REQUEST_TIMEOUT:?}"))
                    }
                }
            }
            Ok(())
        }
    });
    futures::future::join_all(loaders).await.into_iter().collect()
}

/// One closed-loop client: its stats and the outcome of its clean-up.
async fn client_loop(
    mut w: Worker,
    stop: Stop,
    counter: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
) -> (Stats, Result<(), String>) {
    let deadline = match stop {
        Stop::Duration(d) => Some(now() + d),
        Stop::Total(_) => None,
    };
    let mut stats = Stats::default();
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let over = match (stop, deadline) {
            (Stop::Total(total), _) => n >= total,
            (_, Some(d)) => now() >= d,
            _ => false,
        };
        if over {
            break;
        }
        stats.record(w.request(n).await);
        done.fetch_add(1, Ordering::Relaxed);
    }
    (stats, w.finish().await)
}

/// Redraw `[#####     ] done/total` (or elapsed/duration) on stderr until aborted.
async fn progress(stop: Stop, done: Arc<AtomicU64>) {
    const WIDTH: u64 = 40;
    let start = now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = done.load(Ordering::Relaxed);
        let (fraction, text) = match stop {
            Stop::Total(total) => (n as f64 / total as f64, format!("{n}/{total}")),
            Stop::Duration(d) => {
                let e = start.elapsed();
                (
                    e.as_secs_f64() / d.as_secs_f64(),
                    format!("{:.0}/{:.0} s, {n} requests", e.as_secs_f64(), d.as_secs_f64()),
                )
            }
        };
        let filled = ((fraction.clamp(0.0, 1.0) * WIDTH as f64) as u64).min(WIDTH);
        let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { ' ' }).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r[{bar}] {text}");
        let _ = err.flush();
    }
}
