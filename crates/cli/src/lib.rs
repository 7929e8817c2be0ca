//! The `earshot` command: `up` runs the four services in one process, `token`
//! mints a development token, `demo` feeds a running suite a small realistic
//! stream and shows what each service made of it.

pub mod demo;
pub mod dev_secret;
pub mod up;

/// The port each service listens on locally, gRPC then metrics.
pub const PORTS: [(&str, u16, u16); 4] = [
    ("listening", 50051, 9091),
    ("case", 50052, 9092),
    ("escalation", 50053, 9093),
    ("insight", 50054, 9094),
];

/// Every tenant scope, as a development token carries them.
pub use earshot_auth::TENANT_SCOPES as DEV_SCOPES;
