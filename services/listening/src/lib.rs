//! Listening: hears customers wherever they speak, stores each mention once,
//! classifies it, and tells case, escalation and insight (`MentionClassified`).
//!
//! By capability, each layer importing only the ones below it:
//!
//! * `grpc` (private): checks requests and answers in protos;
//! * [`ingest`]: a batch, a stream or a source's payload through validation,
//!   the pipeline and the tenant's rules, stored once and announced;
//! * [`tenant`]: rules with their versions, settings, the compiled profile
//!   ingest runs with, and accuracy from labels;
//! * [`mention`]: the mention model and its store;
//! * [`erasure`]: what the case service tells it (its `EventSink`): a
//!   customer forgotten, a tenant's retention period, and the job deleting
//!   mentions past it;
//! * [`pipeline`]: the per-mention stages (normalise, noise, sentiment,
//!   classify), [`query`]: the rule language, [`adapters`]: each source's
//!   payload as a [`MentionInput`](earshot_proto::listening::v1::MentionInput).
//!   Pure functions, none of them importing another layer; [`training`]:
//!   the corpora and recipe the shipped models are made and measured by.

pub mod adapters;
pub mod erasure;
mod grpc;
pub mod ingest;
pub mod mention;
pub mod pipeline;
pub mod query;
pub mod tenant;
pub mod training;

use std::sync::LazyLock;

use earshot_proto::listening::v1::listening_service_server::ListeningServiceServer;
use earshot_server::scheduler::{SchedulerSettings, scheduler};
use earshot_server::{BackgroundTask, EVENT_SINK, Service, ServiceContext, event_sink};
use earshot_webhooks::Webhooks;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = "listening";
const SERVICE: &str = earshot_proto::listening::v1::listening_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The events listening offers to webhook endpoints.
pub const WEBHOOK_EVENTS: &[&str] = &["mention.classified"];

static WEBHOOKS: LazyLock<Webhooks> = LazyLock::new(|| Webhooks::new(WEBHOOK_EVENTS));

/// The listening service, for [`earshot_server::run`].
pub struct ListeningService;

impl Service for ListeningService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "listening";
    const GRPC_PORT: u16 = 50051;
    const METRICS_PORT: u16 = 9091;
    const HTTP_PORT: u16 = 8081;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE, EVENT_SINK];
    const LOCAL_SUBSCRIBERS: &'static [&'static str] = &[earshot_webhooks::SUBSCRIBER];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn shared_migrators() -> &'static [&'static Migrator] {
        static SHARED: [&Migrator; 1] = [&earshot_webhooks::MIGRATOR];
        &SHARED
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        // The lexicons load here rather than inside the first ingest.
        pipeline::sentiment::preload();
        let models = pipeline::model::Models::shipped();
        tracing::info!(model = %models.id, "learned models loaded");
        let ingestor = ingest::Ingestor {
            pool: ctx.pool.clone(),
            outbox: ctx.outbox.clone(),
            profiles: Default::default(),
            counter: ingest::IngestCounter::register(ctx.metrics.registry()),
        };
        Routes::new(ListeningServiceServer::new(grpc::Listening {
            ctx: ctx.clone(),
            ingestor,
        }))
        .add_service(event_sink(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            erasure::ListeningEvents,
        ))
    }

    /// Mentions past their tenant's retention period are deleted here, and
    /// tenants' correction layers refitted from their labels; webhook
    /// deliveries on a scheduler of their own, so a slow endpoint holds up
    /// nothing else.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        let mut tasks = vec![
            WEBHOOKS.background_from_env(ctx),
            scheduler(
                ctx.pool.clone(),
                ctx.outbox.clone(),
                SchedulerSettings::default(),
                vec![
                    std::sync::Arc::new(erasure::job()),
                    std::sync::Arc::new(mention::partitions::PartitionJob::default()),
                    std::sync::Arc::new(tenant::adaptation::store::RefitJob),
                ],
            ),
        ];
        // Over JetStream the events arrive by its consumers, not the sink.
        tasks.extend(earshot_server::jetstream::consumers(
            ctx,
            erasure::ListeningEvents,
        ));
        tasks
    }
}
