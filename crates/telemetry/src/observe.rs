use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Request, Response};
use tower::{Layer, Service};
use tracing::Instrument;

use crate::{Metrics, semconv};

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
fn grpc_code<B>(response: &Response<B>) -> tonic::Code {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .unwrap_or(0);
    tonic::Code::from_i32(code)
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
        let method = semconv::method(request.uri().path()).to_owned();
        let request_id = request
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        // The semantic conventions' server span (see `semconv`); `otel.*`
        // fields set the exported span's name, kind and status.
        let span = tracing::info_span!(
            "rpc",
            otel.name = %method,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            rpc.system.name = semconv::RPC_SYSTEM,
            rpc.method = %method,
            rpc.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
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
                // A transport failure never reached a handler: the server's fault.
                let code = result.as_ref().map_or(tonic::Code::Unavailable, grpc_code);
                let status_code = semconv::status_code(code);
                let current = tracing::Span::current();
                current.record("rpc.response.status_code", status_code);
                if semconv::is_server_error(code) {
                    current.record("error.type", status_code);
                    current.record("otel.status_code", "ERROR");
                }
                // Unknown paths all count as one method.
                let method = if code == tonic::Code::Unimplemented {
                    semconv::OTHER_METHOD
                } else {
                    method.as_str()
                };
                metrics
                    .rpc_server_call_duration
                    .with_label_values(&[semconv::RPC_SYSTEM, method, status_code])
                    .observe(elapsed.as_secs_f64());
                tracing::debug!(elapsed_ms = elapsed.as_secs_f64() * 1e3, "rpc done");
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tower::{ServiceExt, service_fn};

    use super::*;

    async fn call(metrics: &Metrics, path: &str, grpc_status: Option<&str>) {
        let status = grpc_status.map(str::to_owned);
        let inner = service_fn(move |_: Request<()>| {
            let mut response = Response::new(());
            if let Some(code) = &status {
                response
                    .headers_mut()
                    .insert("grpc-status", code.parse().expect("a header value"));
            }
            async move { Ok::<_, Infallible>(response) }
        });
        let service = RpcObserveLayer::new(metrics.clone()).layer(inner);
        let request = Request::builder().uri(path).body(()).expect("a request");
        service.oneshot(request).await.expect("answered");
    }

    #[tokio::test]
    async fn calls_are_measured_under_the_semantic_conventions_names() {
        let metrics = Metrics::new("case");
        call(&metrics, "/earshot.case.v1.CaseService/GetCase", None).await;
        call(&metrics, "/earshot.case.v1.CaseService/GetCase", Some("5")).await;
        call(&metrics, "/no.such.Service/Probe1", Some("12")).await;
        call(&metrics, "/no.such.Service/Probe2", Some("12")).await;
        let text = metrics.render();
        for line in [
            "rpc_server_call_duration_seconds_count{rpc_method=\"earshot.case.v1.CaseService/GetCase\",\
             rpc_response_status_code=\"OK\",rpc_system_name=\"grpc\",service=\"case\"} 1",
            "rpc_server_call_duration_seconds_count{rpc_method=\"earshot.case.v1.CaseService/GetCase\",\
             rpc_response_status_code=\"NOT_FOUND\",rpc_system_name=\"grpc\",service=\"case\"} 1",
            "rpc_server_call_duration_seconds_count{rpc_method=\"_OTHER\",\
             rpc_response_status_code=\"UNIMPLEMENTED\",rpc_system_name=\"grpc\",service=\"case\"} 2",
        ] {
            assert!(text.contains(line), "{line}\nnot in\n{text}");
        }
        assert!(!text.contains("Probe"), "unknown paths are not labels");
    }
}
