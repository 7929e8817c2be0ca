//! Test kit: each test gets its own freshly created database (on the server
//! `DATABASE_URL` names, else in a temporary cluster started from the machine's
//! PostgreSQL binaries), services running in-process on `127.0.0.1:0`, tokens,
//! and a way to wait for eventual outcomes with a deadline instead of sleeping.

pub mod corpus;
pub mod memory;
pub mod nats;
pub mod raw;
pub mod rng;
pub mod throughput;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use earshot_auth::{AuthConfig, BearerAuth};
use earshot_config::{Env, Secret};
use earshot_pg::LocalPostgres;
use earshot_server::{Listeners, Service, ServiceSettings};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Shared secret of every test suite; never used outside tests.
pub const TEST_SECRET: &str = "earshot-test-secret-not-for-production";
/// How long [`eventually`] waits before failing the test.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A database of this test's own, migrated by the services that use it.
pub struct TestDatabase {
    url: String,
    /// The server's admin URL and this database's name: dropped with it.
    admin_url: String,
    name: String,
    cluster: Option<LocalPostgres>,
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_and_path = &base[scheme_end..];
    let host = host_and_path.split('/').next().unwrap_or(host_and_path);
    let mut out = format!("{}{}/{}", &base[..scheme_end], host, name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

impl TestDatabase {
    pub async fn create() -> Self {
        earshot_telemetry::init_test_tracing();
        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => Self::on_server(url, None).await,
            _ => Self::private().await,
        }
    }

    /// A database in a temporary cluster of its own, whatever `DATABASE_URL`
    /// says: for tests that stop and start the database server.
    pub async fn private() -> Self {
        earshot_telemetry::init_test_tracing();
        let cluster = tokio::task::spawn_blocking(LocalPostgres::temporary)
            .await
            .expect("cluster start does not panic")
            .expect("a temporary PostgreSQL cluster starts (or set DATABASE_URL)");
        Self::on_server(cluster.url("postgres"), Some(cluster)).await
    }

    async fn on_server(admin_url: String, cluster: Option<LocalPostgres>) -> Self {
        let name = format!("earshot_test_{}", uuid::Uuid::new_v4().simple());
        earshot_server::database::create_database_if_missing(&admin_url, &name)
            .await
            .expect("the test database can be created");
        Self {
            url: with_database(&admin_url, &name),
            admin_url,
            name,
            cluster,
        }
    }

    /// Stops the private cluster, as a database outage would.
    pub async fn stop_server(&mut self) {
        self.stop_with(LocalPostgres::stop).await;
    }

    /// Stops the private cluster as a crash would: no checkpoint, WAL replay
    /// at the next start.
    pub async fn crash_server(&mut self) {
        self.stop_with(LocalPostgres::stop_immediately).await;
    }

    async fn stop_with(&mut self, stop: fn(&LocalPostgres) -> Result<(), earshot_pg::PgError>) {
        let cluster = self
            .cluster
            .take()
            .expect("only a private() database can be stopped");
        let cluster = tokio::task::spawn_blocking(move || {
            stop(&cluster).expect("the cluster stops");
            cluster
        })
        .await
        .expect("no panic");
        self.cluster = Some(cluster);
    }

    /// Starts the private cluster again, on the same data and port.
    pub async fn start_server(&mut self) {
        let mut cluster = self
            .cluster
            .take()
            .expect("only a private() database can be started");
        let cluster = tokio::task::spawn_blocking(move || {
            cluster.start_again().expect("the cluster starts again");
            cluster
        })
        .await
        .expect("no panic");
        self.cluster = Some(cluster);
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A plain pool for asserting on what services stored.
    pub async fn pool(&self, schema: &str) -> sqlx::PgPool {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.url)
            .expect("valid url")
            .options([("search_path", schema)]);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("test database reachable")
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a shared server, so that test runs do not pile
    /// up databases there; a private cluster goes with its files. A failing
    /// test's database stays for a look.
    fn drop(&mut self) {
        if self.cluster.is_some() || std::thread::panicking() {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop cannot await: a thread of its own with a runtime of its own,
        // which works whatever runtime (if any) the test is on.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(earshot_server::database::drop_database(&admin_url, &name))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("test database {} was not dropped: {e:#}", self.name);
        }
    }
}

/// A token for `tenant` with `scopes`, signed with [`TEST_SECRET`].
pub fn token(tenant: &str, scopes: &[&str]) -> String {
    AuthConfig::SharedSecret(Secret::new(TEST_SECRET))
        .minter()
        .expect("shared secret mints")
        .mint("test-user", tenant, scopes, Duration::from_secs(3600))
}

/// A service token, as a relay presents to a consumer's `EventSink`.
pub fn service_token() -> String {
    AuthConfig::SharedSecret(Secret::new(TEST_SECRET))
        .minter()
        .expect("shared secret mints")
        .mint_service("test-relay", Duration::from_secs(3600))
}

/// A channel whose calls carry `token`.
pub type AuthedChannel = InterceptedService<Channel, BearerAuth>;

/// Settings for a service under test: its database, the test secret, fast
/// relay retries, no metrics port, and `subscribers` as `(name, address)`.
pub fn settings(db: &TestDatabase, subscribers: &[(&str, SocketAddr)]) -> ServiceSettings {
    let subscribers = subscribers
        .iter()
        .map(|(name, addr)| format!("{name}=http://{addr}"))
        .collect::<Vec<_>>()
        .join(",");
    settings_from(test_env(db).with("EARSHOT_SUBSCRIBERS", subscribers))
}

/// Settings for a service under test whose events travel over the
/// JetStream of `nats` (see [`settings`] for the rest).
pub fn jetstream_settings(db: &TestDatabase, nats: &nats::TestNats) -> ServiceSettings {
    settings_from(
        test_env(db)
            .with("EARSHOT_EVENT_TRANSPORT", "jetstream")
            .with("EARSHOT_NATS_URL", nats.url()),
    )
}

fn settings_from(env: Env) -> ServiceSettings {
    ServiceSettings::from_env(
        &env,
        earshot_server::ServicePorts {
            grpc: 0,
            metrics: 0,
            http: 0,
        },
    )
    .expect("test settings are valid")
}

fn test_env(db: &TestDatabase) -> Env {
    Env::from_pairs([
        ("DATABASE_URL", db.url()),
        ("EARSHOT_JWT_HS256_SECRET", TEST_SECRET),
        ("EARSHOT_METRICS_ADDR", "off"),
        ("EARSHOT_DB_MAX_CONNECTIONS", "5"),
        ("EARSHOT_DB_ACQUIRE_TIMEOUT_MS", "1000"),
        ("EARSHOT_SHUTDOWN_GRACE_MS", "5000"),
        // Health follows the database within a fifth of a second.
        ("EARSHOT_READINESS_INTERVAL_MS", "200"),
        // Tests and benchmarks drive a service as hard as they mean to (the
        // case benchmark keeps 64 calls in flight); the admission tests and
        // the overload benchmark set bounds of their own.
        ("EARSHOT_MAX_IN_FLIGHT", "1000"),
        ("EARSHOT_MAX_STREAMS", "100"),
        ("EARSHOT_RELAY_POLL_MS", "50"),
        ("EARSHOT_RELAY_MIN_BACKOFF_MS", "50"),
        ("EARSHOT_RELAY_MAX_BACKOFF_MS", "400"),
    ])
}

type Runner = Arc<
    dyn Fn(
            ServiceSettings,
            Listeners,
            Pin<Box<dyn Future<Output = ()> + Send>>,
        ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>
        + Send
        + Sync,
>;

/// A service running in this process. It can be stopped and started again on
/// the same port, as a restart would.
pub struct TestService {
    pub name: &'static str,
    addr: SocketAddr,
    /// JSON over HTTP, on a port of its own that a restart keeps.
    http_addr: SocketAddr,
    settings: ServiceSettings,
    runner: Runner,
    running: Option<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)>,
}

/// A loopback listener on a free port, bound before the service starts so that
/// its address can be handed to the services that deliver to it.
pub async fn reserve() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free")
}

impl TestService {
    /// Starts `S` on `listener` and waits until it reports SERVING.
    pub async fn start<S: Service>(settings: ServiceSettings, listener: TcpListener) -> Self {
        let addr = listener.local_addr().expect("bound listener");
        let runner: Runner = Arc::new(|settings, listeners, shutdown| {
            Box::pin(earshot_server::run::<S>(settings, listeners, shutdown))
        });
        let http = reserve().await;
        let http_addr = http.local_addr().expect("bound listener");
        let mut service = Self {
            name: S::NAME,
            addr,
            http_addr,
            settings,
            runner,
            running: None,
        };
        service.launch(listener, http).await;
        service
    }

    async fn launch(&mut self, listener: TcpListener, http: TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let listeners = Listeners {
            grpc: listener,
            metrics: None,
            http: Some(http),
        };
        let task = tokio::spawn((self.runner)(self.settings.clone(), listeners, shutdown));
        self.running = Some((stop, task));
        self.wait_serving().await;
    }

    async fn wait_serving(&mut self) {
        let url = self.url();
        let name = self.name;
        let (_, task) = self.running.as_mut().expect("just launched");
        let task = &*task;
        eventually(&format!("{name} reports SERVING"), || {
            let url = url.clone();
            assert!(
                !task.is_finished(),
                "{name} stopped while starting; run with TEST_LOG=1 to see why"
            );
            async move {
                let channel = Channel::from_shared(url).ok()?.connect().await.ok()?;
                let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
                let response = health
                    .check(tonic_health::pb::HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .ok()?;
                (response.into_inner().status
                    == tonic_health::pb::health_check_response::ServingStatus::Serving as i32)
                    .then_some(())
            }
        })
        .await;
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where it answers JSON over HTTP, e.g. `http://127.0.0.1:41234`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// A channel that connects lazily (and reconnects after a restart).
    pub fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("valid url")
            .connect_lazy()
    }

    /// A channel whose calls carry `token`.
    pub fn authed(&self, token: &str) -> AuthedChannel {
        InterceptedService::new(self.channel(), BearerAuth::new(token).expect("ASCII token"))
    }

    /// Graceful shutdown, as on SIGTERM; returns when the service has stopped.
    pub async fn stop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await
                .expect("service task does not panic")
                .expect("service stops cleanly");
        }
    }

    /// Starts the service again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_again().await;
    }

    /// Starts a stopped service again on the same port.
    pub async fn start_again(&mut self) {
        assert!(self.running.is_none(), "{} is still running", self.name);
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the service's port is free again");
        let http = TcpListener::bind(self.http_addr)
            .await
            .expect("the service's HTTP port is free again");
        self.launch(listener, http).await;
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.abort();
        }
    }
}

/// Polls `probe` until it returns `Some`, failing the test after [`DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "y"),
            "postgres://u:p@h/y?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "z"), "postgres://h:1/z");
    }
}
