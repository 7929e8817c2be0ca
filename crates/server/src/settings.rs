use std::net::SocketAddr;
use std::time::Duration;

use earshot_auth::AuthConfig;
use earshot_config::{ConfigError, Env, Secret};
use earshot_outbox::{RelaySettings, Subscriber, TransportSettings, subscribers_from_env};

use crate::admission::Limits;

pub const DATABASE_URL_VAR: &str = "DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/earshot";

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/earshot`.
    pub url: Secret,
    /// `EARSHOT_DB_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `EARSHOT_DB_ACQUIRE_TIMEOUT_MS`, default 3000: how long a call waits for a
    /// connection before it fails with UNAVAILABLE.
    pub acquire_timeout: Duration,
    /// `EARSHOT_DB_STARTUP_TIMEOUT_MS`, default 60000: how long start-up waits
    /// for the database to answer.
    pub startup_timeout: Duration,
}

impl DatabaseSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let url = env.string_or(DATABASE_URL_VAR, DEFAULT_DATABASE_URL);
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::invalid(
                DATABASE_URL_VAR,
                "***",
                "must start with postgres:// or postgresql://",
            ));
        }
        Ok(Self {
            url: Secret::new(url),
            max_connections: env.count_or("EARSHOT_DB_MAX_CONNECTIONS", 10, 1..=1000)?,
            acquire_timeout: env.millis_or("EARSHOT_DB_ACQUIRE_TIMEOUT_MS", 3_000, 10)?,
            startup_timeout: env.millis_or("EARSHOT_DB_STARTUP_TIMEOUT_MS", 60_000, 10)?,
        })
    }
}

/// The ports a service listens on unless its settings say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServicePorts {
    pub grpc: u16,
    pub metrics: u16,
    pub http: u16,
}

/// Everything a service needs to start, read once from the environment.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// `EARSHOT_GRPC_ADDR`, default `0.0.0.0:<the service's port>`.
    pub grpc_addr: SocketAddr,
    /// `EARSHOT_METRICS_ADDR`, default `0.0.0.0:<the service's metrics port>`;
    /// `off` disables the metrics endpoint.
    pub metrics_addr: Option<SocketAddr>,
    /// `EARSHOT_HTTP_ADDR`, default `0.0.0.0:<the service's HTTP port>`: JSON
    /// over HTTP and the OpenAPI document; `off` disables it.
    pub http_addr: Option<SocketAddr>,
    pub database: DatabaseSettings,
    pub auth: AuthConfig,
    /// `EARSHOT_SUBSCRIBERS`: consumers of this service's events (gRPC transport).
    pub subscribers: Vec<Subscriber>,
    /// `EARSHOT_EVENT_TRANSPORT` and `EARSHOT_NATS_URL`: how events travel.
    pub events: TransportSettings,
    pub relay: RelaySettings,
    /// `EARSHOT_SERVICE_TOKEN`: token relays present to consumers when tokens
    /// cannot be minted here (public-key auth).
    pub service_token: Option<Secret>,
    /// `EARSHOT_SHUTDOWN_GRACE_MS`, default 10000: how long in-flight calls may
    /// take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// `EARSHOT_MAX_IN_FLIGHT` and `EARSHOT_MAX_STREAMS`: past them a call is
    /// answered `RESOURCE_EXHAUSTED` at once (see [`crate::admission`]).
    pub limits: Limits,
    /// `EARSHOT_READINESS_INTERVAL_MS`, default 1000: how often health checks
    /// that the database answers.
    pub readiness_interval: Duration,
}

/// Calls a service works on at once, by default: enough to keep every pooled
/// connection busy while as many calls again are in their CPU stage (decode,
/// pipeline, encode) or waiting for the client, and a few per core for calls
/// that never reach the database. Past that, more calls in flight add only
/// latency and memory: they wait for a connection or a core.
pub fn default_max_in_flight(max_connections: u32, cores: usize) -> u32 {
    let cores = u32::try_from(cores).unwrap_or(u32::MAX);
    max_connections
        .saturating_mul(2)
        .saturating_add(cores.saturating_mul(4))
}

/// Streams open at once, by default: one per pooled connection, since each
/// open stream may have a batch at the database at any time.
pub fn default_max_streams(max_connections: u32) -> u32 {
    max_connections
}

impl Limits {
    pub fn from_env(env: &Env, max_connections: u32) -> Result<Self, ConfigError> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let max_in_flight = env.count_or(
            "EARSHOT_MAX_IN_FLIGHT",
            default_max_in_flight(max_connections, cores),
            1..=100_000,
        )?;
        let max_streams = env.count_or(
            "EARSHOT_MAX_STREAMS",
            default_max_streams(max_connections),
            1..=100_000,
        )?;
        Ok(Self {
            max_in_flight: max_in_flight as usize,
            max_streams: max_streams as usize,
        })
    }
}

impl ServiceSettings {
    pub fn from_env(env: &Env, ports: ServicePorts) -> Result<Self, ConfigError> {
        let grpc_addr = env.parse_or(
            "EARSHOT_GRPC_ADDR",
            SocketAddr::from(([0, 0, 0, 0], ports.grpc)),
        )?;
        let optional = |var: &str, port: u16| match env.get(var).as_deref() {
            Some("off") => Ok(None),
            _ => env
                .parse_or(var, SocketAddr::from(([0, 0, 0, 0], port)))
                .map(Some),
        };
        let metrics_addr = optional("EARSHOT_METRICS_ADDR", ports.metrics)?;
        let http_addr = optional("EARSHOT_HTTP_ADDR", ports.http)?;
        let auth = AuthConfig::from_env(env)?;
        let service_token = env.secret("EARSHOT_SERVICE_TOKEN");
        let subscribers = subscribers_from_env(env)?;
        let events = TransportSettings::from_env(env)?;
        if events != TransportSettings::Grpc && !subscribers.is_empty() {
            return Err(ConfigError::invalid(
                "EARSHOT_SUBSCRIBERS",
                "***",
                "names gRPC subscribers, but EARSHOT_EVENT_TRANSPORT is jetstream: consumers read \
                 the producers' streams themselves, so leave it unset",
            ));
        }
        if !subscribers.is_empty()
            && service_token.is_none()
            && matches!(auth, AuthConfig::PublicKey { .. })
        {
            return Err(ConfigError::Missing {
                var: "EARSHOT_SERVICE_TOKEN".into(),
                hint: "relays need a service token (audience earshot-services, scope \
                       events:deliver) when tokens are checked with a public key"
                    .into(),
            });
        }
        let database = DatabaseSettings::from_env(env)?;
        Ok(Self {
            grpc_addr,
            metrics_addr,
            http_addr,
            limits: Limits::from_env(env, database.max_connections)?,
            readiness_interval: env.millis_or("EARSHOT_READINESS_INTERVAL_MS", 1_000, 10)?,
            database,
            auth,
            subscribers,
            events,
            relay: RelaySettings::from_env(env)?,
            service_token,
            shutdown_grace: env.millis_or("EARSHOT_SHUTDOWN_GRACE_MS", 10_000, 0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: ServicePorts = ServicePorts {
        grpc: 1,
        metrics: 2,
        http: 3,
    };

    fn base() -> Env {
        Env::from_pairs([("EARSHOT_JWT_HS256_SECRET", "0123456789abcdef-dev")])
    }

    #[test]
    fn defaults_use_the_service_ports() {
        let s = ServiceSettings::from_env(
            &base(),
            ServicePorts {
                grpc: 50052,
                metrics: 9092,
                http: 8082,
            },
        )
        .expect("valid");
        assert_eq!(s.grpc_addr.port(), 50052);
        assert_eq!(s.metrics_addr.map(|a| a.port()), Some(9092));
        assert_eq!(s.http_addr.map(|a| a.port()), Some(8082));
        assert_eq!(s.database.max_connections, 10);
        assert!(s.subscribers.is_empty());
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(s.limits.max_in_flight, 20 + 4 * cores);
        assert_eq!(s.limits.max_streams, 10);
        assert_eq!(s.readiness_interval, Duration::from_secs(1));
    }

    #[test]
    fn limits_follow_the_pool_unless_given() {
        let s = ServiceSettings::from_env(&base().with("EARSHOT_DB_MAX_CONNECTIONS", "3"), PORTS)
            .expect("valid");
        assert_eq!(s.limits.max_streams, 3);
        assert_eq!(default_max_in_flight(3, 2), 14);
        let s = ServiceSettings::from_env(
            &base()
                .with("EARSHOT_MAX_IN_FLIGHT", "7")
                .with("EARSHOT_MAX_STREAMS", "2"),
            PORTS,
        )
        .expect("valid");
        assert_eq!(
            s.limits,
            Limits {
                max_in_flight: 7,
                max_streams: 2
            }
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("EARSHOT_GRPC_ADDR", "nowhere"),
            ("EARSHOT_METRICS_ADDR", "9091"),
            ("EARSHOT_HTTP_ADDR", "8081"),
            ("DATABASE_URL", "mysql://x"),
            ("EARSHOT_DB_MAX_CONNECTIONS", "-1"),
            ("EARSHOT_SUBSCRIBERS", "case"),
            ("EARSHOT_MAX_IN_FLIGHT", "0"),
            ("EARSHOT_MAX_STREAMS", "many"),
            ("EARSHOT_READINESS_INTERVAL_MS", "1"),
        ] {
            let err = ServiceSettings::from_env(&base().with(var, value), PORTS).expect_err(var);
            assert!(err.to_string().contains(var), "{var}: {err}");
        }
        let err = ServiceSettings::from_env(&Env::from_pairs::<&str, &str>([]), PORTS)
            .expect_err("no secret");
        assert!(err.to_string().contains("EARSHOT_JWT_HS256_SECRET"));
    }

    #[test]
    fn metrics_can_be_turned_off() {
        let s = ServiceSettings::from_env(&base().with("EARSHOT_METRICS_ADDR", "off"), PORTS)
            .expect("valid");
        assert_eq!(s.metrics_addr, None);
        let s = ServiceSettings::from_env(&base().with("EARSHOT_HTTP_ADDR", "off"), PORTS)
            .expect("valid");
        assert_eq!(s.http_addr, None);
    }
}
