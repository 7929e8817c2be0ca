//! Insight: learns from every conversation and shows what it learned —
//! service metrics, contact drivers and the fixes that make them go away,
//! the Goodwill Index, fairness across channels, authenticity, effort,
//! consistency, success stories and lessons for the traditional teams.

pub mod activity;
pub mod authenticity;
pub mod consistency;
pub mod dashboard;
pub mod drill;
pub mod drivers;
pub mod effort;
pub mod erasure;
pub mod events;
pub mod export;
pub mod facts;
pub mod fairness;
pub mod goodwill;
pub mod grpc;
pub mod improvements;
pub mod lessons;
pub mod metrics;
pub mod operations;
pub mod range;
pub mod rollups;
pub mod stats;
pub mod stories;

use std::sync::{Arc, LazyLock};

use earshot_proto::insight::v1::insight_service_server::InsightServiceServer;
use earshot_server::scheduler::{Job, SchedulerSettings, named_scheduler, scheduler};
use earshot_server::{BackgroundTask, EVENT_SINK, Service, ServiceContext, event_sink};
use earshot_webhooks::Webhooks;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = "insight";
const SERVICE: &str = earshot_proto::insight::v1::insight_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The events insight offers to webhook endpoints: an improvement fixed,
/// with the customers who raised it, for a CRM to tell them.
pub const WEBHOOK_EVENTS: &[&str] = &["fix.announced"];

static WEBHOOKS: LazyLock<Webhooks> = LazyLock::new(|| Webhooks::new(WEBHOOK_EVENTS));

/// The insight service, for [`earshot_server::run`].
pub struct InsightService;

impl Service for InsightService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "insight";
    const GRPC_PORT: u16 = 50054;
    const METRICS_PORT: u16 = 9094;
    const HTTP_PORT: u16 = 8084;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE, EVENT_SINK];
    const LOCAL_SUBSCRIBERS: &'static [&'static str] = &[earshot_webhooks::SUBSCRIBER];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn shared_migrators() -> &'static [&'static Migrator] {
        static SHARED: [&Migrator; 1] = [&earshot_webhooks::MIGRATOR];
        &SHARED
    }

    fn http_pages() -> axum::Router {
        dashboard::page::router()
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        Routes::new(InsightServiceServer::new(grpc::Insight {
            ctx: ctx.clone(),
        }))
        .add_service(event_sink(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            events::InsightEvents,
        ))
    }

    /// Facts and rollups past their tenant's retention period are deleted
    /// here; webhook deliveries run on a scheduler of their own.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        let jobs: Vec<Arc<dyn Job>> = erasure::jobs()
            .into_iter()
            .map(|j| Arc::new(j) as Arc<dyn Job>)
            .collect();
        // Compaction has a loop of its own, so a long retention round never
        // lets pending deltas pile up, and takes many batches' rows at once.
        let compaction = SchedulerSettings {
            poll: std::time::Duration::from_millis(250),
            batch: 50_000,
            ..SchedulerSettings::default()
        };
        let mut tasks = vec![
            WEBHOOKS.background_from_env(ctx),
            scheduler(
                ctx.pool.clone(),
                ctx.outbox.clone(),
                SchedulerSettings::default(),
                jobs,
            ),
            named_scheduler(
                "rollups",
                ctx.pool.clone(),
                ctx.outbox.clone(),
                compaction,
                vec![Arc::new(rollups::compaction::Compaction::new())],
            ),
        ];
        // Over JetStream the events arrive by its consumers, not the sink.
        tasks.extend(earshot_server::jetstream::consumers(
            ctx,
            events::InsightEvents,
        ));
        tasks
    }
}
