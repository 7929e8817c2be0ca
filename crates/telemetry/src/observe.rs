use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::Metrics;

/// Header a caller may set to correlate its logs with ours.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Outermost layer of every service: opens the RPC span and records metrics.
#[derive(Clone)]
pub struct RpcObserveLayer {
    metrics: Metrics,
}

impl RpcObserveLayer {
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for RpcObserveLayer {
    type Service = RpcObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcObserveService {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcObserveService<S> {
    inner: S,
    metrics: Metrics,
}

/// gRPC puts the status of a failed call in the headers (trailers-only
/// response); a call whose headers carry none succeeded or failed mid-stream,
/// which we count as OK here.
fn grpc_code<B>(response: &Response<B>) -> String {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    format!("{:?}", tonic::Code::from_i32(code))
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RpcObserveService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = request.uri().path().to_owned();
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let span = tracing::info_span!(
            "rpc",
            method = %method,
            request_id = %request_id,
            tenant = tracing::field::Empty,
        );
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Inner layers (auth) record the tenant on the current span while called.
        let future = span.in_scope(|| inner.call(request));
        let metrics = self.metrics.clone();
        let started = Instant::now();
        Box::pin(
            async move {
                let result = future.await;
                let elapsed = started.elapsed();
                let code = match &result {
                    Ok(response) => grpc_code(response),
                    Err(_) => "Transport".to_owned(),
                };
                metrics
                    .rpc_requests
                    .with_label_values(&[method.as_str(), code.as_str()])
                    .inc();
                metrics
                    .rpc_duration
                    .with_label_values(&[method.as_str()])
                    .observe(elapsed.as_secs_f64());
                tracing::debug!(code = %code, elapsed_ms = elapsed.as_secs_f64() * 1e3, "rpc done");
                result
            }
            .instrument(span),
        )
    }
}
