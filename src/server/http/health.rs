//! `/health`, `/livez`, `/readyz` and `/version`, as etcd 3.5 answers them.
//!
//! `/health` (GET only): `{"health":"true"}` with 200, else `{"health":"false"}`
//! with 503 (etcd 3.4's body; the reason, as 3.5 would name it, is logged): an
//! active alarm not named by an `?exclude=NAME` parameter (`ALARM NOSPACE`,
//! `ALARM CORRUPT`), no leader (`RAFT NO LEADER`; not checked with
//! `?serializable=true`, as 3.5), or a linearizable read barrier that fails within
//! the request timeout (`RANGE ERROR:…`; skipped with `?serializable=true`).
//!
//! `/livez` and `/readyz` answer `ok` (200) or `… check failed` (503); with `?verbose`
//! every check is listed as `[+]name ok` or `[-]name failed: reason`, and
//! `?exclude=name` leaves a check out. livez: `serializable_read`; readyz:
//! `data_corruption`, `serializable_read`, `linearizable_read`.

use axum::response::Response;
use serde::Serialize;
use tonic::codegen::http::{header, request::Parts, HeaderValue, Method, StatusCode};

use super::{go_error, json, method_not_allowed, Ctx};
use crate::apply::AlarmKind;
use crate::server::{CLUSTER_VERSION, SERVER_VERSION};

/// The query parameters of `req`, decoded (`a=b&c` → `[("a","b"),("c","")]`).
fn query(req: &Parts) -> Vec<(String, String)> {
    let Some(q) = req.uri.query() else { return Vec::new() };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// `%XX` escapes and `+` as space, as a query string is decoded; bad escapes stay.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Serialize)]
struct Health {
    health: &'static str,
}

/// Why this member is not healthy, if it is not.
async fn unhealthy(ctx: &Ctx, excluded: &[String], serializable: bool) -> Option<String> {
    let alarms = ctx.node.state().read().alarms.list(None);
    if let Some((_, kind)) = alarms.iter().find(|(_, kind)| !excluded.iter().any(|e| e == kind.name())) {
        return Some(format!("ALARM {}", kind.name()));
    }
    if !serializable && ctx.node.leader().is_none() {
        return Some("RAFT NO LEADER".to_string());
    }
    if !serializable {
        if let Err(e) = ctx.read_barrier().await {
            return Some(format!("RANGE ERROR:{}", e.message()));
        }
    }
    None
}

/// `GET /health`.
pub async fn health(ctx: &Ctx, req: &Parts) -> Response {
    if req.method != Method::GET {
        return method_not_allowed("GET");
    }
    let params = query(req);
    let excluded: Vec<String> =
        params.iter().filter(|(k, _)| k == "exclude").map(|(_, v)| v.clone()).collect();
    let serializable = params.iter().any(|(k, v)| k == "serializable" && v == "true");
    let health = match unhealthy(ctx, &excluded, serializable).await {
        None => "true",
        Some(reason) => {
            tracing::warn!(reason = %reason, "/health error (status code 503)");
            "false"
        }
    };
    crate::metrics::health_checked(health == "true");
    let body = serde_json::to_string(&Health { health }).unwrap_or_default();
    if health == "true" {
        // Go sniffs the JSON written without a content type as text.
        let mut resp = json(StatusCode::OK, body.into_bytes());
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        resp
    } else {
        go_error(StatusCode::SERVICE_UNAVAILABLE, &body)
    }
}

/// One named check of `/livez` or `/readyz`.
async fn run_check(ctx: &Ctx, name: &str) -> Result<(), String> {
    match name {
        "data_corruption" => {
            if ctx.node.state().read().alarms.any(AlarmKind::Corrupt) {
                Err("alarm activated: CORRUPT".to_string())
            } else {
                Ok(())
            }
        }
        "serializable_read" => Ok(()),
        "linearizable_read" => ctx.read_barrier().await.map_err(|e| e.message().to_string()),
        _ => Ok(()),
    }
}

async fn probe(ctx: &Ctx, req: &Parts, what: &str, checks: &[&str]) -> Response {
    if req.method != Method::GET {
        return method_not_allowed("GET");
    }
    let params = query(req);
    let verbose = params.iter().any(|(k, _)| k == "verbose");
    let excluded: Vec<&str> =
        params.iter().filter(|(k, _)| k == "exclude").map(|(_, v)| v.as_str()).collect();
    let mut lines = String::new();
    let mut failed = false;
    for name in checks {
        if excluded.contains(name) {
            continue;
        }
        match run_check(ctx, name).await {
            Ok(()) => lines.push_str(&format!("[+]{name} ok\n")),
            Err(reason) => {
                failed = true;
                lines.push_str(&format!("[-]{name} failed: {reason}\n"));
            }
        }
    }
    let (status, last) = if failed {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{what} check failed"))
    } else {
        (StatusCode::OK, "ok".to_string())
    };
    let text = if verbose || failed { format!("{lines}{last}") } else { last };
    go_error(status, &text)
}

/// `GET /livez`: the process serves (a local read works).
pub async fn livez(ctx: &Ctx, req: &Parts) -> Response {
    probe(ctx, req, "livez", &["serializable_read"]).await
}

/// `GET /readyz`: no corruption alarm, and reads (linearizable too) are served.
pub async fn readyz(ctx: &Ctx, req: &Parts) -> Response {
    probe(ctx, req, "readyz", &["data_corruption", "serializable_read", "linearizable_read"]).await
}

#[derive(Serialize)]
struct Versions {
    etcdserver: &'static str,
    etcdcluster: String,
}

/// `GET /version`: `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`.
pub fn version(req: &Parts) -> Response {
    if req.method != Method::GET {
        return method_not_allowed("GET");
    }
    let v = Versions { etcdserver: SERVER_VERSION, etcdcluster: format!("{CLUSTER_VERSION}.0") };
    json(StatusCode::OK, serde_json::to_vec(&v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("NO%53PACE"), "NOSPACE");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
    }
}
