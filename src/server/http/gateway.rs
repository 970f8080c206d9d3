//! etcd's JSON gateway (grpc-gateway): `POST /v3/<route>` with a JSON request body,
//! answered with the JSON of the gRPC response.
//!
//! The gateway only translates: the body is decoded into the protobuf request (proto3
//! JSON as etcd's gateway reads it: `.proto` or lowerCamel field names, 64-bit
//! integers as strings or numbers, bytes in base64, enums by name or number, unknown
//! fields ignored, `null` as the zero value, the last of a repeated key, an empty
//! body is the empty request), the gRPC service handler is
//! called in-process with the `Authorization` header as the `authorization`
//! metadata (and `Grpc-Metadata-<key>` headers as `<key>`), and the response is
//! written as etcd's gateway writes it (`.proto` field names, zero values left out,
//! 64-bit integers as strings). Auth, leader routing and timeouts are the service's.
//!
//! Errors: `{"error": msg, "message": msg, "code": grpc_code}` with grpc-gateway's
//! HTTP status for the code. Streams (watch, lease keepalive, snapshot, election
//! observe) answer with one `{"result": …}` per message, each followed by a newline,
//! flushed as it is produced; an error ends the stream with
//! `{"error": {"grpc_code", "http_code", "message", "http_status"}}`. The request
//! side of watch and keepalive is a stream of JSON objects in the request body; a
//! client that ends its body keeps receiving, as from a gRPC stream whose sending
//! side is closed.

use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, BodyDataStream};
use axum::extract::Request;
use axum::response::Response;
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;
use tonic::codegen::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use tonic::metadata::MetadataMap;
use tonic::{Code, Status};

use super::{json, Ctx};
use crate::metrics::grpc;
use crate::proto::etcdserverpb as pb;
use crate::proto::etcdserverpb::auth_server::Auth;
use crate::proto::etcdserverpb::cluster_server::Cluster;
use crate::proto::etcdserverpb::kv_server::Kv;
use crate::proto::etcdserverpb::lease_server::Lease;
use crate::proto::etcdserverpb::maintenance_server::Maintenance;
use crate::proto::v3electionpb::election_server::Election;
use crate::proto::v3lockpb::lock_server::Lock;
use crate::server::auth::{AuthService, Credentials};
use crate::server::cluster::ClusterService;
use crate::server::election::ElectionService;
use crate::server::kv::KvService;
use crate::server::lease::LeaseService;
use crate::server::lock::LockService;
use crate::server::maintenance::MaintenanceService;
use crate::server::watch::WatchService;

/// Answer one gateway request; `route` is the path after `/v3/`. The call holds one
/// of `streams` until its answer (a stream: its last message) is sent.
pub async fn handle(ctx: &Ctx, streams: &Arc<Semaphore>, route: &str, req: Request) -> Response {
    let Some(path) = grpc_path(route) else {
        return super::go_error(StatusCode::NOT_FOUND, "Not Found");
    };
    if req.method() != Method::POST {
        // grpc-gateway names no allowed method.
        return super::go_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
    let Ok(permit) = streams.clone().acquire_owned().await else {
        return error_response(&Status::unavailable("the gateway is shutting down"));
    };
    // Counted as a gRPC call of its method, as etcd's gateway (a gRPC client of its
    // own server) is counted.
    let mut counted = CountedCall::start(path);
    let resp = call(ctx, route, req).await;
    if http_body::Body::size_hint(resp.body()).exact().is_some() {
        // A whole answer (unary, or a stream that failed at once): the call is over.
        counted.finish(resp.extensions().get::<GrpcCode>().map_or(grpc::CODE_OK, |c| c.0));
        return resp;
    }
    // A stream: it ends OK when its last message is sent, Canceled if the client goes
    // first; its stream slot is held until then.
    resp.map(|body| {
        let chunks = futures::stream::unfold(
            (body.into_data_stream(), counted, permit),
            |(mut chunks, mut counted, permit)| async move {
                match chunks.next().await {
                    Some(chunk) => Some((chunk, (chunks, counted, permit))),
                    None => {
                        counted.finish(grpc::CODE_OK);
                        None
                    }
                }
            },
        );
        Body::from_stream(chunks)
    })
}

/// The gRPC code of a failed gateway call (in its response's extensions).
#[derive(Clone, Copy, Debug)]
struct GrpcCode(usize);

/// One gateway call in go-grpc-prometheus' counters: started now, handled with the
/// code given to `finish`, or Canceled if dropped first.
struct CountedCall {
    method: Option<usize>,
}

impl CountedCall {
    fn start(path: &str) -> CountedCall {
        let method = grpc::method_index(path);
        if let Some(m) = method {
            grpc::started(m);
        }
        CountedCall { method }
    }

    fn finish(&mut self, code: usize) {
        if let Some(m) = self.method.take() {
            grpc::handled(m, code, None);
        }
    }
}

impl Drop for CountedCall {
    fn drop(&mut self) {
        self.finish(grpc::CODE_CANCELED);
    }
}

/// Decode, call the service, encode.
async fn call(ctx: &Ctx, route: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let limit = body_limit(ctx);
    let ctx = ctx.clone();

    // `unary!(service, method)`: decode the body as the method's request, call it,
    // encode its answer. `server_stream!` the same for a method that answers with a
    // stream.
    macro_rules! unary {
        ($svc:expr, $method:ident) => {{
            match decode_body(body, limit).await {
                Ok(msg) => answer($svc.$method(grpc_request(&parts, msg)).await),
                Err(e) => error_response(&e),
            }
        }};
    }
    macro_rules! server_stream {
        ($svc:expr, $method:ident) => {{
            match decode_body(body, limit).await {
                Ok(msg) => match $svc.$method(grpc_request(&parts, msg)).await {
                    Ok(stream) => stream_response(stream.into_inner()).await,
                    Err(e) => stream_error_response(&e),
                },
                Err(e) => error_response(&e),
            }
        }};
    }
    let kv = || KvService { ctx: ctx.clone() };
    let lease = || LeaseService { ctx: ctx.clone() };
    let cluster = || ClusterService { ctx: ctx.clone() };
    let maint = || MaintenanceService { ctx: ctx.clone() };
    let auth = || AuthService { ctx: ctx.clone() };
    let lock = || LockService { ctx: ctx.clone() };
    let election = || ElectionService { ctx: ctx.clone() };
    match route {
        "kv/range" => unary!(kv(), range),
        "kv/put" => unary!(kv(), put),
        "kv/deleterange" => unary!(kv(), delete_range),
        "kv/txn" => unary!(kv(), txn),
        "kv/compaction" => unary!(kv(), compact),

        "watch" => {
            // As every other call: the `authorization` and `Grpc-Metadata-*` headers.
            let creds = Credentials::of(&grpc_request(&parts, ()));
            match json_requests::<pb::WatchRequest>(body, limit).await {
                Ok(requests) => {
                    stream_response(WatchService { ctx: ctx.clone() }.open(creds, requests)).await
                }
                Err(e) => error_response(&e),
            }
        }

        "lease/grant" => unary!(lease(), lease_grant),
        "lease/revoke" | "kv/lease/revoke" => unary!(lease(), lease_revoke),
        "lease/timetolive" | "kv/lease/timetolive" => unary!(lease(), lease_time_to_live),
        "lease/leases" | "kv/lease/leases" => unary!(lease(), lease_leases),
        "lease/keepalive" => match json_requests::<pb::LeaseKeepAliveRequest>(body, limit).await {
            Ok(requests) => stream_response(lease().keep_alive(requests)).await,
            Err(e) => error_response(&e),
        },

        "cluster/member/add" => unary!(cluster(), member_add),
        "cluster/member/remove" => unary!(cluster(), member_remove),
        "cluster/member/update" => unary!(cluster(), member_update),
        "cluster/member/list" => unary!(cluster(), member_list),
        "cluster/member/promote" => unary!(cluster(), member_promote),

        "maintenance/alarm" => unary!(maint(), alarm),
        "maintenance/status" => unary!(maint(), status),
        "maintenance/defragment" => unary!(maint(), defragment),
        "maintenance/hash" => unary!(maint(), hash),
        "maintenance/hashkv" => unary!(maint(), hash_kv),
        "maintenance/snapshot" => server_stream!(maint(), snapshot),
        "maintenance/transfer-leadership" => unary!(maint(), move_leader),
        "maintenance/downgrade" => unary!(maint(), downgrade),

        "auth/enable" => unary!(auth(), auth_enable),
        "auth/disable" => unary!(auth(), auth_disable),
        "auth/status" => unary!(auth(), auth_status),
        "auth/authenticate" => unary!(auth(), authenticate),
        "auth/user/add" => unary!(auth(), user_add),
        "auth/user/get" => unary!(auth(), user_get),
        "auth/user/list" => unary!(auth(), user_list),
        "auth/user/delete" => unary!(auth(), user_delete),
        "auth/user/changepw" => unary!(auth(), user_change_password),
        "auth/user/grant" => unary!(auth(), user_grant_role),
        "auth/user/revoke" => unary!(auth(), user_revoke_role),
        "auth/role/add" => unary!(auth(), role_add),
        "auth/role/get" => unary!(auth(), role_get),
        "auth/role/list" => unary!(auth(), role_list),
        "auth/role/delete" => unary!(auth(), role_delete),
        "auth/role/grant" => unary!(auth(), role_grant_permission),
        "auth/role/revoke" => unary!(auth(), role_revoke_permission),

        "lock/lock" => unary!(lock(), lock),
        "lock/unlock" => unary!(lock(), unlock),

        "election/campaign" => unary!(election(), campaign),
        "election/proclaim" => unary!(election(), proclaim),
        "election/leader" => unary!(election(), leader),
        "election/observe" => server_stream!(election(), observe),
        "election/resign" => unary!(election(), resign),

        _ => super::go_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Every route the gateway serves (after `/v3/`), with the gRPC method it calls.
pub const ROUTES: &[(&str, &str)] = &[
    ("kv/range", "/etcdserverpb.KV/Range"),
    ("kv/put", "/etcdserverpb.KV/Put"),
    ("kv/deleterange", "/etcdserverpb.KV/DeleteRange"),
    ("kv/txn", "/etcdserverpb.KV/Txn"),
    ("kv/compaction", "/etcdserverpb.KV/Compact"),
    ("watch", "/etcdserverpb.Watch/Watch"),
    ("lease/grant", "/etcdserverpb.Lease/LeaseGrant"),
    ("lease/revoke", "/etcdserverpb.Lease/LeaseRevoke"),
    ("kv/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke"),
    ("lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive"),
    ("kv/lease/timetolive", "/etcdserverpb.Lease/LeaseTimeToLive"),
    ("lease/leases", "/etcdserverpb.Lease/LeaseLeases"),
    ("kv/lease/leases", "/etcdserverpb.Lease/LeaseLeases"),
    ("lease/keepalive", "/etcdserverpb.Lease/LeaseKeepAlive"),
    ("cluster/member/add", "/etcdserverpb.Cluster/MemberAdd"),
    ("cluster/member/remove", "/etcdserverpb.Cluster/MemberRemove"),
    ("cluster/member/update", "/etcdserverpb.Cluster/MemberUpdate"),
    ("cluster/member/list", "/etcdserverpb.Cluster/MemberList"),
    ("cluster/member/promote", "/etcdserverpb.Cluster/MemberPromote"),
    ("maintenance/alarm", "/etcdserverpb.Maintenance/Alarm"),
    ("maintenance/status", "/etcdserverpb.Maintenance/Status"),
    ("maintenance/defragment", "/etcdserverpb.Maintenance/Defragment"),
    ("maintenance/hash", "/etcdserverpb.Maintenance/Hash"),
    ("maintenance/hashkv", "/etcdserverpb.Maintenance/HashKV"),
    ("maintenance/snapshot", "/etcdserverpb.Maintenance/Snapshot"),
    ("maintenance/transfer-leadership", "/etcdserverpb.Maintenance/MoveLeader"),
    ("maintenance/downgrade", "/etcdserverpb.Maintenance/Downgrade"),
    ("auth/enable", "/etcdserverpb.Auth/AuthEnable"),
    ("auth/disable", "/etcdserverpb.Auth/AuthDisable"),
    ("auth/status", "/etcdserverpb.Auth/AuthStatus"),
    ("auth/authenticate", "/etcdserverpb.Auth/Authenticate"),
    ("auth/user/add", "/etcdserverpb.Auth/UserAdd"),
    ("auth/user/get", "/etcdserverpb.Auth/UserGet"),
    ("auth/user/list", "/etcdserverpb.Auth/UserList"),
    ("auth/user/delete", "/etcdserverpb.Auth/UserDelete"),
    ("auth/user/changepw", "/etcdserverpb.Auth/UserChangePassword"),
    ("auth/user/grant", "/etcdserverpb.Auth/UserGrantRole"),
    ("auth/user/revoke", "/etcdserverpb.Auth/UserRevokeRole"),
    ("auth/role/add", "/etcdserverpb.Auth/RoleAdd"),
    ("auth/role/get", "/etcdserverpb.Auth/RoleGet"),
    ("auth/role/list", "/etcdserverpb.Auth/RoleList"),
    ("auth/role/delete", "/etcdserverpb.Auth/RoleDelete"),
    ("auth/role/grant", "/etcdserverpb.Auth/RoleGrantPermission"),
    ("auth/role/revoke", "/etcdserverpb.Auth/RoleRevokePermission"),
    ("lock/lock", "/v3lockpb.Lock/Lock"),
    ("lock/unlock", "/v3lockpb.Lock/Unlock"),
    ("election/campaign", "/v3electionpb.Election/Campaign"),
    ("election/proclaim", "/v3electionpb.Election/Proclaim"),
    ("election/leader", "/v3electionpb.Election/Leader"),
    ("election/observe", "/v3electionpb.Election/Observe"),
    ("election/resign", "/v3electionpb.Election/Resign"),
];

/// The gRPC method `route` calls, if it is a route.
fn grpc_path(route: &str) -> Option<&'static str> {
    ROUTES.iter().find(|(r, _)| *r == route).map(|(_, path)| *path)
}

/// The largest JSON body read: twice the largest gRPC message the server takes
/// (base64 makes bytes a third longer, and names and quotes add to it).
fn body_limit(ctx: &Ctx) -> usize {
    ctx.max_request_bytes.saturating_add(512 * 1024).saturating_mul(2)
}

/// The largest request message, as the gRPC face's decoding limit.
fn message_limit(limit: usize) -> usize {
    limit / 2
}

/// The gRPC request the service sees: the message, the `authorization` metadata and
/// any `Grpc-Metadata-<key>` headers as `<key>`. No client certificate: the gateway
/// never stands for a certificate's user (etcd's rule).
fn grpc_request<T>(parts: &Parts, msg: T) -> tonic::Request<T> {
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name == header::AUTHORIZATION {
            headers.append(name.clone(), value.clone());
        } else if let Some(key) = name.as_str().strip_prefix("grpc-metadata-") {
            if let Ok(key) = tonic::codegen::http::HeaderName::from_bytes(key.as_bytes()) {
                headers.append(key, value.clone());
            }
        }
    }
    tonic::Request::from_parts(MetadataMap::from_headers(headers), Default::default(), msg)
}

/// The request message of a unary call (or of a server stream): the whole body as
/// one JSON object; an empty body is the empty request.
async fn decode_body<T: DeserializeOwned + Default + prost::Message>(
    body: Body,
    limit: usize,
) -> Result<T, Status> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| too_large_or(format!("{e}"), limit))?;
    let msg = decode_json::<T>(&bytes)?;
    check_size(&msg, limit)?;
    Ok(msg)
}

fn decode_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, Status> {
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(value)) => from_value(value),
        Some(Err(e)) => Err(Status::invalid_argument(e.to_string())),
        None => Ok(T::default()),
    }
}

/// For the `http_input` fuzz target: `data[1..]` as each unary request type's JSON,
/// and as a stream of watch requests arriving in `data[0] % 16 + 1`-byte chunks,
/// which must read as the same messages as when it arrives whole. Never panics.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let Some((step, body)) = data.split_first() else { return };
    let step = usize::from(step % 16) + 1;
    let _ = decode_json::<pb::RangeRequest>(body);
    let _ = decode_json::<pb::PutRequest>(body);
    let _ = decode_json::<pb::DeleteRangeRequest>(body);
    let _ = decode_json::<pb::TxnRequest>(body);
    let _ = decode_json::<pb::CompactionRequest>(body);
    let _ = decode_json::<pb::LeaseGrantRequest>(body);
    let _ = decode_json::<pb::AuthenticateRequest>(body);
    let _ = decode_json::<pb::AuthRoleGrantPermissionRequest>(body);
    let _ = decode_json::<pb::MemberAddRequest>(body);
    let _ = decode_json::<pb::AlarmRequest>(body);
    let _ = decode_json::<crate::proto::v3lockpb::LockRequest>(body);
    let _ = decode_json::<crate::proto::v3electionpb::CampaignRequest>(body);
    let read_all = |chunk: usize| -> Vec<Result<pb::WatchRequest, String>> {
        let chunks: Vec<Result<bytes::Bytes, std::io::Error>> =
            body.chunks(chunk).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        let mut reader = JsonReader::new(Body::from_stream(futures::stream::iter(chunks)), 1 << 20);
        futures::executor::block_on(async move {
            let mut out = Vec::new();
            while out.len() < 64 {
                match reader.next::<pb::WatchRequest>().await {
                    Ok(Some(msg)) => out.push(Ok(msg)),
                    Ok(None) => break,
                    Err(e) => {
                        out.push(Err(e.message().to_string()));
                        break;
                    }
                }
            }
            out
        })
    };
    let whole = read_all(body.len().max(1));
    let split = read_all(step);
    assert_eq!(whole, split, "the watch request stream read differently in {step}-byte chunks");
}

/// A request message from a JSON value read as Go's decoder reads it: `null` (for
/// the message or any field) is the zero value, and of a key given twice the last
/// one counts (a JSON object read into a map keeps the last).
fn from_value<T: DeserializeOwned + Default>(mut value: serde_json::Value) -> Result<T, Status> {
    if value.is_null() {
        return Ok(T::default());
    }
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A request whose protobuf form is over the gRPC face's limit gets the gRPC face's
/// answer.
fn check_size<T: prost::Message>(msg: &T, limit: usize) -> Result<(), Status> {
    let len = msg.encoded_len();
    let max = message_limit(limit);
    if len > max {
        return Err(Status::resource_exhausted(format!(
            "grpc: received message larger than max ({len} vs. {max})"
        )));
    }
    Ok(())
}

/// A body read failed: over the limit (the gRPC face's answer), or broken.
fn too_large_or(reason: String, limit: usize) -> Status {
    if reason.contains("length limit exceeded") {
        Status::resource_exhausted(format!(
            "grpc: received message larger than max (more than {limit} JSON bytes vs. {})",
            message_limit(limit)
        ))
    } else {
        Status::invalid_argument(reason)
    }
}

type Requests<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The request side of a bidirectional stream: the JSON objects of the body, one
/// after another. A first object that does not decode is the call's error (as
/// grpc-gateway); a later one ends the request side, as the end of the body does.
async fn json_requests<T>(body: Body, limit: usize) -> Result<Requests<T>, Status>
where
    T: DeserializeOwned + prost::Message + Default + Send + 'static,
{
    let mut reader = JsonReader::new(body, limit);
    // grpc-gateway hands this error over as a plain one: code Unknown.
    let first = reader.next::<T>().await.map_err(|e| Status::unknown(e.message()))?;
    let Some(first) = first else {
        return Ok(Box::pin(futures::stream::empty()));
    };
    let rest = futures::stream::unfold(reader, |mut reader| async move {
        match reader.next::<T>().await {
            Ok(Some(msg)) => Some((Ok(msg), reader)),
            Ok(None) | Err(_) => None,
        }
    });
    Ok(Box::pin(futures::stream::once(async move { Ok(first) }).chain(rest)))
}

/// Reads JSON objects one at a time from a body that arrives in chunks. Every byte
/// is scanned once (brackets and strings tracked across chunks) and a value is
/// parsed once, when it is complete: a client that sends a large message a byte at
/// a time costs linear work, not a parse per chunk.
struct JsonReader {
    body: BodyDataStream,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    /// The scan of the value that starts at `start`.
    scan: Scan,
    limit: usize,
}

/// How far the value being read has been scanned.
#[derive(Default)]
struct Scan {
    /// Bytes of `buf` scanned.
    pos: usize,
    depth: usize,
    in_str: bool,
    escaped: bool,
}

impl JsonReader {
    fn new(body: Body, limit: usize) -> Self {
        JsonReader { body: body.into_data_stream(), buf: Vec::new(), start: 0, scan: Scan::default(), limit }
    }

    /// Where the value at `start` ends, if it has arrived whole (scanning on from
    /// where the last call stopped).
    fn complete_value(&mut self) -> Option<usize> {
        let scan = &mut self.scan;
        scan.pos = scan.pos.max(self.start);
        while scan.pos < self.buf.len() {
            let b = self.buf[scan.pos];
            scan.pos += 1;
            if scan.in_str {
                if scan.escaped {
                    scan.escaped = false;
                } else if b == b'\\' {
                    scan.escaped = true;
                } else if b == b'"' {
                    scan.in_str = false;
                }
                continue;
            }
            match b {
                b'"' => scan.in_str = true,
                b'{' | b'[' => scan.depth += 1,
                b'}' | b']' => {
                    scan.depth = scan.depth.saturating_sub(1);
                    if scan.depth == 0 {
                        return Some(scan.pos);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The next object; `None` at the end of the body.
    async fn next<T: DeserializeOwned + prost::Message + Default>(&mut self) -> Result<Option<T>, Status> {
        loop {
            while self.start < self.buf.len() && self.buf[self.start].is_ascii_whitespace() {
                self.start += 1;
            }
            if self.start < self.buf.len() {
                match self.buf[self.start] {
                    b'{' | b'[' => {
                        if let Some(end) = self.complete_value() {
                            let value =
                                serde_json::from_slice::<serde_json::Value>(&self.buf[self.start..end])
                                    .map_err(|e| Status::invalid_argument(e.to_string()))?;
                            self.start = end;
                            self.scan = Scan::default();
                            if self.start * 2 > self.buf.len() {
                                self.buf.drain(..self.start);
                                self.start = 0;
                            }
                            let msg = from_value::<T>(value)?;
                            check_size(&msg, self.limit)?;
                            return Ok(Some(msg));
                        }
                    }
                    b'n' if self.buf.len() - self.start >= 4 => {
                        if &self.buf[self.start..self.start + 4] != b"null" {
                            return Err(Status::invalid_argument("invalid character in literal null"));
                        }
                        self.start += 4;
                        return Ok(Some(T::default()));
                    }
                    b'n' => {}
                    other => {
                        return Err(Status::invalid_argument(format!(
                            "invalid character {:?} looking for beginning of object",
                            other as char
                        )))
                    }
                }
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.buf.extend_from_slice(&chunk);
                    if self.buf.len() - self.start > self.limit {
                        return Err(too_large_or("length limit exceeded".into(), self.limit));
                    }
                }
                Some(Err(e)) => return Err(Status::invalid_argument(e.to_string())),
                None if self.start == self.buf.len() => return Ok(None),
                None => return Err(Status::invalid_argument("unexpected EOF")),
            }
        }
    }
}

/// A unary answer: the message as JSON, or the error.
fn answer<T: Serialize>(result: Result<tonic::Response<T>, Status>) -> Response {
    match result {
        Ok(resp) => match serde_json::to_vec(resp.get_ref()) {
            Ok(body) => with_gateway_headers(json(StatusCode::OK, body)),
            Err(e) => error_response(&Status::internal(e.to_string())),
        },
        Err(e) => error_response(&e),
    }
}

/// What grpc-gateway adds to every answer: the gRPC response's content type, as
/// forwarded server metadata.
fn with_gateway_headers(mut resp: Response) -> Response {
    resp.headers_mut().insert("grpc-metadata-content-type", HeaderValue::from_static("application/grpc"));
    resp
}

/// grpc-gateway's HTTP status for a gRPC code.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// In etcd 3.4's order (its e2e suite compares the bytes).
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
    code: i32,
}

/// A failed unary call: `{"error", "message", "code"}` with the mapped status.
pub fn error_response(status: &Status) -> Response {
    let body = ErrorBody { error: status.message(), message: status.message(), code: status.code() as i32 };
    let bytes = serde_json::to_vec(&body)
        .unwrap_or_else(|_| b"{\"error\": \"failed to marshal error message\"}".to_vec());
    let mut resp = json(http_status(status.code()), bytes);
    resp.extensions_mut().insert(GrpcCode(status.code() as usize));
    resp
}

#[derive(Serialize)]
struct StreamError<'a> {
    grpc_code: i32,
    http_code: u16,
    message: &'a str,
    http_status: &'a str,
}

#[derive(Serialize)]
struct ErrorChunk<'a> {
    error: StreamError<'a>,
}

#[derive(Serialize)]
struct ResultChunk<'a, T> {
    result: &'a T,
}

/// One message of a stream: `{"result": …}` and a newline.
fn result_chunk<T: Serialize>(msg: &T) -> bytes::Bytes {
    match serde_json::to_vec(&ResultChunk { result: msg }) {
        Ok(mut v) => {
            v.push(b'\n');
            v.into()
        }
        Err(e) => error_chunk(&Status::internal(e.to_string())),
    }
}

/// The error that ends a stream.
fn error_chunk(status: &Status) -> bytes::Bytes {
    let http = http_status(status.code());
    let chunk = ErrorChunk {
        error: StreamError {
            grpc_code: status.code() as i32,
            http_code: http.as_u16(),
            message: status.message(),
            http_status: http.canonical_reason().unwrap_or(""),
        },
    };
    serde_json::to_vec(&chunk).unwrap_or_default().into()
}

/// A stream that fails before it starts: the error chunk, with its HTTP status.
fn stream_error_response(status: &Status) -> Response {
    let mut resp = Response::new(Body::from(error_chunk(status)));
    resp.extensions_mut().insert(GrpcCode(status.code() as usize));
    *resp.status_mut() = http_status(status.code());
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A streamed answer. The status line waits for the first message: a stream that
/// fails before any message answers with the error's HTTP status, as grpc-gateway.
async fn stream_response<T, S>(mut stream: S) -> Response
where
    T: Serialize + Send + 'static,
    S: Stream<Item = Result<T, Status>> + Send + Unpin + 'static,
{
    let (status, first) = match stream.next().await {
        None => (StatusCode::OK, None),
        Some(Ok(msg)) => (StatusCode::OK, Some(result_chunk(&msg))),
        Some(Err(e)) => (http_status(e.code()), Some(error_chunk(&e))),
    };
    let failed = status != StatusCode::OK;
    let empty = first.is_none();
    let rest = futures::stream::unfold((stream, failed), |(mut stream, done)| async move {
        if done {
            return None;
        }
        match stream.next().await {
            None => None,
            Some(Ok(msg)) => Some((result_chunk(&msg), (stream, false))),
            Some(Err(e)) => Some((error_chunk(&e), (stream, true))),
        }
    });
    let chunks = futures::stream::iter(first).chain(rest).map(Ok::<_, std::convert::Infallible>);
    let mut resp = Response::new(Body::from_stream(chunks));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // A stream that never answered has no gRPC response metadata to forward.
    if empty || failed {
        resp
    } else {
        with_gateway_headers(resp)
    }
}
