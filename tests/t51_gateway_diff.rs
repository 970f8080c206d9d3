//! Differential test of the HTTP JSON gateway (`/v3/...`) and the HTTP endpoints of
//! the client port (`/health`, `/livez`, `/readyz`, `/version`, `/metrics`) against a
//! real etcd 3.4: every group below runs the same requests, in order, against a fresh
//! etcd and a fresh `metastore` (each on its own data dir and free loopback ports,
//! same flags), and compares what came back: status, the headers a client can see
//! (content type, `Grpc-Metadata-Content-Type`, `Allow`, `Location`, nosniff, CORS),
//! whether a stream came chunked, and bodies token by token (key order, number or
//! string spelling, escapes and trailing newlines included). Streams
//! (watch, lease keepalive, election observe, snapshot, a blocked lock) are read
//! message by message, with writes made on other connections in between.
//!
//! Normalized before comparing, because they cannot match between two servers:
//! - `cluster_id`, `member_id`, `raft_term` of every response header (the revision
//!   is kept and compared);
//! - values that name the server itself, by value, wherever they appear in a string:
//!   its member ID (`{{SELF}}`), its client and peer URLs (`{{CLIENT_URL}}`,
//!   `{{PEER_URL}}`), the random ID of a member added in the test (`{{LEARNER}}`),
//!   the auth tokens it handed out (`{{TOKEN_ROOT}}`, `{{TOKEN_ALICE}}`);
//! - `members` arrays are sorted by (normalized) ID: the order is by raw member ID,
//!   and the added learner's ID is random on both sides;
//! - `leases` arrays (LeaseLeases) are sorted by ID: etcd lists them by expiry,
//!   metastore by ID (docs/compat.md);
//! - the `hash` of a Hash response (etcd hashes its bolt file; docs/compat.md);
//! - Status's `dbSize`, `dbSizeInUse`, `raftIndex`, `raftAppliedIndex`, `raftTerm`
//!   (no bolt file, another raft log; docs/compat.md), and `dbSizeQuota` (etcd 3.6's
//!   field; its value is checked in t46);
//! - LeaseTimeToLive's remaining `TTL` (checked to be in `1..=grantedTTL`: it
//!   depends on when the request lands), and the order of its `keys` (etcd walks a
//!   Go map);
//! - snapshots, whose bytes differ: each side's stream is checked on its own (32 KiB
//!   blobs, `remaining_bytes` counting down, a final SHA-256 of the rest).
//!
//! MetaStore reports etcd 3.4.23 (`/version`, Status) and follows 3.5 where
//! docs/compat.md says so. Where it deliberately answers otherwise (3.5 routes such as
//! `/v3/maintenance/hashkv` and `/v3/auth/status`, `/livez` and `/readyz` as etcd
//! 3.4.29 and later serve them, headers 3.4 leaves out, auth rules stricter than 3.4's),
//! the step names a [`Diff`] and the exact difference is asserted (see
//! `/work/notes/gateway-facts.md` and docs/compat.md). A unary error's keys are
//! expected in etcd 3.4's order (`error`, `message`, `code`; 3.5 writes `error`,
//! `code`, `message`): see [`ERRORS_IN_35_ORDER`]. Errors from decoding the request
//! JSON are compared without their message text (Go's `encoding/json` wording). The
//! CORS headers are compared on a few steps only ([`Expect::SameWithCors`]).
//!
//! etcd is taken from `$ETCD_BIN`, else `/usr/bin/etcd`, else `etcd` on `PATH`, and
//! must be 3.4.x. Without it the test fails, unless `METASTORE_SKIP_ETCD_COMPAT=1`
//! (then it prints that it was skipped). `METASTORE_GATEWAY_DIFF_SELF=1` runs etcd on
//! both sides (every step then expected equal), to check the harness itself.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::http::{self, Next, Request};
use support::json::Json;
use support::{free_port, temp_dir, Proc};

const SKIP_VAR: &str = "METASTORE_SKIP_ETCD_COMPAT";
const SELF_VAR: &str = "METASTORE_GATEWAY_DIFF_SELF";
/// Whether metastore writes a unary error's keys in etcd 3.5's order (`error`,
/// `code`, `message`: grpc-gateway 1.16) rather than 3.4's (`error`, `message`,
/// `code`: grpc-gateway 1.6 to 1.9). It writes 3.4's (since df9a919); one switch, as
/// the choice is metastore's to make.
const ERRORS_IN_35_ORDER: bool = false;
/// The budget of one request, or of one stream message.
const CALL: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Finding etcd
// ---------------------------------------------------------------------------

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
    let problem = match &found {
        None => "no etcd binary: ETCD_BIN unset or not a file, no /usr/bin/etcd, no etcd on PATH".to_string(),
        Some(bin) => match std::process::Command::new(bin).arg("--version").output() {
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
        eprintln!("t51_gateway_diff: SKIPPED ({SKIP_VAR}=1): {problem}");
        return None;
    }
    panic!(
        "t51_gateway_diff needs a real etcd 3.4: {problem}.\n\
         Install it (Debian: apt-get install etcd-server) or point ETCD_BIN at one; \
         set {SKIP_VAR}=1 to skip this test."
    );
}

fn self_mode() -> bool {
    std::env::var(SELF_VAR).is_ok_and(|v| v == "1")
}

// ---------------------------------------------------------------------------
// Base64 (standard alphabet, padded: how the gateway writes bytes)
// ---------------------------------------------------------------------------

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unb64(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        acc = acc << 6 | B64.iter().position(|&x| x == c)? as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A JSON body template: `<text>` becomes the base64 of `text` (keys, values), so
/// `{"key":"<a>"}` is `{"key":"YQ=="}`. `{{VAR}}` is left for the side's variables.
fn t(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('>').expect("unclosed <") + start;
        out.push_str(&b64(&rest.as_bytes()[start + 1..end]));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// Requests and steps
// ---------------------------------------------------------------------------

/// A request as written in the tables: `{{VAR}}` in the path, headers and body is
/// replaced by the side's value before sending.
#[derive(Clone, Debug)]
struct Req(Request);

fn req(method: &str, path: &str, body: Option<String>) -> Req {
    let mut r = Request::new(method, path);
    r.body = body.map(String::into_bytes);
    Req(r)
}

/// `POST path` with a body template (see [`t`]).
fn post(path: &str, body: &str) -> Req {
    req("POST", path, Some(t(body)))
}

/// `POST path` with these exact body bytes (no template).
fn post_raw(path: &str, body: impl Into<Vec<u8>>) -> Req {
    let mut r = Request::new("POST", path);
    r.body = Some(body.into());
    Req(r)
}

fn get(path: &str) -> Req {
    req("GET", path, None)
}

impl Req {
    fn h(mut self, name: &str, value: &str) -> Req {
        self.0.headers.push((name.to_string(), value.to_string()));
        self
    }
    /// `Authorization: <token>` (the raw token, as etcd's gateway expects).
    fn auth(self, token_var: &str) -> Req {
        self.h("Authorization", &format!("{{{{{token_var}}}}}"))
    }
    fn http10(mut self) -> Req {
        self.0.http10 = true;
        self
    }
    fn no_content_type(mut self) -> Req {
        self.0.no_content_type = true;
        self
    }
    fn short(&self) -> String {
        let body = self.0.body.as_ref().map(|b| format!(" {}", clip(&String::from_utf8_lossy(b), 160)));
        let hs: String = self.0.headers.iter().map(|(k, v)| format!(" [{k}: {v}]")).collect();
        let v = if self.0.http10 { " HTTP/1.0" } else { "" };
        format!("{} {}{v}{hs}{}", self.0.method, self.0.path, body.unwrap_or_default())
    }
}

/// What is expected of a step's answers.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The same as etcd's (after normalization); the CORS headers are left out.
    Same,
    /// The same, CORS headers included (checked on a few steps only, so a missing
    /// CORS layer shows once, not on every step).
    SameWithCors,
    /// A request-decoding error: same status, code and JSON shape; the message text
    /// (Go's `encoding/json` / jsonpb wording) is not compared.
    DecodeError,
    /// A documented difference, asserted exactly.
    Known(Diff),
    /// A snapshot stream: each side checked on its own (the bytes differ).
    Snapshot,
    /// Only the status and headers are compared (`/metrics`).
    HeadOnly,
}

/// Deliberate differences from etcd 3.4.23, each asserted in the exact form given.
#[derive(Clone, Copy, Debug)]
enum Diff {
    /// A response etcd 3.4 sends without a header carries one here (`revision`
    /// only, after normalization), first: Alarm (all actions; docs/compat.md: etcd
    /// 3.5 fills it too), Defragment and MoveLeader (not in docs/compat.md: etcd 3.5
    /// sends none either).
    ExtraHeader,
    /// `/v3/maintenance/hashkv`: 404 in 3.4 (Hash and HashKV both sit on
    /// `/v3/maintenance/hash` there and Hash, registered first, answers); HashKV
    /// here, as etcd 3.5 routes it.
    HashKvRoute,
    /// `/v3/auth/status`: 404 in 3.4, AuthStatus here (3.5); `enabled` as given.
    AuthStatusRoute(bool),
    /// `/livez`, `/readyz` (etcd >= 3.4.29 and >= 3.5.11; 404 in 3.4.23): "ok\n", or
    /// with `?verbose` one `[+]<check> ok` line per check run (any order: etcd lists
    /// them from a Go map) before it; an excluded check is not run nor listed. The
    /// checks named are the ones expected to run.
    Probe(&'static [&'static str], bool),
    /// A method other than GET on `/livez` or `/readyz`: 405 with `Allow: GET` (as
    /// etcd >= 3.4.29), 404 in 3.4.23.
    ProbeMethod,
    /// MemberUpdate of a learner: etcd (3.4 and 3.5) replaces the member's raft
    /// attributes with the request's URLs alone, so the learner loses `isLearner` in
    /// the answer (and in its member list); metastore keeps it. Not in
    /// docs/compat.md yet.
    UpdateKeepsLearner,
    /// Range with an undefined `sort_order`: refused here with InvalidArgument
    /// (docs/compat.md; through the gateway by its decoder, which knows no such enum
    /// value), answered by 3.4.
    SortOption,
    /// Compact is root-only here (docs/compat.md, auth): the error given (code,
    /// message), where etcd 3.4 lets anyone compact.
    CompactRootOnly(i32, &'static str),
    /// A token sent while auth is off: ignored here (docs/compat.md), "invalid auth
    /// token" in etcd 3.4.
    TokenWhileAuthOff,
    /// `/v3alpha/`: 404 in etcd 3.4 and 3.5; served here as an alias of `/v3/`
    /// (issue 15, docs/compat.md): ours must be a 200 answer with a header.
    V3AlphaAlias,
    /// Unpadded or URL-safe base64 in a bytes field: a decoding error in etcd; decoded
    /// here (docs/compat.md): ours must be a 200 answer with a header.
    LenientBase64,
}

/// One step of a stream's script.
#[derive(Clone, Debug)]
enum SOp {
    /// Read this many messages (the response head first, if not read yet).
    Read(usize),
    /// Expect the body to end.
    End,
    /// Make this request on another connection (compared like any step).
    Call(Req),
    /// Repeat this request on another connection until its body contains the text
    /// (not compared; synchronization only), for at most [`CALL`].
    WaitFor(Req, &'static str),
}

#[derive(Clone, Debug)]
enum Step {
    /// One request; `capture` saves values of the (raw) answer as side variables
    /// (name, path, whether answers are to show the name instead of the value).
    Call { req: Req, expect: Expect, capture: Vec<(&'static str, Vec<&'static str>, bool)> },
    /// A request whose answer is read as a stream, with a script; the request body is
    /// sent whole first (etcd's HTTP/1.1 server reads the whole body before it
    /// answers a stream, see the facts notes).
    Stream { req: Req, ops: Vec<SOp>, expect: Expect },
    /// Several requests on one keep-alive connection.
    KeepAlive(Vec<Req>),
}

fn s(r: Req) -> Step {
    Step::Call { req: r, expect: Expect::Same, capture: vec![] }
}

/// Compared with the CORS headers.
fn cors(r: Req) -> Step {
    Step::Call { req: r, expect: Expect::SameWithCors, capture: vec![] }
}

fn d(r: Req) -> Step {
    Step::Call { req: r, expect: Expect::DecodeError, capture: vec![] }
}

fn k(r: Req, diff: Diff) -> Step {
    Step::Call { req: r, expect: Expect::Known(diff), capture: vec![] }
}

/// Capture a value that names the server's own things (an ID, a token): answers
/// show `{{var}}` in its place.
fn cap(r: Req, var: &'static str, path: &[&'static str]) -> Step {
    Step::Call { req: r, expect: Expect::Same, capture: vec![(var, path.to_vec(), true)] }
}

/// Capture a value only to use it in later requests (answers keep it).
fn cap_value(r: Req, var: &'static str, path: &[&'static str]) -> Step {
    Step::Call { req: r, expect: Expect::Same, capture: vec![(var, path.to_vec(), false)] }
}

fn stream(r: Req, ops: Vec<SOp>) -> Step {
    Step::Stream { req: r, ops, expect: Expect::Same }
}

// ---------------------------------------------------------------------------
// Observations
// ---------------------------------------------------------------------------

/// `s` cut to at most `max` characters, saying how long it was.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...({} bytes)", &s[..i], s.len()),
        None => s.to_string(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Payload {
    Json(Json),
    Raw(Vec<u8>),
}

impl Payload {
    /// JSON when the bytes are a compact JSON document (as Go writes them), else the
    /// bytes (so whitespace, a trailing newline, are compared too).
    fn of(bytes: &[u8]) -> Payload {
        match Json::parse(bytes) {
            Ok(j) if j.to_string().as_bytes() == bytes => Payload::Json(j),
            _ => Payload::Raw(bytes.to_vec()),
        }
    }
    fn json(&self) -> Option<&Json> {
        match self {
            Payload::Json(j) => Some(j),
            Payload::Raw(_) => None,
        }
    }
    fn show(&self) -> String {
        match self {
            Payload::Json(j) => clip(&j.to_string(), 600),
            Payload::Raw(b) => format!("{:?}", clip(&String::from_utf8_lossy(b), 300)),
        }
    }
}

/// What one side answered, piece by piece.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Obs {
    /// Status and the compared headers; `chunked` only for streams (whether the body
    /// came chunked: streams must, over HTTP/1.1, and must not over HTTP/1.0).
    Head {
        status: u16,
        headers: Vec<(String, String)>,
        chunked: Option<bool>,
    },
    Body(Payload),
    Msg(Payload),
    End,
    /// The client gave up (timeout, connection closed early, ...).
    Fail(String),
}

impl Obs {
    fn show(&self) -> String {
        match self {
            Obs::Head { status, headers, chunked } => {
                let hs: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let ch = match chunked {
                    Some(true) => " (chunked)",
                    Some(false) => " (not chunked)",
                    None => "",
                };
                format!("{status}{ch} [{}]", hs.join("; "))
            }
            Obs::Body(p) => format!("body {}", p.show()),
            Obs::Msg(p) => format!("msg  {}", p.show()),
            Obs::End => "end of body".to_string(),
            Obs::Fail(why) => format!("FAILED: {why}"),
        }
    }
}

/// The headers compared (lower case), in this order.
const COMPARED_HEADERS: &[&str] = &[
    "content-type",
    "grpc-metadata-content-type",
    "x-content-type-options",
    "allow",
    "location",
    "access-control-allow-origin",
    "access-control-allow-methods",
    "access-control-allow-headers",
];

/// The routes that answer with a stream of messages.
fn is_stream_route(path: &str) -> bool {
    ["/watch", "/lease/keepalive", "/election/observe", "/maintenance/snapshot"]
        .iter()
        .any(|r| path.ends_with(r))
}

/// The compared parts of a response head; for a stream route answering 200, whether
/// the body was chunked (it must be over HTTP/1.1 and must not over HTTP/1.0; other
/// answers may use either framing).
fn head_obs(head: &http::Head, path: &str) -> Obs {
    let headers =
        COMPARED_HEADERS.iter().filter_map(|name| head.header(name).map(|v| (name.to_string(), v))).collect();
    let chunked =
        (is_stream_route(path) && head.status == 200).then_some(head.framing == http::Framing::Chunked);
    Obs::Head { status: head.status, headers, chunked }
}

// ---------------------------------------------------------------------------
// Sides
// ---------------------------------------------------------------------------

/// A data dir, removed when dropped (after its process, which is dropped first).
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One server under test and its variables. Fields drop in order: the process is
/// killed (Proc's Drop) before its data dir goes.
struct Side {
    proc: Proc,
    _dir: DataDir,
    port: u16,
    /// `{{NAME}}` -> value, for requests.
    vars: Vec<(String, String)>,
    /// value -> `{{NAME}}` in answers: the variables that name this server's own
    /// things (IDs, URLs, tokens), not those that only carry a value between steps.
    masks: Vec<(String, String)>,
}

impl Side {
    fn spawn(bin: &Path, tag: &str) -> Side {
        let dir = DataDir(temp_dir(tag));
        let flags = ["--logger", "zap", "--log-outputs", "stderr"];
        let proc = Proc::spawn_binary(bin, &dir.0, free_port(), free_port(), &flags);
        let port = proc.client_port;
        let vars = vec![
            ("CLIENT_URL".to_string(), format!("http://127.0.0.1:{}", proc.client_port)),
            ("PEER_URL".to_string(), format!("http://127.0.0.1:{}", proc.peer_port)),
        ];
        let masks = vars.clone();
        Side { proc, _dir: dir, port, vars, masks }
    }

    /// Wait until it serves, then learn its member ID.
    fn ready(&mut self) {
        self.proc.wait_serving();
        let r = http::call(self.port, &post_raw("/v3/cluster/member/list", "{}").0, CALL)
            .unwrap_or_else(|e| panic!("{}: member list: {e}", self.proc.name));
        let j = Json::parse(&r.body).unwrap_or_else(|e| panic!("{}: member list: {e}", self.proc.name));
        let id = j.at(&["members", "0", "ID"]).and_then(Json::as_str).expect("member ID").to_string();
        self.set("SELF", &id, true);
    }

    fn set(&mut self, name: &str, value: &str, mask: bool) {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_string(), value.to_string()));
        self.masks.retain(|(n, _)| n != name);
        if mask {
            self.masks.push((name.to_string(), value.to_string()));
        }
    }

    fn fill(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.vars {
            out = out.replace(&format!("{{{{{name}}}}}"), value);
        }
        out
    }

    /// The request with this side's variables filled in.
    fn request(&self, r: &Req) -> Request {
        let mut out = r.0.clone();
        out.path = self.fill(&out.path);
        for (_, v) in out.headers.iter_mut() {
            *v = self.fill(v);
        }
        if let Some(body) = &out.body {
            if body.windows(2).any(|w| w == b"{{") {
                out.body = Some(self.fill(&String::from_utf8_lossy(body)).into_bytes());
            }
        }
        out
    }

    fn call(&self, r: &Req, out: &mut Vec<Obs>) -> Option<Json> {
        let request = self.request(r);
        match http::call(self.port, &request, CALL) {
            Ok(resp) => {
                out.push(head_obs(&resp.head, &request.path));
                let p = Payload::of(&resp.body);
                out.push(Obs::Body(p.clone()));
                p.json().cloned()
            }
            Err(e) => {
                out.push(Obs::Fail(format!("{}: {e}", r.short())));
                None
            }
        }
    }

    /// Run one step; its observations, in order (side calls of a stream flagged).
    fn run(&mut self, step: &Step) -> Vec<(bool, Obs)> {
        let mut out = Vec::new();
        match step {
            Step::Call { req, capture, .. } => {
                let mut obs = Vec::new();
                let mut answer = self.call(req, &mut obs);
                // A step that captures (member add, lease grant, ...) is retried a few
                // times if its answer has nothing to capture: a server starting up under
                // a loaded machine may refuse it once (e.g. a request timeout).
                for _ in 0..4 {
                    let captured =
                        capture.iter().all(|(_, path, _)| answer.as_ref().and_then(|j| j.at(path)).is_some());
                    if captured {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                    obs.clear();
                    answer = self.call(req, &mut obs);
                }
                out.extend(obs.into_iter().map(|o| (false, o)));
                for (var, path, mask) in capture {
                    match answer.as_ref().and_then(|j| j.at(path)).and_then(Json::as_str) {
                        Some(v) => {
                            let v = v.to_string();
                            self.set(var, &v, *mask);
                        }
                        None => {
                            let got = answer.as_ref().map_or("no JSON".to_string(), |j| j.to_string());
                            out.push((
                                false,
                                Obs::Fail(format!("nothing at {path:?} to capture as {var} in {got}")),
                            ))
                        }
                    }
                }
            }
            Step::KeepAlive(reqs) => {
                let deadline = Instant::now() + CALL;
                match http::Conn::connect(self.port, CALL) {
                    Err(e) => out.push((false, Obs::Fail(format!("connect: {e}")))),
                    Ok(mut conn) => {
                        for (i, r) in reqs.iter().enumerate() {
                            let last = i + 1 == reqs.len();
                            let request = self.request(r);
                            let got = conn
                                .send(&request, !last)
                                .and_then(|()| conn.read_response(&request.method, deadline));
                            match got {
                                Ok(resp) => {
                                    out.push((false, head_obs(&resp.head, &request.path)));
                                    out.push((false, Obs::Body(Payload::of(&resp.body))));
                                }
                                Err(e) => {
                                    out.push((
                                        false,
                                        Obs::Fail(format!("request {i} on the connection: {e}")),
                                    ));
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            Step::Stream { req, ops, .. } => {
                let request = self.request(req);
                let mut st = match http::Stream::send(self.port, &request, CALL) {
                    Ok(st) => st,
                    Err(e) => {
                        out.push((false, Obs::Fail(format!("open: {e}"))));
                        return out;
                    }
                };
                let mut head_seen = false;
                'ops: for op in ops {
                    match op {
                        SOp::Call(r) => {
                            let mut obs = Vec::new();
                            self.call(r, &mut obs);
                            out.extend(obs.into_iter().map(|o| (true, o)));
                        }
                        SOp::WaitFor(r, needle) => {
                            let deadline = Instant::now() + CALL;
                            loop {
                                let found = http::call(self.port, &self.request(r), CALL)
                                    .map(|resp| String::from_utf8_lossy(&resp.body).contains(needle))
                                    .unwrap_or(false);
                                if found {
                                    break;
                                }
                                if Instant::now() > deadline {
                                    out.push((true, Obs::Fail(format!("waited in vain for {needle:?}"))));
                                    break 'ops;
                                }
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                        SOp::Read(_) | SOp::End if !head_seen => {
                            head_seen = true;
                            match st.head(CALL) {
                                Ok(head) => out.push((false, head_obs(head, &request.path))),
                                Err(e) => {
                                    out.push((false, Obs::Fail(format!("response head: {e}"))));
                                    break 'ops;
                                }
                            }
                            if !read_stream(&mut st, op, &mut out) {
                                break 'ops;
                            }
                        }
                        SOp::Read(_) | SOp::End => {
                            if !read_stream(&mut st, op, &mut out) {
                                break 'ops;
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// Carry out a Read or End on a stream; false when the stream failed.
fn read_stream(st: &mut http::Stream, op: &SOp, out: &mut Vec<(bool, Obs)>) -> bool {
    let n = match op {
        SOp::Read(n) => *n,
        _ => 0,
    };
    for _ in 0..n {
        match st.next(CALL) {
            Ok(Next::Message(m)) => out.push((false, Obs::Msg(Payload::of(&m)))),
            Ok(Next::End) => {
                out.push((false, Obs::End));
                return false;
            }
            Err(e) => {
                out.push((false, Obs::Fail(format!("waiting for a message: {e}"))));
                return false;
            }
        }
    }
    if matches!(op, SOp::End) {
        match st.next(CALL) {
            Ok(Next::End) => out.push((false, Obs::End)),
            Ok(Next::Message(m)) => {
                out.push((false, Obs::Msg(Payload::of(&m))));
                return false;
            }
            Err(e) => {
                out.push((false, Obs::Fail(format!("waiting for the end: {e}"))));
                return false;
            }
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------

/// Replace this side's variable values with `{{NAME}}` in every string (longest
/// value first, so a URL goes before a port inside it).
fn unfill(text: &str, vars: &[(String, String)]) -> String {
    let mut vars: Vec<&(String, String)> = vars.iter().filter(|(_, v)| !v.is_empty()).collect();
    vars.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    let mut out = text.to_string();
    for (name, value) in vars {
        out = out.replace(value.as_str(), &format!("{{{{{name}}}}}"));
    }
    out
}

fn normalize_json(j: &mut Json, vars: &[(String, String)]) {
    j.walk_mut(&mut |v| {
        if let Json::Str(s) = v {
            *s = unfill(s, vars);
        }
    });
    j.walk_mut(&mut |v| {
        let Json::Obj(_) = v else { return };
        if let Some(h @ Json::Obj(_)) = v.get_mut("header") {
            for key in ["cluster_id", "member_id", "raft_term"] {
                h.remove(key);
            }
        }
        // Hash: etcd's covers its bolt file, ours the MVCC state (docs/compat.md).
        if v.get("header").is_some() && matches!(v.get("hash"), Some(Json::Num(_))) {
            *v.get_mut("hash").expect("hash") = Json::str("<hash>");
        }
        // Status: sizes of the bolt file / stored versions, and raft log positions.
        // `dbSizeQuota` is etcd 3.6's field, which 3.4 lacks (docs/compat.md; t46
        // checks its value).
        if v.get("raftIndex").is_some() || v.get("raftAppliedIndex").is_some() {
            for key in ["dbSize", "dbSizeInUse", "raftIndex", "raftAppliedIndex", "raftTerm", "dbSizeQuota"] {
                v.remove(key);
            }
        }
        // LeaseTimeToLive: the remaining TTL depends on when the request lands.
        if let (Some(granted), Some(ttl)) =
            (v.get("grantedTTL").and_then(Json::as_i128), v.get("TTL").and_then(Json::as_i128))
        {
            if 0 < ttl && ttl <= granted {
                *v.get_mut("TTL").expect("TTL") = Json::str("<1..=grantedTTL>");
            }
            // Its keys come in no particular order (etcd walks a Go map).
            if let Some(Json::Arr(keys)) = v.get_mut("keys") {
                keys.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
        for (list, by) in [("leases", "ID"), ("members", "ID")] {
            if let Some(Json::Arr(items)) = v.get_mut(list) {
                items.sort_by_key(|item| {
                    let id = item.get(by).and_then(Json::as_str).unwrap_or_default().to_string();
                    (id.parse::<u128>().unwrap_or(u128::MAX), id)
                });
            }
        }
    });
}

fn normalize(obs: &Obs, vars: &[(String, String)]) -> Obs {
    let payload = |p: &Payload| match p {
        Payload::Json(j) => {
            let mut j = j.clone();
            normalize_json(&mut j, vars);
            Payload::Json(j)
        }
        Payload::Raw(b) => Payload::Raw(unfill(&String::from_utf8_lossy(b), vars).into_bytes()),
    };
    match obs {
        Obs::Head { status, headers, chunked } => Obs::Head {
            status: *status,
            headers: headers.iter().map(|(k, v)| (k.clone(), unfill(v, vars))).collect(),
            chunked: *chunked,
        },
        Obs::Body(p) => Obs::Body(payload(p)),
        Obs::Msg(p) => Obs::Msg(payload(p)),
        other => other.clone(),
    }
}

/// etcd 3.4 writes a unary error as `{"error","message","code"}`, etcd 3.5 (and
/// metastore) as `{"error","code","message"}`: what 3.5 writes for `p`.
fn error_order_35(p: &Payload) -> Option<Payload> {
    let j = p.json()?;
    if j.keys() != ["error", "message", "code"] {
        return None;
    }
    let field = |key: &str| (key.to_string(), j.get(key).expect("key").clone());
    Some(Payload::Json(Json::Obj(vec![field("error"), field("code"), field("message")])))
}

// ---------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------

fn body_of(obs: &[Obs]) -> Option<&Payload> {
    obs.iter().find_map(|o| match o {
        Obs::Body(p) => Some(p),
        _ => None,
    })
}

fn set_body(obs: &mut [Obs], p: Payload) {
    for o in obs.iter_mut() {
        if let Obs::Body(b) = o {
            *b = p;
            return;
        }
    }
}

fn set_head(obs: &mut [Obs], f: impl FnOnce(&mut u16, &mut Vec<(String, String)>)) {
    for o in obs.iter_mut() {
        if let Obs::Head { status, headers, .. } = o {
            f(status, headers);
            return;
        }
    }
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    headers.retain(|(k, _)| k != name);
    if let Some(v) = value {
        headers.push((name.to_string(), v.to_string()));
    }
    headers.sort_by_key(|(k, _)| COMPARED_HEADERS.iter().position(|h| h == k));
}

/// etcd's head turned into the head of a gateway answer with `status`: JSON, and the
/// `Grpc-Metadata-Content-Type` of a completed call on a 200.
fn gateway_head(obs: &mut [Obs], new_status: u16) {
    set_head(obs, |status, headers| {
        *status = new_status;
        set_header(headers, "content-type", Some("application/json"));
        set_header(headers, "x-content-type-options", None);
        set_header(headers, "grpc-metadata-content-type", (new_status == 200).then_some("application/grpc"));
    });
}

fn text_head(obs: &mut [Obs], new_status: u16, allow: Option<&str>) {
    set_head(obs, |status, headers| {
        *status = new_status;
        set_header(headers, "content-type", Some("text/plain; charset=utf-8"));
        set_header(headers, "x-content-type-options", Some("nosniff"));
        set_header(headers, "grpc-metadata-content-type", None);
        set_header(headers, "allow", allow);
    });
}

/// A unary error's body, keys in the order metastore writes them.
fn json_error(code: i32, message: &str) -> Payload {
    let m = Json::str(message);
    let (error, code, message) = (
        ("error".to_string(), m.clone()),
        ("code".to_string(), Json::Num(code.to_string())),
        ("message".to_string(), m),
    );
    Payload::Json(Json::Obj(if ERRORS_IN_35_ORDER {
        vec![error, code, message]
    } else {
        vec![error, message, code]
    }))
}

fn http_status(code: i32) -> u16 {
    match code {
        0 => 200,
        1 => 408,
        3 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        9 => 412,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}

/// What metastore is expected to answer, from etcd's answer `e` and (for checks that
/// can only verify a shape) metastore's own `o`.
fn expected(diff: Diff, e: &[Obs], o: &[Obs]) -> Result<Vec<Obs>, String> {
    let mut want = e.to_vec();
    let eb = body_of(e).cloned().ok_or("etcd gave no body")?;
    let ob = body_of(o).cloned();
    let not_found = |body: &Payload| -> Result<(), String> {
        if *body == Payload::Raw(b"Not Found\n".to_vec())
            || *body == Payload::Raw(b"404 page not found\n".to_vec())
        {
            Ok(())
        } else {
            Err(format!("etcd 3.4 was expected to answer 404, not {}", body.show()))
        }
    };
    let answered = |what: &str| -> Result<Vec<Obs>, String> {
        let ok = o.iter().any(|obs| matches!(obs, Obs::Head { status: 200, .. }))
            && ob.as_ref().and_then(Payload::json).is_some_and(|j| j.get("header").is_some());
        if ok {
            Ok(o.to_vec())
        } else {
            Err(format!("metastore was expected to answer {what} with a header: {}", show_all(o)))
        }
    };
    match diff {
        Diff::V3AlphaAlias => {
            not_found(&eb)?;
            return answered("the /v3alpha/ alias");
        }
        Diff::LenientBase64 => {
            let decode_error = eb.json().and_then(|j| j.get("code")).is_some();
            if !decode_error {
                return Err(format!("etcd was expected to refuse the base64, not {}", eb.show()));
            }
            return answered("lenient base64");
        }
        Diff::ExtraHeader => {
            let ej = eb.json().ok_or("etcd's answer is not JSON")?;
            if ej.get("header").is_some() {
                return Err("etcd's answer has a header".to_string());
            }
            let header = ob
                .as_ref()
                .and_then(Payload::json)
                .and_then(|j| j.get("header"))
                .cloned()
                .ok_or("metastore's answer has no header")?;
            let revision_only = header.keys() == ["revision"]
                && header.get("revision").and_then(Json::as_str).is_some_and(|r| r.parse::<u64>().is_ok());
            if !revision_only {
                return Err(format!("metastore's header is {header}, not a revision alone"));
            }
            let Json::Obj(mut fields) = ej.clone() else {
                return Err("etcd's answer is not an object".into());
            };
            fields.insert(0, ("header".to_string(), header));
            set_body(&mut want, Payload::Json(Json::Obj(fields)));
        }
        Diff::HashKvRoute => {
            not_found(&eb)?;
            let oj = ob.as_ref().and_then(Payload::json).ok_or("metastore's HashKV answer is not JSON")?;
            let keys = oj.keys();
            let shape_ok = (keys == ["header", "hash"] || keys == ["header", "hash", "compact_revision"])
                && oj.get("hash") == Some(&Json::str("<hash>"))
                && oj.get("header").is_some_and(|h| h.keys() == ["revision"]);
            if !shape_ok {
                return Err(format!("metastore's HashKV answer is {oj}"));
            }
            gateway_head(&mut want, 200);
            set_body(&mut want, Payload::Json(oj.clone()));
        }
        Diff::AuthStatusRoute(enabled) => {
            not_found(&eb)?;
            let oj =
                ob.as_ref().and_then(Payload::json).ok_or("metastore's AuthStatus answer is not JSON")?;
            let want_keys: &[&str] =
                if enabled { &["header", "enabled", "authRevision"] } else { &["header", "authRevision"] };
            let shape_ok = oj.keys() == want_keys
                && (!enabled || oj.get("enabled") == Some(&Json::Bool(true)))
                && oj.get("authRevision").and_then(Json::as_str).is_some_and(|r| r.parse::<u64>().is_ok());
            if !shape_ok {
                return Err(format!("metastore's AuthStatus answer is {oj}"));
            }
            gateway_head(&mut want, 200);
            set_body(&mut want, Payload::Json(oj.clone()));
        }
        Diff::Probe(checks, verbose) => {
            not_found(&eb)?;
            let text = match &ob {
                Some(Payload::Raw(b)) => String::from_utf8_lossy(b).to_string(),
                other => return Err(format!("metastore's probe answer is {other:?}")),
            };
            let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
            let ok = lines.pop() == Some("ok\n");
            let mut wanted: Vec<String> =
                if verbose { checks.iter().map(|c| format!("[+]{c} ok\n")).collect() } else { vec![] };
            let mut got: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            wanted.sort();
            got.sort();
            if !ok || got != wanted {
                return Err(format!(
                    "metastore's probe answer is {text:?}; wanted {wanted:?} (any order) and \"ok\\n\""
                ));
            }
            text_head(&mut want, 200, None);
            set_body(&mut want, Payload::Raw(text.into_bytes()));
        }
        Diff::ProbeMethod => {
            not_found(&eb)?;
            text_head(&mut want, 405, Some("GET"));
            set_body(&mut want, Payload::Raw(b"Method Not Allowed\n".to_vec()));
        }
        Diff::UpdateKeepsLearner => {
            let mut j = eb.json().ok_or("etcd's answer is not JSON")?.clone();
            let learner = Json::str("{{LEARNER}}");
            let mut found = false;
            if let Some(Json::Arr(members)) = j.get_mut("members") {
                for m in members.iter_mut().filter(|m| m.get("ID") == Some(&learner)) {
                    if let Json::Obj(fields) = m {
                        if fields.iter().all(|(k, _)| k != "isLearner") {
                            fields.push(("isLearner".to_string(), Json::Bool(true)));
                            found = true;
                        }
                    }
                }
            }
            if !found {
                return Err(format!("etcd's answer has no learner without isLearner: {j}"));
            }
            set_body(&mut want, Payload::Json(j));
        }
        Diff::SortOption => {
            let ej = eb.json().ok_or("etcd's answer is not JSON")?;
            if ej.get("header").is_none() {
                return Err(format!("etcd 3.4 was expected to answer the range, not {ej}"));
            }
            // Refused here (InvalidArgument) by the gateway's decoder already, which
            // knows no such enum value: the message is the decoder's.
            let refused = o.iter().any(|obs| matches!(obs, Obs::Head { status: 400, .. }))
                && ob
                    .as_ref()
                    .and_then(Payload::json)
                    .and_then(|j| j.get("code"))
                    .is_some_and(|c| c.to_string() == "3");
            if !refused {
                return Err(format!("metastore was expected to refuse with code 3: {}", show_all(o)));
            }
            return Ok(o.to_vec());
        }
        Diff::CompactRootOnly(code, message) => {
            gateway_head(&mut want, http_status(code));
            set_body(&mut want, json_error(code, message));
        }
        Diff::TokenWhileAuthOff => {
            if eb != json_error(16, "etcdserver: invalid auth token") {
                return Err(format!("etcd 3.4 was expected to refuse the token, not {}", eb.show()));
            }
            let oj = ob.as_ref().and_then(Payload::json).ok_or("metastore's answer is not JSON")?;
            if oj.get("header").is_none() {
                return Err(format!("metastore was expected to answer, not {oj}"));
            }
            gateway_head(&mut want, 200);
            set_body(&mut want, Payload::Json(oj.clone()));
        }
    }
    Ok(want)
}

/// Mask the message of a request-decoding error (both sides), checking its shape:
/// `error`, `code`, `message` (in the order the side wrote them) with error ==
/// message.
fn mask_decode_error(obs: &mut [Obs]) -> Result<(), String> {
    let mut seen = false;
    for o in obs.iter_mut() {
        if let Obs::Body(p) | Obs::Msg(p) = o {
            let Payload::Json(j) = p else { return Err(format!("not a JSON error: {}", p.show())) };
            let mut keys = j.keys();
            keys.sort();
            if keys != ["code", "error", "message"] || j.get("error") != j.get("message") {
                return Err(format!("not {{error, code, message}} with error == message: {j}"));
            }
            for key in ["error", "message"] {
                *j.get_mut(key).expect("key") = Json::str("<decoding error>");
            }
            seen = true;
        }
    }
    if seen {
        Ok(())
    } else {
        Err("no error body".to_string())
    }
}

/// Check one side's snapshot stream on its own: status 200, chunked; messages
/// `{"result":{"blob",["remaining_bytes"]}}` (metastore: a header first in each, see
/// `src/server/snapshot.rs`; etcd 3.4 and 3.5 send none, not in docs/compat.md) with
/// 32 KiB blobs and `remaining_bytes` counting down
/// to 0 (omitted), then one 32-byte blob, the SHA-256 of all the others, then the end.
fn check_snapshot(obs: &[Obs], with_header: bool) -> Result<(), String> {
    let mut it = obs.iter();
    match it.next() {
        Some(Obs::Head { status: 200, chunked: Some(true), .. }) => {}
        other => return Err(format!("snapshot head: {other:?}")),
    }
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut remaining: Vec<u64> = Vec::new();
    let mut ended = false;
    for o in it {
        match o {
            Obs::Msg(Payload::Json(j)) => {
                let r = j.get("result").ok_or_else(|| format!("not a result: {j}"))?;
                let mut keys = r.keys();
                if with_header {
                    if keys.first() != Some(&"header") {
                        return Err(format!("no header first: {}", r.keys().join(",")));
                    }
                    keys.remove(0);
                }
                if keys != ["blob"] && keys != ["remaining_bytes", "blob"] {
                    return Err(format!("snapshot message keys {keys:?}"));
                }
                let blob = r.get("blob").and_then(Json::as_str).and_then(unb64).ok_or("bad blob")?;
                blobs.push(blob);
                remaining.push(r.get("remaining_bytes").and_then(Json::as_i128).unwrap_or(0) as u64);
            }
            Obs::End => ended = true,
            other => return Err(format!("in a snapshot stream: {}", other.show())),
        }
    }
    if !ended || blobs.len() < 2 {
        return Err(format!("{} messages, ended: {ended}", blobs.len()));
    }
    let digest = blobs.pop().expect("digest");
    remaining.pop();
    let data: Vec<u8> = blobs.concat();
    if Sha256::digest(&data).as_slice() != digest.as_slice() {
        return Err("the last blob is not the SHA-256 of the others".to_string());
    }
    let mut sent = 0u64;
    for (blob, rem) in blobs.iter().zip(&remaining) {
        sent += blob.len() as u64;
        if sent + rem != data.len() as u64 || blob.len() > 32 * 1024 {
            return Err(format!("blob of {} bytes with remaining_bytes {rem} after {sent}", blob.len()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    steps: usize,
    known: usize,
    failures: Vec<String>,
}

fn show_all(obs: &[Obs]) -> String {
    obs.iter().map(|o| format!("\n      {}", o.show())).collect()
}

/// Compare one step's answers; Err(why) on a mismatch.
fn judge(step: &Step, e: Vec<(bool, Obs)>, o: Vec<(bool, Obs)>, tally: &mut Tally) -> Result<(), String> {
    let self_mode = self_mode();
    let expect = match step {
        Step::Call { expect, .. } | Step::Stream { expect, .. } => *expect,
        Step::KeepAlive(_) => Expect::Same,
    };
    let expect = match expect {
        Expect::Known(_) if self_mode => Expect::Same,
        other => other,
    };
    let (mut e, mut o) = (e, o);
    if !matches!(expect, Expect::SameWithCors) {
        for (_, obs) in e.iter_mut().chain(o.iter_mut()) {
            if let Obs::Head { headers, .. } = obs {
                headers.retain(|(k, _)| !k.starts_with("access-control-"));
            }
        }
    }
    // Side calls of a stream are compared as plain calls.
    let (e_side, e_main): (Vec<_>, Vec<_>) = e.into_iter().partition(|(side, _)| *side);
    let (o_side, o_main): (Vec<_>, Vec<_>) = o.into_iter().partition(|(side, _)| *side);
    let strip = |v: Vec<(bool, Obs)>| -> Vec<Obs> { v.into_iter().map(|(_, o)| o).collect() };
    let (mut e_side, o_side, mut e_main, mut o_main) =
        (strip(e_side), strip(o_side), strip(e_main), strip(o_main));
    if !self_mode && ERRORS_IN_35_ORDER {
        for o in e_side.iter_mut().chain(e_main.iter_mut()) {
            if let Obs::Body(p) | Obs::Msg(p) = o {
                if let Some(p35) = error_order_35(p) {
                    *p = p35;
                }
            }
        }
    }
    if e_side != o_side {
        return Err(format!(
            "side requests differ:\n    etcd:{}\n    ours:{}",
            show_all(&e_side),
            show_all(&o_side)
        ));
    }
    match expect {
        Expect::Same | Expect::SameWithCors => {}
        Expect::HeadOnly => {
            e_main.retain(|o| matches!(o, Obs::Head { .. }));
            o_main.retain(|o| matches!(o, Obs::Head { .. }));
        }
        Expect::DecodeError => {
            mask_decode_error(&mut e_main).map_err(|w| format!("etcd: {w}"))?;
            mask_decode_error(&mut o_main).map_err(|w| format!("metastore: {w}"))?;
        }
        Expect::Snapshot => {
            tally.known += 1;
            check_snapshot(&e_main, false).map_err(|w| format!("etcd's snapshot: {w}"))?;
            check_snapshot(&o_main, !self_mode).map_err(|w| format!("metastore's snapshot: {w}"))?;
            return Ok(());
        }
        Expect::Known(diff) => {
            tally.known += 1;
            e_main = expected(diff, &e_main, &o_main).map_err(|w| format!("{diff:?}: {w}"))?;
        }
    }
    if e_main == o_main {
        Ok(())
    } else {
        Err(format!("answers differ:\n    etcd:{}\n    ours:{}", show_all(&e_main), show_all(&o_main)))
    }
}

fn step_name(step: &Step) -> String {
    match step {
        Step::Call { req, expect, .. } => {
            let e = match expect {
                Expect::Same => String::new(),
                other => format!("  (expect {other:?})"),
            };
            format!("{}{e}", req.short())
        }
        Step::Stream { req, ops, .. } => {
            let ops: Vec<String> = ops
                .iter()
                .map(|op| match op {
                    SOp::Read(n) => format!("read {n}"),
                    SOp::End => "end".to_string(),
                    SOp::Call(r) => format!("call {}", r.short()),
                    SOp::WaitFor(r, needle) => format!("wait for {needle:?} in {}", r.short()),
                })
                .collect();
            format!("stream {} | {}", req.short(), ops.join(" | "))
        }
        Step::KeepAlive(reqs) => {
            let rs: Vec<String> = reqs.iter().map(Req::short).collect();
            format!("keep-alive: {}", rs.join(" ; "))
        }
    }
}

fn run_group(group: &str, steps: Vec<Step>) {
    let Some(etcd_bin) = etcd_binary() else { return };
    let ours_bin =
        if self_mode() { etcd_bin.clone() } else { PathBuf::from(env!("CARGO_BIN_EXE_metastore")) };
    // Start both, then wait for both: their start-ups overlap.
    let mut etcd = Side::spawn(&etcd_bin, &format!("gw-etcd-{group}"));
    let mut ours = Side::spawn(&ours_bin, &format!("gw-ours-{group}"));
    etcd.ready();
    ours.ready();
    let verbose = std::env::var("METASTORE_GATEWAY_DIFF_VERBOSE").is_ok_and(|v| v == "1");
    let mut tally = Tally::default();
    for (i, step) in steps.iter().enumerate() {
        tally.steps += 1;
        let e = etcd.run(step);
        let o = ours.run(step);
        let e: Vec<(bool, Obs)> = e.iter().map(|(side, x)| (*side, normalize(x, &etcd.masks))).collect();
        let o: Vec<(bool, Obs)> = o.iter().map(|(side, x)| (*side, normalize(x, &ours.masks))).collect();
        if verbose {
            let all: Vec<Obs> = e.iter().map(|(_, x)| x.clone()).collect();
            eprintln!("[{group} #{i}] {}{}", step_name(step), show_all(&all));
        }
        if let Err(why) = judge(step, e, o, &mut tally) {
            tally.failures.push(format!("[{group} #{i}] {}\n  {why}", step_name(step)));
        }
    }
    eprintln!(
        "t51_gateway_diff[{group}]: {} steps compared ({} documented differences asserted), {} mismatches{}",
        tally.steps,
        tally.known,
        tally.failures.len(),
        if self_mode() { " (self mode: etcd on both sides)" } else { "" }
    );
    if !tally.failures.is_empty() {
        eprintln!("metastore's log (last lines):\n{}", ours.proc.log_tail(30));
    }
    assert!(
        tally.failures.is_empty(),
        "{} mismatch(es) between etcd 3.4 and metastore on the HTTP gateway:\n\n{}",
        tally.failures.len(),
        tally.failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

fn kv_steps() -> Vec<Step> {
    vec![
        s(post("/v3/kv/put", r#"{"key":"<a>","value":"<1>"}"#)),
        s(post("/v3/kv/put", r#"{"key":"<a>","value":"<2>","prev_kv":true}"#)),
        s(post("/v3/kv/put", r#"{"key":"<b>","value":""}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","range_end":"<c>","limit":1}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","range_end":"<c>","count_only":true}"#)),
        s(post(
            "/v3/kv/range",
            r#"{"key":"<a>","range_end":"<c>","keys_only":true,"sort_order":"DESCEND","sort_target":"MOD"}"#,
        )),
        s(post("/v3/kv/range", r#"{"key":"<a>","range_end":"<c>","sort_order":2,"sort_target":3}"#)),
        s(post("/v3/kv/range", r#"{"key":"<zz>"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","range_end":"<c>","limit":"1"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","range_end":"<c>","limit":-1}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","limit":null}"#)),
        s(post("/v3/kv/range", "{}")),
        s(post("/v3/kv/range", "")),
        s(req("POST", "/v3/kv/range", None)),
        s(post("/v3/kv/range", r#"{"key":"<a>","revision":100}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>","revision":"-1"}"#)),
        s(post("/v3/kv/deleterange", r#"{"key":"<b>"}"#)),
        s(post("/v3/kv/deleterange", r#"{"key":"<a>","prev_kv":true}"#)),
        s(post("/v3/kv/deleterange", r#"{"key":"<nothing>"}"#)),
        s(post("/v3/kv/deleterange", r#"{"key":"<a>","range_end":"<z>"}"#)),
        s(post("/v3/kv/put", r#"{"key":"","value":"<1>"}"#)),
        s(post("/v3/kv/put", r#"{"key":"<k>","value":"<v>","ignore_value":true}"#)),
        // Txn: compares on value / version / mod / create / lease, both branches,
        // every kind of nested request.
        s(post("/v3/kv/put", r#"{"key":"<t>","value":"<v1>"}"#)),
        s(post(
            "/v3/kv/txn",
            r#"{"compare":[{"result":"EQUAL","target":"VALUE","key":"<t>","value":"<v1>"}],
               "success":[{"request_range":{"key":"<t>"}},{"request_put":{"key":"<t2>","value":"<x>"}},
                          {"request_delete_range":{"key":"<none>"}},{"request_txn":{}}],
               "failure":[{"request_put":{"key":"<f>","value":"<y>"}}]}"#,
        )),
        s(post(
            "/v3/kv/txn",
            r#"{"compare":[{"result":"GREATER","target":"VERSION","key":"<t>","version":"5"}],
               "success":[{"request_put":{"key":"<s>","value":"<y>"}}],
               "failure":[{"request_range":{"key":"<t2>"}},{"request_delete_range":{"key":"<t2>","prev_kv":true}}]}"#,
        )),
        s(post(
            "/v3/kv/txn",
            r#"{"compare":[{"result":0,"target":2,"key":"<t>","mod_revision":5}],
               "success":[{"request_range":{"key":"<t>","keys_only":true}}]}"#,
        )),
        s(post(
            "/v3/kv/txn",
            r#"{"compare":[{"result":"LESS","target":"CREATE","key":"<t>","create_revision":"100"},
                           {"result":"NOT_EQUAL","target":"VALUE","key":"<t>","value":"<zz>"}],"success":[]}"#,
        )),
        s(post("/v3/kv/txn", r#"{"compare":[{"target":"LEASE","key":"<t>","lease":"0"}]}"#)),
        s(post(
            "/v3/kv/txn",
            r#"{"compare":[{"target":"VALUE","key":"<t>","range_end":"<u>","value":"<v1>"}],
               "success":[{"request_txn":{"success":[{"request_put":{"key":"<n>","value":"<1>"}}]}}]}"#,
        )),
        s(post("/v3/kv/txn", "{}")),
        s(post("/v3/kv/txn", r#"{"success":[{}]}"#)),
        s(post("/v3/kv/txn", r#"{"success":[{"request_put":{"key":"<d>"}},{"request_put":{"key":"<d>"}}]}"#)),
        // Compaction.
        s(post("/v3/kv/compaction", r#"{"revision":"3"}"#)),
        s(post("/v3/kv/compaction", r#"{"revision":3,"physical":true}"#)),
        s(post("/v3/kv/compaction", r#"{"revision":"5","physical":true}"#)),
        s(post("/v3/kv/compaction", r#"{"revision":"1000"}"#)),
        s(post("/v3/kv/compaction", "{}")),
        s(post("/v3/kv/range", r#"{"key":"<t>","revision":2}"#)),
        s(post("/v3/kv/range", r#"{"key":"<t>","revision":5}"#)),
    ]
}

fn input_steps() -> Vec<Step> {
    let big = |n: usize| format!("{{\"key\":\"{}\",\"value\":\"{}\"}}", b64(b"big"), b64(&vec![b'x'; n]));
    let junk = format!("{{\"key\":\"{}\",\"junk\":\"{}\"}}", b64(b"big"), "y".repeat(3 << 20));
    vec![
        s(post("/v3/kv/put", r#"{"key":"<x1>","value":"<1>"}"#)),
        s(post("/v3/kv/put", r#"{"key":"<x2>","value":"<2>"}"#)),
        // Malformed JSON, wrong types, bad base64, bad enum names: decoding errors.
        d(post_raw("/v3/kv/range", r#"{"key":"#)),
        d(post_raw("/v3/kv/range", "not json")),
        d(post_raw("/v3/kv/range", "[]")),
        d(post("/v3/kv/range", r#"{"key":"<x1>","limit":"abc"}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","limit":5.5}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","limit":5.0}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","limit":1e2}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","limit":99999999999999999999}"#)),
        d(post("/v3/kv/range", r#"{"key":123}"#)),
        d(post_raw("/v3/kv/range", r#"{"key":"!!!"}"#)),
        k(post_raw("/v3/kv/range", r#"{"key":"eDE"}"#), Diff::LenientBase64),
        k(post_raw("/v3/kv/range", r#"{"key":"_-8="}"#), Diff::LenientBase64),
        d(post("/v3/kv/range", r#"{"key":"<x1>","keys_only":"true"}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","keys_only":1}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","sort_order":"BOGUS"}"#)),
        d(post("/v3/kv/range", r#"{"key":"<x1>","sort_order":"descend"}"#)),
        d(post("/v3/kv/txn", r#"{"compare":[{"result":"SAME","key":"<x1>"}]}"#)),
        // Accepted: unknown fields (ignored), lowerCamel names, null, a trailing
        // value after the first (ignored), a repeated key (the last wins).
        s(post("/v3/kv/range", r#"{"key":"<x1>","bogus":1,"nested":{"a":[1,2]}}"#)),
        s(post("/v3/kv/range", r#"{"key":"<x1>","rangeEnd":"<x3>","countOnly":true}"#)),
        s(post("/v3/kv/range", r#"{"Key":"<x1>"}"#)),
        s(post_raw("/v3/kv/range", "null")),
        s(post("/v3/kv/range", r#"{"key":"<x1>"} trailing"#)),
        s(post("/v3/kv/range", r#"{"key":"<x1>"}{"key":"<x2>"}"#)),
        s(post("/v3/kv/range", " \n {\"key\" : \"eDE=\"} \n ")),
        s(post("/v3/kv/range", r#"{"key":"<x1>","key":"<x2>"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<x1>","limit":"5"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<x1>","limit":5}"#)),
        k(post("/v3/kv/range", r#"{"key":"<x1>","sort_order":7}"#), Diff::SortOption),
        // Content types and HTTP versions.
        s(post("/v3/kv/range", r#"{"key":"<x1>"}"#).no_content_type()),
        s(post("/v3/kv/range", r#"{"key":"<x1>"}"#).h("Content-Type", "text/plain")),
        s(post("/v3/kv/range", r#"{"key":"<x1>"}"#).http10()),
        s(post("/v3/kv/range", r#"{"key":"<x1>"}"#).h("Accept", "application/xml")),
        Step::KeepAlive(vec![
            post("/v3/kv/range", r#"{"key":"<x1>"}"#),
            post("/v3/kv/put", r#"{"key":"<x3>","value":"<3>"}"#),
            post("/v3/kv/range", r#"{"key":"<x3>"}"#),
            post("/v3/kv/range", "{}"),
            post("/v3/kv/range", r#"{"key":"<x3>"}"#),
        ]),
        // Routes and methods.
        s(post("/v3beta/kv/range", r#"{"key":"<x1>"}"#)),
        s(post("/v3beta/kv/put", r#"{"key":"<x4>","value":"<4>"}"#).h("X-Unused", "1")),
        k(post("/v3alpha/kv/range", r#"{"key":"<x1>"}"#), Diff::V3AlphaAlias),
        s(get("/v3/kv/range")),
        s(req("PUT", "/v3/kv/range", Some(t(r#"{"key":"<x1>"}"#)))),
        s(req("DELETE", "/v3/kv/range", None)),
        s(req("HEAD", "/v3/kv/range", None)),
        // CORS (`--cors` defaults to `*`): on every answer, and OPTIONS answers 200.
        cors(req("OPTIONS", "/v3/kv/range", None)),
        cors(req("OPTIONS", "/anything", None)),
        cors(post("/v3/kv/range", r#"{"key":"<x1>"}"#)),
        cors(post("/v3/kv/range", "{}")),
        cors(get("/v3/kv/range")),
        cors(get("/v3/foo")),
        cors(get("/foo")),
        cors(post("/health", "")),
        Step::Stream {
            req: post("/v3/lease/keepalive", r#"{"ID":"1"}"#),
            ops: vec![SOp::Read(1), SOp::End],
            expect: Expect::SameWithCors,
        },
        s(get("/v3/watch")),
        s(get("/v3/maintenance/status")),
        s(post("/v3/foo", "{}")),
        s(get("/v3/foo")),
        s(post("/v3/", "{}")),
        s(post("/v3/kv/rangex", "{}")),
        s(post("/v3/kv/range/", "{}")),
        s(post("/v3/kv/lease/keepalive", "{}")),
        s(post("/v4/kv/range", "{}")),
        s(post("/V3/kv/range", "{}")),
        s(get("/")),
        s(get("/v2/keys")),
        s(post("/v3", "{}")),
        // Last (a difference here would shift every later revision):
        // --max-request-bytes (1.5 MiB by default) applies to the decoded request:
        // over it "request is too large"; over the gRPC limit (+512 KiB) grpc-go's
        // ResourceExhausted; a 3 MiB body of unknown fields is fine.
        s(post_raw("/v3/kv/put", big(1600 * 1024))),
        s(post_raw("/v3/kv/put", big(2600 * 1024))),
        s(post_raw("/v3/kv/put", big(1400 * 1024))),
        s(post_raw("/v3/kv/put", junk)),
        s(post("/v3/kv/range", r#"{"key":"<big>","keys_only":true}"#)),
    ]
}

fn watch_steps() -> Vec<Step> {
    use SOp::*;
    let put = |k: &str, v: &str| Call(post("/v3/kv/put", &format!(r#"{{"key":"<{k}>","value":"<{v}>"}}"#)));
    let del = |k: &str| Call(post("/v3/kv/deleterange", &format!(r#"{{"key":"<{k}>","prev_kv":true}}"#)));
    vec![
        s(post("/v3/kv/put", r#"{"key":"<w0>","value":"<0>"}"#)),
        // Create, then events from writes made meanwhile (one response each).
        stream(
            post("/v3/watch", r#"{"create_request":{"key":"<w>","range_end":"<x>"}}"#),
            vec![Read(1), put("w1", "a"), Read(1), put("w2", "b"), Read(1), del("w1"), Read(1)],
        ),
        // From an old revision: the catch-up comes in one response.
        stream(post("/v3/watch", r#"{"create_request":{"key":"<w>","range_end":"<x>","start_revision":"2"}}"#), vec![Read(2)]),
        // Several requests in one body (whitespace between them, or none).
        stream(
            post(
                "/v3/watch",
                "{\"create_request\":{\"key\":\"dzI=\"}}{\"create_request\":{\"key\":\"eQ==\",\"prev_kv\":true}}\n{\"progress_request\":{}}",
            ),
            vec![Read(3), put("y", "1"), Read(1), put("y", "2"), Read(1)],
        ),
        stream(post("/v3/watch", r#"{"create_request":{"key":"<w2>"}} {"cancel_request":{"watch_id":0}}"#), vec![Read(2)]),
        // Two watchers, the first canceled: a write to its key is not seen, the
        // write after it, to the second's key, is.
        stream(
            post(
                "/v3/watch",
                r#"{"create_request":{"key":"<ca>"}}{"create_request":{"key":"<cb>"}}{"cancel_request":{"watch_id":"0"}}"#,
            ),
            vec![Read(3), put("ca", "1"), put("cb", "1"), Read(1)],
        ),
        // Filters, prev_kv, a chosen watch ID, fragment, progress_notify.
        stream(
            post(
                "/v3/watch",
                r#"{"create_request":{"key":"<y>","filters":["NOPUT"],"prev_kv":true,"watch_id":"7","fragment":true,"progress_notify":true}}"#,
            ),
            vec![Read(1), put("y", "3"), del("y"), Read(1)],
        ),
        stream(
            post("/v3/watch", r#"{"createRequest":{"key":"<y>","rangeEnd":"<z>","filters":[1],"prevKv":true}}"#),
            vec![Read(1), put("y", "4"), Read(1)],
        ),
        // A compacted start revision: created, then canceled with compact_revision.
        s(post("/v3/kv/compaction", r#"{"revision":"4"}"#)),
        stream(post("/v3/watch", r#"{"create_request":{"key":"<w>","start_revision":"2"}}"#), vec![Read(2)]),
        // The body's first request undecodable: an error instead of the stream; a
        // later one undecodable: the stream goes on with what came before.
        Step::Stream { req: post_raw("/v3/watch", r#"{"create_request": "#), ops: vec![Read(1), End], expect: Expect::DecodeError },
        stream(post("/v3/watch", r#"{"create_request":{"key":"<w>"}}xx"#), vec![Read(1), put("w", "1"), Read(1)]),
        // HTTP/1.0: no chunking, messages until the connection closes.
        stream(post("/v3/watch", r#"{"create_request":{"key":"<h>"}}"#).http10(), vec![Read(1), put("h", "1"), Read(1)]),
    ]
}

fn lease_lock_election_steps() -> Vec<Step> {
    use SOp::*;
    vec![
        s(post("/v3/lease/grant", r#"{"TTL":"60","ID":"1000"}"#)),
        s(post("/v3/lease/grant", r#"{"TTL":30,"ID":1001}"#)),
        s(post("/v3/lease/grant", r#"{"TTL":"60","ID":"1000"}"#)),
        s(post("/v3/lease/grant", r#"{"TTL":"9223372036854775807","ID":"1002"}"#)),
        s(post("/v3/kv/put", r#"{"key":"<l1>","value":"<x>","lease":"1000"}"#)),
        s(post("/v3/kv/put", r#"{"key":"<l2>","value":"<x>","lease":1000}"#)),
        s(post("/v3/kv/put", r#"{"key":"<l3>","value":"<x>","lease":"999"}"#)),
        s(post("/v3/lease/timetolive", r#"{"ID":"1000","keys":true}"#)),
        s(post("/v3/lease/timetolive", r#"{"ID":"1000"}"#)),
        s(post("/v3/kv/lease/timetolive", r#"{"ID":"1000","keys":true}"#)),
        s(post("/v3/lease/timetolive", r#"{"ID":"999"}"#)),
        s(post("/v3/lease/leases", "{}")),
        s(post("/v3/kv/lease/leases", "{}")),
        s(post("/v3/lease/leases", "")),
        // Keepalive: one answer per request in the body, then the end of the body.
        stream(post("/v3/lease/keepalive", r#"{"ID":"1000"}"#), vec![Read(1), End]),
        stream(post("/v3/lease/keepalive", "{\"ID\":\"1000\"}\n{\"ID\":1001}"), vec![Read(2), End]),
        stream(post("/v3/lease/keepalive", r#"{"ID":"777"}"#), vec![Read(1), End]),
        stream(post("/v3/lease/keepalive", ""), vec![End]),
        Step::Stream {
            req: post_raw("/v3/lease/keepalive", r#"{"ID":"#),
            ops: vec![Read(1), End],
            expect: Expect::DecodeError,
        },
        Step::Stream {
            req: post_raw("/v3/lease/keepalive", r#"{"ID":true}"#),
            ops: vec![Read(1), End],
            expect: Expect::DecodeError,
        },
        stream(post("/v3/lease/keepalive", r#"{"ID":"1000"}{"ID":"#), vec![Read(1), End]),
        s(post("/v3/kv/lease/revoke", r#"{"ID":"1001"}"#)),
        s(post("/v3/lease/revoke", r#"{"ID":"1001"}"#)),
        s(post("/v3/lease/revoke", "{}")),
        s(post("/v3/lease/revoke", r#"{"ID":"1000"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<l1>","range_end":"<l9>"}"#)),
        // Lock: the key is <name>/<lease in hex>; a second locker waits for the first.
        s(post("/v3/lease/grant", r#"{"TTL":"60","ID":"100"}"#)),
        s(post("/v3/lease/grant", r#"{"TTL":"60","ID":"101"}"#)),
        s(post("/v3/lock/lock", r#"{"name":"<mylock>","lease":"100"}"#)),
        s(post("/v3/lock/lock", r#"{"name":"<mylock>","lease":"999"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<mylock/>","range_end":"<mylock0>"}"#)),
        stream(
            post("/v3/lock/lock", r#"{"name":"<mylock>","lease":"101"}"#),
            vec![
                WaitFor(
                    post("/v3/kv/range", r#"{"key":"<mylock/>","range_end":"<mylock0>","count_only":true}"#),
                    "\"count\":\"2\"",
                ),
                Call(post("/v3/lock/unlock", r#"{"key":"<mylock/64>"}"#)),
                Read(1),
                End,
            ],
        ),
        s(post("/v3/lock/unlock", r#"{"key":"<mylock/65>"}"#)),
        s(post("/v3/lock/unlock", r#"{"key":"<mylock/65>"}"#)),
        s(post("/v3/lock/unlock", "{}")),
        s(post("/v3/lock/lock", r#"{"name":"<mylock>","lease":"100"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<mylock/>","range_end":"<mylock0>","keys_only":true}"#)),
        // Election.
        s(post("/v3/election/leader", r#"{"name":"<el>"}"#)),
        cap_value(
            post("/v3/election/campaign", r#"{"name":"<el>","lease":"101","value":"<v1>"}"#),
            "ELREV",
            &["leader", "rev"],
        ),
        s(post("/v3/election/leader", r#"{"name":"<el>"}"#)),
        s(post("/v3/election/campaign", r#"{"name":"<el>","lease":"999","value":"<v1>"}"#)),
        s(post(
            "/v3/election/proclaim",
            r#"{"leader":{"name":"<el>","key":"<el/65>","rev":"1","lease":"101"},"value":"<v3>"}"#,
        )),
        stream(
            post("/v3/election/observe", r#"{"name":"<el>"}"#),
            vec![
                Read(1),
                Call(post(
                    "/v3/election/proclaim",
                    r#"{"leader":{"name":"<el>","key":"<el/65>","rev":"{{ELREV}}","lease":"101"},"value":"<v2>"}"#,
                )),
                Read(1),
                Call(post(
                    "/v3/election/resign",
                    r#"{"leader":{"name":"<el>","key":"<el/65>","rev":"{{ELREV}}","lease":"101"}}"#,
                )),
                Call(post("/v3/election/leader", r#"{"name":"<el>"}"#)),
                Call(post("/v3/election/campaign", r#"{"name":"<el>","lease":"100","value":"<w1>"}"#)),
                Read(1),
            ],
        ),
        s(post(
            "/v3/election/resign",
            r#"{"leader":{"name":"<el>","key":"<el/65>","rev":"{{ELREV}}","lease":"101"}}"#,
        )),
        s(post(
            "/v3/election/proclaim",
            r#"{"leader":{"name":"<el>","key":"<el/65>","rev":"{{ELREV}}","lease":"101"},"value":"<v4>"}"#,
        )),
        s(post("/v3/election/leader", r#"{"name":"<el>"}"#)),
        Step::Stream {
            req: post_raw("/v3/election/observe", r#"{"name":"#),
            ops: vec![Read(1), End],
            expect: Expect::DecodeError,
        },
    ]
}

fn cluster_maintenance_health_steps(learner_url: &str, learner_url2: &str) -> Vec<Step> {
    use Diff::*;
    let add = format!(r#"{{"peerURLs":["{learner_url}"],"isLearner":true}}"#);
    let update = format!(r#"{{"ID":"{{{{LEARNER}}}}","peerURLs":["{learner_url2}"]}}"#);
    let alarm = |action: &str, alarm: &str| {
        post(
            "/v3/maintenance/alarm",
            &format!(r#"{{"action":"{action}","memberID":"{{{{SELF}}}}","alarm":"{alarm}"}}"#),
        )
    };
    vec![
        s(post("/v3/cluster/member/list", "{}")),
        s(post("/v3/cluster/member/list", "")),
        s(post("/v3/maintenance/status", "{}")),
        cap(post("/v3/cluster/member/add", &add), "LEARNER", &["member", "ID"]),
        s(post("/v3/cluster/member/list", "{}")),
        k(post("/v3/cluster/member/update", &update), UpdateKeepsLearner),
        s(post("/v3/cluster/member/promote", r#"{"ID":"{{LEARNER}}"}"#)),
        s(post("/v3/cluster/member/promote", r#"{"ID":"{{SELF}}"}"#)),
        s(post("/v3/cluster/member/promote", r#"{"ID":"5"}"#)),
        s(post("/v3/cluster/member/update", r#"{"ID":"5","peerURLs":["http://127.0.0.1:1"]}"#)),
        s(post("/v3/cluster/member/add", r#"{"peerURLs":["not a url"],"isLearner":true}"#)),
        s(post("/v3/cluster/member/add", "{}")),
        s(post("/v3/cluster/member/remove", r#"{"ID":"{{LEARNER}}"}"#)),
        s(post("/v3/cluster/member/remove", r#"{"ID":"{{LEARNER}}"}"#)),
        s(post("/v3/cluster/member/remove", r#"{"ID":"5"}"#)),
        s(post("/v3/cluster/member/list", "{}")),
        // Hash answers on /v3/maintenance/hash (the hash itself normalized).
        s(post("/v3/kv/put", r#"{"key":"<a>","value":"<1>"}"#)),
        s(post("/v3/maintenance/hash", "{}")),
        s(post("/v3/maintenance/hash", r#"{"revision":"1"}"#)),
        k(post("/v3/maintenance/hashkv", "{}"), HashKvRoute),
        // Alarms and /health.
        k(post("/v3/maintenance/alarm", "{}"), ExtraHeader),
        k(alarm("ACTIVATE", "NOSPACE"), ExtraHeader),
        k(post("/v3/maintenance/alarm", r#"{"action":"GET"}"#), ExtraHeader),
        k(post("/v3/maintenance/alarm", r#"{"action":0,"alarm":"NOSPACE"}"#), ExtraHeader),
        k(post("/v3/maintenance/alarm", r#"{"action":"GET","alarm":"CORRUPT"}"#), ExtraHeader),
        s(post("/v3/maintenance/status", "{}")),
        s(post("/v3/kv/put", r#"{"key":"<b>","value":"<1>"}"#)),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#)),
        s(post("/v3/kv/deleterange", r#"{"key":"<a>"}"#)),
        s(get("/health")),
        s(get("/health?exclude=NOSPACE")),
        s(get("/health?serializable=true")),
        s(get("/health?exclude=NOSPACE&serializable=true")),
        s(get("/health?exclude=CORRUPT")),
        k(get("/livez"), Probe(&["serializable_read"], false)),
        k(get("/readyz"), Probe(&["data_corruption", "serializable_read", "linearizable_read"], false)),
        k(alarm("DEACTIVATE", "NOSPACE"), ExtraHeader),
        k(alarm("DEACTIVATE", "NOSPACE"), ExtraHeader),
        k(post("/v3/maintenance/alarm", r#"{"action":2,"memberID":"{{SELF}}","alarm":1}"#), ExtraHeader),
        k(post("/v3/maintenance/alarm", r#"{"action":"GET"}"#), ExtraHeader),
        s(post("/v3/kv/put", r#"{"key":"<b>","value":"<2>"}"#)),
        s(get("/health")),
        s(get("/health").http10()),
        s(post("/health", "")),
        s(req("HEAD", "/health", None)),
        s(get("/health/")),
        k(get("/livez"), Probe(&["serializable_read"], false)),
        k(get("/livez?verbose"), Probe(&["serializable_read"], true)),
        k(
            get("/readyz?verbose=true"),
            Probe(&["data_corruption", "serializable_read", "linearizable_read"], true),
        ),
        k(
            get("/readyz?verbose&exclude=linearizable_read"),
            Probe(&["data_corruption", "serializable_read"], true),
        ),
        k(post("/livez", ""), ProbeMethod),
        k(req("PUT", "/readyz", None), ProbeMethod),
        // /version, /metrics.
        s(get("/version")),
        s(post("/version", "")),
        Step::Call { req: get("/metrics"), expect: Expect::HeadOnly, capture: vec![] },
        // Defragment, MoveLeader, Snapshot.
        k(post("/v3/maintenance/defragment", "{}"), ExtraHeader),
        k(post("/v3/maintenance/transfer-leadership", r#"{"targetID":"{{SELF}}"}"#), ExtraHeader),
        s(post("/v3/maintenance/transfer-leadership", r#"{"targetID":"5"}"#)),
        s(post("/v3/maintenance/transfer-leadership", "{}")),
        Step::Stream {
            req: post("/v3/maintenance/snapshot", "{}"),
            ops: vec![SOp::Read(usize::MAX)],
            expect: Expect::Snapshot,
        },
    ]
}

fn auth_steps() -> Vec<Step> {
    use Diff::*;
    use SOp::*;
    let root = |r: Req| r.auth("TOKEN_ROOT");
    let alice = |r: Req| r.auth("TOKEN_ALICE");
    let watch_a = || post("/v3/watch", r#"{"create_request":{"key":"<a>"}}"#);
    vec![
        s(post("/v3/auth/enable", "{}")),
        s(post("/v3/auth/user/add", r#"{"name":"root","password":"rootpw"}"#)),
        s(post("/v3/auth/user/add", r#"{"name":"root","password":"rootpw"}"#)),
        s(post("/v3/auth/user/add", r#"{"name":"","password":"x"}"#)),
        s(post("/v3/auth/user/add", r#"{"name":"alice","password":"alicepw"}"#)),
        s(post("/v3/auth/user/add", r#"{"name":"nopw","options":{"no_password":true}}"#)),
        s(post("/v3/auth/user/get", r#"{"name":"root"}"#)),
        s(post("/v3/auth/user/get", r#"{"name":"nobody"}"#)),
        s(post("/v3/auth/user/list", "{}")),
        s(post("/v3/auth/role/add", r#"{"name":"reader"}"#)),
        s(post("/v3/auth/role/add", r#"{"name":"reader"}"#)),
        s(post("/v3/auth/role/add", r#"{"name":""}"#)),
        s(post(
            "/v3/auth/role/grant",
            r#"{"name":"reader","perm":{"permType":"READ","key":"<a>","range_end":"<c>"}}"#,
        )),
        s(post("/v3/auth/role/grant", r#"{"name":"reader","perm":{"permType":2,"key":"<k>"}}"#)),
        s(post("/v3/auth/role/grant", r#"{"name":"nobody","perm":{"permType":"READ","key":"<a>"}}"#)),
        s(post("/v3/auth/role/get", r#"{"role":"reader"}"#)),
        s(post("/v3/auth/role/get", r#"{"role":"nobody"}"#)),
        s(post("/v3/auth/role/list", "{}")),
        s(post("/v3/auth/user/grant", r#"{"user":"alice","role":"reader"}"#)),
        s(post("/v3/auth/user/grant", r#"{"user":"alice","role":"nobody"}"#)),
        s(post("/v3/auth/user/grant", r#"{"user":"nobody","role":"reader"}"#)),
        s(post("/v3/auth/user/get", r#"{"name":"alice"}"#)),
        s(post("/v3/auth/user/changepw", r#"{"name":"alice","password":"alicepw2"}"#)),
        s(post("/v3/auth/user/changepw", r#"{"name":"nobody","password":"x"}"#)),
        s(post("/v3/auth/role/revoke", r#"{"role":"reader","key":"<k>"}"#)),
        s(post("/v3/auth/role/revoke", r#"{"role":"reader","key":"<zz>"}"#)),
        s(post("/v3/auth/role/get", r#"{"role":"reader"}"#)),
        s(post("/v3/auth/authenticate", r#"{"name":"root","password":"rootpw"}"#)),
        k(post("/v3/auth/status", "{}"), AuthStatusRoute(false)),
        s(post("/v3/auth/enable", "{}")),
        s(post("/v3/auth/user/grant", r#"{"user":"root","role":"root"}"#)),
        s(post("/v3/auth/enable", "{}")),
        s(post("/v3/auth/enable", "{}")),
        s(post("/v3/auth/authenticate", r#"{"name":"root","password":"wrong"}"#)),
        s(post("/v3/auth/authenticate", r#"{"name":"nobody","password":"x"}"#)),
        cap(
            post("/v3/auth/authenticate", r#"{"name":"root","password":"rootpw"}"#),
            "TOKEN_ROOT",
            &["token"],
        ),
        cap(
            post("/v3/auth/authenticate", r#"{"name":"alice","password":"alicepw2"}"#),
            "TOKEN_ALICE",
            &["token"],
        ),
        // The token travels in `Authorization` (raw, no scheme) or in
        // `Grpc-Metadata-Token`; nothing else counts.
        s(post("/v3/kv/put", r#"{"key":"<a>","value":"<1>"}"#)),
        s(root(post("/v3/kv/put", r#"{"key":"<a>","value":"<1>"}"#))),
        s(post("/v3/kv/put", r#"{"key":"<a>","value":"<1>"}"#).h("Authorization", "Bearer {{TOKEN_ROOT}}")),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#).h("Authorization", "bogus.token")),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#).h("Authorization", "")),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#).h("Grpc-Metadata-Token", "{{TOKEN_ROOT}}")),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#).h("Token", "{{TOKEN_ROOT}}")),
        s(alice(post("/v3/kv/range", r#"{"key":"<a>"}"#))),
        s(alice(post("/v3/kv/put", r#"{"key":"<a>","value":"<2>"}"#))),
        s(alice(post("/v3/kv/range", r#"{"key":"<z>"}"#))),
        s(alice(post("/v3/kv/txn", r#"{"success":[{"request_range":{"key":"<a>"}}]}"#))),
        s(alice(post("/v3/kv/txn", r#"{"success":[{"request_put":{"key":"<a>"}}]}"#))),
        s(alice(post("/v3/auth/user/list", "{}"))),
        s(post("/v3/auth/user/list", "{}")),
        s(root(post("/v3/auth/user/list", "{}"))),
        s(post("/v3/maintenance/status", "{}").h("Authorization", "{{TOKEN_ALICE}}").no_content_type()),
        s(post("/v3/cluster/member/list", "{}")),
        s(post("/v3/maintenance/hash", "{}")),
        s(alice(post("/v3/maintenance/defragment", "{}"))),
        k(
            post("/v3/kv/compaction", r#"{"revision":"1"}"#),
            CompactRootOnly(3, "etcdserver: user name is empty"),
        ),
        k(
            alice(post("/v3/kv/compaction", r#"{"revision":"1"}"#)),
            CompactRootOnly(7, "etcdserver: permission denied"),
        ),
        k(root(post("/v3/auth/status", "{}")), AuthStatusRoute(true)),
        // Watch under auth: refused creates are canceled with the reason, on a 200.
        stream(watch_a(), vec![Read(1)]),
        stream(watch_a().h("Authorization", "bogus.token"), vec![Read(1)]),
        stream(alice(post("/v3/watch", r#"{"create_request":{"key":"<b>"}}"#)), vec![Read(1)]),
        stream(
            alice(watch_a()),
            vec![Read(1), Call(root(post("/v3/kv/put", r#"{"key":"<a>","value":"<3>"}"#))), Read(1)],
        ),
        // A stream refused before its first message: grpc-gateway's error chunk.
        stream(post("/v3/maintenance/snapshot", "{}"), vec![Read(1), End]),
        stream(alice(post("/v3/maintenance/snapshot", "{}")), vec![Read(1), End]),
        s(post("/v3/auth/disable", "{}")),
        s(alice(post("/v3/auth/disable", "{}"))),
        s(root(post("/v3/auth/user/delete", r#"{"name":"nopw"}"#))),
        s(root(post("/v3/auth/user/revoke", r#"{"name":"alice","role":"reader"}"#))),
        s(root(post("/v3/auth/user/revoke", r#"{"name":"alice","role":"reader"}"#))),
        s(root(post("/v3/auth/role/delete", r#"{"role":"reader"}"#))),
        s(root(post("/v3/auth/role/delete", r#"{"role":"reader"}"#))),
        s(root(post("/v3/auth/user/delete", r#"{"name":"nobody"}"#))),
        s(root(post("/v3/auth/user/revoke", r#"{"name":"root","role":"root"}"#))),
        s(root(post("/v3/auth/user/delete", r#"{"name":"root"}"#))),
        s(root(post("/v3/auth/user/list", "{}"))),
        s(root(post("/v3/auth/disable", "{}"))),
        s(post("/v3/kv/range", r#"{"key":"<a>"}"#)),
        k(post("/v3/kv/range", r#"{"key":"<a>"}"#).h("Authorization", "bogus.token"), TokenWhileAuthOff),
        s(post("/v3/auth/authenticate", r#"{"name":"root","password":"rootpw"}"#)),
        s(post("/v3/auth/disable", "{}")),
        k(post("/v3/auth/status", "{}"), AuthStatusRoute(false)),
    ]
}

// ---------------------------------------------------------------------------
// Tests (each group on its own pair of servers; cargo runs them in parallel)
// ---------------------------------------------------------------------------

#[test]
fn gateway_kv_txn_compaction() {
    run_group("kv", kv_steps());
}

#[test]
fn gateway_input_routes_limits() {
    run_group("input", input_steps());
}

#[test]
fn gateway_watch() {
    run_group("watch", watch_steps());
}

#[test]
fn gateway_lease_lock_election() {
    run_group("lease", lease_lock_election_steps());
}

#[test]
fn gateway_cluster_maintenance_health() {
    let (a, b) = (free_port(), free_port());
    let steps =
        cluster_maintenance_health_steps(&format!("http://127.0.0.1:{a}"), &format!("http://127.0.0.1:{b}"));
    run_group("maintenance", steps);
}

#[test]
fn gateway_auth() {
    run_group("auth", auth_steps());
}

#[test]
fn base64_round_trip() {
    for s in ["", "a", "ab", "abc", "abcd", "mylock/64"] {
        assert_eq!(unb64(&b64(s.as_bytes())).as_deref(), Some(s.as_bytes()));
    }
    assert_eq!(b64(b"a"), "YQ==");
    assert_eq!(t(r#"{"key":"<mylock/>"}"#), r#"{"key":"bXlsb2NrLw=="}"#);
}
