//! [`GrpcLayer`]: a tower layer around tonic's router that records the gRPC metrics
//! of [`super::grpc`] for every call (real build only: the simulated tonic has no
//! HTTP layer to wrap).
//!
//! A call's life as the layer sees it:
//! - its request headers reach [`GrpcMetrics::call`]: `grpc_server_started_total`;
//! - its request body is read by tonic: messages and bytes received;
//! - the response comes back. Its code is known then if tonic answered
//!   "trailers-only" (a handler's error: `grpc-status` in the headers, empty body);
//! - otherwise the response body streams: messages and bytes sent; the trailers carry
//!   `grpc-status`, which ends the call: `grpc_server_handled_total{grpc_code}`;
//! - a call whose response future or body is dropped before any status (the client
//!   reset the stream or went away: a watch closed by its client) ends Canceled, as
//!   gRPC-Go's server reports a handler whose context was canceled.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::grpc::{self, Direction, FrameCounter, CODE_CANCELED, CODE_UNKNOWN};

/// Wrap the client port's whole service with it: `Server::builder().layer(metrics::GrpcLayer)`.
/// Outside the router rather than on its routes: a layer on axum's routes boxes every
/// request and response body once more (measured: ~2.7 µs more server CPU per
/// serializable range, 12%). Requests that are not gRPC calls (the HTTP face) pass
/// through uncounted.
#[derive(Clone, Copy, Debug, Default)]
pub struct GrpcLayer;

impl<S> tower::Layer<S> for GrpcLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> GrpcMetrics<S> {
        GrpcMetrics { inner }
    }
}

/// The service [`GrpcLayer`] makes.
#[derive(Clone, Debug)]
pub struct GrpcMetrics<S> {
    inner: S,
}

/// The `grpc-status` of a header or trailer map, as a code number.
fn status_in(headers: &http::HeaderMap) -> Option<usize> {
    headers.get("grpc-status").map(|v| grpc::code_of(v.as_bytes()))
}

/// One call of a known method, until its status is recorded (by [`Call::finish`],
/// or as Canceled when dropped before).
#[derive(Debug)]
struct Call {
    method: usize,
    /// When it started, if handling times are recorded (`--metrics extensive`).
    start: Option<tokio::time::Instant>,
    open: bool,
}

impl Call {
    fn start(method: usize) -> Call {
        grpc::started(method);
        let start = super::is_extensive().then(tokio::time::Instant::now);
        Call { method, start, open: true }
    }

    fn finish(&mut self, code: usize) {
        if std::mem::replace(&mut self.open, false) {
            grpc::handled(self.method, code, self.start.map(|s| s.elapsed()));
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CODE_CANCELED);
    }
}

impl<S, B, RB> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<CountedBody<B>>, Response = http::Response<RB>>,
{
    type Response = http::Response<CountedBody<RB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = grpc::method_index(req.uri().path());
        // A call of a method we do not serve still moves gRPC bytes; HTTP does not.
        let counted = method.is_some() || is_grpc(req.headers());
        let call = method.map(Call::start);
        let req = req.map(|body| CountedBody::new(body, Direction::Received, method, None, counted));
        ResponseFuture { inner: self.inner.call(req), method, call, counted }
    }
}

pin_project! {
    /// The response of a [`GrpcMetrics`] call.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        method: Option<usize>,
        call: Option<Call>,
        counted: bool,
    }
}

/// Whether a request is a gRPC call (`content-type: application/grpc[+proto…]`).
fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<CountedBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                // Trailers-only: the status is all there is.
                if let (Some(code), Some(c)) = (status_in(response.headers()), call.as_mut()) {
                    c.finish(code);
                }
                let (method, counted) = (*this.method, *this.counted);
                Ok(response.map(|body| CountedBody::new(body, Direction::Sent, method, call, counted)))
            }
            Err(e) => {
                if let Some(c) = call.as_mut() {
                    c.finish(CODE_UNKNOWN);
                }
                Err(e)
            }
        })
    }
}

pin_project! {
    /// A request or response body whose gRPC messages and bytes are counted; a
    /// response body also ends its call when its trailers pass.
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        direction: Direction,
        method: Option<usize>,
        frames: FrameCounter,
        call: Option<Call>,
        // False for HTTP that is not gRPC: passed through, nothing counted.
        counted: bool,
    }
}

impl<B> CountedBody<B> {
    fn new(inner: B, direction: Direction, method: Option<usize>, call: Option<Call>, counted: bool) -> Self {
        CountedBody { inner, direction, method, frames: FrameCounter::default(), call, counted }
    }
}

impl<B> Body for CountedBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = ready!(this.inner.poll_frame(cx));
        if !*this.counted {
            return Poll::Ready(polled);
        }
        let ended = match &polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let n = this.frames.feed(data);
                    grpc::transferred(*this.direction, *this.method, n.messages, n.payload_bytes);
                    None
                } else {
                    frame.trailers_ref().map(|t| status_in(t).unwrap_or(CODE_UNKNOWN))
                }
            }
            Some(Err(_)) => Some(CODE_UNKNOWN),
            // The end without trailers: no status was sent.
            None => Some(CODE_UNKNOWN),
        };
        if let (Some(code), Some(call)) = (ended, this.call.as_mut()) {
            call.finish(code);
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
