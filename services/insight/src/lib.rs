//! Insight: learns from every conversation and shows what it learned.

pub mod activity;
pub mod erasure;

use std::sync::Arc;

use earshot_outbox::Outbox;
use earshot_proto::events::v1::{Event, RetentionChanged, event};
use earshot_proto::insight::v1::insight_service_server::{
    InsightService as InsightApi, InsightServiceServer,
};
use earshot_proto::insight::v1::{GetSummaryRequest, GetSummaryResponse};
use earshot_server::scheduler::{SchedulerSettings, scheduler};
use earshot_server::{
    BackgroundTask, EVENT_SINK, EventHandler, Service, ServiceContext, ServiceError, event_sink,
};
use sqlx::PgConnection;
use sqlx::migrate::Migrator;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

pub const NAME: &str = "insight";
const SERVICE: &str = earshot_proto::insight::v1::insight_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The insight service, for [`earshot_server::run`].
pub struct InsightService;

impl Service for InsightService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "insight";
    const GRPC_PORT: u16 = 50054;
    const METRICS_PORT: u16 = 9094;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE, EVENT_SINK];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        Routes::new(InsightServiceServer::new(Insight { ctx: ctx.clone() })).add_service(
            event_sink(ctx.pool.clone(), ctx.outbox.clone(), InsightEvents),
        )
    }

    /// Days of activity past their tenant's retention period are deleted here.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        vec![scheduler(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            SchedulerSettings::default(),
            vec![Arc::new(erasure::job())],
        )]
    }
}

struct Insight {
    ctx: ServiceContext,
}

#[tonic::async_trait]
impl InsightApi for Insight {
    #[tracing::instrument(skip_all)]
    async fn get_summary(
        &self,
        request: Request<GetSummaryRequest>,
    ) -> Result<Response<GetSummaryResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let summary = activity::summary(&self.ctx.pool, &tenant, request.get_ref()).await?;
        Ok(Response::new(summary))
    }
}

struct InsightEvents;

impl EventHandler for InsightEvents {
    const PRODUCERS: &'static [&'static str] = &["listening", "case", "escalation"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        activity::record(conn, &events).await?;
        let mut answers = Vec::new();
        let mut retention: Vec<(String, RetentionChanged)> = Vec::new();
        for e in events {
            match e.payload {
                Some(event::Payload::CustomerErased(erased)) => {
                    answers.push(erasure::answer(&e.tenant_id, &erased));
                }
                Some(event::Payload::RetentionChanged(change)) => {
                    retention.push((e.tenant_id, change));
                }
                _ => {}
            }
        }
        earshot_server::retention::record(conn, &retention).await?;
        outbox.enqueue(conn, answers).await?;
        Ok(())
    }
}
