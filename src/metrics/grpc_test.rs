//! The method table against the .proto files, the message counter against any
//! chunking, and (real build) the layer against the three ways a call ends.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::grpc::{self, code_of, method_index, FrameCounter, GrpcType, METHODS};

/// Every rpc of the client port's .proto files: (service, method, type).
fn proto_methods() -> BTreeSet<(String, String, GrpcType)> {
    let files = [
        include_str!("../../proto/etcdserverpb/rpc.proto"),
        include_str!("../../proto/v3lock/v3lock.proto"),
        include_str!("../../proto/v3election/v3election.proto"),
    ];
    let mut out = BTreeSet::new();
    for text in files {
        let (mut package, mut service) = (String::new(), String::new());
        for line in text.lines().map(str::trim) {
            if let Some(p) = line.strip_prefix("package ") {
                package = p.trim_end_matches(';').to_string();
            } else if let Some(s) = line.strip_prefix("service ") {
                service = s.trim_end_matches('{').trim().to_string();
            } else if let Some(rpc) = line.strip_prefix("rpc ") {
                let (name, rest) = rpc.split_once('(').unwrap();
                let (request, response) = rest.split_once("returns").unwrap();
                let kind = match (request.trim_start().starts_with("stream "), response.contains("(stream "))
                {
                    (false, false) => GrpcType::Unary,
                    (true, false) => GrpcType::ClientStream,
                    (false, true) => GrpcType::ServerStream,
                    (true, true) => GrpcType::BidiStream,
                };
                out.insert((format!("{package}.{service}"), name.trim().to_string(), kind));
            }
        }
    }
    out
}

#[test]
fn the_table_is_the_protos_sorted_by_path() {
    let table: BTreeSet<_> =
        METHODS.iter().map(|m| (m.service.to_string(), m.name.to_string(), m.kind)).collect();
    assert_eq!(table, proto_methods());
    assert!(METHODS.windows(2).all(|w| w[0].path < w[1].path), "sorted and unique by path");
    for (i, m) in METHODS.iter().enumerate() {
        assert_eq!(m.path, format!("/{}/{}", m.service, m.name));
        assert_eq!(method_index(m.path), Some(i));
    }
    assert_eq!(method_index("/etcdserverpb.KV/Nope"), None);
    assert_eq!(method_index("/grpc.health.v1.Health/Check"), None);
}

#[test]
fn status_codes_by_number() {
    assert_eq!(grpc::CODE_NAMES[code_of(b"0")], "OK");
    assert_eq!(grpc::CODE_NAMES[code_of(b"1")], "Canceled");
    assert_eq!(grpc::CODE_NAMES[code_of(b"16")], "Unauthenticated");
    assert_eq!(grpc::CODE_NAMES[code_of(b"17")], "Unknown");
    assert_eq!(grpc::CODE_NAMES[code_of(b"x")], "Unknown");
}

/// gRPC's length-prefixed framing of `payloads`.
fn framed(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in payloads {
        out.push(0);
        out.extend_from_slice(&(p.len() as u32).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

proptest! {
    #[test]
    fn messages_are_counted_however_the_frames_split(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let bytes = framed(&payloads);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.extend([0, bytes.len()]);
        at.sort();
        let mut counter = FrameCounter::default();
        let (mut messages, mut payload_bytes) = (0, 0);
        for w in at.windows(2) {
            let n = counter.feed(&bytes[w[0]..w[1]]);
            messages += n.messages;
            payload_bytes += n.payload_bytes;
        }
        prop_assert_eq!(messages, payloads.len() as u64);
        prop_assert_eq!(payload_bytes, payloads.iter().map(|p| p.len() as u64).sum::<u64>());
        prop_assert_eq!(counter, FrameCounter::default(), "ends between messages");
    }
}

#[cfg(not(madsim))]
mod layer {
    use std::convert::Infallible;
    use std::sync::atomic::Ordering;

    use bytes::Bytes;
    use futures::executor::block_on;
    use futures::stream::{self, BoxStream, StreamExt};
    use http_body::Frame;
    use http_body_util::{BodyExt, StreamBody};
    use tower::{Layer, Service};

    use super::super::grpc::{self, method_index, CALLS, CODE_NAMES};
    use super::super::{CountedBody, GrpcLayer};
    use super::framed;
    use crate::proto::v3lockpb::lock_server::{Lock, LockServer};
    use crate::proto::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

    type TestBody = StreamBody<BoxStream<'static, Result<Frame<Bytes>, Infallible>>>;

    /// A body of `frames`, then (if `hang`) never ending.
    fn body(frames: Vec<Frame<Bytes>>, hang: bool) -> TestBody {
        let frames = stream::iter(frames.into_iter().map(Ok));
        StreamBody::new(if hang { frames.chain(stream::pending()).boxed() } else { frames.boxed() })
    }

    fn message(payload: &[u8]) -> Frame<Bytes> {
        Frame::data(Bytes::from(framed(&[payload.to_vec()])))
    }

    fn status(code: u8) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("grpc-status", http::HeaderValue::from(u16::from(code)));
        h
    }

    /// Call a one-shot service answering `response` through the layer, as tonic's
    /// router would: the request body is read first.
    fn call(
        path: &str,
        request: TestBody,
        response: http::Response<TestBody>,
    ) -> http::Response<CountedBody<TestBody>> {
        let mut response = Some(response);
        let inner = tower::service_fn(move |req: http::Request<CountedBody<TestBody>>| {
            let response = response.take().expect("one call");
            async move {
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(response)
            }
        });
        let mut svc = GrpcLayer.layer(inner);
        let req = http::Request::post(path).header("content-type", "application/grpc").body(request).unwrap();
        block_on(svc.call(req)).unwrap()
    }

    /// (started, received, sent, handled by code) of the method at `path`.
    fn counts(path: &str) -> (u64, u64, u64, Vec<u64>) {
        let c = &CALLS[method_index(path).unwrap()];
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        (load(&c.started), load(&c.msg_received), load(&c.msg_sent), c.handled.iter().map(load).collect())
    }

    fn code(name: &str) -> usize {
        CODE_NAMES.iter().position(|n| *n == name).unwrap()
    }

    #[test]
    fn a_unary_call_that_succeeds() {
        let path = "/etcdserverpb.Maintenance/Downgrade";
        let (s0, r0, t0, h0) = counts(path);
        let (sent0, received0) =
            (grpc::SENT_BYTES.load(Ordering::Relaxed), grpc::RECEIVED_BYTES.load(Ordering::Relaxed));
        let response = http::Response::new(body(vec![message(b"answer"), Frame::trailers(status(0))], false));
        let resp = call(path, body(vec![message(b"question")], false), response);
        let (s1, r1, t1, h1) = counts(path);
        assert_eq!((s1 - s0, r1 - r0, t1 - t0), (1, 1, 0), "sent once the body is read");
        assert_eq!(h1, h0, "not handled before its trailers");
        let collected = block_on(resp.into_body().collect()).unwrap();
        assert_eq!(collected.trailers().and_then(|t| t.get("grpc-status")).unwrap(), "0");
        let (_, _, t2, h2) = counts(path);
        assert_eq!(t2 - t0, 1);
        assert_eq!(h2[code("OK")] - h0[code("OK")], 1);
        assert_eq!(h2.iter().sum::<u64>() - h0.iter().sum::<u64>(), 1);
        assert!(grpc::SENT_BYTES.load(Ordering::Relaxed) >= sent0 + 6);
        assert!(grpc::RECEIVED_BYTES.load(Ordering::Relaxed) >= received0 + 8);
    }

    /// HTTP that is not gRPC (the gateway, probes) passes through uncounted, even when
    /// its bytes look like gRPC frames: 8 MiB of framed messages posted to a path
    /// that names no method, without gRPC's content type, and answered alike. Other
    /// tests move the byte counters concurrently, by far less than this.
    #[test]
    fn plain_http_passes_uncounted() {
        let big = framed(&vec![vec![7u8; 1 << 20]; 8]);
        let (sent0, received0) =
            (grpc::SENT_BYTES.load(Ordering::Relaxed), grpc::RECEIVED_BYTES.load(Ordering::Relaxed));
        let answer = http::Response::new(body(vec![Frame::data(Bytes::from(big.clone()))], false));
        let mut answer = Some(answer);
        let inner = tower::service_fn(move |req: http::Request<CountedBody<TestBody>>| {
            let answer = answer.take().expect("one call");
            async move {
                let _ = req.into_body().collect().await;
                Ok::<_, Infallible>(answer)
            }
        });
        let req = http::Request::post("/v3/kv/put")
            .header("content-type", "application/json")
            .body(body(vec![Frame::data(Bytes::from(big.clone()))], false))
            .unwrap();
        let resp = block_on(GrpcLayer.layer(inner).call(req)).unwrap();
        let collected = block_on(resp.into_body().collect()).unwrap().to_bytes();
        assert_eq!(collected.len(), big.len(), "the body passes whole");
        let sent = grpc::SENT_BYTES.load(Ordering::Relaxed) - sent0;
        let received = grpc::RECEIVED_BYTES.load(Ordering::Relaxed) - received0;
        assert!(sent < 1 << 20 && received < 1 << 20, "counted {sent} sent, {received} received");
    }

    #[test]
    fn a_unary_error_is_handled_at_its_trailers_only_response() {
        let path = "/etcdserverpb.Auth/RoleRevokePermission";
        let (s0, _, t0, h0) = counts(path);
        let mut response = http::Response::new(body(vec![], false));
        *response.headers_mut() = status(5);
        let resp = call(path, body(vec![message(b"q")], false), response);
        let (s1, _, t1, h1) = counts(path);
        assert_eq!((s1 - s0, t1 - t0), (1, 0));
        assert_eq!(h1[code("NotFound")] - h0[code("NotFound")], 1, "before the body is polled");
        drop(resp);
        assert_eq!(counts(path).3, h1, "dropping the empty body changes nothing");
    }

    #[test]
    fn a_stream_the_client_leaves_is_canceled() {
        let path = "/v3electionpb.Election/Observe";
        let (_, _, t0, h0) = counts(path);
        let response = http::Response::new(body(vec![message(b"leader")], true));
        let mut resp = call(path, body(vec![message(b"q")], false), response);
        let frame = block_on(resp.body_mut().frame()).unwrap().unwrap();
        assert!(frame.is_data());
        let (_, _, t1, h1) = counts(path);
        assert_eq!((t1 - t0, h1.iter().sum::<u64>() - h0.iter().sum::<u64>()), (1, 0), "still open");
        drop(resp); // the client reset the stream: hyper drops the body
        assert_eq!(counts(path).3[code("Canceled")] - h0[code("Canceled")], 1);
    }

    #[test]
    fn an_unknown_path_counts_only_bytes() {
        let before: Vec<u64> = CALLS.iter().map(|c| c.started.load(Ordering::Relaxed)).collect();
        let received0 = grpc::RECEIVED_BYTES.load(Ordering::Relaxed);
        let mut response = http::Response::new(body(vec![], false));
        *response.headers_mut() = status(12);
        drop(call("/grpc.health.v1.Health/Check", body(vec![message(b"12345")], false), response));
        let after: Vec<u64> = CALLS.iter().map(|c| c.started.load(Ordering::Relaxed)).collect();
        assert!(after.iter().zip(&before).all(|(a, b)| a >= b));
        assert!(grpc::RECEIVED_BYTES.load(Ordering::Relaxed) >= received0 + 5);
    }

    /// The layer also fits `axum::Router::layer` (a router of an embedder's own) and
    /// sees the calls there; the client port wraps its whole service instead.
    #[test]
    fn it_wraps_an_axum_router() {
        use tower::ServiceExt;
        let path = "/etcdserverpb.Cluster/MemberPromote";
        let (s0, _, _, h0) = counts(path);
        let grpc = axum::Router::new()
            .route(
                path,
                axum::routing::post(|| async {
                    let mut resp = http::Response::new(axum::body::Body::empty());
                    *resp.headers_mut() = status(9);
                    resp
                }),
            )
            .layer(GrpcLayer);
        let req = http::Request::post(path).body(axum::body::Body::empty()).unwrap();
        let resp = block_on(grpc.oneshot(req)).unwrap();
        assert_eq!(resp.headers().get("grpc-status").unwrap(), "9");
        let (s1, _, _, h1) = counts(path);
        assert_eq!(s1 - s0, 1);
        assert_eq!(h1[code("FailedPrecondition")] - h0[code("FailedPrecondition")], 1);
    }

    /// A stand-in Lock service: Lock answers, Unlock fails.
    struct Locks;

    #[tonic::async_trait]
    impl Lock for Locks {
        async fn lock(
            &self,
            _: tonic::Request<LockRequest>,
        ) -> Result<tonic::Response<LockResponse>, tonic::Status> {
            Ok(tonic::Response::new(LockResponse { header: None, key: b"lock/1".to_vec() }))
        }

        async fn unlock(
            &self,
            _: tonic::Request<UnlockRequest>,
        ) -> Result<tonic::Response<UnlockResponse>, tonic::Status> {
            Err(tonic::Status::not_found("no such lock"))
        }
    }

    /// Exactly as the client port is built (`server::serve`): tonic's routes as an axum
    /// router with the HTTP face as its fallback, the layer around the whole. Real
    /// tonic answers: a success streams its message then `grpc-status: 0` trailers, a
    /// failure is trailers-only; plain HTTP reaches the fallback as before.
    #[tokio::test]
    async fn on_tonics_routes_as_the_client_port_builds_them() {
        use prost::Message;
        use tower::{Layer, ServiceExt};
        let routes = tonic::service::Routes::new(LockServer::new(Locks)).into_axum_router();
        let app = GrpcLayer.layer(routes.fallback(|| async { "not gRPC" }));
        let grpc_call = |path: &str, message: Vec<u8>| {
            http::Request::post(path)
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(axum::body::Body::from(framed(&[message])))
                .unwrap()
        };
        let (lock, unlock) = ("/v3lockpb.Lock/Lock", "/v3lockpb.Lock/Unlock");
        let ((l0, lr0, ls0, lh0), (u0, _, _, uh0)) = (counts(lock), counts(unlock));
        let sent0 = grpc::SENT_BYTES.load(Ordering::Relaxed);

        let request = LockRequest { name: b"lock".to_vec(), lease: 0 }.encode_to_vec();
        let resp = app.clone().oneshot(grpc_call(lock, request)).await.unwrap();
        let collected = resp.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().and_then(|t| t.get("grpc-status")).unwrap(), "0");
        let (l1, lr1, ls1, lh1) = counts(lock);
        assert_eq!((l1 - l0, lr1 - lr0, ls1 - ls0), (1, 1, 1));
        assert_eq!(lh1[code("OK")] - lh0[code("OK")], 1);
        let answer = LockResponse { header: None, key: b"lock/1".to_vec() }.encoded_len() as u64;
        assert!(grpc::SENT_BYTES.load(Ordering::Relaxed) >= sent0 + answer);

        let request = UnlockRequest { key: b"lock/1".to_vec() }.encode_to_vec();
        let resp = app.clone().oneshot(grpc_call(unlock, request)).await.unwrap();
        assert_eq!(resp.headers().get("grpc-status").unwrap(), "5", "trailers-only");
        drop(resp);
        let (u1, _, _, uh1) = counts(unlock);
        assert_eq!((u1 - u0, uh1[code("NotFound")] - uh0[code("NotFound")]), (1, 1));

        let plain = http::Request::get("/health").body(axum::body::Body::empty()).unwrap();
        let resp = app.oneshot(plain).await.unwrap();
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes(),
            "not gRPC",
            "the fallback is untouched"
        );
    }

    #[test]
    fn the_rendered_text_shows_the_calls_as_etcd_does() {
        let path = "/etcdserverpb.Watch/Watch";
        let response = http::Response::new(body(vec![message(b"w")], true));
        drop(call(path, body(vec![message(b"create")], false), response));
        let text = super::super::render();
        let scrape = super::super::metrics_test::parse(&text);
        let labels =
            [("grpc_method", "Watch"), ("grpc_service", "etcdserverpb.Watch"), ("grpc_type", "bidi_stream")];
        let canceled = [labels.as_slice(), &[("grpc_code", "Canceled")]].concat();
        let value =
            |name: &str, l: &[(&str, &str)]| super::super::metrics_test::value(&scrape, name, l).unwrap();
        assert!(value("grpc_server_handled_total", &canceled) >= 1.0);
        assert!(value("grpc_server_started_total", &labels) >= 1.0);
        assert!(value("grpc_server_msg_received_total", &labels) >= 1.0);
        assert!(text.contains(
            "\ngrpc_server_handled_total{grpc_code=\"Canceled\",grpc_method=\"Watch\",\
             grpc_service=\"etcdserverpb.Watch\",grpc_type=\"bidi_stream\"} "
        ));
        let zero = "\ngrpc_server_handled_total{grpc_code=\"DataLoss\",grpc_method=\"Unlock\",\
                    grpc_service=\"v3lockpb.Lock\",grpc_type=\"unary\"} 0\n";
        assert!(text.contains(zero), "every method and code, zeros included");
    }
}
