//! Listening: hears customers wherever they speak, stores each mention once,
//! classifies it, and tells case, escalation and insight (`MentionClassified`).

pub mod accuracy;
pub mod adapters;
pub mod classify;
mod grpc;
pub mod mentions;
pub mod noise;
pub mod normalise;
pub mod payloads;
pub mod pipeline;
pub mod profile;
pub mod rulebook;
pub mod rules;
pub mod sentiment;
pub mod settings;
pub mod store;
pub mod stream;

use earshot_proto::listening::v1::listening_service_server::ListeningServiceServer;
use earshot_server::{Service, ServiceContext};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = "listening";
const SERVICE: &str = earshot_proto::listening::v1::listening_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The listening service, for [`earshot_server::run`].
pub struct ListeningService;

impl Service for ListeningService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "listening";
    const GRPC_PORT: u16 = 50051;
    const METRICS_PORT: u16 = 9091;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        // The lexicons load here rather than inside the first ingest.
        sentiment::preload();
        let ingestor = mentions::Ingestor {
            pool: ctx.pool.clone(),
            outbox: ctx.outbox.clone(),
            profiles: Default::default(),
            counter: mentions::IngestCounter::register(ctx.metrics.registry()),
        };
        Routes::new(ListeningServiceServer::new(grpc::Listening {
            ctx: ctx.clone(),
            ingestor,
        }))
    }
}
