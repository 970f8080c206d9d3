//! Lease safety under clock skew and drift: a 3-member cluster whose members' clocks
//! are offset and run fast or slow (up to ±2%, from the seed), with crashes and
//! isolations of members, while a client grants leases (a key on each), keeps some
//! alive for a while, and an observer reads every lease's key (linearizable) from
//! any member.
//!
//! Safety: a lease's key is never gone before its TTL has passed since the last
//! acknowledged keep-alive (or the grant) was *sent*, less what a clock running 2%
//! fast can take off: a read that returns "absent" earlier is a violation. Liveness:
//! once keep-alives stop and faults end, every lease expires and its key goes.

#![cfg(madsim)]
#![allow(clippy::disallowed_methods)] // virtual, seeded time under madsim

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::rand::{thread_rng, Rng};
use metastore::env::sim_disk::CrashMode;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::kv_client::KvClient;
use metastore::proto::etcdserverpb::lease_client::LeaseClient;
use metastore_sim::cluster::{self, member_config, SimMember};
use metastore_sim::kv_traffic::now_ns;
use metastore_sim::runner::{self, Fingerprint, Outcome};
use tonic::transport::Channel;

/// The largest clock drift the members get (parts per million).
const MAX_DRIFT_PPM: i64 = 20_000;
/// The observer reads until then: faults end by about 24 s, keep-alives by 8 s after
/// the grants, TTLs are at most 5 s; a new leader adds its election timeout and may
/// retry a lost revoke after 7 s. Every lease must be gone well before.
const OBSERVE_UNTIL_NS: u64 = 45_000_000_000;

async fn channel(url: &str) -> Option<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_string()).ok()?;
    tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await.ok()?.ok()
}

/// Run `f` against the members in turn until one answers within 3 s, or `tries` run out.
async fn any_member<T, F, Fut>(urls: &[String], tries: usize, mut f: F) -> Option<T>
where
    F: FnMut(Channel) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    for i in 0..tries {
        if let Some(ch) = channel(&urls[i % urls.len()]).await {
            if let Ok(Ok(v)) = tokio::time::timeout(Duration::from_secs(3), f(ch)).await {
                return Some(v);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// One keep-alive round trip; the TTL it answered (0 = unknown lease).
async fn keep_alive_once(ch: Channel, id: i64) -> Result<i64, tonic::Status> {
    let mut c = LeaseClient::new(ch);
    let reqs = tokio_stream::iter(vec![pb::LeaseKeepAliveRequest { id }]);
    let mut stream = c.lease_keep_alive(reqs).await?.into_inner();
    match tokio_stream::StreamExt::next(&mut stream).await {
        Some(Ok(r)) => Ok(r.ttl),
        Some(Err(s)) => Err(s),
        None => Err(tonic::Status::unavailable("keep-alive stream ended")),
    }
}

struct LeaseRun {
    key: Vec<u8>,
    ttl_s: i64,
    /// Send times of the grant and every acknowledged keep-alive (TTL > 0).
    renewals_ns: Vec<u64>,
    /// When the key was known to exist (its put acknowledged).
    put_ns: u64,
}

async fn lease_safety() -> Result<Outcome, String> {
    let origin = tokio::time::Instant::now();
    let mut rng = thread_rng();
    let mut fp = Fingerprint::default();
    let members: Vec<(String, Ipv4Addr)> =
        (0..3).map(|i| (format!("m{i}"), Ipv4Addr::new(10, 0, 0, 1 + i))).collect();
    let mut nodes = Vec::new();
    for i in 0..3 {
        let offset_ms = rng.gen_range(-5_000..5_000);
        let drift_ppm = rng.gen_range(-MAX_DRIFT_PPM..=MAX_DRIFT_PPM);
        fp.add(&format!("m{i} clock offset {offset_ms} ms drift {drift_ppm} ppm"));
        let cfg = member_config(&members, i, 100_000);
        nodes.push(SimMember::start_skewed(
            &members[i].0,
            members[i].1,
            cfg,
            rng.gen(),
            offset_ms,
            drift_ppm,
        ));
    }
    let urls: Vec<String> = nodes.iter().map(|n| n.client_url()).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The client: grant, put, keep alive for a while, stop.
    let n_leases = rng.gen_range(2..5usize);
    let plans: Vec<(i64, u64)> =
        (0..n_leases).map(|_| (rng.gen_range(2..6), rng.gen_range(0..8000))).collect();
    let client =
        madsim::runtime::Handle::current().create_node().name("client").ip([10, 0, 1, 1].into()).build();
    let c_urls = urls.clone();
    let leases = client.spawn(async move {
        let mut runs = BTreeMap::new();
        for (i, (ttl_s, keep_ms)) in plans.into_iter().enumerate() {
            let sent = now_ns(origin);
            let grant = any_member(&c_urls, 30, |ch| async move {
                LeaseClient::new(ch).lease_grant(pb::LeaseGrantRequest { ttl: ttl_s, id: 0 }).await
            })
            .await;
            let Some(grant) = grant.map(|g| g.into_inner()) else { continue };
            let key = format!("lease/{i}").into_bytes();
            let put = pb::PutRequest {
                key: key.clone(),
                value: b"x".to_vec(),
                lease: grant.id,
                ..Default::default()
            };
            let ok = any_member(&c_urls, 10, |ch| {
                let put = put.clone();
                async move { KvClient::new(ch).put(put).await }
            })
            .await;
            if ok.is_none() {
                continue;
            }
            let run = LeaseRun { key, ttl_s: grant.ttl, renewals_ns: vec![sent], put_ns: now_ns(origin) };
            runs.insert(grant.id, (run, keep_ms));
        }
        // Keep-alives every 500 ms until each lease's keep-alive period ends.
        let start = now_ns(origin);
        loop {
            let elapsed_ms = (now_ns(origin) - start) / 1_000_000;
            let due: Vec<i64> =
                runs.iter().filter(|(_, (_, keep))| elapsed_ms < *keep).map(|(id, _)| *id).collect();
            if due.is_empty() {
                break;
            }
            for id in due {
                let sent = now_ns(origin);
                let ttl = any_member(&c_urls, 1, |ch| keep_alive_once(ch, id)).await;
                if let (Some(ttl), Some((run, _))) = (ttl, runs.get_mut(&id)) {
                    if ttl > 0 {
                        run.renewals_ns.push(sent);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        runs.into_iter().map(|(id, (run, _))| (id, run)).collect::<BTreeMap<i64, LeaseRun>>()
    });

    // The observer: linearizable reads of every lease key from any member.
    let observer =
        madsim::runtime::Handle::current().create_node().name("observer").ip([10, 0, 1, 2].into()).build();
    let o_urls = urls.clone();
    let reads = observer.spawn(async move {
        let mut reads: Vec<(Vec<u8>, u64, u64, bool)> = Vec::new();
        let mut target = 0usize;
        while now_ns(origin) < OBSERVE_UNTIL_NS {
            for i in 0..4 {
                let key = format!("lease/{i}").into_bytes();
                let invoke = now_ns(origin);
                let Some(ch) = channel(&o_urls[target % 3]).await else {
                    target += 1;
                    continue;
                };
                let req = pb::RangeRequest { key: key.clone(), ..Default::default() };
                match tokio::time::timeout(Duration::from_secs(2), KvClient::new(ch).range(req)).await {
                    Ok(Ok(r)) => reads.push((key, invoke, now_ns(origin), !r.into_inner().kvs.is_empty())),
                    _ => target += 1,
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        reads
    });

    // Faults: crashes and isolations, from the seed.
    let net = NetSim::current();
    let mut crashes = 0;
    let mut faults = 0;
    for _ in 0..rng.gen_range(1..4) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(500..4000))).await;
        let victim = rng.gen_range(0..3);
        if rng.gen_bool(0.5) {
            let report = nodes[victim]
                .crash(CrashMode::KeepAll, Duration::from_millis(rng.gen_range(100..2000)))
                .await;
            fp.add(&format!("crash m{victim} {report:?}"));
            crashes += 1;
        } else {
            let id = nodes[victim].handle.id();
            net.clog_node(id);
            tokio::time::sleep(Duration::from_millis(rng.gen_range(500..3000))).await;
            net.unclog_node(id);
            fp.add(&format!("isolate m{victim}"));
            faults += 1;
        }
    }

    let leases = leases.await.map_err(|e| format!("client failed: {e}"))?;
    let reads = reads.await.map_err(|e| format!("observer failed: {e}"))?;
    let mut checked = 0u64;
    for (id, run) in &leases {
        // Real time a leader's TTL can take at the fastest clock.
        let min_life_ns = (run.ttl_s as u64 * 1_000_000_000) * 1_000_000 / (1_000_000 + MAX_DRIFT_PPM as u64);
        for (key, invoke, ret, present) in &reads {
            if key != &run.key || *invoke < run.put_ns || *present {
                continue;
            }
            checked += 1;
            if let Some(renewed) = run.renewals_ns.iter().filter(|r| **r < *ret).max() {
                if *ret < renewed + min_life_ns {
                    return Err(format!(
                        "lease safety: lease {id:x} (TTL {} s) was gone at {:.3} s, {:.3} s after a renewal sent at \
                         {:.3} s; it must live at least {:.3} s",
                        run.ttl_s,
                        *ret as f64 / 1e9,
                        (*ret - renewed) as f64 / 1e9,
                        *renewed as f64 / 1e9,
                        min_life_ns as f64 / 1e9
                    ));
                }
            }
        }
        // Liveness: by the end (no keep-alives for many TTLs) the key is gone.
        let last = reads.iter().rev().find(|r| r.0 == run.key);
        if let Some((_, _, at, true)) = last {
            return Err(format!(
                "lease liveness: lease {id:x}'s key still exists at {:.3} s",
                *at as f64 / 1e9
            ));
        }
        fp.add(&format!("lease {id:x} ttl {} renewals {}", run.ttl_s, run.renewals_ns.len()));
    }
    cluster::check_invariants(&nodes)?;
    let mut outcome = Outcome {
        fingerprint: fp.value(),
        ops_checked: checked + reads.len() as u64,
        ops_acked: reads.len() as u64,
        sim_time: origin.elapsed(),
        ..Outcome::default()
    };
    outcome.count("crash", crashes);
    outcome.count("partition or clock fault", faults);
    Ok(outcome)
}

#[test]
fn lease_safety_over_seeds() {
    runner::run("lease_safety", 30, lease_safety);
}

/// The same seed gives the same run, bit for bit.
#[test]
fn lease_safety_is_deterministic() {
    if std::env::var("SIM_SEED").is_ok() || runner::mutating() {
        return;
    }
    let result = madsim::runtime::Runtime::check_determinism(1, madsim::Config::default(), || async {
        lease_safety().await.map(|o| o.fingerprint)
    });
    if let Err(e) = result {
        panic!("lease_safety seed 1 failed: {e}\n  replay: ci/replay-seed 1 lease_safety");
    }
}
