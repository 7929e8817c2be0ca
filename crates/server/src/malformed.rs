//! A request that does not decode is the caller's mistake: `INVALID_ARGUMENT`
//! without the decoder's text. tonic answers it `INTERNAL` (as gRPC's
//! status-code guide has it for a parse error) with its own framing message
//! ("protocol error: received message with invalid compression flag …",
//! "Unexpected EOF decoding stream.") or prost's ("failed to decode Protobuf
//! message: invalid wire type …"), which tells a caller to page someone and
//! tells an attacker about our decoder. The contracts' codec
//! (`earshot_proto::codec`) already answers a message that does not decode
//! as protobuf; the framing around it is read by tonic before any codec, and
//! health and reflection use tonic's own codec, so those are rewritten here.
//!
//! The statuses are rewritten on the way out, where tonic puts them: in the
//! headers of a trailers-only answer (a unary or server-streaming call, whose
//! request is decoded before the handler runs) and in the trailers of a
//! stream (a client-streaming handler meets the bad message mid-stream and
//! ends the call with the decoder's status).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use tonic::Code;
use tower::{Layer, Service};

/// What a caller is told about a body that does not decode, as the codec says it.
pub use earshot_proto::codec::MALFORMED;

/// The starts of the messages tonic and prost give a request that does not
/// decode: the protobuf itself, the gRPC framing, compression, and a body
/// that ends early or holds no message.
const DECODE_ERRORS: [&str; 5] = [
    "failed to decode Protobuf message",
    "protocol error: received message with",
    "Unexpected EOF decoding stream",
    "Missing request message",
    "Error decompressing",
];

/// Rewrites a decoding `INTERNAL` in `headers` (a response's or its
/// trailers) into `INVALID_ARGUMENT`; anything else is left alone.
fn rewrite(headers: &mut HeaderMap) {
    if headers.get("grpc-status").map(|v| v.as_bytes()) != Some(b"13")
        // Decoder statuses carry no details; a status with details is ours.
        || headers.contains_key("grpc-status-details-bin")
    {
        return;
    }
    let Some(status) = tonic::Status::from_header_map(headers) else {
        return;
    };
    if status.code() != Code::Internal
        || !DECODE_ERRORS
            .iter()
            .any(|start| status.message().starts_with(start))
    {
        return;
    }
    // The decoder's words go to our logs, never to the caller.
    tracing::info!(error = status.message(), "malformed request");
    headers.remove("grpc-message");
    if tonic::Status::invalid_argument(MALFORMED)
        .add_header(headers)
        .is_err()
    {
        // Our own constant message always encodes; keep the code right regardless.
        headers.insert("grpc-status", http::HeaderValue::from_static("3"));
    }
}

#[derive(Clone, Copy, Default)]
pub struct MalformedRequestLayer;

impl<S> Layer<S> for MalformedRequestLayer {
    type Service = MalformedRequest<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MalformedRequest { inner }
    }
}

#[derive(Clone)]
pub struct MalformedRequest<S> {
    inner: S,
}

/// A response body whose trailers get the same rewriting.
pub struct Rewritten<B> {
    inner: B,
}

impl<B> http_body::Body for Rewritten<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let mut polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &mut polled
            && let Some(trailers) = frame.trailers_mut()
        {
            rewrite(trailers);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MalformedRequest<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<Rewritten<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            rewrite(response.headers_mut());
            Ok(response.map(|inner| Rewritten { inner }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(status: tonic::Status) -> HeaderMap {
        let mut headers = HeaderMap::new();
        status.add_header(&mut headers).expect("encodes");
        headers
    }

    #[test]
    fn decoder_errors_become_invalid_argument_without_their_text() {
        for message in [
            "failed to decode Protobuf message: IngestMentionsRequest.mentions: invalid wire type: LengthDelimited (expected Varint)",
            "protocol error: received message with invalid compression flag: 7 (valid flags are 0 and 1), while sending request",
            "Unexpected EOF decoding stream.",
            "Missing request message.",
        ] {
            let mut headers = headers_of(tonic::Status::internal(message));
            rewrite(&mut headers);
            let status = tonic::Status::from_header_map(&headers).expect("a status");
            assert_eq!(status.code(), Code::InvalidArgument, "{message}");
            assert_eq!(status.message(), MALFORMED);
        }
    }

    #[test]
    fn other_statuses_are_left_alone() {
        for status in [
            tonic::Status::internal("internal error"),
            tonic::Status::invalid_argument("failed to decode Protobuf message: ours"),
            tonic::Status::unavailable("the database is unavailable; retry with backoff"),
        ] {
            let before = headers_of(status);
            let mut after = before.clone();
            rewrite(&mut after);
            assert_eq!(before, after);
        }
    }
}
