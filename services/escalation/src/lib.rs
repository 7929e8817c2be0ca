//! Escalation: recognises danger early and escalates it by rehearsed guidelines.

pub mod evaluations;

use earshot_outbox::Outbox;
use earshot_proto::escalation::v1::escalation_service_server::{
    EscalationService as EscalationApi, EscalationServiceServer,
};
use earshot_proto::escalation::v1::{ListEvaluationsRequest, ListEvaluationsResponse};
use earshot_proto::events::v1::{Event, event};
use earshot_server::{
    EVENT_SINK, EventHandler, Page, Service, ServiceContext, ServiceError, event_sink,
};
use sqlx::PgConnection;
use sqlx::migrate::Migrator;
use tonic::service::Routes;
use tonic::{Request, Response, Status};
use uuid::Uuid;

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
        _outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let heard: Vec<Heard> = events
            .into_iter()
            .filter_map(|e| match e.payload {
                Some(event::Payload::MentionClassified(mention)) => Some(Heard {
                    event_id: Uuid::parse_str(&e.event_id).ok()?,
                    tenant_id: e.tenant_id,
                    mention,
                }),
                _ => None,
            })
            .collect();
        evaluations::evaluate(conn, &heard).await?;
        Ok(())
    }
}
