//! etcd's answer to a gRPC message over the server's receive limit
//! (`--max-request-bytes` + 512 KiB). etcd's grpc-go refuses it with
//! `ResourceExhausted` and "grpc: received message larger than max (N vs. M)"; tonic
//! refuses it with `OutOfRange` and "Error, decoded message length too large: found N
//! bytes, the limit is: M bytes". [`EtcdOversize`] wraps a generated service and
//! rewrites the latter status into the former, so clients see etcd's code and text.
//!
//! tonic answers a request it cannot decode with a trailers-only response (the status
//! in the response headers), which is where the rewrite looks. Real tonic only: the
//! simulator's transport has no message limit.

use std::convert::Infallible;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;

/// A generated gRPC service whose oversized-request status is etcd's.
#[derive(Clone, Debug)]
pub struct EtcdOversize<S>(pub S);

impl<S: NamedService> NamedService for EtcdOversize<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for EtcdOversize<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let response = self.0.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(response.headers_mut());
            Ok(response)
        })
    }
}

/// Rewrite tonic's oversized-message status in `headers`, if that is what they hold.
pub fn rewrite(headers: &mut http::HeaderMap) {
    let Some(status) = tonic::Status::from_header_map(headers) else { return };
    if status.code() != tonic::Code::OutOfRange {
        return;
    }
    let Some(message) = etcd_message(status.message()) else { return };
    // `add_header` only fails on a message that is not a valid header value; ours is.
    let _ = tonic::Status::resource_exhausted(message).add_header(headers);
}

/// grpc-go's message for tonic's "Error, decoded message length too large: found N
/// bytes, the limit is: M bytes"; None for any other message.
pub fn etcd_message(tonic_message: &str) -> Option<String> {
    let rest = tonic_message.strip_prefix("Error, decoded message length too large: found ")?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    let (found, limit): (u64, u64) = (found.parse().ok()?, limit.parse().ok()?);
    Some(format!("grpc: received message larger than max ({found} vs. {limit})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_oversize_status_becomes_etcds() {
        let mut headers = http::HeaderMap::new();
        tonic::Status::out_of_range(
            "Error, decoded message length too large: found 525419 bytes, the limit is: 525312 bytes",
        )
        .add_header(&mut headers)
        .unwrap();
        rewrite(&mut headers);
        let status = tonic::Status::from_header_map(&headers).unwrap();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(status.message(), "grpc: received message larger than max (525419 vs. 525312)");
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for status in [
            tonic::Status::out_of_range("etcdserver: mvcc: required revision is a future revision"),
            tonic::Status::invalid_argument(
                "Error, decoded message length too large: found 5 bytes, the limit is: 4 bytes",
            ),
            tonic::Status::out_of_range("Error, decoded message length too large: found x bytes"),
        ] {
            let mut headers = http::HeaderMap::new();
            status.add_header(&mut headers).unwrap();
            let before = headers.clone();
            rewrite(&mut headers);
            assert_eq!(headers, before);
        }
        let mut empty = http::HeaderMap::new();
        rewrite(&mut empty);
        assert!(empty.is_empty());
    }
}
