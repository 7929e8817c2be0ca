use std::future::Future;

use axum::Router;
use axum::routing::get;
use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// One service's Prometheus registry and the metrics every service shares.
/// Cheap to clone: the collectors are shared.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `rpc.server.call.duration` of the semantic conventions (see
    /// [`crate::semconv`]), in seconds, by `rpc.system.name`, `rpc.method`
    /// and `rpc.response.status_code`; its count is the calls.
    pub rpc_server_call_duration: HistogramVec,
    /// Outbox rows not yet delivered, by subscriber.
    pub outbox_pending: IntGaugeVec,
    /// Age in seconds of the oldest undelivered outbox row, by subscriber.
    pub outbox_lag_seconds: GaugeVec,
    /// Events delivered by the relay, by subscriber.
    pub events_delivered: IntCounterVec,
}

fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    registry
        .register(Box::new(c.clone()))
        .expect("metric names are unique within a service registry");
    c
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        // No registry-wide prefix: the RPC metric keeps the conventions'
        // name (as OpenTelemetry's Prometheus exporter writes it), the
        // others carry `earshot_` in their own names.
        let registry = Registry::new_custom(
            None,
            Some([("service".to_owned(), service.to_owned())].into()),
        )
        .expect("static registry labels are valid");
        let rpc_server_call_duration = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "rpc_server_call_duration_seconds",
                    "Measures the duration of inbound remote procedure calls",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["rpc_system_name", "rpc_method", "rpc_response_status_code"],
            )
            .expect("valid metric"),
        );
        let outbox_pending = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "earshot_outbox_pending_batches",
                    "outbox batches awaiting delivery",
                ),
                &["subscriber"],
            )
            .expect("valid metric"),
        );
        let outbox_lag_seconds = registered(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "earshot_outbox_lag_seconds",
                    "age of the oldest undelivered outbox batch",
                ),
                &["subscriber"],
            )
            .expect("valid metric"),
        );
        let events_delivered = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "earshot_events_delivered_total",
                    "events delivered by the relay",
                ),
                &["subscriber"],
            )
            .expect("valid metric"),
        );
        Self {
            registry,
            rpc_server_call_duration,
            outbox_pending,
            outbox_lag_seconds,
            events_delivered,
        }
    }

    /// For service-specific metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
