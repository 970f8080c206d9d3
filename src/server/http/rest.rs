//! A plain REST face over the key space and the members, for scripts and curl:
//!
//! ```text
//! PUT    /kv/{key}            body = value; ?lease=ID or ?ttl=SECONDS;
//!                             If-Match: <mod_revision> | *   (compare and swap)
//!                             If-None-Match: *               (create only)
//! GET    /kv/{key}            the raw value; ?rev=N for an older version
//! GET    /kv/{prefix}?list    JSON page of keys and values: limit, from, rev, keys
//! GET    /kv/{key}?watch      Server-Sent Events: ?prefix, ?rev=N, ?prev_kv
//! DELETE /kv/{key}            ?prefix for every key under it; If-Match as PUT
//! GET    /members             the member list
//! POST   /members             {"peer_urls": [...], "is_learner": false}
//! DELETE /members/{id}        id in hex, as listed
//! ```
//!
//! Keys are the path after `/kv/`, percent-decoded to bytes (`/` is part of the key).
//! Reads are linearizable unless `?serializable` is given. Lease IDs are JSON strings
//! (they pass JavaScript's exact integers); revisions and counts are numbers. A successful read or write
//! answers with `ETag: "<mod_revision>"` of the key and `X-Etcd-Revision` (the store's
//! revision), so `If-Match` can take what a GET returned. `Authorization: Bearer
//! <token>` carries a token from the Authenticate RPC (or the gateway's
//! `/v3/auth/authenticate`).
//!
//! Like the JSON gateway, this face only translates: every call goes to the same
//! in-process service handlers as gRPC (auth, leader routing, timeouts written once).
//! Errors are JSON, `{"error": message, "code": grpc_code}`, with the gateway's HTTP
//! status for the code; bad input is a 400 naming what is wrong.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use tonic::codegen::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use tonic::metadata::MetadataMap;
use tonic::Status;

use super::Ctx;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::mvccpb;
use crate::server::auth::Credentials;
use crate::server::cluster::ClusterService;
use crate::server::concurrency::prefix_end;
use crate::server::kv::KvService;
use crate::server::lease::LeaseService;
use crate::server::watch::WatchService;

/// Whether `path` belongs to this face.
pub fn is_rest_path(path: &str) -> bool {
    path == "/kv" || path.starts_with("/kv/") || path == "/members" || path.starts_with("/members/")
}

/// Answer one REST request (a path [`is_rest_path`] accepted).
pub async fn handle(ctx: &Ctx, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let result = if let Some(rest) = path.strip_prefix("/members") {
        members(ctx, &parts, rest, body).await
    } else {
        kv(ctx, &parts, path.strip_prefix("/kv").unwrap_or(""), body).await
    };
    result.unwrap_or_else(|e| error(&e))
}

/// Bad input: a 400 naming it.
fn bad(what: impl Into<String>) -> Status {
    Status::invalid_argument(what.into())
}

/// `{"error": message, "code": grpc_code}` with the gateway's status for the code.
fn error(status: &Status) -> Response {
    let code = status.code();
    let http = match code {
        // A body past --max-request-bytes.
        tonic::Code::ResourceExhausted if status.message().starts_with("request body") => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        _ => super::gateway::http_status(code),
    };
    json_response(http, &json!({ "error": status.message(), "code": code as i32 }))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut body = serde_json::to_vec(value).unwrap_or_default();
    body.push(b'\n');
    super::json(status, body)
}

// ---------------------------------------------------------------------------------
// Input: keys, queries, headers

/// Strict percent-decoding: `%` must be followed by two hex digits.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, Status> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
            let byte = byte.and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) => out.push(b),
                None => return Err(bad(format!("bad percent-encoding at byte {i} of {s:?}"))),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The query string's parameters (`+` is a space in a query, as in HTML forms); a
/// parameter without `=` has an empty value. The last of a repeated name wins.
fn query(parts: &Parts) -> Result<BTreeMap<String, Vec<u8>>, Status> {
    let mut params = BTreeMap::new();
    for pair in parts.uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = String::from_utf8(percent_decode(&name.replace('+', " "))?)
            .map_err(|_| bad("a query parameter name is not UTF-8"))?;
        params.insert(name, percent_decode(&value.replace('+', " "))?);
    }
    Ok(params)
}

/// A numeric query parameter, if given.
fn number(params: &BTreeMap<String, Vec<u8>>, name: &str) -> Result<Option<i64>, Status> {
    let Some(raw) = params.get(name) else { return Ok(None) };
    let text = std::str::from_utf8(raw).unwrap_or("");
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| bad(format!("{name} must be a whole number, got {:?}", String::from_utf8_lossy(raw))))
}

/// The token of `Authorization: Bearer <token>` (a bare token is taken too, as the
/// gateway takes it) as the call's `authorization` metadata.
fn grpc_request<T>(parts: &Parts, msg: T) -> tonic::Request<T> {
    let mut headers = HeaderMap::new();
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let token = value.to_str().ok().map(|v| v.strip_prefix("Bearer ").unwrap_or(v).trim());
        if let Some(token) = token.and_then(|t| HeaderValue::from_str(t).ok()) {
            headers.insert(header::AUTHORIZATION, token);
        }
    }
    tonic::Request::from_parts(MetadataMap::from_headers(headers), Default::default(), msg)
}

/// The request body, at most what a gRPC request may carry.
async fn read_body(ctx: &Ctx, body: Body) -> Result<Vec<u8>, Status> {
    let limit = ctx.max_request_bytes;
    axum::body::to_bytes(body, limit).await.map(|b| b.to_vec()).map_err(|_| {
        Status::resource_exhausted(format!("request body is larger than {limit} bytes (--max-request-bytes)"))
    })
}

/// What `If-Match` / `If-None-Match` ask of the key.
#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    /// `If-Match: <n>`: the key's mod_revision is n.
    ModRevision(i64),
    /// `If-Match: *`: the key exists.
    Exists,
    /// `If-None-Match: *`: the key does not exist.
    Absent,
}

/// The precondition in `headers`, if any. An ETag may be quoted (`"12"`, `W/"12"`).
pub fn precondition(headers: &HeaderMap) -> Result<Option<Precondition>, Status> {
    let text = |name: header::HeaderName| -> Result<Option<String>, Status> {
        match headers.get(&name) {
            None => Ok(None),
            Some(v) => {
                v.to_str().map(|s| Some(s.trim().to_string())).map_err(|_| bad(format!("{name} is not text")))
            }
        }
    };
    let if_match = text(header::IF_MATCH)?;
    let if_none_match = text(header::IF_NONE_MATCH)?;
    match (if_match, if_none_match) {
        (Some(_), Some(_)) => Err(bad("give If-Match or If-None-Match, not both")),
        (None, Some(v)) if v == "*" => Ok(Some(Precondition::Absent)),
        (None, Some(v)) => Err(bad(format!("If-None-Match takes only *, got {v:?}"))),
        (Some(v), None) if v == "*" => Ok(Some(Precondition::Exists)),
        (Some(v), None) => {
            let tag = v.strip_prefix("W/").unwrap_or(&v);
            let tag = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(tag);
            match tag.parse::<i64>() {
                Ok(rev) if rev >= 0 => Ok(Some(Precondition::ModRevision(rev))),
                _ => {
                    Err(bad(format!("If-Match takes a mod_revision (as the ETag gives it) or *, got {v:?}")))
                }
            }
        }
        (None, None) => Ok(None),
    }
}

fn compare(key: &[u8], pre: &Precondition) -> pb::Compare {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    let (result, target, union) = match pre {
        Precondition::ModRevision(rev) => {
            (CompareResult::Equal, CompareTarget::Mod, TargetUnion::ModRevision(*rev))
        }
        Precondition::Exists => (CompareResult::Greater, CompareTarget::Version, TargetUnion::Version(0)),
        Precondition::Absent => (CompareResult::Equal, CompareTarget::Create, TargetUnion::CreateRevision(0)),
    };
    pb::Compare {
        result: result as i32,
        target: target as i32,
        key: key.to_vec(),
        range_end: Vec::new(),
        target_union: Some(union),
    }
}

// ---------------------------------------------------------------------------------
// Output

/// `name` as a JSON string when `bytes` are UTF-8, else `name_base64`.
fn put_bytes(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => obj.insert(name.to_string(), Value::from(text)),
        Err(_) => {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            obj.insert(format!("{name}_base64"), Value::from(b64))
        }
    };
}

fn kv_json(kv: &mvccpb::KeyValue, keys_only: bool) -> Value {
    let mut obj = Map::new();
    put_bytes(&mut obj, "key", &kv.key);
    if !keys_only {
        put_bytes(&mut obj, "value", &kv.value);
    }
    obj.insert("create_revision".into(), kv.create_revision.into());
    obj.insert("mod_revision".into(), kv.mod_revision.into());
    obj.insert("version".into(), kv.version.into());
    // Lease IDs are random 63-bit numbers, past what a JavaScript number holds exactly.
    obj.insert("lease".into(), kv.lease.to_string().into());
    Value::Object(obj)
}

fn header_revision(header: &Option<pb::ResponseHeader>) -> i64 {
    header.as_ref().map_or(0, |h| h.revision)
}

fn with_revisions(mut resp: Response, revision: i64, kv: Option<&mvccpb::KeyValue>) -> Response {
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&revision.to_string()) {
        headers.insert("x-etcd-revision", v);
    }
    if let Some(kv) = kv {
        let pairs = [
            (header::ETAG.as_str(), format!("\"{}\"", kv.mod_revision)),
            ("x-etcd-create-revision", kv.create_revision.to_string()),
            ("x-etcd-mod-revision", kv.mod_revision.to_string()),
            ("x-etcd-version", kv.version.to_string()),
            ("x-etcd-lease", kv.lease.to_string()),
        ];
        for (name, value) in pairs {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
    resp
}

fn method_not_allowed(allow: &'static str) -> Response {
    let status = Status::unimplemented(format!("method not allowed here; allowed: {allow}"));
    let mut resp = json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({
            "error": status.message(), "code": status.code() as i32
        }),
    );
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

// ---------------------------------------------------------------------------------
// /kv/

async fn kv(ctx: &Ctx, parts: &Parts, rest: &str, body: Body) -> Result<Response, Status> {
    let raw_key = rest.strip_prefix('/').unwrap_or(rest);
    let key = percent_decode(raw_key)?;
    let params = query(parts)?;
    let flag = |name: &str| params.contains_key(name);
    let svc = KvService { ctx: ctx.clone() };
    match parts.method {
        Method::GET | Method::HEAD if flag("watch") => watch(ctx, parts, key, &params),
        Method::GET | Method::HEAD if flag("list") => list(&svc, parts, key, &params).await,
        _ if key.is_empty() => Err(bad("no key: the path is /kv/{key} (GET /kv/?list lists every key)")),
        Method::GET | Method::HEAD => get(&svc, parts, key, &params).await,
        Method::PUT => put(ctx, &svc, parts, key, &params, body).await,
        Method::DELETE => delete(&svc, parts, key, &params).await,
        _ => Ok(method_not_allowed("GET, HEAD, PUT, DELETE")),
    }
}

fn range_request(key: Vec<u8>, params: &BTreeMap<String, Vec<u8>>) -> Result<pb::RangeRequest, Status> {
    let revision = number(params, "rev")?.unwrap_or(0);
    if revision < 0 {
        return Err(bad("rev must not be negative"));
    }
    Ok(pb::RangeRequest {
        key,
        revision,
        serializable: params.contains_key("serializable"),
        ..Default::default()
    })
}

async fn get(
    svc: &KvService,
    parts: &Parts,
    key: Vec<u8>,
    params: &BTreeMap<String, Vec<u8>>,
) -> Result<Response, Status> {
    let req = range_request(key, params)?;
    let resp = svc.range(grpc_request(parts, req)).await?.into_inner();
    let revision = header_revision(&resp.header);
    let Some(kv) = resp.kvs.first() else {
        let resp = json_response(StatusCode::NOT_FOUND, &json!({ "error": "key not found", "code": 5 }));
        return Ok(with_revisions(resp, revision, None));
    };
    let body = if parts.method == Method::HEAD { Vec::new() } else { kv.value.clone() };
    let mut out = Response::new(Body::from(body));
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(len) = HeaderValue::from_str(&kv.value.len().to_string()) {
        out.headers_mut().insert(header::CONTENT_LENGTH, len);
    }
    Ok(with_revisions(out, revision, Some(kv)))
}

async fn list(
    svc: &KvService,
    parts: &Parts,
    prefix: Vec<u8>,
    params: &BTreeMap<String, Vec<u8>>,
) -> Result<Response, Status> {
    let limit = number(params, "limit")?.unwrap_or(0);
    if limit < 0 {
        return Err(bad("limit must not be negative"));
    }
    let (start, end) =
        if prefix.is_empty() { (vec![0], vec![0]) } else { (prefix.clone(), prefix_end(&prefix)) };
    let from = match params.get("from") {
        Some(from) if from.as_slice() < prefix.as_slice() || !from.starts_with(&prefix) => {
            return Err(bad("from must be a key under the listed prefix"));
        }
        Some(from) => from.clone(),
        None => start,
    };
    let keys_only = params.contains_key("keys");
    let req = pb::RangeRequest { range_end: end, limit, keys_only, ..range_request(from, params)? };
    let resp = svc.range(grpc_request(parts, req)).await?.into_inner();
    let revision = header_revision(&resp.header);
    let mut page = Map::new();
    page.insert("revision".into(), revision.into());
    page.insert("count".into(), resp.count.into());
    page.insert("more".into(), resp.more.into());
    if let (true, Some(last)) = (resp.more, resp.kvs.last()) {
        // The next page starts just after the last key of this one.
        let mut next = last.key.clone();
        next.push(0);
        put_bytes(&mut page, "next", &next);
    }
    let kvs: Vec<Value> = resp.kvs.iter().map(|kv| kv_json(kv, keys_only)).collect();
    page.insert("kvs".into(), Value::Array(kvs));
    Ok(with_revisions(json_response(StatusCode::OK, &Value::Object(page)), revision, None))
}

async fn put(
    ctx: &Ctx,
    svc: &KvService,
    parts: &Parts,
    key: Vec<u8>,
    params: &BTreeMap<String, Vec<u8>>,
    body: Body,
) -> Result<Response, Status> {
    let pre = precondition(&parts.headers)?;
    // The body first: a refused body must not leave a granted lease behind.
    let value = read_body(ctx, body).await?;
    let lease = match (number(params, "lease")?, number(params, "ttl")?) {
        (Some(_), Some(_)) => return Err(bad("give lease or ttl, not both")),
        (Some(id), None) => id,
        (None, Some(ttl)) if ttl <= 0 => return Err(bad("ttl must be at least 1 second")),
        (None, Some(ttl)) => {
            let grant = pb::LeaseGrantRequest { ttl, id: 0 };
            let granted = LeaseService { ctx: ctx.clone() }.lease_grant(grpc_request(parts, grant)).await?;
            granted.into_inner().id
        }
        (None, None) => 0,
    };
    let put = pb::PutRequest { key: key.clone(), value, lease, prev_kv: true, ..Default::default() };
    let (revision, created) = match pre {
        None => {
            let resp = svc.put(grpc_request(parts, put)).await?.into_inner();
            (header_revision(&resp.header), resp.prev_kv.is_none())
        }
        Some(pre) => {
            let op = pb::request_op::Request::RequestPut(put);
            match conditional(svc, parts, &key, &pre, op).await? {
                Ok((revision, pb::response_op::Response::ResponsePut(resp))) => {
                    (revision, resp.prev_kv.is_none())
                }
                Ok((revision, _)) => (revision, false),
                Err(failed) => return Ok(failed),
            }
        }
    };
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let out = json_response(
        status,
        &json!({ "revision": revision, "created": created, "lease": lease.to_string() }),
    );
    let mut out = with_revisions(out, revision, None);
    // The key's new mod_revision: what a following If-Match takes.
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        out.headers_mut().insert(header::ETAG, tag);
    }
    Ok(out)
}

/// Run `op` in a Txn guarded by `pre`: `Ok(Ok(revision, op's answer))` when it ran,
/// `Ok(Err(412 answer))` when the precondition failed (with the key's current
/// revisions, if it exists).
async fn conditional(
    svc: &KvService,
    parts: &Parts,
    key: &[u8],
    pre: &Precondition,
    op: pb::request_op::Request,
) -> Result<Result<(i64, pb::response_op::Response), Response>, Status> {
    let current = pb::RangeRequest { key: key.to_vec(), keys_only: true, ..Default::default() };
    let txn = pb::TxnRequest {
        compare: vec![compare(key, pre)],
        success: vec![pb::RequestOp { request: Some(op) }],
        failure: vec![pb::RequestOp { request: Some(pb::request_op::Request::RequestRange(current)) }],
    };
    let resp = svc.txn(grpc_request(parts, txn)).await?.into_inner();
    let revision = header_revision(&resp.header);
    let answer = resp.responses.into_iter().next().and_then(|r| r.response);
    if resp.succeeded {
        let answer =
            answer.ok_or_else(|| Status::internal("txn answered without its operation's response"))?;
        return Ok(Ok((revision, answer)));
    }
    let kv = match answer {
        Some(pb::response_op::Response::ResponseRange(r)) => r.kvs.into_iter().next(),
        _ => None,
    };
    let body = json!({
        "error": "precondition failed",
        "code": tonic::Code::FailedPrecondition as i32,
        "mod_revision": kv.as_ref().map_or(0, |kv| kv.mod_revision),
    });
    Ok(Err(with_revisions(json_response(StatusCode::PRECONDITION_FAILED, &body), revision, kv.as_ref())))
}

async fn delete(
    svc: &KvService,
    parts: &Parts,
    key: Vec<u8>,
    params: &BTreeMap<String, Vec<u8>>,
) -> Result<Response, Status> {
    let pre = precondition(&parts.headers)?;
    let prefix = params.contains_key("prefix");
    if prefix && pre.is_some() {
        return Err(bad("If-Match / If-None-Match apply to one key, not to ?prefix"));
    }
    let range_end = if prefix { prefix_end(&key) } else { Vec::new() };
    let del = pb::DeleteRangeRequest { key: key.clone(), range_end, prev_kv: false };
    let (revision, deleted) = match pre {
        None => {
            let resp = svc.delete_range(grpc_request(parts, del)).await?.into_inner();
            (header_revision(&resp.header), resp.deleted)
        }
        Some(pre) => {
            let op = pb::request_op::Request::RequestDeleteRange(del);
            match conditional(svc, parts, &key, &pre, op).await? {
                Ok((revision, pb::response_op::Response::ResponseDeleteRange(r))) => (revision, r.deleted),
                Ok((revision, _)) => (revision, 0),
                Err(failed) => return Ok(failed),
            }
        }
    };
    let status = if deleted == 0 && !prefix { StatusCode::NOT_FOUND } else { StatusCode::OK };
    let mut body = json!({ "revision": revision, "deleted": deleted });
    if status == StatusCode::NOT_FOUND {
        body = json!({ "error": "key not found", "code": 5, "revision": revision, "deleted": 0 });
    }
    Ok(with_revisions(json_response(status, &body), revision, None))
}

/// `GET /kv/{key}?watch`: Server-Sent Events, one per change (`event: put` or
/// `event: delete`, `id:` its mod_revision, `data:` the key-value as JSON, with
/// `prev_kv` when asked). Starts at `?rev=N`, or after the `Last-Event-ID` a
/// reconnecting browser sends, or now. A watch the server cancels (a compacted start
/// revision, lost permission) ends with `event: error`.
fn watch(
    ctx: &Ctx,
    parts: &Parts,
    key: Vec<u8>,
    params: &BTreeMap<String, Vec<u8>>,
) -> Result<Response, Status> {
    let mut start_revision = number(params, "rev")?.unwrap_or(0);
    if start_revision < 0 {
        return Err(bad("rev must not be negative"));
    }
    if start_revision == 0 {
        if let Some(last) = parts.headers.get("last-event-id") {
            let last = last.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok());
            let last = last.ok_or_else(|| bad("Last-Event-ID must be a revision"))?;
            start_revision = last.saturating_add(1);
        }
    }
    let prefix = params.contains_key("prefix");
    let range_end = match (prefix, key.is_empty()) {
        (_, true) => vec![0],
        (true, false) => prefix_end(&key),
        (false, false) => Vec::new(),
    };
    let key = if key.is_empty() { vec![0] } else { key };
    let create = pb::WatchCreateRequest {
        key,
        range_end,
        start_revision,
        prev_kv: params.contains_key("prev_kv"),
        progress_notify: true,
        ..Default::default()
    };
    let request =
        pb::WatchRequest { request_union: Some(pb::watch_request::RequestUnion::CreateRequest(create)) };
    let creds = Credentials::of(&grpc_request(parts, ()));
    let requests = futures::stream::iter([Ok(request)]);
    let responses = WatchService { ctx: ctx.clone() }.open(creds, requests);
    // Frames until the error event (a cancel or a failure), which is the last.
    let events = futures::stream::unfold(Some(responses), |responses| async move {
        let mut responses = responses?;
        let frame = match responses.next().await? {
            Ok(resp) => sse_frames(&resp),
            Err(status) => {
                sse_event("error", None, &json!({ "error": status.message(), "code": status.code() as i32 }))
            }
        };
        let more = if frame.starts_with(b"event: error") { None } else { Some(responses) };
        Some((Ok::<_, std::io::Error>(frame), more))
    });
    let mut resp = Response::new(Body::from_stream(events));
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

fn sse_event(event: &str, id: Option<i64>, data: &Value) -> bytes::Bytes {
    let mut frame = format!("event: {event}\n");
    if let Some(id) = id {
        frame.push_str(&format!("id: {id}\n"));
    }
    frame.push_str(&format!("data: {data}\n\n"));
    bytes::Bytes::from(frame)
}

/// The SSE frames of one watch response.
fn sse_frames(resp: &pb::WatchResponse) -> bytes::Bytes {
    if resp.canceled {
        // etcd cancels a watch on a compacted revision with compact_revision alone.
        let reason = match (resp.cancel_reason.as_str(), resp.compact_revision) {
            ("", 0) => "watch canceled",
            ("", _) => "mvcc: required revision has been compacted",
            (reason, _) => reason,
        };
        let data = json!({ "error": reason, "compact_revision": resp.compact_revision });
        return sse_event("error", None, &data);
    }
    let revision = header_revision(&resp.header);
    if resp.created {
        return bytes::Bytes::from(format!(": watching at revision {revision}\n\n"));
    }
    if resp.events.is_empty() {
        // A progress notification: a comment, which also keeps proxies from timing out.
        return bytes::Bytes::from(format!(": progress {revision}\n\n"));
    }
    let mut out = Vec::new();
    for ev in &resp.events {
        let Some(kv) = ev.kv.as_ref() else { continue };
        let kind = if ev.r#type == mvccpb::event::EventType::Delete as i32 { "delete" } else { "put" };
        let mut data = kv_json(kv, false);
        if let (Some(prev), Value::Object(obj)) = (ev.prev_kv.as_ref(), &mut data) {
            obj.insert("prev_kv".into(), kv_json(prev, false));
        }
        out.extend_from_slice(&sse_event(kind, Some(kv.mod_revision), &data));
    }
    bytes::Bytes::from(out)
}

// ---------------------------------------------------------------------------------
// /members

fn member_json(m: &pb::Member, leader: u64) -> Value {
    json!({
        "id": format!("{:x}", m.id),
        "name": m.name,
        "peer_urls": m.peer_ur_ls,
        "client_urls": m.client_ur_ls,
        "is_learner": m.is_learner,
        "is_leader": m.id == leader,
    })
}

async fn members(ctx: &Ctx, parts: &Parts, rest: &str, body: Body) -> Result<Response, Status> {
    let svc = ClusterService { ctx: ctx.clone() };
    let id = rest.strip_prefix('/').unwrap_or(rest);
    let leader = ctx.node.leader().unwrap_or(0);
    match (&parts.method, id.is_empty()) {
        (&Method::GET, true) => {
            let resp =
                svc.member_list(grpc_request(parts, pb::MemberListRequest { linearizable: true })).await?;
            let resp = resp.into_inner();
            let members: Vec<Value> = resp.members.iter().map(|m| member_json(m, leader)).collect();
            Ok(json_response(StatusCode::OK, &json!({ "members": members })))
        }
        (&Method::POST, true) => {
            let raw = read_body(ctx, body).await?;
            let add = member_add_request(&raw)?;
            let resp = svc.member_add(grpc_request(parts, add)).await?.into_inner();
            let member = resp.member.as_ref().map(|m| member_json(m, leader));
            let members: Vec<Value> = resp.members.iter().map(|m| member_json(m, leader)).collect();
            Ok(json_response(StatusCode::CREATED, &json!({ "member": member, "members": members })))
        }
        (&Method::DELETE, false) => {
            let id = u64::from_str_radix(id, 16)
                .map_err(|_| bad(format!("member id {id:?} is not hex (as GET /members lists it)")))?;
            let resp = svc.member_remove(grpc_request(parts, pb::MemberRemoveRequest { id })).await?;
            let members: Vec<Value> =
                resp.into_inner().members.iter().map(|m| member_json(m, leader)).collect();
            Ok(json_response(StatusCode::OK, &json!({ "members": members })))
        }
        (_, true) => Ok(method_not_allowed("GET, POST")),
        (_, false) => Ok(method_not_allowed("DELETE")),
    }
}

/// `{"peer_urls": [...], "is_learner": bool}` (etcd's JSON names `peerURLs`,
/// `isLearner` too).
fn member_add_request(raw: &[u8]) -> Result<pb::MemberAddRequest, Status> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let obj = value.as_object().ok_or_else(|| bad("the body must be a JSON object"))?;
    let urls = obj.get("peer_urls").or_else(|| obj.get("peerURLs"));
    let urls = urls.and_then(Value::as_array).ok_or_else(|| bad("peer_urls must be a list of URLs"))?;
    let peer_ur_ls = urls
        .iter()
        .map(|u| u.as_str().map(str::to_string).ok_or_else(|| bad("peer_urls must be strings")))
        .collect::<Result<Vec<_>, _>>()?;
    let learner = obj.get("is_learner").or_else(|| obj.get("isLearner"));
    let is_learner = match learner {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("is_learner must be true or false")),
    };
    Ok(pb::MemberAddRequest { peer_ur_ls, is_learner })
}

#[cfg(test)]
#[path = "rest_test.rs"]
mod rest_test;
