//! Differential test against a real etcd 3.4: every sequence in the tables below runs
//! on a fresh data dir against `etcd` and against `metastore`, both on free loopback
//! ports with the same flags, and every answer is compared: response bodies with the
//! header's cluster_id / member_id / raft_term dropped (revision kept, nested headers
//! included), gRPC codes and messages byte for byte.
//!
//! Where metastore deliberately answers otherwise (etcd 3.4 vs 3.5 semantics, or
//! things that cannot match, such as the bolt-file Hash), the step names a [`Diff`],
//! and the test asserts exactly that difference; each one is listed in
//! `docs/compat.md`.
//!
//! etcd is taken from `$ETCD_BIN`, else `/usr/bin/etcd`, else `etcd` on `PATH`, and
//! must be 3.4.x. Without it the test fails, unless `METASTORE_SKIP_ETCD_COMPAT=1`
//! (then it prints that it was skipped).

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};

use metastore::proto::etcdserverpb as pb;
use pb::cluster_client::ClusterClient;
use pb::compare::{CompareResult as Cr, TargetUnion as Tu};
use pb::kv_client::KvClient;
use pb::maintenance_client::MaintenanceClient;
use pb::range_request::{SortOrder as So, SortTarget as St};
use pb::request_op::Request as Rq;
use pb::response_op::Response as Rs;
use support::{free_port, temp_dir, Proc};
use tonic::transport::Channel;

// ---------------------------------------------------------------------------
// Finding etcd
// ---------------------------------------------------------------------------

const SKIP_VAR: &str = "METASTORE_SKIP_ETCD_COMPAT";

/// The etcd 3.4 binary, or None when the test is to be skipped (printed). Panics,
/// with what to do, when etcd is missing or not 3.4 and skipping was not asked for.
fn etcd_binary() -> Option<PathBuf> {
    let skip = std::env::var(SKIP_VAR).is_ok_and(|v| v == "1");
    let found = match std::env::var_os("ETCD_BIN") {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => std::iter::once(PathBuf::from("/usr/bin/etcd"))
            .chain(
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("etcd")),
            )
            .find(|p| p.is_file()),
    };
    let problem = match (&found, std::env::var_os("ETCD_BIN")) {
        (None, Some(p)) => format!("ETCD_BIN={} is not a file", Path::new(&p).display()),
        (None, None) => "no etcd binary: ETCD_BIN unset, no /usr/bin/etcd, no etcd on PATH".to_string(),
        (Some(bin), _) => match std::process::Command::new(bin).arg("--version").output() {
            Ok(out) => {
                let text = String::from_utf8_lossy(&out.stdout).to_string();
                if text.lines().any(|l| l.starts_with("etcd Version: 3.4.")) {
                    return Some(bin.clone());
                }
                format!(
                    "{} is not etcd 3.4.x (the expectations here are etcd 3.4's): {text:?}",
                    bin.display()
                )
            }
            Err(e) => format!("cannot run {} --version: {e}", bin.display()),
        },
    };
    if skip {
        eprintln!("t20_etcd_compat: SKIPPED ({SKIP_VAR}=1): {problem}");
        return None;
    }
    panic!(
        "t20_etcd_compat needs a real etcd 3.4: {problem}.\n\
         Install it (Debian: apt-get install etcd-server) or point ETCD_BIN at one; \
         set {SKIP_VAR}=1 to skip this test."
    );
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn put(key: &str, value: &str) -> pb::PutRequest {
    pb::PutRequest { key: b(key), value: b(value), ..Default::default() }
}

fn get(key: &str) -> pb::RangeRequest {
    pb::RangeRequest { key: b(key), ..Default::default() }
}

fn range(key: &str, end: &str) -> pb::RangeRequest {
    pb::RangeRequest { key: b(key), range_end: b(end), ..Default::default() }
}

/// Every key, as etcdctl's `--from-key ""` / `get "" --prefix` send it.
fn all() -> pb::RangeRequest {
    range("\0", "\0")
}

fn sorted(order: So, target: St) -> pb::RangeRequest {
    pb::RangeRequest { sort_order: order as i32, sort_target: target as i32, ..all() }
}

fn at(revision: i64, r: pb::RangeRequest) -> pb::RangeRequest {
    pb::RangeRequest { revision, ..r }
}

fn del(key: &str) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest { key: b(key), ..Default::default() }
}

fn del_range(key: &str, end: &str) -> pb::DeleteRangeRequest {
    pb::DeleteRangeRequest { key: b(key), range_end: b(end), ..Default::default() }
}

fn compact(revision: i64) -> pb::CompactionRequest {
    pb::CompactionRequest { revision, physical: true }
}

fn txn(
    compare: Vec<pb::Compare>,
    success: Vec<pb::RequestOp>,
    failure: Vec<pb::RequestOp>,
) -> pb::TxnRequest {
    pb::TxnRequest { compare, success, failure }
}

fn op(r: Rq) -> pb::RequestOp {
    pb::RequestOp { request: Some(r) }
}

fn op_put(key: &str, value: &str) -> pb::RequestOp {
    op(Rq::RequestPut(put(key, value)))
}

fn op_get(key: &str) -> pb::RequestOp {
    op(Rq::RequestRange(get(key)))
}

fn op_range(r: pb::RangeRequest) -> pb::RequestOp {
    op(Rq::RequestRange(r))
}

fn op_del(r: pb::DeleteRangeRequest) -> pb::RequestOp {
    op(Rq::RequestDeleteRange(r))
}

fn op_txn(t: pb::TxnRequest) -> pb::RequestOp {
    op(Rq::RequestTxn(t))
}

fn op_empty() -> pb::RequestOp {
    pb::RequestOp { request: None }
}

/// A compare whose target is the one its operand names.
fn cmp(key: &str, result: Cr, operand: Tu) -> pb::Compare {
    use pb::compare::CompareTarget as T;
    let target = match operand {
        Tu::Version(_) => T::Version,
        Tu::CreateRevision(_) => T::Create,
        Tu::ModRevision(_) => T::Mod,
        Tu::Value(_) => T::Value,
        Tu::Lease(_) => T::Lease,
    };
    pb::Compare {
        result: result as i32,
        target: target as i32,
        key: b(key),
        range_end: vec![],
        target_union: Some(operand),
    }
}

fn cmp_value(key: &str, result: Cr, value: &str) -> pb::Compare {
    cmp(key, result, Tu::Value(b(value)))
}

fn cmp_range(key: &str, end: &str, result: Cr, operand: Tu) -> pb::Compare {
    pb::Compare { range_end: b(end), ..cmp(key, result, operand) }
}

fn puts(prefix: &str, n: usize) -> Vec<pb::RequestOp> {
    (0..n).map(|i| op_put(&format!("{prefix}{i:03}"), "v")).collect()
}

// ---------------------------------------------------------------------------
// Steps, answers, expectations
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Put(pb::PutRequest),
    Range(pb::RangeRequest),
    Delete(pb::DeleteRangeRequest),
    Txn(pb::TxnRequest),
    Compact(pb::CompactionRequest),
    HashKv(i64),
    Hash,
    Status,
    MemberList,
    AlarmList,
}

impl From<pb::PutRequest> for Step {
    fn from(r: pb::PutRequest) -> Self {
        Step::Put(r)
    }
}
impl From<pb::RangeRequest> for Step {
    fn from(r: pb::RangeRequest) -> Self {
        Step::Range(r)
    }
}
impl From<pb::DeleteRangeRequest> for Step {
    fn from(r: pb::DeleteRangeRequest) -> Self {
        Step::Delete(r)
    }
}
impl From<pb::TxnRequest> for Step {
    fn from(r: pb::TxnRequest) -> Self {
        Step::Txn(r)
    }
}
impl From<pb::CompactionRequest> for Step {
    fn from(r: pb::CompactionRequest) -> Self {
        Step::Compact(r)
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Resp {
    Put(pb::PutResponse),
    Range(pb::RangeResponse),
    Delete(pb::DeleteRangeResponse),
    Txn(pb::TxnResponse),
    Compact(pb::CompactionResponse),
    HashKv(pb::HashKvResponse),
    Hash(pb::HashResponse),
    Status(pb::StatusResponse),
    Members(pb::MemberListResponse),
    Alarms(pb::AlarmResponse),
}

/// A response, or the gRPC code and message of the error.
type Outcome = Result<Resp, (tonic::Code, String)>;

/// A documented difference (docs/compat.md); [`check_diff`] asserts its exact form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Diff {
    /// Maintenance.Hash: etcd hashes its whole bolt file, we hash the MVCC contents.
    HashValue,
    /// Status: version string, db sizes, raft indexes and term.
    StatusFields,
    /// HashKV at exactly the compact revision: etcd 3.4 answers "compacted", 3.5 and
    /// we answer the hash.
    HashKvAtCompactRevision,
    /// An undefined sort order: etcd 3.4/3.5 ignore it (no sorting), we refuse it as
    /// etcd 3.6 does.
    UndefinedSortOrder,
    /// An undefined compare result or target: etcd evaluates it as a comparison
    /// that holds, we refuse the request.
    UndefinedCompareEnum,
    /// Alarm (GET): etcd 3.4 answers without a header, 3.5 and we with one.
    AlarmHeader,
}

enum Expect {
    Same,
    Known(Diff),
}

struct Seq {
    name: &'static str,
    flags: Vec<&'static str>,
    steps: Vec<(Step, Expect)>,
}

impl Seq {
    fn new(name: &'static str) -> Seq {
        Seq { name, flags: vec![], steps: vec![] }
    }

    fn flags(mut self, flags: &[&'static str]) -> Seq {
        self.flags.extend_from_slice(flags);
        self
    }

    /// A step both must answer the same.
    fn s(mut self, step: impl Into<Step>) -> Seq {
        self.steps.push((step.into(), Expect::Same));
        self
    }

    /// A step where the documented difference `diff` is expected.
    fn d(mut self, step: impl Into<Step>, diff: Diff) -> Seq {
        self.steps.push((step.into(), Expect::Known(diff)));
        self
    }
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/// A data dir, removed when dropped (after its process, which is dropped first).
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One server under test. Fields drop in order: the process is killed (Proc's Drop)
/// before its data dir goes.
struct Side {
    _proc: Proc,
    kv: KvClient<Channel>,
    maint: MaintenanceClient<Channel>,
    cluster: ClusterClient<Channel>,
    client_url: String,
    peer_url: String,
    _dir: DataDir,
}

fn spawn(bin: &Path, tag: &str, flags: &[&str]) -> (Proc, DataDir) {
    let dir = DataDir(temp_dir(tag));
    let mut all_flags = vec!["--logger", "zap", "--log-outputs", "stderr"];
    all_flags.extend_from_slice(flags);
    (Proc::spawn_binary(bin, &dir.0, free_port(), free_port(), &all_flags), dir)
}

async fn connect(mut proc: Proc, dir: DataDir) -> Side {
    proc.wait_serving();
    let client_url = format!("http://127.0.0.1:{}", proc.client_port);
    let peer_url = format!("http://127.0.0.1:{}", proc.peer_port);
    let channel =
        Channel::from_shared(client_url.clone()).expect("url").connect().await.unwrap_or_else(|e| {
            panic!("connect to {} at {client_url}: {e}", proc.name);
        });
    let big = 64 << 20;
    Side {
        kv: KvClient::new(channel.clone()).max_decoding_message_size(big),
        maint: MaintenanceClient::new(channel.clone()).max_decoding_message_size(big),
        cluster: ClusterClient::new(channel),
        _proc: proc,
        client_url,
        peer_url,
        _dir: dir,
    }
}

async fn exec(side: &mut Side, step: &Step) -> Outcome {
    let answer = match step.clone() {
        Step::Put(r) => side.kv.put(r).await.map(|x| Resp::Put(x.into_inner())),
        Step::Range(r) => side.kv.range(r).await.map(|x| Resp::Range(x.into_inner())),
        Step::Delete(r) => side.kv.delete_range(r).await.map(|x| Resp::Delete(x.into_inner())),
        Step::Txn(r) => side.kv.txn(r).await.map(|x| Resp::Txn(x.into_inner())),
        Step::Compact(r) => side.kv.compact(r).await.map(|x| Resp::Compact(x.into_inner())),
        Step::HashKv(revision) => {
            side.maint.hash_kv(pb::HashKvRequest { revision }).await.map(|x| Resp::HashKv(x.into_inner()))
        }
        Step::Hash => side.maint.hash(pb::HashRequest {}).await.map(|x| Resp::Hash(x.into_inner())),
        Step::Status => side.maint.status(pb::StatusRequest {}).await.map(|x| Resp::Status(x.into_inner())),
        Step::MemberList => side
            .cluster
            .member_list(pb::MemberListRequest::default())
            .await
            .map(|x| Resp::Members(x.into_inner())),
        Step::AlarmList => side
            .maint
            .alarm(pb::AlarmRequest {
                action: pb::alarm_request::AlarmAction::Get as i32,
                ..Default::default()
            })
            .await
            .map(|x| Resp::Alarms(x.into_inner())),
    };
    answer.map_err(|s| (s.code(), s.message().to_string()))
}

fn norm_header(h: &mut Option<pb::ResponseHeader>) {
    if let Some(h) = h {
        h.cluster_id = 0;
        h.member_id = 0;
        h.raft_term = 0;
    }
}

fn norm_txn(t: &mut pb::TxnResponse) {
    norm_header(&mut t.header);
    for op in &mut t.responses {
        match &mut op.response {
            Some(Rs::ResponseRange(r)) => norm_header(&mut r.header),
            Some(Rs::ResponsePut(r)) => norm_header(&mut r.header),
            Some(Rs::ResponseDeleteRange(r)) => norm_header(&mut r.header),
            Some(Rs::ResponseTxn(t)) => norm_txn(t),
            None => {}
        }
    }
}

/// Drop what legitimately differs between two servers: cluster and member IDs and
/// raft terms in headers; in MemberList the member's own ID and URLs (other ports).
fn normalize(side: &Side, outcome: &Outcome) -> Outcome {
    let mut o = outcome.clone();
    if let Ok(resp) = &mut o {
        match resp {
            Resp::Put(r) => norm_header(&mut r.header),
            Resp::Range(r) => norm_header(&mut r.header),
            Resp::Delete(r) => norm_header(&mut r.header),
            Resp::Txn(t) => norm_txn(t),
            Resp::Compact(r) => norm_header(&mut r.header),
            Resp::HashKv(r) => norm_header(&mut r.header),
            Resp::Hash(r) => norm_header(&mut r.header),
            Resp::Status(r) => norm_header(&mut r.header),
            Resp::Alarms(r) => norm_header(&mut r.header),
            Resp::Members(r) => {
                let own = r.header.as_ref().map_or(0, |h| h.member_id);
                norm_header(&mut r.header);
                for m in &mut r.members {
                    if m.id == own {
                        m.id = 0;
                    }
                    for u in m.peer_ur_ls.iter_mut().filter(|u| **u == side.peer_url) {
                        *u = "<own peer url>".into();
                    }
                    for u in m.client_ur_ls.iter_mut().filter(|u| **u == side.client_url) {
                        *u = "<own client url>".into();
                    }
                }
            }
        }
    }
    o
}

fn header_rev(r: &Resp) -> Option<i64> {
    let h = match r {
        Resp::Hash(r) => &r.header,
        Resp::Status(r) => &r.header,
        Resp::HashKv(r) => &r.header,
        _ => return None,
    };
    h.as_ref().map(|h| h.revision)
}

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";

/// Asserts the exact form of a documented difference (raw answers, etcd first).
fn check_diff(diff: Diff, etcd: &Outcome, ours: &Outcome) -> Result<(), String> {
    let same_rev = |a: &Resp, b: &Resp| {
        if header_rev(a) == header_rev(b) && header_rev(a).is_some() {
            Ok(())
        } else {
            Err("header revisions differ".to_string())
        }
    };
    match (diff, etcd, ours) {
        (Diff::HashValue, Ok(e @ Resp::Hash(eh)), Ok(o @ Resp::Hash(oh))) => {
            same_rev(e, o)?;
            if eh.hash == 0 || oh.hash == 0 {
                return Err("a zero hash".into());
            }
            Ok(())
        }
        (Diff::StatusFields, Ok(e @ Resp::Status(es)), Ok(o @ Resp::Status(os))) => {
            same_rev(e, o)?;
            if !es.version.starts_with("3.4.") || os.version != metastore::server::SERVER_VERSION {
                return Err(format!("versions {:?} / {:?}", es.version, os.version));
            }
            // etcd's db sizes are its bolt file's (never 0); ours count the stored
            // versions, so 0 on an empty store.
            for (s, min_db_size) in [(es, 1), (os, 0)] {
                let me = s.header.as_ref().map_or(0, |h| h.member_id);
                let ok = s.leader == me
                    && me != 0
                    && s.errors.is_empty()
                    && !s.is_learner
                    && s.raft_term >= 1
                    && s.raft_index >= 1
                    && s.raft_applied_index >= 1
                    && s.db_size >= min_db_size
                    && s.db_size_in_use <= s.db_size;
                if !ok {
                    return Err(format!("status fields out of shape: {s:?}"));
                }
            }
            Ok(())
        }
        (Diff::HashKvAtCompactRevision, Err((tonic::Code::OutOfRange, m)), Ok(Resp::HashKv(h)))
            if m == COMPACTED && h.hash != 0 =>
        {
            Ok(())
        }
        (Diff::UndefinedSortOrder, Ok(Resp::Range(_)), Err((tonic::Code::InvalidArgument, m)))
            if m == "etcdserver: invalid sort option" =>
        {
            Ok(())
        }
        (Diff::UndefinedCompareEnum, Ok(Resp::Txn(t)), Err((tonic::Code::InvalidArgument, m)))
            if t.succeeded
                && (m == "etcdserver: invalid compare result"
                    || m == "etcdserver: invalid compare target") =>
        {
            Ok(())
        }
        (Diff::AlarmHeader, Ok(Resp::Alarms(e)), Ok(Resp::Alarms(o)))
            if e.header.is_none()
                && e.alarms.is_empty()
                && o.alarms.is_empty()
                && o.header.as_ref().is_some_and(|h| h.revision >= 1 && h.member_id != 0) =>
        {
            Ok(())
        }
        _ => Err(format!("not the documented form of {diff:?}")),
    }
}

fn short(o: &Outcome) -> String {
    let s = format!("{o:?}");
    if s.len() > 3000 {
        format!("{}... ({} chars)", &s[..3000], s.len())
    } else {
        s
    }
}

fn short_step(step: &Step) -> String {
    let s = format!("{step:?}");
    if s.len() > 600 {
        format!("{}... ({} chars)", &s[..600], s.len())
    } else {
        s
    }
}

#[derive(Default)]
struct Tally {
    sequences: usize,
    steps: usize,
    known: usize,
    failures: Vec<String>,
}

async fn run_seq(etcd_bin: &Path, seq: &Seq, tally: &mut Tally) {
    let ms_bin = Path::new(env!("CARGO_BIN_EXE_metastore"));
    // Start both, then wait for both: their start-ups overlap.
    let (ep, ed) = spawn(etcd_bin, &format!("etcd-{}", seq.name), &seq.flags);
    let (mp, md) = spawn(ms_bin, &format!("ms-{}", seq.name), &seq.flags);
    let mut etcd = connect(ep, ed).await;
    let mut ours = connect(mp, md).await;
    tally.sequences += 1;
    for (i, (step, expect)) in seq.steps.iter().enumerate() {
        tally.steps += 1;
        let e = exec(&mut etcd, step).await;
        let o = exec(&mut ours, step).await;
        let verdict = match expect {
            Expect::Same => {
                let (ne, no) = (normalize(&etcd, &e), normalize(&ours, &o));
                if ne == no {
                    Ok(())
                } else {
                    Err("answers differ".to_string())
                }
            }
            Expect::Known(diff) => {
                tally.known += 1;
                check_diff(*diff, &e, &o)
            }
        };
        if let Err(why) = verdict {
            tally.failures.push(format!(
                "[{} #{i}] {why}\n  request:   {}\n  etcd:      {}\n  metastore: {}",
                seq.name,
                short_step(step),
                short(&normalize(&etcd, &e)),
                short(&normalize(&ours, &o)),
            ));
        }
    }
}

async fn run_table(group: &str, seqs: Vec<Seq>) {
    let Some(etcd_bin) = etcd_binary() else { return };
    let mut tally = Tally::default();
    for seq in &seqs {
        run_seq(&etcd_bin, seq, &mut tally).await;
    }
    eprintln!(
        "t20_etcd_compat[{group}]: {} sequences, {} steps compared ({} documented differences asserted), {} mismatches",
        tally.sequences,
        tally.steps,
        tally.known,
        tally.failures.len()
    );
    assert!(
        tally.failures.is_empty(),
        "{} mismatch(es) between etcd 3.4 and metastore:\n\n{}",
        tally.failures.len(),
        tally.failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

fn put_sequences() -> Vec<Seq> {
    let lease = |r: pb::PutRequest, lease: i64| pb::PutRequest { lease, ..r };
    let prev = |r: pb::PutRequest| pb::PutRequest { prev_kv: true, ..r };
    let ign_v = |r: pb::PutRequest| pb::PutRequest { ignore_value: true, ..r };
    let ign_l = |r: pb::PutRequest| pb::PutRequest { ignore_lease: true, ..r };
    vec![Seq::new("put")
        .s(put("a", "1"))
        .s(prev(put("a", "2")))
        .s(prev(put("b", "x")))
        .s(prev(ign_v(put("a", ""))))
        .s(ign_v(put("a", "z")))
        .s(ign_v(put("missing", "")))
        .s(ign_l(put("missing", "v")))
        .s(ign_l(ign_v(put("missing", ""))))
        .s(ign_l(lease(put("a", "3"), 5)))
        .s(prev(ign_l(put("a", "3"))))
        .s(ign_l(ign_v(put("a", ""))))
        .s(put("", "v"))
        .s(prev(ign_v(put("", ""))))
        .s(lease(put("a", "4"), 12345))
        .s(lease(put("new", "4"), -1))
        .s(lease(ign_v(put("a", "")), 12345))
        .s(lease(ign_v(put("missing", "")), 12345))
        .s(put("a", ""))
        .s(get("a"))
        .s(put("\0", "nul"))
        .s(put("\u{7f}\u{1}", "bin"))
        .s(Step::Put(pb::PutRequest {
            key: vec![0xff, 0x00, 0xfe],
            value: vec![0, 1, 2],
            ..Default::default()
        }))
        .s(del("b"))
        .s(prev(put("b", "again")))
        .s(all())
        .s(Step::HashKv(0))]
}

fn range_sequences() -> Vec<Seq> {
    let setup = |s: Seq| {
        // a: version 3, create 2, mod 8; b: 1/3/3; c: 2/4/6; d: 1/7/7; then a/1..a/3.
        s.s(put("a", "v1"))
            .s(put("b", "y"))
            .s(put("c", "x"))
            .s(put("a", "x"))
            .s(put("c", "x"))
            .s(put("d", "z"))
            .s(put("a", "x"))
            .s(put("a/1", "3"))
            .s(put("a/2", "1"))
            .s(put("a/3", "2"))
            .s(del("a/2"))
            .s(put("a/2", "1"))
    };
    let mut basic = setup(Seq::new("range"))
        .s(get("a"))
        .s(get("missing"))
        .s(get(""))
        .s(range("", "z"))
        .s(range("a", "c"))
        .s(range("a/", "a0"))
        .s(range("b", "\0"))
        .s(range("\0", "\0"))
        .s(range("c", "a"))
        .s(range("a", "a"))
        .s(range("\0", "a"))
        .s(pb::RangeRequest { limit: 2, ..all() })
        .s(pb::RangeRequest { limit: 1, ..all() })
        .s(pb::RangeRequest { limit: 7, ..all() })
        .s(pb::RangeRequest { limit: 8, ..all() })
        .s(pb::RangeRequest { limit: -1, ..all() })
        .s(pb::RangeRequest { count_only: true, ..all() })
        .s(pb::RangeRequest { count_only: true, limit: 1, ..all() })
        .s(pb::RangeRequest { count_only: true, ..get("missing") })
        .s(pb::RangeRequest { keys_only: true, ..range("a/", "a0") })
        .s(pb::RangeRequest { keys_only: true, count_only: true, ..all() })
        .s(pb::RangeRequest { serializable: true, ..all() })
        .s(pb::RangeRequest { serializable: true, ..get("a") });
    for order in [So::None, So::Ascend, So::Descend] {
        for target in [St::Key, St::Version, St::Create, St::Mod, St::Value] {
            basic = basic.s(sorted(order, target));
            basic = basic.s(pb::RangeRequest { limit: 3, ..sorted(order, target) });
        }
    }
    basic = basic
        .s(pb::RangeRequest { keys_only: true, ..sorted(So::Descend, St::Value) })
        .s(pb::RangeRequest { limit: 2, keys_only: true, ..sorted(So::Descend, St::Value) });

    let revisions = setup(Seq::new("range-revisions"))
        .s(at(1, all()))
        .s(at(2, all()))
        .s(at(5, all()))
        .s(at(10, all()))
        .s(at(11, all()))
        .s(at(13, all()))
        .s(at(14, all()))
        .s(at(100, get("a")))
        .s(at(-1, get("a")))
        .s(at(-100, all()))
        .s(pb::RangeRequest { count_only: true, ..at(5, all()) })
        .s(pb::RangeRequest { limit: 1, ..at(5, all()) })
        .s(pb::RangeRequest { serializable: true, ..at(3, get("a")) })
        .s(pb::RangeRequest { serializable: true, ..at(99, get("a")) })
        .s(pb::RangeRequest { min_mod_revision: 6, ..all() })
        .s(pb::RangeRequest { max_mod_revision: 7, ..all() })
        .s(pb::RangeRequest { min_create_revision: 4, ..all() })
        .s(pb::RangeRequest { max_create_revision: 4, ..all() })
        .s(pb::RangeRequest { min_create_revision: 4, max_create_revision: 9, ..all() })
        .s(pb::RangeRequest { min_mod_revision: 6, max_mod_revision: 11, limit: 1, ..all() })
        .s(pb::RangeRequest { min_mod_revision: 6, limit: 2, ..all() })
        .s(pb::RangeRequest { min_mod_revision: 100, ..all() })
        .s(pb::RangeRequest { min_mod_revision: 6, count_only: true, ..all() })
        .s(pb::RangeRequest { max_mod_revision: 5, ..at(9, all()) })
        .s(pb::RangeRequest { min_create_revision: 3, ..sorted(So::Descend, St::Mod) })
        .s(compact(6))
        .s(at(5, get("a")))
        .s(at(6, get("a")))
        .s(at(6, all()))
        .s(at(7, all()))
        .s(at(-1, get("a")))
        .s(pb::RangeRequest { serializable: true, ..at(2, get("a")) });

    let undefined = setup(Seq::new("range-undefined-enum"))
        .d(pb::RangeRequest { sort_order: 5, ..all() }, Diff::UndefinedSortOrder)
        .s(all());
    vec![basic, revisions, undefined]
}

fn delete_sequences() -> Vec<Seq> {
    let prev = |r: pb::DeleteRangeRequest| pb::DeleteRangeRequest { prev_kv: true, ..r };
    vec![Seq::new("delete")
        .s(put("a", "1"))
        .s(put("b", "2"))
        .s(put("c", "3"))
        .s(put("d", "4"))
        .s(put("a/1", "5"))
        .s(put("a", "11"))
        .s(del("zz"))
        .s(prev(del("zz")))
        .s(del(""))
        .s(prev(del("a")))
        .s(del("a"))
        .s(get("a"))
        .s(at(7, get("a")))
        .s(prev(del_range("b", "d")))
        .s(del_range("d", "b"))
        .s(prev(del_range("a/", "\0")))
        .s(del_range("\0", "\0"))
        .s(prev(del_range("\0", "\0")))
        .s(put("a", "again"))
        .s(get("a"))
        .s(pb::PutRequest { prev_kv: true, ..put("b", "again") })
        .s(put("x1", "1"))
        .s(put("x2", "2"))
        .s(prev(del_range("x", "y")))
        .s(all())
        .s(Step::HashKv(0))]
}

fn txn_sequences() -> Vec<Seq> {
    let setup = |s: Seq| s.s(put("a", "1")).s(put("b", "2")).s(put("a", "11")).s(put("c", "3"));
    // After setup: a = "11" (version 2, create 2, mod 4), b = "2" (1, 3, 3), c = "3" (1, 5, 5).
    let compares = setup(Seq::new("txn-compare"))
        .s(txn(vec![cmp_value("a", Cr::Equal, "11")], vec![op_put("x", "1"), op_get("a")], vec![op_get("b")]))
        .s(txn(
            vec![cmp_value("a", Cr::Equal, "1")],
            vec![op_put("x", "never")],
            vec![op_get("b"), op_get("x")],
        ))
        .s(txn(vec![cmp_value("zz", Cr::Equal, "")], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_value("zz", Cr::NotEqual, "")], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_value("a", Cr::Greater, "1")], vec![op_get("a")], vec![]))
        .s(txn(vec![cmp_value("a", Cr::Less, "2")], vec![op_get("a")], vec![]))
        .s(txn(vec![cmp_value("a", Cr::NotEqual, "11")], vec![], vec![op_get("a")]))
        .s(txn(vec![cmp("a", Cr::Equal, Tu::Version(2))], vec![op_get("a")], vec![]))
        .s(txn(
            vec![cmp("a", Cr::Greater, Tu::Version(1)), cmp("a", Cr::Less, Tu::Version(3))],
            vec![op_get("a")],
            vec![],
        ))
        .s(txn(vec![cmp("zz", Cr::Equal, Tu::Version(0))], vec![op_get("zz")], vec![]))
        .s(txn(vec![cmp("a", Cr::Equal, Tu::CreateRevision(2))], vec![op_get("a")], vec![]))
        .s(txn(vec![cmp("zz", Cr::Equal, Tu::CreateRevision(0))], vec![op_get("a")], vec![]))
        .s(txn(vec![cmp("a", Cr::Equal, Tu::ModRevision(4))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp("a", Cr::Less, Tu::ModRevision(4))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp("a", Cr::Greater, Tu::ModRevision(3))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp("a", Cr::Equal, Tu::Lease(0))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp("a", Cr::NotEqual, Tu::Lease(0))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp("zz", Cr::Equal, Tu::Lease(0))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_range("a", "c", Cr::Greater, Tu::Version(0))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_range("a", "c", Cr::Equal, Tu::Version(1))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_range("a", "\0", Cr::Greater, Tu::CreateRevision(1))], vec![op_get("a")], vec![]))
        .s(txn(vec![cmp_range("m", "n", Cr::Equal, Tu::Version(0))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_range("m", "n", Cr::Equal, Tu::Value(vec![]))], vec![op_get("a")], vec![op_get("b")]))
        .s(txn(vec![cmp_range("a", "c", Cr::NotEqual, Tu::Value(b("zz")))], vec![op_get("a")], vec![]))
        // The operand union names another target than `target`: the zero operand.
        .s(txn(
            vec![pb::Compare { target_union: Some(Tu::ModRevision(4)), ..cmp_value("a", Cr::Greater, "") }],
            vec![op_get("a")],
            vec![op_get("b")],
        ))
        .s(txn(
            vec![pb::Compare { target_union: None, ..cmp("a", Cr::Greater, Tu::Version(5)) }],
            vec![op_get("a")],
            vec![op_get("b")],
        ))
        .s(txn(
            vec![cmp_value("a", Cr::Equal, "11"), cmp_value("b", Cr::Equal, "x")],
            vec![op_get("a")],
            vec![op_get("b")],
        ))
        .s(txn(vec![], vec![op_get("c")], vec![op_get("b")]))
        .s(txn(vec![], vec![], vec![]))
        .s(txn(vec![cmp_value("", Cr::Equal, "1")], vec![], vec![]))
        .d(
            txn(
                vec![pb::Compare { result: 9, ..cmp_value("a", Cr::Equal, "nope") }],
                vec![op_get("a")],
                vec![],
            ),
            Diff::UndefinedCompareEnum,
        )
        .d(
            txn(
                vec![pb::Compare { target: 9, ..cmp_value("a", Cr::Equal, "nope") }],
                vec![op_get("a")],
                vec![],
            ),
            Diff::UndefinedCompareEnum,
        )
        .s(all());

    let ops = setup(Seq::new("txn-ops"))
        // Reads before and after the first write, a delete that deletes nothing.
        .s(txn(
            vec![],
            vec![
                op_get("a"),
                op_del(del("zz")),
                op_put("a", "12"),
                op_get("a"),
                op_del(del("zz")),
                op_range(all()),
            ],
            vec![],
        ))
        .s(txn(vec![], vec![op_del(del("zz")), op_get("a"), op_del(del("b")), op_get("b")], vec![]))
        .s(txn(vec![], vec![op_del(pb::DeleteRangeRequest { prev_kv: true, ..del_range("a", "d") })], vec![]))
        .s(txn(vec![], vec![op(Rq::RequestPut(pb::PutRequest { prev_kv: true, ..put("a", "new") }))], vec![]))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { prev_kv: true, ..put("a", "newer") }))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_value: true, ..put("a", "") })), op_get("a")],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_value: true, ..put("zz", "") }))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_lease: true, ..put("zz", "v") }))],
            vec![],
        ))
        .s(txn(
            vec![cmp_value("a", Cr::Equal, "nope")],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_value: true, ..put("zz", "") }))],
            vec![op_get("a")],
        ))
        .s(txn(vec![], vec![op(Rq::RequestPut(pb::PutRequest { lease: 99, ..put("a", "l") }))], vec![]))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_value: true, ..put("a", "v") }))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op(Rq::RequestPut(pb::PutRequest { ignore_lease: true, lease: 3, ..put("a", "v") }))],
            vec![],
        ))
        .s(txn(vec![], vec![op_put("", "v")], vec![]))
        .s(txn(vec![], vec![op_get("")], vec![]))
        .s(txn(vec![], vec![op_del(del(""))], vec![]))
        .s(txn(vec![], vec![], vec![op_put("", "v")]))
        .s(txn(
            vec![],
            vec![
                op_range(pb::RangeRequest { limit: 1, ..all() }),
                op_range(pb::RangeRequest { count_only: true, ..all() }),
                op_range(pb::RangeRequest { keys_only: true, ..sorted(So::Descend, St::Mod) }),
                op_range(pb::RangeRequest { min_mod_revision: 5, ..all() }),
            ],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![
                op_put("t1", "1"),
                op_range(pb::RangeRequest { limit: 2, ..sorted(So::Descend, St::Create) }),
            ],
            vec![],
        ))
        // A from-key delete is an empty interval to etcd's overlap check.
        .s(txn(vec![], vec![op_del(del_range("a", "\0")), op_put("b", "back")], vec![]))
        .s(all())
        .s(Step::HashKv(0));

    let nested = setup(Seq::new("txn-nested"))
        .s(txn(
            vec![cmp_value("a", Cr::Equal, "11")],
            vec![
                op_put("n1", "1"),
                op_txn(txn(
                    vec![cmp_value("n1", Cr::Equal, "1")],
                    vec![op_get("n1"), op_put("n2", "2")],
                    vec![op_get("a")],
                )),
                op_get("n2"),
            ],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![
                op_get("a"),
                op_txn(txn(
                    vec![cmp_value("a", Cr::Equal, "nope")],
                    vec![op_put("n3", "3")],
                    vec![op_get("n1"), op_del(del("zz"))],
                )),
                op_txn(txn(vec![], vec![], vec![])),
                op_put("n4", "4"),
                op_txn(txn(
                    vec![],
                    vec![op_get("n4"), op_txn(txn(vec![], vec![op_get("n4")], vec![]))],
                    vec![],
                )),
            ],
            vec![],
        ))
        // Only reads, but nested: etcd routes it through raft like a write.
        .s(txn(vec![], vec![op_get("a"), op_txn(txn(vec![], vec![op_get("b")], vec![op_get("c")]))], vec![]))
        .s(txn(vec![], vec![op_txn(txn(vec![], vec![op_del(del("n4"))], vec![]))], vec![]))
        .s(txn(
            vec![cmp_value("a", Cr::Equal, "nope")],
            vec![op_put("x", "1")],
            vec![op_txn(txn(vec![], vec![op_put("x", "2")], vec![]))],
        ))
        .s(all())
        .s(Step::HashKv(0));

    let dup = setup(Seq::new("txn-duplicates"))
        .s(txn(vec![], vec![op_put("k", "1"), op_put("k", "2")], vec![]))
        .s(txn(vec![], vec![op_put("k", "1")], vec![op_put("k", "2")]))
        .s(txn(vec![], vec![op_put("k", "1"), op_del(del("k"))], vec![]))
        .s(txn(vec![], vec![op_del(del("k")), op_put("k", "1")], vec![]))
        .s(txn(vec![], vec![op_del(del_range("a", "c")), op_put("b", "1")], vec![]))
        .s(txn(vec![], vec![op_del(del_range("a", "c")), op_put("c", "1")], vec![]))
        .s(txn(
            vec![],
            vec![op_del(del_range("a", "c")), op_del(del("b")), op_del(del_range("b", "d"))],
            vec![],
        ))
        .s(txn(vec![], vec![op_get("k"), op_get("k"), op_put("k", "1")], vec![]))
        .s(txn(
            vec![],
            vec![op_txn(txn(
                vec![cmp_value("a", Cr::Equal, "11")],
                vec![op_put("k", "then")],
                vec![op_put("k", "else")],
            ))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op_put("k", "top"), op_txn(txn(vec![], vec![op_put("k", "nested")], vec![]))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op_put("k", "top"), op_txn(txn(vec![], vec![], vec![op_put("k", "nested")]))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op_del(del("k")), op_txn(txn(vec![], vec![op_put("k", "nested")], vec![]))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![
                op_txn(txn(vec![], vec![op_put("k", "1")], vec![])),
                op_txn(txn(vec![], vec![op_del(del("k"))], vec![])),
            ],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![
                op_txn(txn(vec![], vec![op_del(del("k"))], vec![])),
                op_txn(txn(vec![], vec![op_put("k", "1")], vec![])),
            ],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![
                op_txn(txn(vec![], vec![op_put("k", "1")], vec![])),
                op_txn(txn(vec![], vec![op_put("k", "2")], vec![])),
            ],
            vec![],
        ))
        .s(all());

    let many = setup(Seq::new("txn-too-many-ops"))
        .s(txn(vec![], puts("p", 128), vec![]))
        .s(txn(vec![], puts("q", 129), vec![]))
        .s(txn(vec![], vec![], puts("q", 129)))
        .s(txn((0..129).map(|_| cmp_value("a", Cr::Equal, "11")).collect(), vec![op_get("a")], vec![]))
        .s(txn((0..128).map(|_| cmp_value("a", Cr::Equal, "11")).collect(), vec![op_get("a")], vec![]))
        .s(txn(vec![], [puts("r", 100), vec![op_txn(txn(vec![], puts("s", 28), vec![]))]].concat(), vec![]))
        .s(txn(vec![], [puts("t", 100), vec![op_txn(txn(vec![], puts("u", 29), vec![]))]].concat(), vec![]))
        .s(txn(vec![], [vec![op_empty()], puts("v", 129)].concat(), vec![]))
        .s(txn(vec![], vec![op_empty()], vec![]))
        .s(txn(vec![], vec![op_get("a")], vec![op_empty()]))
        .s(txn(vec![], vec![op_txn(txn(vec![], vec![op_empty()], vec![]))], vec![]))
        .s(txn(vec![], vec![op_put("", "v"), op_empty()], vec![]))
        .s(txn(vec![], vec![op_empty(), op_put("", "v")], vec![]))
        .s(txn(vec![cmp_value("", Cr::Equal, "")], vec![op_empty()], vec![]))
        .s(txn(vec![], vec![op_put("k", "1"), op_put("k", "2"), op_empty()], vec![]))
        .s(pb::RangeRequest { count_only: true, ..all() });

    let lowered = setup(Seq::new("txn-max-ops-4"))
        .flags(&["--max-txn-ops", "4"])
        .s(txn(vec![], puts("p", 4), vec![]))
        .s(txn(vec![], puts("q", 5), vec![]))
        .s(txn(vec![], vec![op_get("a")], puts("q", 5)))
        .s(txn((0..5).map(|_| cmp_value("a", Cr::Equal, "11")).collect(), vec![], vec![]))
        .s(txn(vec![], vec![op_put("r1", "1"), op_txn(txn(vec![], puts("s", 2), vec![]))], vec![]))
        .s(txn(
            vec![],
            vec![op_put("r2", "1"), op_put("r3", "1"), op_txn(txn(vec![], puts("t", 2), vec![]))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op_txn(txn(
                vec![],
                vec![op_txn(txn(
                    vec![],
                    vec![op_txn(txn(vec![], vec![op_put("deep", "1")], vec![]))],
                    vec![],
                ))],
                vec![],
            ))],
            vec![],
        ))
        .s(txn(
            vec![],
            vec![op_txn(txn(
                vec![],
                vec![op_txn(txn(
                    vec![],
                    vec![op_txn(txn(
                        vec![],
                        vec![op_txn(txn(vec![], vec![op_put("deeper", "1")], vec![]))],
                        vec![],
                    ))],
                    vec![],
                ))],
                vec![],
            ))],
            vec![],
        ))
        .s(pb::RangeRequest { count_only: true, ..all() });

    let revisions = setup(Seq::new("txn-range-revisions"))
        .s(put("a", "12"))
        .s(put("d", "4"))
        // Current revision 7, then compacted at 5.
        .s(txn(vec![], vec![op_range(at(7, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(8, get("a")))], vec![]))
        .s(txn(vec![], vec![op_put("e", "5"), op_range(at(8, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(3, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(-1, get("a")))], vec![]))
        .s(compact(5))
        .s(txn(vec![], vec![op_range(at(4, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(5, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(-1, get("a")))], vec![]))
        .s(txn(vec![], vec![op_range(at(100, get("a")))], vec![]))
        .s(txn(vec![], vec![op_put("f", "6"), op_range(at(100, get("a")))], vec![]))
        .s(txn(vec![], vec![op_put("f", "6"), op_range(at(2, get("a")))], vec![]))
        .s(txn(vec![cmp_value("a", Cr::Equal, "nope")], vec![op_range(at(2, get("a")))], vec![op_get("a")]))
        .s(txn(vec![], vec![op_txn(txn(vec![], vec![op_range(at(2, get("a")))], vec![]))], vec![]))
        .s(txn(vec![], vec![op_txn(txn(vec![], vec![op_range(at(100, get("a")))], vec![]))], vec![]))
        .s(pb::RangeRequest { count_only: true, ..all() });
    vec![compares, ops, nested, dup, many, lowered, revisions]
}

fn compact_sequences() -> Vec<Seq> {
    let edge = Seq::new("compact-edges")
        .s(compact(-1))
        .s(compact(2))
        .s(compact(0))
        .s(compact(0))
        .s(compact(1))
        .s(compact(1))
        .s(Step::HashKv(0))
        .d(Step::HashKv(1), Diff::HashKvAtCompactRevision)
        .s(Step::HashKv(2))
        .s(put("a", "1"))
        .s(pb::CompactionRequest { revision: 2, physical: false })
        .s(compact(2))
        .s(get("a"));

    let main = Seq::new("compact-hashkv")
        .s(Step::HashKv(0))
        .s(Step::HashKv(1))
        .s(put("a", "1"))
        .s(put("a", "2"))
        .s(put("b", "1"))
        .s(del("a"))
        .s(put("c", "1"))
        .s(put("a", "3"))
        .s(Step::HashKv(0))
        .s(Step::HashKv(3))
        .s(Step::HashKv(5))
        .s(Step::HashKv(7))
        .s(Step::HashKv(8))
        .s(Step::HashKv(-1))
        .s(compact(8))
        .s(compact(3))
        .s(get("a"))
        .s(compact(3))
        .s(compact(2))
        .s(at(2, get("a")))
        .s(at(3, get("a")))
        .s(at(4, all()))
        .s(at(5, all()))
        .s(Step::HashKv(0))
        .s(Step::HashKv(2))
        .d(Step::HashKv(3), Diff::HashKvAtCompactRevision)
        .s(Step::HashKv(4))
        .s(Step::HashKv(5))
        .s(Step::HashKv(7))
        .s(Step::HashKv(8))
        // Compact at the tombstone of a.
        .s(compact(5))
        .s(at(4, get("a")))
        .s(at(5, all()))
        .s(Step::HashKv(0))
        .d(Step::HashKv(5), Diff::HashKvAtCompactRevision)
        .s(Step::HashKv(6))
        .s(Step::HashKv(4))
        .s(compact(7))
        .s(Step::HashKv(0))
        .d(Step::HashKv(7), Diff::HashKvAtCompactRevision)
        .s(put("d", "1"))
        .s(del_range("\0", "\0"))
        .s(Step::HashKv(0))
        .s(Step::HashKv(8))
        .s(compact(9))
        .s(Step::HashKv(0))
        .s(all())
        .s(at(9, all()))
        .s(put("e", "1"))
        .s(Step::HashKv(0))
        .d(Step::Hash, Diff::HashValue);

    // No live key at the HashKV revision (etcd then hashes every stored revision).
    let empty = Seq::new("hashkv-no-live-key")
        .s(put("a", "1"))
        .s(put("a", "2"))
        .s(del("a"))
        .s(Step::HashKv(0))
        .s(compact(3))
        .s(Step::HashKv(0))
        .s(Step::HashKv(4))
        .s(put("b", "1"))
        .s(Step::HashKv(4))
        .s(Step::HashKv(0))
        .s(compact(4))
        .s(Step::HashKv(0))
        .s(Step::HashKv(5));
    vec![edge, main, empty]
}

fn limit_sequences() -> Vec<Seq> {
    // etcd measures the raft entry (the request plus ~21-23 bytes of framing) against
    // --max-request-bytes: with 1024, a put of key "k" and a 1001-byte value fits and
    // one of 1004 bytes does not, whatever etcd's request ID.
    let v = |n: usize| "x".repeat(n);
    let grpc_limit = 1024 + 512 * 1024;
    let too_large = Seq::new("request-too-large")
        .flags(&["--max-request-bytes", "1024"])
        .s(put("k", &v(500)))
        .s(put("k", &v(1001)))
        .s(put("k", &v(1004)))
        .s(put("k", &v(2000)))
        .s(put("", &v(2000)))
        .s(pb::PutRequest { ignore_value: true, ..put("k", &v(2000)) })
        .s(pb::PutRequest { lease: 7, ..put("k", &v(2000)) })
        .s(del_range("k", &format!("l{}", v(2000))))
        .s(del_range("", &format!("l{}", v(2000))))
        .s(txn(vec![], vec![op_put("k", &v(2000))], vec![]))
        .s(txn(vec![], vec![op_put("k", &v(2000)), op_put("k", "dup")], vec![]))
        .s(txn(vec![], vec![op_put("", &v(2000))], vec![]))
        // Read-only: etcd serves it without raft, so without the size check.
        .s(txn(vec![cmp_value("k", Cr::Equal, &v(2000))], vec![op_get("k")], vec![op_range(get(&v(2000)))]))
        // Nested reads only: through raft in etcd 3.4, so checked.
        .s(txn(
            vec![],
            vec![op_txn(txn(vec![cmp_value("k", Cr::Equal, &v(2000))], vec![op_get("k")], vec![]))],
            vec![],
        ))
        .s(get(&v(2000)))
        .s(range("k", &v(3000)))
        .s(put(&v(300), &v(300)))
        .s(put("k", &v(grpc_limit + 100)))
        .s(get("k"));
    vec![too_large]
}

fn status_sequences() -> Vec<Seq> {
    vec![Seq::new("status")
        .d(Step::Status, Diff::StatusFields)
        .s(Step::MemberList)
        .d(Step::AlarmList, Diff::AlarmHeader)
        .d(Step::Hash, Diff::HashValue)
        .s(Step::HashKv(0))
        .s(put("a", "1"))
        .d(Step::Status, Diff::StatusFields)
        .s(Step::MemberList)
        .d(Step::AlarmList, Diff::AlarmHeader)
        .s(Step::HashKv(0))
        .d(Step::Hash, Diff::HashValue)]
}

// ---------------------------------------------------------------------------
// Tests (each group on its own pairs of servers; cargo runs groups in parallel)
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compat_put_range_delete() {
    let seqs = [put_sequences(), range_sequences(), delete_sequences()].into_iter().flatten().collect();
    run_table("put/range/delete", seqs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compat_txn() {
    run_table("txn", txn_sequences()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_compat_compact_hash_status_limits() {
    let seqs = [compact_sequences(), status_sequences(), limit_sequences()].into_iter().flatten().collect();
    run_table("compact/hash/status/limits", seqs).await;
}
