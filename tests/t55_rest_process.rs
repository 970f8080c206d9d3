//! The REST face (`/kv/…`, `/members`) on a real 3-member cluster, with a plain
//! HTTP/1.1 client as curl would use it:
//!
//! - a value written on one member reads back raw on the others, with its revisions in
//!   `ETag` / `X-Etcd-*`; percent-encoded keys; `?rev=` history; 404s;
//! - compare-and-swap: eight writers race with the same `If-Match` through all three
//!   members, exactly one wins and the others get 412; `If-None-Match: *` creates once;
//! - `?list` pages (limit, next) add up to every key; `DELETE ?prefix`; `?ttl=` leases;
//! - a Server-Sent Events watch on one member sees a write made through the etcd API
//!   on another, in order, with ids that are the mod revisions;
//! - `/members` lists three with one leader; a learner added and removed through it;
//! - bad input (bad percent-encoding, non-numeric revisions, a body past
//!   `--max-request-bytes`, unknown methods, bad member bodies) gets a 4xx JSON error,
//!   and the cluster goes on serving;
//! - with auth enabled: no token is refused, a Bearer token from `/v3/auth/authenticate`
//!   is allowed inside its role's prefix and refused (403) outside it.

#![cfg(not(madsim))]
#![allow(clippy::disallowed_methods)]

mod support;

use std::time::{Duration, Instant};

use etcd_client::Permission;
use support::cluster::{start_cluster, CATCH_UP};
use support::http::{self, Next, Request, Response, Stream};

const CALL: Duration = Duration::from_secs(15);

fn req(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Request {
    let mut r = Request::new(method, path);
    r.headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    r.body = body.map(<[u8]>::to_vec);
    r.no_content_type = true;
    r
}

fn call(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    http::call(port, &req(method, path, headers, body), CALL)
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(r)))
}

/// `ETag: "N"` as N.
fn etag(r: &Response) -> i64 {
    let tag = r.head.header("etag").unwrap_or_else(|| panic!("no ETag: {:?}", r.head.headers));
    tag.trim_matches('"').parse().expect("numeric ETag")
}

/// A 4xx JSON error whose message contains `needle`.
fn assert_error(r: &Response, status: u16, needle: &str) {
    assert_eq!(r.head.status, status, "{}", text(r));
    assert_eq!(r.head.header("content-type").as_deref(), Some("application/json"));
    let body = json(r);
    let msg = body["error"].as_str().unwrap_or_else(|| panic!("no error field: {body}"));
    assert!(msg.contains(needle), "wanted {needle:?} in {msg:?}");
    assert!(body["code"].is_i64(), "no grpc code: {body}");
}

/// Until a linearizable GET on `port` answers 200 (a member catching up).
fn get_eventually(port: u16, path: &str) -> Response {
    let deadline = Instant::now() + CATCH_UP;
    loop {
        let r = call(port, "GET", path, &[], None);
        if r.head.status == 200 || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The next SSE event: (event, id, data), skipping comments.
fn next_event(st: &mut Stream) -> (String, Option<i64>, serde_json::Value) {
    let (mut event, mut id, mut data) = (String::new(), None, serde_json::Value::Null);
    loop {
        let line = match st.next(CALL).expect("sse line") {
            Next::Message(line) => String::from_utf8(line).expect("utf-8 line"),
            Next::End => panic!("the event stream ended"),
        };
        if line.is_empty() {
            if !event.is_empty() {
                return (event, id, data);
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("event: ") {
            event = v.to_string();
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = serde_json::from_str(v).expect("data is JSON");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_on_three_members() {
    let (mut members, _) = start_cluster(&["r1", "r2", "r3"], &[]).await;
    let ports: Vec<u16> = members.iter().map(|m| m.proc.client_port).collect();

    // Write on one member, read raw on the others; the key has a slash and a space.
    let put = call(ports[0], "PUT", "/kv/dir/a%20b", &[], Some(b"hello"));
    assert_eq!(put.head.status, 201, "{}", text(&put));
    let rev1 = etag(&put);
    assert_eq!(json(&put)["revision"], rev1);
    for &p in &ports[1..] {
        let got = get_eventually(p, "/kv/dir/a%20b");
        assert_eq!(got.head.status, 200, "{}", text(&got));
        assert_eq!(got.body, b"hello");
        assert_eq!(etag(&got), rev1);
        assert_eq!(got.head.header("x-etcd-version").as_deref(), Some("1"));
        assert!(got.head.header("x-etcd-revision").unwrap().parse::<i64>().unwrap() >= rev1);
    }
    let again = call(ports[1], "PUT", "/kv/dir/a%20b", &[], Some(b"world"));
    assert_eq!(again.head.status, 200, "an overwrite is not a create: {}", text(&again));
    let old = call(ports[2], "GET", &format!("/kv/dir/a%20b?rev={rev1}"), &[], None);
    assert_eq!(old.body, b"hello", "?rev= reads history");
    assert_error(&call(ports[0], "GET", "/kv/nope", &[], None), 404, "key not found");
    assert_eq!(call(ports[0], "DELETE", "/kv/nope", &[], None).head.status, 404);

    // Compare-and-swap: eight writers, the same If-Match, all three members.
    let base = call(ports[0], "PUT", "/kv/cas", &[], Some(b"v0"));
    let tag = format!("\"{}\"", etag(&base));
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (port, tag) = (ports[i % 3], tag.clone());
            std::thread::spawn(move || {
                let r = call(port, "PUT", "/kv/cas", &[("If-Match", &tag)], Some(format!("w{i}").as_bytes()));
                (i, r)
            })
        })
        .collect();
    let results: Vec<(usize, Response)> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let winners: Vec<usize> = results.iter().filter(|(_, r)| r.head.status == 200).map(|(i, _)| *i).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one CAS wins: {:?}",
        results.iter().map(|(i, r)| (i, r.head.status)).collect::<Vec<_>>()
    );
    for (_, r) in results.iter().filter(|(i, _)| *i != winners[0]) {
        assert_error(r, 412, "precondition failed");
        assert!(json(r)["mod_revision"].as_i64().unwrap() > 0, "a 412 names the current revision");
    }
    let now = get_eventually(ports[2], "/kv/cas");
    assert_eq!(text(&now), format!("w{}", winners[0]));
    // If-None-Match: * creates once; If-Match: * needs the key.
    assert_eq!(call(ports[0], "PUT", "/kv/once", &[("If-None-Match", "*")], Some(b"1")).head.status, 201);
    assert_error(
        &call(ports[1], "PUT", "/kv/once", &[("If-None-Match", "*")], Some(b"2")),
        412,
        "precondition",
    );
    assert_error(&call(ports[1], "PUT", "/kv/absent", &[("If-Match", "*")], Some(b"2")), 412, "precondition");
    // A conditional delete with a stale tag changes nothing.
    assert_error(&call(ports[2], "DELETE", "/kv/cas", &[("If-Match", &tag)], None), 412, "precondition");

    // Pages of a list add up to every key.
    for i in 0..5 {
        assert_eq!(call(ports[i % 3], "PUT", &format!("/kv/list/k{i}"), &[], Some(b"x")).head.status, 201);
    }
    let mut seen = Vec::new();
    let mut path = "/kv/list/?list&limit=2".to_string();
    loop {
        let page = call(ports[1], "GET", &path, &[], None);
        assert_eq!(page.head.status, 200, "{}", text(&page));
        let page = json(&page);
        for kv in page["kvs"].as_array().unwrap() {
            seen.push(kv["key"].as_str().unwrap().to_string());
            assert_eq!(kv["value"], "x");
        }
        match page["next"].as_str() {
            Some(next) if page["more"] == true => {
                let next: String = next.bytes().map(|b| format!("%{b:02X}")).collect();
                path = format!("/kv/list/?list&limit=2&from={next}");
            }
            _ => break,
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("list/k{i}")).collect::<Vec<_>>());
    let del = call(ports[2], "DELETE", "/kv/list/?prefix", &[], None);
    assert_eq!(json(&del)["deleted"], 5, "{}", text(&del));

    // A lease from ?ttl.
    let leased = call(ports[0], "PUT", "/kv/leased?ttl=60", &[], Some(b"x"));
    let lease: i64 = json(&leased)["lease"].as_str().unwrap().parse().unwrap();
    assert!(lease != 0, "{}", text(&leased));
    let got = call(ports[0], "GET", "/kv/leased", &[], None);
    assert_eq!(got.head.header("x-etcd-lease"), Some(lease.to_string()));

    // SSE on member 3 sees writes made through the etcd API on member 1.
    let mut watch =
        Stream::open(ports[2], &req("GET", "/kv/w/?watch&prefix", &[], None), CALL).expect("watch");
    assert_eq!(watch.head(CALL).unwrap().header("content-type").as_deref(), Some("text/event-stream"));
    // The created comment comes first: the watch is in place before the writes.
    match watch.next(CALL).expect("first line") {
        Next::Message(line) => assert!(line.starts_with(b": watching"), "{}", String::from_utf8_lossy(&line)),
        Next::End => panic!("watch ended"),
    }
    let client = &mut members[0].client;
    let r1 = client.put("w/one", "1", None).await.expect("put").header().unwrap().revision();
    let r2 = client.delete("w/one", None).await.expect("delete").header().unwrap().revision();
    let (event, id, data) = next_event(&mut watch);
    assert_eq!((event.as_str(), id), ("put", Some(r1)));
    assert_eq!((data["key"].as_str(), data["value"].as_str()), (Some("w/one"), Some("1")));
    let (event, id, _) = next_event(&mut watch);
    assert_eq!((event.as_str(), id), ("delete", Some(r2)));
    // From a revision: the same history again, then a compacted start is an error event.
    let mut replay =
        Stream::open(ports[1], &req("GET", &format!("/kv/w/one?watch&rev={r1}"), &[], None), CALL)
            .expect("watch from rev");
    assert_eq!(next_event(&mut replay).1, Some(r1));
    client.compact(r2, None).await.expect("compact");
    let mut stale =
        Stream::open(ports[0], &req("GET", "/kv/w/one?watch&rev=2", &[], None), CALL).expect("stale");
    let (event, _, data) = next_event(&mut stale);
    assert_eq!(event, "error");
    assert!(data["error"].as_str().unwrap().contains("compacted"), "{data}");
    assert_eq!(data["compact_revision"], r2);

    // Members: three, one leader; a learner added and removed.
    let list = json(&call(ports[1], "GET", "/members", &[], None));
    let list = list["members"].as_array().unwrap().clone();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|m| m["is_leader"] == true).count(), 1, "{list:?}");
    let spare = support::free_port();
    let body = format!(r#"{{"peer_urls": ["http://127.0.0.1:{spare}"], "is_learner": true}}"#);
    let added = call(ports[2], "POST", "/members", &[], Some(body.as_bytes()));
    assert_eq!(added.head.status, 201, "{}", text(&added));
    let added = json(&added);
    assert_eq!(added["member"]["is_learner"], true);
    assert_eq!(added["members"].as_array().unwrap().len(), 4);
    let id = added["member"]["id"].as_str().unwrap().to_string();
    let removed = call(ports[0], "DELETE", &format!("/members/{id}"), &[], None);
    assert_eq!(removed.head.status, 200, "{}", text(&removed));
    assert_eq!(json(&removed)["members"].as_array().unwrap().len(), 3);

    // Bad input: 4xx JSON, nothing lost, the cluster still serves.
    let p = ports[0];
    assert_error(&call(p, "GET", "/kv/%zz", &[], None), 400, "bad percent-encoding");
    assert_error(&call(p, "GET", "/kv/cas?rev=abc", &[], None), 400, "rev must be a whole number");
    assert_error(&call(p, "GET", "/kv/cas?watch&rev=-3", &[], None), 400, "rev must not be negative");
    assert_error(&call(p, "GET", "/kv/list/?list&limit=x", &[], None), 400, "limit");
    assert_error(&call(p, "PUT", "/kv/cas", &[("If-Match", "soon")], Some(b"z")), 400, "If-Match");
    assert_error(&call(p, "PUT", "/kv/t?ttl=0", &[], Some(b"z")), 400, "ttl");
    assert_error(&call(p, "GET", "/kv/", &[], None), 400, "no key");
    let huge = vec![b'x'; 3 * 1024 * 1024];
    assert_error(&call(p, "PUT", "/kv/huge", &[], Some(&huge)), 413, "--max-request-bytes");
    let post = call(p, "POST", "/kv/cas", &[], Some(b"z"));
    assert_error(&post, 405, "not allowed");
    assert!(post.head.header("allow").unwrap().contains("PUT"));
    assert_error(&call(p, "POST", "/members", &[], Some(b"{")), 400, "not JSON");
    assert_error(&call(p, "POST", "/members", &[], Some(b"{}")), 400, "peer_urls");
    assert_error(&call(p, "DELETE", "/members/xyz", &[], None), 400, "not hex");
    assert_eq!(call(p, "GET", "/kv/huge", &[], None).head.status, 404, "the refused body wrote nothing");
    assert_eq!(text(&call(ports[2], "GET", "/kv/cas", &[], None)), format!("w{}", winners[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_with_auth() {
    let (mut members, _) = start_cluster(&["s1"], &["--bcrypt-cost", "4"]).await;
    let port = members[0].proc.client_port;
    let c = &mut members[0].client;
    c.user_add("root", "rootpw", None).await.expect("root");
    c.user_grant_role("root", "root").await.expect("root role");
    c.user_add("alice", "alicepw", None).await.expect("alice");
    c.role_add("app").await.expect("role");
    c.role_grant_permission("app", Permission::read_write("app/").with_prefix()).await.expect("permission");
    c.user_grant_role("alice", "app").await.expect("grant");
    c.auth_enable().await.expect("auth enable");

    assert_error(&call(port, "PUT", "/kv/app/x", &[], Some(b"1")), 400, "user name is empty");
    let login =
        call(port, "POST", "/v3/auth/authenticate", &[], Some(br#"{"name":"alice","password":"alicepw"}"#));
    assert_eq!(login.head.status, 200, "{}", text(&login));
    let token = json(&login)["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(call(port, "PUT", "/kv/app/x", &auth, Some(b"1")).head.status, 201);
    assert_eq!(call(port, "GET", "/kv/app/x", &auth, None).body, b"1");
    assert_error(&call(port, "PUT", "/kv/other", &auth, Some(b"1")), 403, "permission denied");
    assert_error(&call(port, "GET", "/kv/other", &auth, None), 403, "permission denied");
    let wrong = [("Authorization", "Bearer not-a-token")];
    assert_error(&call(port, "GET", "/kv/app/x", &wrong, None), 401, "invalid auth token");
}
