//! KV traffic for the linearizability checker: etcd gRPC clients (madsim-tonic) doing
//! get / put / delete / compare-and-swap on a small key space through whichever
//! member answers, each call recorded as a [`history::Op`] with its invoke and return
//! times (simulated nanoseconds since `origin`). An error or a timeout is an
//! *unknown* outcome: the write may take effect later, or never; NOSPACE's "database
//! space exceeded" alone is a definite failure (see `traffic::Outcome::Refused`).

use std::time::Duration;

use madsim::rand::Rng;
use metastore::proto::etcdserverpb as pb;
use metastore::proto::etcdserverpb::kv_client::KvClient;
use tonic::transport::Channel;

use crate::history::{Compare, KeyValue, Op, Outcome, Request, Response};
use crate::traffic::{connect, put_op};

/// Keys the checked clients use (few, so that they contend).
pub const KEYS: usize = 4;

fn key(i: usize) -> Vec<u8> {
    format!("lin/{i}").into_bytes()
}

/// A random request from the seed: mostly reads and puts, some deletes and CAS.
pub fn random_request(rng: &mut impl Rng, n: u64) -> Request {
    let k = key(rng.gen_range(0..KEYS));
    let value = format!("v{n}").into_bytes();
    match rng.gen_range(0..10) {
        0..=3 => Request::Get { key: k },
        4..=6 => Request::Put { key: k, value },
        7 => Request::Delete { key: k },
        _ => {
            let compare = if rng.gen_bool(0.5) {
                Compare::ModRevision(rng.gen_range(0..40))
            } else {
                Compare::Value(format!("v{}", rng.gen_range(0..n.max(1))).into_bytes())
            };
            Request::Cas { key: k, compare, value }
        }
    }
}

fn kv_of(kv: metastore::proto::mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: kv.key,
        value: kv.value,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
    }
}

fn revision(h: Option<pb::ResponseHeader>) -> i64 {
    h.map(|h| h.revision).unwrap_or(-1)
}

/// One call, as etcd's API answers it.
async fn call(c: &mut KvClient<Channel>, req: &Request) -> Result<Response, tonic::Status> {
    let resp = match req {
        Request::Get { key } => {
            let r = c.range(pb::RangeRequest { key: key.clone(), ..Default::default() }).await?.into_inner();
            Response {
                revision: revision(r.header),
                kvs: r.kvs.into_iter().map(kv_of).collect(),
                ..Default::default()
            }
        }
        Request::Put { key, value } => {
            let r = c
                .put(pb::PutRequest { key: key.clone(), value: value.clone(), ..Default::default() })
                .await?
                .into_inner();
            Response { revision: revision(r.header), ..Default::default() }
        }
        Request::Delete { key } => {
            let r = c.delete_range(pb::DeleteRangeRequest { key: key.clone(), ..Default::default() }).await?;
            let r = r.into_inner();
            Response { revision: revision(r.header), deleted: r.deleted, ..Default::default() }
        }
        Request::Cas { key, compare, value } => {
            let (target, target_union) = match compare {
                Compare::ModRevision(rev) => {
                    (pb::compare::CompareTarget::Mod, pb::compare::TargetUnion::ModRevision(*rev))
                }
                Compare::Value(v) => {
                    (pb::compare::CompareTarget::Value, pb::compare::TargetUnion::Value(v.clone()))
                }
            };
            let cmp = pb::Compare {
                result: pb::compare::CompareResult::Equal as i32,
                target: target as i32,
                key: key.clone(),
                range_end: vec![],
                target_union: Some(target_union),
            };
            let get = pb::RequestOp {
                request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
                    key: key.clone(),
                    ..Default::default()
                })),
            };
            let r = c
                .txn(pb::TxnRequest {
                    compare: vec![cmp],
                    success: vec![put_op(key, value)],
                    failure: vec![get],
                })
                .await?
                .into_inner();
            let mut kvs = Vec::new();
            if !r.succeeded {
                for op in r.responses {
                    if let Some(pb::response_op::Response::ResponseRange(range)) = op.response {
                        kvs.extend(range.kvs.into_iter().map(kv_of));
                    }
                }
            }
            Response { revision: revision(r.header), kvs, succeeded: r.succeeded, ..Default::default() }
        }
        Request::PutMany { kvs } => {
            let success = kvs.iter().map(|(k, v)| put_op(k, v)).collect();
            let r = c.txn(pb::TxnRequest { compare: vec![], success, failure: vec![] }).await?.into_inner();
            Response { revision: revision(r.header), succeeded: r.succeeded, ..Default::default() }
        }
        Request::Range { prefix } => {
            let mut end = prefix.clone();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            let r = c
                .range(pb::RangeRequest { key: prefix.clone(), range_end: end, ..Default::default() })
                .await?
                .into_inner();
            Response {
                revision: revision(r.header),
                kvs: r.kvs.into_iter().map(kv_of).collect(),
                ..Default::default()
            }
        }
    };
    Ok(resp)
}

/// Nanoseconds of simulated time since `origin`.
pub fn now_ns(origin: tokio::time::Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// Run `plan` (request, pause before it in ms) as client `client`, moving to the next
/// member when one stops answering; every op recorded.
pub async fn run_client(
    client: u64,
    urls: Vec<String>,
    plan: Vec<(Request, u64)>,
    origin: tokio::time::Instant,
) -> Vec<Op> {
    let mut ops = Vec::with_capacity(plan.len());
    let mut conn: Option<KvClient<Channel>> = None;
    let mut target = client as usize % urls.len();
    for (request, pause_ms) in plan {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        let invoke_ns = now_ns(origin);
        if conn.is_none() {
            conn = connect(&urls[target]).await;
        }
        let outcome = match conn.as_mut() {
            None => Outcome::Unknown { reason: "connect failed".into() },
            Some(c) => match tokio::time::timeout(Duration::from_secs(3), call(c, &request)).await {
                Ok(Ok(resp)) => Outcome::Ok(resp),
                Ok(Err(s)) if crate::traffic::is_refusal(&s) => {
                    Outcome::Fail { reason: format!("{:?}: {}", s.code(), s.message()) }
                }
                Ok(Err(s)) => Outcome::Unknown { reason: format!("{:?}: {}", s.code(), s.message()) },
                Err(_) => Outcome::Unknown { reason: "timeout".into() },
            },
        };
        if !matches!(outcome, Outcome::Ok(_)) {
            conn = None;
            target = (target + 1) % urls.len();
        }
        ops.push(Op { client, invoke_ns, return_ns: now_ns(origin), request, outcome });
    }
    ops
}

/// The writer traffic of `traffic` in the checker's terms (same revisions, same
/// unknowns), so that the history holds every write of the run.
pub fn from_traffic(op: &crate::traffic::Op, client: u64) -> Op {
    let request = match &op.kind {
        crate::traffic::OpKind::Put { key } => Request::Put { key: key.clone(), value: op.value.clone() },
        crate::traffic::OpKind::PairTxn => Request::PutMany {
            kvs: vec![
                (crate::traffic::PAIR_A.to_vec(), op.value.clone()),
                (crate::traffic::PAIR_B.to_vec(), op.value.clone()),
            ],
        },
    };
    let outcome = match &op.outcome {
        crate::traffic::Outcome::Ok { revision } => {
            let succeeded = matches!(request, Request::PutMany { .. });
            Outcome::Ok(Response { revision: *revision, succeeded, ..Default::default() })
        }
        crate::traffic::Outcome::Unknown { reason } => Outcome::Unknown { reason: reason.clone() },
        crate::traffic::Outcome::Refused { reason } => Outcome::Fail { reason: reason.clone() },
    };
    Op { client, invoke_ns: op.invoke_ns, return_ns: op.return_ns, request, outcome }
}

/// Shown in failures: how many ops of each outcome.
pub fn summary(ops: &[Op]) -> String {
    let ok = ops.iter().filter(|o| matches!(o.outcome, Outcome::Ok(_))).count();
    let failed = ops.iter().filter(|o| matches!(o.outcome, Outcome::Fail { .. })).count();
    format!("{} ops, {ok} ok, {failed} failed, {} unknown", ops.len(), ops.len() - ok - failed)
}

/// The acknowledged writes of a history, for the watch checker.
pub fn acked_writes(ops: &[Op]) -> Vec<crate::watch_check::AckedWrite> {
    let mut out = Vec::new();
    for op in ops {
        let Outcome::Ok(resp) = &op.outcome else { continue };
        let changes = match &op.request {
            Request::Put { key, value } => vec![(key.clone(), Some(value.clone()))],
            Request::Delete { key } if resp.deleted > 0 => vec![(key.clone(), None)],
            Request::Cas { key, value, .. } if resp.succeeded => vec![(key.clone(), Some(value.clone()))],
            Request::PutMany { kvs } => kvs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            _ => continue,
        };
        out.push(crate::watch_check::AckedWrite { revision: resp.revision, changes });
    }
    out
}

/// Watch every key with prev_kv from revision 2 through the members in turn,
/// resuming after the last revision seen whenever the stream breaks, until a
/// revision >= `until` (once nonzero) has been seen or `deadline_ns` passes.
/// `progress` holds the revision it would resume from (so that a compactor can stay
/// below it).
pub async fn watch_all(
    urls: Vec<String>,
    first: usize,
    until: std::sync::Arc<std::sync::atomic::AtomicI64>,
    progress: std::sync::Arc<std::sync::atomic::AtomicI64>,
    deadline_ns: u64,
    origin: tokio::time::Instant,
) -> Vec<crate::watch_check::SeenEvent> {
    use metastore::proto::etcdserverpb::watch_client::WatchClient;
    use std::sync::atomic::Ordering;
    let mut seen: Vec<crate::watch_check::SeenEvent> = Vec::new();
    let mut next = 2i64;
    progress.store(next, Ordering::SeqCst);
    let mut responses = 0u64;
    let mut target = first;
    let done = |next: i64| {
        let goal = until.load(Ordering::SeqCst);
        // `next` is one past the last revision seen (2 before any): done once it
        // passes the goal, which covers a run whose goal (1) has no event at all.
        goal > 0 && next > goal || now_ns(origin) > deadline_ns
    };
    while !done(next) {
        target += 1;
        let Ok(endpoint) = tonic::transport::Endpoint::from_shared(urls[target % urls.len()].clone()) else {
            continue;
        };
        let Ok(Ok(ch)) = tokio::time::timeout(Duration::from_secs(1), endpoint.connect()).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let create = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(pb::WatchCreateRequest {
                key: vec![0],
                range_end: vec![0],
                start_revision: next,
                prev_kv: true,
                ..Default::default()
            })),
        };
        let Ok(Ok(stream)) = tokio::time::timeout(
            Duration::from_secs(2),
            WatchClient::new(ch).watch(tokio_stream::iter(vec![create])),
        )
        .await
        else {
            continue;
        };
        let mut stream = stream.into_inner();
        while !done(next) {
            let Ok(Ok(Some(resp))) = tokio::time::timeout(Duration::from_secs(2), stream.message()).await
            else {
                break;
            };
            if resp.canceled {
                break;
            }
            responses += 1;
            for e in resp.events {
                let Some(kv) = e.kv else { continue };
                let value = (e.r#type == 0).then(|| kv.value.clone());
                let prev_value = e.prev_kv.map(|p| p.value);
                next = kv.mod_revision + 1;
                progress.store(next, Ordering::SeqCst);
                seen.push(crate::watch_check::SeenEvent {
                    revision: kv.mod_revision,
                    key: kv.key,
                    value,
                    prev_value,
                    response: responses,
                });
            }
        }
    }
    seen
}
