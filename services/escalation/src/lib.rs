//! Escalation: recognises danger early and escalates it by rehearsed
//! guidelines. Each capability holds its domain logic and, in its `store`,
//! its SQL: guidelines (versioned conditions and actions), evaluations (every
//! event against the guidelines), spikes (volume per topic and rule),
//! escalations (and their ladder), incidents (and holding statements),
//! drills (rehearsals, scored). `grpc` checks and translates; the
//! scheduler drives the ladder, statements, drills and retention.

pub mod drills;
pub mod erasure;
pub mod escalations;
pub mod evaluations;
mod events;
mod grpc;
pub mod guidelines;
pub mod incidents;
pub mod onboarding;
mod publish;
pub mod raise;
pub mod rules;
pub mod spikes;
mod sql;
pub mod statements;
pub mod tenant;
pub mod timeline;
pub mod vocabulary;

use std::sync::{Arc, LazyLock};

use earshot_proto::escalation::v1::escalation_service_server::EscalationServiceServer;
use earshot_server::scheduler::{SchedulerSettings, scheduler};
use earshot_server::{BackgroundTask, EVENT_SINK, Service, ServiceContext, event_sink};
use earshot_webhooks::Webhooks;
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = "escalation";
const SERVICE: &str = earshot_proto::escalation::v1::escalation_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The events escalation offers to webhook endpoints.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "escalation.raised",
    "escalation.acknowledged",
    "escalation.reescalated",
    "escalation.resolved",
    "incident.opened",
    "incident.updated",
    "spike.detected",
];

static WEBHOOKS: LazyLock<Webhooks> = LazyLock::new(|| Webhooks::new(WEBHOOK_EVENTS));

/// The escalation service, for [`earshot_server::run`].
pub struct EscalationService;

impl Service for EscalationService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "escalation";
    const GRPC_PORT: u16 = 50053;
    const METRICS_PORT: u16 = 9093;
    const HTTP_PORT: u16 = 8083;
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
        Routes::new(EscalationServiceServer::new(grpc::Escalations {
            ctx: ctx.clone(),
        }))
        .add_service(event_sink(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            events::EscalationEvents::default(),
        ))
    }

    /// The ladder, overdue statements, drills and retention, on the shared
    /// scheduler; webhook deliveries on a scheduler of their own, so a slow
    /// endpoint never holds up a ladder.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        let mut tasks = vec![
            WEBHOOKS.background_from_env(ctx),
            scheduler(
                ctx.pool.clone(),
                ctx.outbox.clone(),
                SchedulerSettings::default(),
                vec![
                    Arc::new(escalations::ladder::LadderJob),
                    Arc::new(statements::StatementJob),
                    Arc::new(drills::ReplayJob),
                    Arc::new(drills::EndJob),
                    Arc::new(erasure::job()),
                ],
            ),
        ];
        // Over JetStream the events arrive by its consumers, not the sink.
        tasks.extend(earshot_server::jetstream::consumers(
            ctx,
            events::EscalationEvents::default(),
        ));
        tasks
    }
}
