//! Runs an Earshot service the one way every service runs: settings from the
//! environment, its own Postgres schema migrated at start, gRPC with health,
//! reflection (v1 and v1alpha), auth, a span and metrics per RPC, outbox relays
//! to its subscribers, and graceful shutdown.
//!
//! A service implements [`Service`]; its binary calls [`main`]; tests and the
//! all-in-one binary call [`run`] with listeners they bound and a shutdown
//! future of their own.

pub mod admission;
pub mod background;
pub mod convert;
pub mod database;
pub mod error;
pub mod jetstream;
pub mod json_http;
pub mod malformed;
pub mod page;
pub mod partitions;
pub mod readiness;
pub mod retention;
pub mod scheduler;
pub mod settings;
pub mod shutdown;
mod sink;

use std::future::Future;

use earshot_auth::ScopePolicy;
use earshot_outbox::{
    GrpcPush, JETSTREAM_SUBSCRIBER, JetStreamPublish, Outbox, Relay, TokenSource, TransportSettings,
};
use earshot_telemetry::{Metrics, RpcObserveLayer};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

pub use admission::Deadline;
pub use background::BackgroundTask;
pub use error::{FieldViolations, ServiceError, invalid};
pub use page::{Keyed, Page};
pub use settings::{DatabaseSettings, ServicePorts, ServiceSettings};
pub use sink::{EVENT_SINK, EventHandler, EventSinkService, event_sink, take};

/// What makes a service: its name (also its Postgres schema), its ports, its
/// migrations, its gRPC routes and its background work. The scope each method
/// needs comes from its proto (`required_scope`), not from here.
pub trait Service: Send + Sync + 'static {
    /// Service name, e.g. `listening`.
    const NAME: &'static str;
    /// The Postgres schema it owns, e.g. `listening` (`cases` for the case service).
    const SCHEMA: &'static str;
    const GRPC_PORT: u16;
    const METRICS_PORT: u16;
    /// JSON over HTTP (see [`json_http`]).
    const HTTP_PORT: u16;
    /// Full protobuf names of the gRPC services it serves, for health and reflection.
    const GRPC_SERVICES: &'static [&'static str];

    /// Consumers inside the service that read its outbox themselves, e.g.
    /// `earshot_webhooks::SUBSCRIBER`: every batch gets a delivery row for
    /// each, beside those of the remote subscribers (`EARSHOT_SUBSCRIBERS`),
    /// and no relay is started for them.
    const LOCAL_SUBSCRIBERS: &'static [&'static str] = &[];

    fn migrator() -> &'static Migrator;

    /// Migrations of shared crates the service uses (e.g.
    /// `earshot_webhooks::MIGRATOR`), applied in its schema after the
    /// outbox's and before its own. Their versions (100, 101, …) sit between
    /// the outbox's (1, 2, …) and the services' (dates), so none collide.
    fn shared_migrators() -> &'static [&'static Migrator] {
        &[]
    }

    fn routes(ctx: &ServiceContext) -> Routes;

    /// Pages the service serves on its HTTP port beside the JSON API (the
    /// insight dashboard); they are matched before the API's routes.
    fn http_pages() -> axum::Router {
        axum::Router::new()
    }

    /// Long-lived work beside the RPCs (schedulers, refits): started once the
    /// database is ready, stopped with the server and awaited before the pool
    /// closes. Routes must not spawn tasks of their own.
    fn background(_ctx: &ServiceContext) -> Vec<BackgroundTask> {
        Vec::new()
    }
}

/// What handlers get: the pool (bound to the service's schema), the outbox and metrics.
#[derive(Clone)]
pub struct ServiceContext {
    /// The service's name, e.g. `insight` (its JetStream consumers' name too).
    pub service: &'static str,
    /// The NATS server's client when events travel over JetStream.
    pub nats: Option<async_nats::Client>,
    pub pool: PgPool,
    pub outbox: Outbox,
    pub metrics: Metrics,
    /// Cancelled when the service starts shutting down: long-lived calls
    /// (streams) finish what they hold, say so to the client, and end.
    pub shutdown: CancellationToken,
}

/// The sockets a service serves on, bound by the caller.
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: Option<TcpListener>,
    pub http: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(settings: &ServiceSettings) -> std::io::Result<Self> {
        let grpc = TcpListener::bind(settings.grpc_addr).await?;
        Ok(Self {
            grpc,
            metrics: bind_optional(settings.metrics_addr).await?,
            http: bind_optional(settings.http_addr).await?,
        })
    }
}

/// A listener for an address that may be turned off.
async fn bind_optional(addr: Option<std::net::SocketAddr>) -> std::io::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => TcpListener::bind(addr).await.map(Some),
        None => Ok(None),
    }
}

/// Entry point of a service's own binary.
pub async fn main<S: Service>() -> anyhow::Result<()> {
    let env = earshot_config::Env::process();
    // Held until `main` returns so buffered spans are flushed at exit.
    let _tracing = earshot_telemetry::init_tracing(&earshot_telemetry::TracingSettings::from_env(
        &env,
        &format!("earshot-{}", S::NAME),
    )?);
    let settings = ServiceSettings::from_env(
        &env,
        ServicePorts {
            grpc: S::GRPC_PORT,
            metrics: S::METRICS_PORT,
            http: S::HTTP_PORT,
        },
    )?;
    let listeners = Listeners::bind(&settings).await?;
    run::<S>(settings, listeners, shutdown::signal()).await
}

/// Serves `S` until `shutdown` completes, then drains in-flight calls, flushes
/// the relays and closes the pool.
pub async fn run<S: Service>(
    settings: ServiceSettings,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let stop_on_signal = stop.clone();
    let signal_task = tokio::spawn(async move {
        shutdown.await;
        stop_on_signal.cancel();
    });

    let pool = database::pool(&settings.database, S::SCHEMA)?;
    tokio::select! {
        prepared = database::prepare_with(&pool, S::SCHEMA, S::shared_migrators(), S::migrator(), settings.database.startup_timeout) => prepared?,
        () = stop.cancelled() => return Ok(()),
    }

    let metrics = Metrics::new(S::NAME);
    if let Some(clash) = settings
        .subscribers
        .iter()
        .find(|s| S::LOCAL_SUBSCRIBERS.contains(&s.name.as_str()))
    {
        anyhow::bail!(
            "{} names subscriber {:?}, which is {}'s own local consumer",
            earshot_outbox::SUBSCRIBERS_VAR,
            clash.name,
            S::NAME
        );
    }
    // Relays serve only the remote subscribers; local ones claim their own
    // rows. Over JetStream one relay publishes each batch once for all.
    let nats = match &settings.events {
        TransportSettings::Grpc => None,
        TransportSettings::JetStream { url } => {
            Some(earshot_outbox::transport::connect(url).await?)
        }
    };
    let outbox = match nats {
        None => Outbox::with_local(&settings.subscribers, S::LOCAL_SUBSCRIBERS),
        Some(_) => Outbox::named(&[JETSTREAM_SUBSCRIBER], S::LOCAL_SUBSCRIBERS),
    };
    let ctx = ServiceContext {
        service: S::NAME,
        nats: nats.clone(),
        pool: pool.clone(),
        outbox: outbox.clone(),
        metrics: metrics.clone(),
        shutdown: stop.clone(),
    };

    let token = match (&settings.service_token, settings.auth.minter()) {
        (Some(token), _) => TokenSource::Static(token.clone()),
        (None, Ok(minter)) => TokenSource::Minted {
            minter,
            subject: format!("earshot-relay:{}", S::NAME),
        },
        (None, Err(e)) => anyhow::bail!("relays cannot authenticate: {e}"),
    };
    let relay_stop = CancellationToken::new();
    let mut relays = Vec::new();
    for subscriber in &settings.subscribers {
        let transport = GrpcPush::new(subscriber, settings.relay.call_timeout, token.clone())?;
        let relay = Relay::new(
            pool.clone(),
            subscriber.name.clone(),
            settings.relay.clone(),
            transport,
            metrics.clone(),
            outbox.clone(),
        );
        relays.push(tokio::spawn(relay.run(relay_stop.clone())));
    }
    if let Some(client) = nats {
        let transport = JetStreamPublish::new(S::NAME, client, settings.relay.call_timeout);
        let relay = Relay::new(
            pool.clone(),
            JETSTREAM_SUBSCRIBER,
            settings.relay.clone(),
            transport,
            metrics.clone(),
            outbox.clone(),
        );
        relays.push(tokio::spawn(relay.run(relay_stop.clone())));
    }

    let background_stop = CancellationToken::new();
    let background: Vec<_> = S::background(&ctx)
        .into_iter()
        .map(|task| task.spawn(background_stop.clone()))
        .collect();

    let metrics_task = listeners.metrics.map(|listener| {
        tokio::spawn(earshot_telemetry::serve_metrics(
            listener,
            metrics.clone(),
            stop.clone().cancelled_owned(),
        ))
    });

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    readiness::set(
        &health_reporter,
        S::GRPC_SERVICES,
        tonic_health::ServingStatus::Serving,
    )
    .await;
    health_reporter
        .set_service_status(readiness::LIVENESS, tonic_health::ServingStatus::Serving)
        .await;
    let readiness_probe = tokio::spawn(readiness::probe(
        pool.connect_options().as_ref().clone(),
        health_reporter.clone(),
        S::GRPC_SERVICES,
        settings.readiness_interval,
        stop.clone(),
    ));
    let reflection = reflection_builder(S::GRPC_SERVICES);
    let reflection_v1 = reflection_builder(S::GRPC_SERVICES).build_v1()?;
    let reflection_v1alpha = reflection.build_v1alpha()?;

    let verifier = settings.auth.verifier()?;
    // Shed before auth: a call past the bound costs no signature check.
    let admission = admission::AdmissionLayer::new(
        settings.limits,
        admission::streaming_methods(earshot_proto::FILE_DESCRIPTOR_SET, S::GRPC_SERVICES),
    );
    let layers = tower::ServiceBuilder::new()
        .layer(RpcObserveLayer::new(metrics.clone()))
        .layer(malformed::MalformedRequestLayer)
        .layer(admission)
        .layer(earshot_auth::AuthLayer::new(
            verifier,
            scope_policy(S::GRPC_SERVICES)?,
        ))
        .into_inner();

    let routes = S::routes(&ctx);
    let http_task = match listeners.http {
        Some(listener) => {
            let app = json_http::router(
                S::GRPC_SERVICES,
                json_http::stack(tower::Layer::layer(&layers, routes.clone())),
                S::http_pages(),
            )?;
            tracing::info!(service = S::NAME, http_addr = %listener.local_addr()?, "serving JSON over HTTP");
            let stop_http = stop.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop_http.cancelled_owned())
                    .await
            }))
        }
        None => None,
    };

    let grpc_addr = listeners.grpc.local_addr()?;
    tracing::info!(service = S::NAME, %grpc_addr, "serving");
    let drain_health = health_reporter.clone();
    let stop_serving = stop.clone();
    let serving = tonic::transport::Server::builder()
        .layer(layers)
        .add_routes(routes)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // Without TCP_NODELAY a reply written in two segments waits for the
        // client's delayed ACK: some 40 ms on every small call.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listeners.grpc).with_nodelay(Some(true)),
            async move {
                stop_serving.cancelled().await;
                // The probe stops first, so it cannot flip a draining service back.
                if let Err(e) = readiness_probe.await {
                    tracing::error!(service = S::NAME, error = %e, "readiness probe failed");
                }
                readiness::set(
                    &drain_health,
                    S::GRPC_SERVICES,
                    tonic_health::ServingStatus::NotServing,
                )
                .await;
            },
        );
    // In-flight calls get a grace period to finish; a client that keeps a
    // stream open past it is cut off rather than holding the shutdown hostage.
    let grace = settings.shutdown_grace;
    let stop_waiting = stop.clone();
    tokio::select! {
        served = serving => served?,
        () = async move {
            stop_waiting.cancelled().await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!(service = S::NAME, ?grace, "calls still open after the grace period: closing them"),
    }

    if let Some(task) = http_task {
        // Its calls ran through the same stack and the same grace.
        match tokio::time::timeout(grace, task).await {
            Ok(served) => served??,
            Err(_) => tracing::warn!(
                service = S::NAME,
                "HTTP calls still open after the grace period: closing them"
            ),
        }
    }

    // Background work stops before the relays, so the events its last
    // round committed are still flushed.
    background_stop.cancel();
    for (name, task) in background {
        if let Err(e) = task.await {
            tracing::error!(service = S::NAME, task = name, error = %e, "background task failed");
        }
    }
    relay_stop.cancel();
    for relay in relays {
        relay.await?;
    }
    if let Some(task) = metrics_task {
        task.await??;
    }
    signal_task.abort();
    pool.close().await;
    tracing::info!(service = S::NAME, "stopped");
    Ok(())
}

/// The scopes the contracts declare for every method `services` serve. A
/// method that declares none stops the service from starting: it would
/// otherwise be reachable with whatever scope a default gave it.
pub fn scope_policy(services: &[&str]) -> Result<ScopePolicy, earshot_proto::scopes::ScopeError> {
    let mut methods = Vec::new();
    for service in services {
        for method in earshot_proto::scopes::method_scopes(service)? {
            methods.push((method.path, method.scope));
        }
    }
    Ok(ScopePolicy::new(methods))
}

fn reflection_builder(services: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    let mut builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(earshot_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name("grpc.health.v1.Health");
    for name in services {
        builder = builder.with_service_name(*name);
    }
    builder
}
