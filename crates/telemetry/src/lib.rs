//! Logs, spans and metrics, set up the same way in every Earshot service.
//!
//! - [`init_tracing`]: structured logs, pretty on a terminal and JSON otherwise,
//!   filtered by `RUST_LOG`.
//! - [`RpcObserveLayer`]: a span per RPC carrying method, tenant and request id,
//!   and the RPC count and latency by method and status code.
//! - [`Metrics`] and [`serve_metrics`]: a Prometheus registry per service, served
//!   on its own HTTP port.

mod metrics;
mod observe;

use std::io::IsTerminal;

use earshot_config::{ConfigError, Env};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub use metrics::{Metrics, serve_metrics};
pub use observe::{REQUEST_ID_HEADER, RpcObserveLayer, RpcObserveService};

pub const LOG_FORMAT_VAR: &str = "EARSHOT_LOG_FORMAT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Pretty when stderr is a terminal, JSON otherwise (containers, CI).
    Auto,
    Json,
    Pretty,
}

impl LogFormat {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.string_or(LOG_FORMAT_VAR, "auto").as_str() {
            "auto" => Ok(Self::Auto),
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(ConfigError::invalid(
                LOG_FORMAT_VAR,
                other,
                "expected auto, json or pretty",
            )),
        }
    }
}

/// Installs the global subscriber for a binary. `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (several services in one process) keeps the first.
    let _already_set = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_events(FmtSpan::NONE)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// For tests: silent unless `TEST_LOG` is set, then pretty on the test's output.
pub fn init_test_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let _already_set = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}
