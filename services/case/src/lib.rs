//! Case: turns cries for help into cases and moves them to resolution.

pub mod audit;
pub mod cases;
pub mod commitments;
pub mod customers;
mod events;
mod grpc;
pub mod guard;
pub mod knowledge;
pub mod lifecycle;
pub mod outcomes;
pub mod queue;
pub mod replies;
pub mod routing;
pub mod sla;
pub mod threading;

use earshot_auth::ScopePolicy;
use earshot_proto::case::v1::case_service_server::CaseServiceServer;
use earshot_server::{Service, ServiceContext, event_sink};
use sqlx::migrate::Migrator;
use tonic::service::Routes;

pub const NAME: &str = "case";
const SERVICE: &str = "earshot.case.v1.CaseService";
const EVENT_SINK: &str = "earshot.events.v1.EventSink";

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The case service, for [`earshot_server::run`].
pub struct CaseService;

impl Service for CaseService {
    const NAME: &'static str = NAME;
    const SCHEMA: &'static str = "cases";
    const GRPC_PORT: u16 = 50052;
    const METRICS_PORT: u16 = 9092;
    const GRPC_SERVICES: &'static [&'static str] = &[SERVICE, EVENT_SINK];

    fn migrator() -> &'static Migrator {
        &MIGRATOR
    }

    fn scope_policy() -> ScopePolicy {
        ScopePolicy::new()
            .service(SERVICE, "cases:write")
            .method("/earshot.case.v1.CaseService/GetCase", "cases:read")
            .method("/earshot.case.v1.CaseService/ListCases", "cases:read")
            .method("/earshot.case.v1.CaseService/ListQueue", "cases:read")
            .method(
                "/earshot.case.v1.CaseService/ListCaseMessages",
                "cases:read",
            )
            .method(
                "/earshot.case.v1.CaseService/ListAuditEntries",
                "cases:read",
            )
            .method("/earshot.case.v1.CaseService/GetCustomer", "cases:read")
            .method("/earshot.case.v1.CaseService/FindCustomer", "cases:read")
            .method(
                "/earshot.case.v1.CaseService/ListRoutingRules",
                "cases:read",
            )
            .method("/earshot.case.v1.CaseService/ListAgents", "cases:read")
            .method("/earshot.case.v1.CaseService/ListSlaPolicies", "cases:read")
            .method(
                "/earshot.case.v1.CaseService/GetBusinessHours",
                "cases:read",
            )
            .method("/earshot.case.v1.CaseService/CheckReply", "cases:read")
            .method("/earshot.case.v1.CaseService/GetGuardPolicy", "cases:read")
            .method("/earshot.case.v1.CaseService/GetArticle", "cases:read")
            .method("/earshot.case.v1.CaseService/SearchArticles", "cases:read")
            .service(EVENT_SINK, earshot_auth::EVENTS_DELIVER_SCOPE)
    }

    fn routes(ctx: &ServiceContext) -> Routes {
        // The SLA scheduler lives as long as the service: it stops on shutdown.
        tokio::spawn(sla::run(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            ctx.shutdown.clone(),
        ));
        Routes::new(CaseServiceServer::new(grpc::Cases { ctx: ctx.clone() })).add_service(
            event_sink(ctx.pool.clone(), ctx.outbox.clone(), events::CaseEvents),
        )
    }
}
