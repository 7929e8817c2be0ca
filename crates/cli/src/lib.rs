//! The `earshot` command: `up` runs the four services in one process, `token`
//! mints a development token, `demo` feeds a running suite a small realistic
//! stream and shows what each service made of it.

pub mod demo;
pub mod dev_secret;
pub mod up;

use earshot_server::{Service, ServicePorts};

/// The ports each service listens on locally, as the service declares them.
pub const PORTS: [(&str, ServicePorts); 4] = [
    ("listening", ports::<earshot_listening::ListeningService>()),
    ("case", ports::<earshot_case::CaseService>()),
    (
        "escalation",
        ports::<earshot_escalation::EscalationService>(),
    ),
    ("insight", ports::<earshot_insight::InsightService>()),
];

const fn ports<S: Service>() -> ServicePorts {
    ServicePorts {
        grpc: S::GRPC_PORT,
        metrics: S::METRICS_PORT,
        http: S::HTTP_PORT,
    }
}

/// Every tenant scope, as a development token carries them.
pub use earshot_auth::TENANT_SCOPES as DEV_SCOPES;
