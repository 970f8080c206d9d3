//! `server::http`: the HTTP face of the client port, served on the same listeners as
//! gRPC (plain and TLS, HTTP/1.1 and h2c, as etcd serves both on one port).
//!
//! A request whose content type is `application/grpc` goes to the gRPC services;
//! everything else lands here and is routed by path:
//! - `/v3/…` (and `/v3beta/…`, `/v3alpha/…`, its aliases): etcd's JSON gateway
//!   ([`gateway`]), which only translates JSON and calls the gRPC service handlers
//!   in-process, so auth, leader routing and timeouts stay written once;
//! - `/kv/…` and `/members`: a plain REST face over keys and members ([`rest`]),
//!   translating to the same service calls;
//! - `/ui`: the dashboard, one page embedded in the binary (`ui.html`) that uses only
//!   `/members`, `/kv/` and each member's `/v3/maintenance/status` and `/health`;
//! - `/health`, `/livez`, `/readyz`, `/version` ([`health`]);
//! - `/metrics` (Prometheus text, [`crate::metrics`]);
//! - anything else: Go's `404 page not found`.
//!
//! Real build only: the simulated network carries no HTTP.

pub mod gateway;
pub mod health;
pub mod rest;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use tonic::codegen::http::{header, request::Parts, HeaderValue, Method, StatusCode};

use super::Ctx;
use tokio::sync::Semaphore;

/// The client port's router: `grpc` (tonic's routes as an axum router) with every
/// other request answered by this module. The gateway calls of one listener share
/// `max_streams` concurrent calls (`--max-concurrent-streams`): etcd's gateway is one
/// gRPC client connection per listener, so that many streams are all it may have
/// open; a call past them waits for one to end.
pub fn router(ctx: Ctx, grpc: axum::Router, max_streams: u32) -> axum::Router {
    let streams = Arc::new(Semaphore::new((max_streams as usize).min(Semaphore::MAX_PERMITS)));
    grpc.fallback(move |req: Request| {
        let (ctx, streams) = (ctx.clone(), streams.clone());
        async move { handle(ctx, streams, req).await }
    })
}

/// A `--listen-metrics-urls` listener's router: `/metrics` and `/health` (and the
/// probes), nothing else.
pub fn metrics_router(ctx: Ctx) -> axum::Router {
    axum::Router::new().fallback(move |req: Request| {
        let ctx = ctx.clone();
        async move {
            let (parts, _body) = req.into_parts();
            match probe(&ctx, &parts).await {
                Some(resp) => resp,
                None => go_error(StatusCode::NOT_FOUND, "404 page not found"),
            }
        }
    })
}

/// `/health`, `/livez`, `/readyz` and `/metrics`, which the client URLs and the
/// metrics URLs both serve; `None` for any other path.
async fn probe(ctx: &Ctx, parts: &Parts) -> Option<Response> {
    Some(match parts.uri.path() {
        "/health" => health::health(ctx, parts).await,
        "/livez" => health::livez(ctx, parts).await,
        "/readyz" => health::readyz(ctx, parts).await,
        "/metrics" => metrics(),
        _ => return None,
    })
}

/// A request no gRPC service route matched.
async fn handle(ctx: Ctx, streams: Arc<Semaphore>, req: Request) -> Response {
    if is_grpc(&req) {
        // What tonic answers for a service it does not know.
        let (parts, ()) = tonic::Status::unimplemented("").into_http::<()>().into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let mut resp = route(ctx, streams, req).await;
    // etcd's access controller (`--cors`, default `*`) marks every HTTP answer.
    let headers = resp.headers_mut();
    headers
        .insert("access-control-allow-methods", HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"));
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    resp
}

async fn route(ctx: Ctx, streams: Arc<Semaphore>, req: Request) -> Response {
    if req.method() == Method::OPTIONS {
        // A CORS preflight: allowed, nothing else.
        return Response::new(Body::empty());
    }
    let path = req.uri().path().to_string();
    if path == "/v3" {
        // Go's mux redirects a subtree's name to the subtree.
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
        resp.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/v3/"));
        return resp;
    }
    if let Some(route) = gateway_route(&path) {
        let route = route.to_string();
        return gateway::handle(&ctx, &streams, &route, req).await;
    }
    if rest::is_rest_path(&path) {
        return rest::handle(&ctx, req).await;
    }
    if path == "/ui" || path == "/ui/" {
        return ui(req.method());
    }
    let (parts, _body) = req.into_parts();
    if let Some(resp) = probe(&ctx, &parts).await {
        return resp;
    }
    match path.as_str() {
        "/version" => health::version(&parts),
        _ => go_error(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

fn is_grpc(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// The gateway route of `path` (`kv/range` for `/v3/kv/range`), if it is one: etcd
/// serves `/v3beta/` and `/v3alpha/` as aliases of `/v3/`.
pub fn gateway_route(path: &str) -> Option<&str> {
    ["/v3/", "/v3beta/", "/v3alpha/"].iter().find_map(|prefix| path.strip_prefix(prefix))
}

/// A plain-text answer as Go's `http.Error` writes it: the message and a newline.
pub fn go_error(status: StatusCode, message: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{message}\n")));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

/// `405 Method Not Allowed`, naming the allowed method.
pub fn method_not_allowed(allow: &'static str) -> Response {
    let mut resp = go_error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// The dashboard page (`GET /ui`): static, no external assets.
const UI_PAGE: &str = include_str!("ui.html");

fn ui(method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed("GET");
    }
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(UI_PAGE) };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    resp
}

/// `/metrics`: Prometheus text (see [`crate::metrics`]).
pub fn metrics() -> Response {
    let mut resp = Response::new(Body::from(crate::metrics::render()));
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    resp
}

/// A JSON answer.
pub fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
