//! Case: turns cries for help into cases and moves them to resolution.
//!
//! Dependencies run one way: the edges (`grpc`, `events`) check what comes
//! in and call the capabilities; capabilities change cases only through
//! `record` (lock, bump, commit with audit and event) and keep their SQL in
//! their own `store`; `vocabulary` is at the bottom.

// The edges.
mod events;
mod grpc;

// Capabilities that compose others.
pub mod intake;
pub mod lifecycle;
pub mod replies;
pub mod view;

// Capabilities.
pub mod claims;
pub mod commitments;
pub mod customers;
pub mod erasure;
pub mod knowledge;
pub mod outcomes;
pub mod queue;
pub mod retention;
pub mod routing;
pub mod sla;

// What every capability shares.
pub mod audit;
pub mod record;
pub mod vocabulary;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use earshot_proto::case::v1::case_service_server::CaseServiceServer;
use earshot_server::scheduler::{SchedulerSettings, scheduler};
use earshot_server::{BackgroundTask, EVENT_SINK, Service, ServiceContext, event_sink};
use earshot_webhooks::Webhooks;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = record::PRODUCER;
const SERVICE: &str = earshot_proto::case::v1::case_service_server::SERVICE_NAME;

/// How often an idle scheduler looks for overdue clocks and promises: an SLA
/// breach is told within this of its due time.
const SCHEDULER_POLL: Duration = Duration::from_millis(200);

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The events the case service offers to webhook endpoints; `reply.sent`
/// is what a CRM connector needs to post an agent's reply on the
/// customer's channel.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "case.opened",
    "case.updated",
    "reply.sent",
    "case.resolved",
    "sla.breached",
    "commitment.overdue",
];

static WEBHOOKS: LazyLock<Webhooks> = LazyLock::new(|| Webhooks::new(WEBHOOK_EVENTS));

/// The case service, for [`earshot_server::run`].
pub struct CaseService;

impl Service for CaseService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "cases";
    const GRPC_PORT: u16 = 50052;
    const METRICS_PORT: u16 = 9092;
    const HTTP_PORT: u16 = 8082;
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
        Routes::new(CaseServiceServer::new(grpc::Cases { ctx: ctx.clone() })).add_service(
            event_sink(ctx.pool.clone(), ctx.outbox.clone(), events::CaseEvents),
        )
    }

    /// The timed work: SLA breaches, overdue commitments and messages past
    /// the tenant's retention, each a job of the server's scheduler, which
    /// claims, commits and stops with the server; webhook deliveries on a
    /// scheduler of their own, so a slow endpoint never delays a breach.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        let settings = SchedulerSettings {
            poll: SCHEDULER_POLL,
            ..SchedulerSettings::default()
        };
        let mut tasks = vec![
            WEBHOOKS.background_from_env(ctx),
            scheduler(
                ctx.pool.clone(),
                ctx.outbox.clone(),
                settings,
                vec![
                    Arc::new(sla::BreachJob),
                    Arc::new(commitments::OverdueJob),
                    Arc::new(retention::job()),
                ],
            ),
        ];
        // Over JetStream the events arrive by its consumers, not the sink.
        tasks.extend(earshot_server::jetstream::consumers(
            ctx,
            events::CaseEvents,
        ));
        tasks
    }
}
