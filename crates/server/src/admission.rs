//! Admission control: a service works on a bounded number of calls at once
//! and answers the rest `RESOURCE_EXHAUSTED` at once, with a retry hint,
//! rather than queueing them. Without it, twice the sustained ingest rate
//! held ~1,450 calls in flight, 515 threads and 1.7 GB, answered in 11–18 s
//! and stored work for callers that had long given up; with it, latency and
//! memory stay those of the bound and the surplus goes back to the callers,
//! who retry with backoff.
//!
//! Two bounds, because the two kinds of call hold a service differently:
//! unary calls are short and many (`max_in_flight`), streams are long and
//! few (`max_streams`); a count shared by both would let a few idle streams
//! starve every unary call, or let a burst of unary calls lock out streams.
//! Health and reflection are never shed: a load balancer must be able to ask
//! an overloaded service how it is.
//!
//! The bound is a semaphore of our own rather than tower's
//! `ConcurrencyLimit` + `LoadShed`: tower releases its permit when the
//! handler returns its response, which for a stream is before a single
//! message has flowed (listening's `StreamMentions` returns at once and
//! works in tasks), so streams would not be bounded at all, and a unary
//! answer stuck behind a slow reader would stop counting. Here the permit
//! lives in the response body and is released when the body ends or is
//! dropped. `try_acquire` is the load-shedding: nothing waits for a slot, so
//! there is no queue in which a caller's deadline can pass unseen.
//!
//! The layer also reads `grpc-timeout` into a [`Deadline`] in the request's
//! extensions (for a handler to check between the steps of its own work),
//! does not start a call whose deadline has already passed, and never polls
//! a call again once its deadline has: so nothing is committed for a caller
//! that gave up, except a commit already on its way when the deadline came.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderMap, Request, Response};
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tonic::Code;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::error::ServiceError;

/// Retry hint sent with a shed call (`google.rpc.RetryInfo`): about the time
/// a batch of ingest takes, so a slot has likely freed up by then.
pub const RETRY_AFTER: Duration = Duration::from_millis(100);

/// How much sooner than its caller a service gives up on a call: tonic's own
/// timer (the same `grpc-timeout`, started a moment earlier) must never
/// fire first, since it polls the handler once more before it looks.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1);

/// Paths never shed: the health checks and reflection.
const ALWAYS_ADMITTED: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// How many calls a service works on at once (see `ServiceSettings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Unary calls in flight, from admission until the answer is written.
    pub max_in_flight: usize,
    /// Streaming calls open at once.
    pub max_streams: usize,
}

/// When the caller gives up: its `grpc-timeout`, counted from the moment
/// the call reached the service. Handlers check it before they commit, so
/// that nothing is stored for a caller that has stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No deadline: the caller waits as long as it takes.
    pub const NONE: Self = Self(None);

    /// The deadline of a call (none when the caller sent no `grpc-timeout`).
    pub fn of<T>(request: &tonic::Request<T>) -> Self {
        request
            .extensions()
            .get::<Deadline>()
            .copied()
            .unwrap_or_default()
    }

    pub fn after(timeout: Duration) -> Self {
        Self(Some(Instant::now() + timeout))
    }

    /// Time left, or `None` when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    pub fn expired(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// `DEADLINE_EXCEEDED` once the deadline has passed: call it before work
    /// that stores something (a transaction's commit).
    pub fn check(&self) -> Result<(), ServiceError> {
        if self.expired() {
            Err(ServiceError::DeadlineExceeded)
        } else {
            Ok(())
        }
    }
}

/// `grpc-timeout` as the gRPC HTTP/2 protocol writes it: at most eight
/// digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`). A malformed value is
/// ignored, as tonic's own server ignores it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let raw = headers.get("grpc-timeout")?.to_str().ok()?;
    if raw.len() < 2 || raw.len() > 9 {
        return None;
    }
    let (digits, unit) = raw.split_at(raw.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// The paths (`/package.Service/Method`) of the streaming methods of
/// `services`, read from the descriptor set the build wrote, so that a new
/// streaming RPC is counted as a stream without anyone listing it.
pub fn streaming_methods(descriptor_set: &[u8], services: &[&str]) -> HashSet<String> {
    let Ok(set) = prost_types::FileDescriptorSet::decode(descriptor_set) else {
        tracing::error!("the descriptor set does not decode: every method counts as unary");
        return HashSet::new();
    };
    let mut paths = HashSet::new();
    for file in &set.file {
        for service in &file.service {
            let name = format!("{}.{}", file.package(), service.name());
            if !services.contains(&name.as_str()) {
                continue;
            }
            for method in &service.method {
                if method.client_streaming() || method.server_streaming() {
                    paths.insert(format!("/{name}/{}", method.name()));
                }
            }
        }
    }
    paths
}

/// Bounds calls in flight; see the module documentation.
#[derive(Clone)]
pub struct AdmissionLayer {
    unary: Arc<Semaphore>,
    streams: Arc<Semaphore>,
    limits: Limits,
    streaming: Arc<HashSet<String>>,
}

impl AdmissionLayer {
    /// `streaming` holds the paths of the streaming methods (see [`streaming_methods`]).
    pub fn new(limits: Limits, streaming: HashSet<String>) -> Self {
        Self {
            unary: Arc::new(Semaphore::new(limits.max_in_flight)),
            streams: Arc::new(Semaphore::new(limits.max_streams)),
            limits,
            streaming: Arc::new(streaming),
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    layer: AdmissionLayer,
}

/// A response body that holds its call's slot until it ends.
pub struct Admitted<B> {
    inner: B,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<B> http_body::Body for Admitted<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The answer to a call that is not started.
fn refused<B: Default>(status: tonic::Status) -> Response<Admitted<B>> {
    status.into_http::<B>().map(|inner| Admitted {
        inner,
        _permit: None,
    })
}

fn shed(kind: &str, limit: usize) -> tonic::Status {
    tonic::Status::with_error_details(
        Code::ResourceExhausted,
        format!(
            "the service is at its bound of {limit} {kind}; retry after {} ms with backoff",
            RETRY_AFTER.as_millis()
        ),
        ErrorDetails::with_retry_info(Some(RETRY_AFTER)),
    )
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Admission<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = Response<Admitted<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let permit = if ALWAYS_ADMITTED.iter().any(|p| path.starts_with(p)) {
            None
        } else {
            let (slots, kind, limit) = if self.layer.streaming.contains(path) {
                (
                    &self.layer.streams,
                    "open streams",
                    self.layer.limits.max_streams,
                )
            } else {
                (
                    &self.layer.unary,
                    "calls in flight",
                    self.layer.limits.max_in_flight,
                )
            };
            match slots.clone().try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::debug!(path, limit, "shed");
                    return Box::pin(std::future::ready(Ok(refused(shed(kind, limit)))));
                }
            }
        };
        let deadline = grpc_timeout(request.headers()).map(|timeout| {
            let deadline = Deadline::after(timeout.saturating_sub(DEADLINE_MARGIN));
            request.extensions_mut().insert(deadline);
            deadline
        });
        if deadline.is_some_and(|d| d.expired()) {
            return Box::pin(std::future::ready(Ok(refused(
                tonic::Status::deadline_exceeded("the deadline passed before the call started"),
            ))));
        }
        // The clone that was made ready serves this call; a fresh clone
        // stays for the next (tower's usual dance for a shared service).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let call = inner.call(request);
            let response = match deadline.and_then(|d| d.0) {
                None => call.await?,
                // The clock is read before the handler is polled, every time
                // (tonic's own timeout polls the handler first): past its
                // deadline a call is never polled again, so it cannot take
                // its next step, a commit above all, for a caller that has
                // gone. Dropped, its transaction rolls back.
                Some(at) => tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(at) => {
                        return Ok(refused(tonic::Status::deadline_exceeded(
                            "the deadline passed before the call was done",
                        )));
                    }
                    response = call => response?,
                },
            };
            Ok(response.map(|inner| Admitted {
                inner,
                _permit: permit,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use tokio::sync::mpsc;
    use tower::ServiceExt;

    use super::*;

    type Body = tonic::body::Body;

    /// A service whose calls stay in flight until the test lets them go,
    /// and that reports each call it starts.
    #[derive(Clone)]
    struct Held {
        started: mpsc::UnboundedSender<(String, Deadline)>,
        release: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<()>>>,
    }

    impl Service<Request<Body>> for Held {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Response<Body>, Infallible>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: Request<Body>) -> Self::Future {
            let deadline = request
                .extensions()
                .get::<Deadline>()
                .copied()
                .unwrap_or_default();
            let _ = self
                .started
                .send((request.uri().path().to_owned(), deadline));
            let release = self.release.clone();
            Box::pin(async move {
                release.lock().await.recv().await;
                Ok(Response::new(Body::empty()))
            })
        }
    }

    struct Harness {
        service: Admission<Held>,
        started: mpsc::UnboundedReceiver<(String, Deadline)>,
        release: mpsc::UnboundedSender<()>,
    }

    fn harness(limits: Limits) -> Harness {
        let (started_tx, started) = mpsc::unbounded_channel();
        let (release, release_rx) = mpsc::unbounded_channel();
        let held = Held {
            started: started_tx,
            release: Arc::new(tokio::sync::Mutex::new(release_rx)),
        };
        let streaming = HashSet::from(["/pkg.Svc/Stream".to_owned()]);
        Harness {
            service: AdmissionLayer::new(limits, streaming).layer(held),
            started,
            release,
        }
    }

    fn call(path: &str) -> Request<Body> {
        Request::post(path)
            .body(Body::empty())
            .expect("valid request")
    }

    fn status_of(response: &Response<Admitted<Body>>) -> tonic::Status {
        tonic::Status::from_header_map(response.headers()).expect("a status in the headers")
    }

    /// Starts a call in a task and waits until the service has it.
    async fn hold(
        h: &mut Harness,
        path: &str,
    ) -> tokio::task::JoinHandle<Response<Admitted<Body>>> {
        let service = h.service.clone();
        let request = call(path);
        let task = tokio::spawn(async move { service.oneshot(request).await.expect("infallible") });
        let (started, _) = h.started.recv().await.expect("the call started");
        assert_eq!(started, path);
        task
    }

    #[tokio::test]
    async fn past_the_bound_calls_are_shed_at_once_with_a_retry_hint() {
        let mut h = harness(Limits {
            max_in_flight: 1,
            max_streams: 1,
        });
        let first = hold(&mut h, "/pkg.Svc/Unary").await;

        let response = h
            .service
            .clone()
            .oneshot(call("/pkg.Svc/Unary"))
            .await
            .expect("infallible");
        let status = status_of(&response);
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("retry"), "{}", status.message());
        let retry = status
            .get_error_details()
            .retry_info()
            .cloned()
            .expect("a retry hint");
        assert_eq!(retry.retry_delay, Some(RETRY_AFTER));

        // Health, reflection and streams have bounds (or none) of their own.
        let health = hold(&mut h, "/grpc.health.v1.Health/Check").await;
        let reflection = hold(
            &mut h,
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        )
        .await;
        let stream = hold(&mut h, "/pkg.Svc/Stream").await;
        let response = h
            .service
            .clone()
            .oneshot(call("/pkg.Svc/Stream"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&response).code(), Code::ResourceExhausted);
        assert!(status_of(&response).message().contains("open streams"));

        for _ in 0..4 {
            h.release.send(()).expect("held calls listen");
        }
        for task in [first, health, reflection] {
            task.await.expect("no panic");
        }
        // A stream holds its slot until its body is gone, not just until
        // the handler answered.
        let open = stream.await.expect("no panic");
        let response = h
            .service
            .clone()
            .oneshot(call("/pkg.Svc/Stream"))
            .await
            .expect("infallible");
        assert_eq!(status_of(&response).code(), Code::ResourceExhausted);
        drop(open);
        let again = hold(&mut h, "/pkg.Svc/Stream").await;
        h.release.send(()).expect("held calls listen");
        again.await.expect("no panic");
        // The freed unary slot takes the next call.
        let next = hold(&mut h, "/pkg.Svc/Unary").await;
        h.release.send(()).expect("held calls listen");
        next.await.expect("no panic");
    }

    #[tokio::test]
    async fn deadlines_are_read_and_a_call_past_its_deadline_is_not_started() {
        let mut h = harness(Limits {
            max_in_flight: 4,
            max_streams: 1,
        });
        let mut expired = call("/pkg.Svc/Unary");
        expired
            .headers_mut()
            .insert("grpc-timeout", "0n".parse().expect("ascii"));
        let response = h
            .service
            .clone()
            .oneshot(expired)
            .await
            .expect("infallible");
        assert_eq!(status_of(&response).code(), Code::DeadlineExceeded);
        assert!(h.started.try_recv().is_err(), "not started");

        let mut timed = call("/pkg.Svc/Unary");
        timed
            .headers_mut()
            .insert("grpc-timeout", "5S".parse().expect("ascii"));
        let service = h.service.clone();
        let task = tokio::spawn(async move { service.oneshot(timed).await });
        let (_, deadline) = h.started.recv().await.expect("started");
        let left = deadline.remaining().expect("a deadline");
        assert!(
            left <= Duration::from_secs(5) && left > Duration::from_secs(4),
            "{left:?}"
        );
        assert!(deadline.check().is_ok());
        h.release.send(()).expect("listening");
        task.await.expect("no panic").expect("infallible");

        assert_eq!(Deadline::NONE.remaining(), None);
        assert!(Deadline::NONE.check().is_ok());
        let passed = Deadline(Some(Instant::now()));
        assert!(matches!(
            passed.check(),
            Err(ServiceError::DeadlineExceeded)
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_never_polled_past_its_deadline() {
        use futures_util::FutureExt as _;
        use std::sync::atomic::{AtomicBool, Ordering};

        // A call that finishes (say, commits) as soon as its database answers.
        let (answer, answered) = tokio::sync::oneshot::channel::<()>();
        let answered = Arc::new(std::sync::Mutex::new(Some(answered)));
        let committed = Arc::new(AtomicBool::new(false));
        let service = tower::service_fn({
            let committed = committed.clone();
            move |_request: Request<Body>| {
                let answered = answered.lock().expect("not poisoned").take();
                let committed = committed.clone();
                async move {
                    if let Some(answered) = answered {
                        let _ = answered.await;
                    }
                    committed.store(true, Ordering::SeqCst);
                    Ok::<_, Infallible>(Response::new(Body::empty()))
                }
            }
        });
        let limits = Limits {
            max_in_flight: 1,
            max_streams: 1,
        };
        let service = AdmissionLayer::new(limits, HashSet::new()).layer(service);
        let mut request = call("/pkg.Svc/Unary");
        request
            .headers_mut()
            .insert("grpc-timeout", "100m".parse().expect("ascii"));
        let mut pending = Box::pin(service.oneshot(request));
        assert!(
            (&mut pending).now_or_never().is_none(),
            "waits for the database"
        );

        // The database answers just as the deadline passes: the call is
        // not polled again, so it never takes that step.
        tokio::time::advance(Duration::from_millis(150)).await;
        answer.send(()).expect("the call waits");
        let response = pending.await.expect("infallible");
        assert_eq!(status_of(&response).code(), Code::DeadlineExceeded);
        assert!(
            !committed.load(Ordering::SeqCst),
            "nothing after the deadline"
        );
    }

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        let parse = |raw: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", raw.parse().expect("ascii"));
            grpc_timeout(&headers)
        };
        assert_eq!(parse("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "S", "123456789S", "1x", "-1S", "1.5S"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn streaming_methods_come_from_the_descriptor_set() {
        let paths = streaming_methods(
            earshot_proto::FILE_DESCRIPTOR_SET,
            &["earshot.listening.v1.ListeningService"],
        );
        assert!(
            paths.contains("/earshot.listening.v1.ListeningService/StreamMentions"),
            "{paths:?}"
        );
        assert!(!paths.contains("/earshot.listening.v1.ListeningService/IngestMentions"));
    }
}
