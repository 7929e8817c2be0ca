//! gRPC calls with bodies a generated client never sends (bytes that are not
//! protobuf, broken framing), over tonic's HTTP/2 channel without its codec,
//! and the status they get with the size of the metadata it came in.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body as _, Frame};
use tonic::codegen::{Bytes, Service as _};
use tonic::transport::Channel;

/// A request body of exactly these bytes.
struct Once(Option<Bytes>);

impl http_body::Body for Once {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.0.take().map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// One protobuf message framed as gRPC sends it: uncompressed flag, length, bytes.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 5);
    out.push(0);
    let len = u32::try_from(message.len()).expect("a test message is under 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// How a call ended.
#[derive(Debug)]
pub struct Answer {
    pub status: tonic::Status,
    /// Bytes of response headers and trailers (names and values), what a
    /// client's metadata limit is measured against.
    pub metadata_bytes: usize,
}

fn size(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// Calls `path` (`/package.Service/Method`) with `body` as the whole request
/// body, as `token`'s holder, and waits for the call's status.
pub async fn call(mut channel: Channel, path: &str, token: &str, body: Vec<u8>) -> Answer {
    let request = http::Request::post(format!("http://earshot.test{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {token}"))
        .body(tonic::body::Body::new(Once(Some(Bytes::from(body)))))
        .expect("a valid request");
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .expect("the channel connects");
    let response = channel.call(request).await.expect("the call is answered");
    let mut metadata_bytes = size(response.headers());
    // A call that fails before any message is answered trailers-only.
    if let Some(status) = tonic::Status::from_header_map(response.headers()) {
        return Answer {
            status,
            metadata_bytes,
        };
    }
    let mut body = response.into_body();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    metadata_bytes += size(trailers);
                    let status = tonic::Status::from_header_map(trailers)
                        .expect("the trailers carry a status");
                    return Answer {
                        status,
                        metadata_bytes,
                    };
                }
            }
            Some(Err(e)) => panic!("the response body failed: {e}"),
            None => panic!("the response ended without a status"),
        }
    }
}
