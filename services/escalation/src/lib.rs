//! Escalation: recognises danger early and escalates it by rehearsed guidelines.

pub mod erasure;
pub mod evaluations;

use std::sync::Arc;

use earshot_outbox::{Outbox, new_event};
use earshot_proto::escalation::v1::escalation_service_server::{
    EscalationService as EscalationApi, EscalationServiceServer,
};
use earshot_proto::escalation::v1::{ListEvaluationsRequest, ListEvaluationsResponse};
use earshot_proto::events::v1::{ErasureCompleted, Event, RetentionChanged, event};
use earshot_server::scheduler::{SchedulerSettings, scheduler};
use earshot_server::{
    BackgroundTask, EVENT_SINK, EventHandler, Page, Service, ServiceContext, ServiceError,
    event_sink,
};
use sqlx::PgConnection;
use sqlx::migrate::Migrator;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use erasure::Erase;
use evaluations::Heard;

pub const NAME: &str = "escalation";
const SERVICE: &str = earshot_proto::escalation::v1::escalation_service_server::SERVICE_NAME;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The escalation service, for [`earshot_server::run`].
pub struct EscalationService;

impl Service for EscalationService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "escalation";
    const GRPC_PORT: u16 = 50053;
    const METRICS_PORT: u16 = 9093;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE, EVENT_SINK];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        Routes::new(EscalationServiceServer::new(Escalations {
            ctx: ctx.clone(),
        }))
        .add_service(event_sink(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            EscalationEvents,
        ))
    }

    /// Evaluations past their tenant's retention period are deleted here.
    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        vec![scheduler(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            SchedulerSettings::default(),
            vec![Arc::new(erasure::job())],
        )]
    }
}

struct Escalations {
    ctx: ServiceContext,
}

#[tonic::async_trait]
impl EscalationApi for Escalations {
    #[tracing::instrument(skip_all)]
    async fn list_evaluations(
        &self,
        request: Request<ListEvaluationsRequest>,
    ) -> Result<Response<ListEvaluationsResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let page = Page::parse(req.page_size, &req.page_token)?;
        let rows = evaluations::list(&self.ctx.pool, &tenant, &page).await?;
        let next_page_token = page.next_token(&rows);
        Ok(Response::new(ListEvaluationsResponse {
            evaluations: rows.into_iter().map(evaluations::to_proto).collect(),
            next_page_token,
        }))
    }
}

struct EscalationEvents;

impl EventHandler for EscalationEvents {
    const PRODUCERS: &'static [&'static str] = &["listening", "case"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let mut heard = Vec::new();
        // Run after the evaluations, so a mention heard and erased in one
        // batch stays gone.
        let mut erasures: Vec<Erase> = Vec::new();
        let mut retention: Vec<(String, RetentionChanged)> = Vec::new();
        for e in events {
            match e.payload {
                Some(event::Payload::MentionClassified(mention)) => {
                    let Ok(event_id) = Uuid::parse_str(&e.event_id) else {
                        continue;
                    };
                    heard.push(Heard {
                        event_id,
                        tenant_id: e.tenant_id,
                        mention,
                    });
                }
                Some(event::Payload::CustomerErased(mut erased)) => erasures.push(Erase {
                    tenant_id: e.tenant_id,
                    mention_ids: std::mem::take(&mut erased.mention_ids),
                    answer: Some(erased),
                }),
                // Listening's report names every mention of the customer it
                // erased, those no case held among them.
                Some(event::Payload::ErasureCompleted(done)) if e.producer == "listening" => {
                    erasures.push(Erase {
                        tenant_id: e.tenant_id,
                        mention_ids: done.mention_ids,
                        answer: None,
                    });
                }
                Some(event::Payload::RetentionChanged(change)) => {
                    retention.push((e.tenant_id, change));
                }
                _ => {}
            }
        }
        evaluations::evaluate(conn, &heard).await?;
        let mut answers = Vec::new();
        for job in erasures {
            let records = erasure::erase(conn, &job.tenant_id, &job.mention_ids).await?;
            if let Some(erased) = job.answer {
                answers.push(new_event(
                    NAME,
                    &job.tenant_id,
                    erased.customer_id,
                    event::Payload::ErasureCompleted(ErasureCompleted {
                        erasure_id: erased.erasure_id,
                        service: NAME.to_owned(),
                        records_erased: records,
                        mention_ids: Vec::new(),
                    }),
                ));
            }
        }
        earshot_server::retention::record(conn, &retention).await?;
        outbox.enqueue(conn, answers).await?;
        Ok(())
    }
}
