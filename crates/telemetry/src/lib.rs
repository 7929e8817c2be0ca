//! Logs, spans and metrics, set up the same way in every Earshot service.
//!
//! - [`init_tracing`]: structured logs, pretty on a terminal and JSON otherwise,
//!   filtered by `RUST_LOG`; spans also exported over OTLP/HTTP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (see [`TracingSettings`]).
//! - [`RpcObserveLayer`]: a server span per RPC and its duration, named as the
//!   OpenTelemetry semantic conventions for RPC say ([`semconv`], version
//!   pinned there), carrying tenant and request id too.
//! - [`Metrics`] and [`serve_metrics`]: a Prometheus registry per service, served
//!   on its own HTTP port.

mod metrics;
mod observe;
pub mod semconv;

use std::io::IsTerminal;

use earshot_config::{ConfigError, Env};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{ExporterBuildError, Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

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

/// The standard OpenTelemetry variable naming the OTLP/HTTP collector, e.g.
/// `http://127.0.0.1:4318`; traces go to `<endpoint>/v1/traces`. Unset: no export.
/// The exporter's HTTP client is built without TLS, so an `https://` collector
/// also needs `opentelemetry-otlp`'s `reqwest-rustls` feature.
pub const OTLP_ENDPOINT_VAR: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The standard OpenTelemetry variable naming the service in exported traces.
pub const SERVICE_NAME_VAR: &str = "OTEL_SERVICE_NAME";

/// How a binary logs and, optionally, where it exports traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingSettings {
    pub format: LogFormat,
    /// Base URL of an OTLP/HTTP collector; `None` turns trace export off.
    pub otlp_endpoint: Option<String>,
    pub service_name: String,
}

impl TracingSettings {
    /// Reads `EARSHOT_LOG_FORMAT`, `OTEL_EXPORTER_OTLP_ENDPOINT` and
    /// `OTEL_SERVICE_NAME` (default `default_service_name`).
    pub fn from_env(env: &Env, default_service_name: &str) -> Result<Self, ConfigError> {
        let format = LogFormat::from_env(env)?;
        let otlp_endpoint = match env.get(OTLP_ENDPOINT_VAR) {
            None => None,
            Some(raw) => {
                let endpoint = raw.trim();
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return Err(ConfigError::invalid(
                        OTLP_ENDPOINT_VAR,
                        &raw,
                        "expected an http:// or https:// URL of an OTLP/HTTP collector",
                    ));
                }
                Some(endpoint.to_owned())
            }
        };
        let service_name = env.string_or(SERVICE_NAME_VAR, default_service_name);
        Ok(Self {
            format,
            otlp_endpoint,
            service_name,
        })
    }
}

/// Keeps trace export running; dropping it flushes the spans still buffered
/// and stops the exporter. Hold it for the whole life of the binary.
#[must_use = "dropping the guard stops trace export"]
#[derive(Debug, Default)]
pub struct TracingGuard {
    provider: Option<SdkTracerProvider>,
}

impl TracingGuard {
    /// Whether spans are being exported over OTLP.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("earshot: flushing OTLP traces at exit failed: {error}");
        }
    }
}

/// Installs the global subscriber for a binary: logs on stderr filtered by
/// `RUST_LOG` (default `info`), plus OTLP trace export when an endpoint is set.
///
/// A collector that cannot be set up only costs the export (with a warning),
/// never the start. A second initialisation in one process (several services
/// in one binary) keeps the first subscriber and exports nothing more.
pub fn init_tracing(settings: &TracingSettings) -> TracingGuard {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let fmt_layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt_layer = if json {
        fmt_layer
            .json()
            .with_current_span(true)
            .with_span_events(FmtSpan::NONE)
            .boxed()
    } else {
        fmt_layer.boxed()
    };

    let (provider, otlp_error) = match settings.otlp_endpoint.as_deref() {
        None => (None, None),
        Some(endpoint) => match otlp_provider(endpoint, &settings.service_name) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(error)),
        },
    };
    let otel_layer = provider.as_ref().map(|provider| {
        let scope = opentelemetry::InstrumentationScope::builder("earshot-telemetry")
            .with_schema_url(semconv::SCHEMA_URL)
            .build();
        tracing_opentelemetry::layer().with_tracer(provider.tracer_with_scope(scope))
    });

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .is_ok();

    if let (Some(endpoint), Some(error)) = (&settings.otlp_endpoint, &otlp_error) {
        tracing::warn!(%endpoint, %error, "OTLP trace export disabled: exporter could not be built");
    }
    match provider {
        Some(provider) if installed => {
            tracing::info!(
                endpoint = settings.otlp_endpoint.as_deref().unwrap_or_default(),
                service_name = %settings.service_name,
                "exporting traces over OTLP/HTTP"
            );
            TracingGuard {
                provider: Some(provider),
            }
        }
        // Not installed: the subscriber already in place never sees this
        // provider, so stop it now.
        Some(provider) => {
            let _ = provider.shutdown();
            TracingGuard::default()
        }
        None => TracingGuard::default(),
    }
}

/// A batch span processor exporting to `<endpoint>/v1/traces` over OTLP/HTTP
/// protobuf, from its own thread with a blocking client (no runtime needed).
fn otlp_provider(
    endpoint: &str,
    service_name: &str,
) -> Result<SdkTracerProvider, ExporterBuildError> {
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .build()?;
    let resource = Resource::builder()
        .with_service_name(service_name.to_owned())
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_no_export() {
        let settings = TracingSettings::from_env(&Env::from_pairs::<&str, &str>([]), "earshot")
            .expect("defaults are valid");
        assert_eq!(
            settings,
            TracingSettings {
                format: LogFormat::Auto,
                otlp_endpoint: None,
                service_name: "earshot".to_owned(),
            }
        );
    }

    #[test]
    fn settings_read_endpoint_and_service_name() {
        let env = Env::from_pairs([
            (OTLP_ENDPOINT_VAR, "http://127.0.0.1:4318"),
            (SERVICE_NAME_VAR, "earshot-custom"),
            (LOG_FORMAT_VAR, "json"),
        ]);
        let settings = TracingSettings::from_env(&env, "earshot-listening").expect("valid");
        assert_eq!(settings.format, LogFormat::Json);
        assert_eq!(
            settings.otlp_endpoint.as_deref(),
            Some("http://127.0.0.1:4318")
        );
        assert_eq!(settings.service_name, "earshot-custom");
    }

    #[test]
    fn settings_reject_an_endpoint_that_is_not_a_url() {
        let env = Env::from_pairs([(OTLP_ENDPOINT_VAR, "127.0.0.1:4318")]);
        let error = TracingSettings::from_env(&env, "earshot").expect_err("not http(s)");
        assert!(
            matches!(&error, ConfigError::Invalid { var, .. } if var == OTLP_ENDPOINT_VAR),
            "{error:?}"
        );
        assert!(error.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
