//! The gRPC face of insight: reads the caller, checks each request into
//! what its capability takes, calls it and translates the answer.

mod authenticity;
mod consistency;
mod dashboard;
mod drill;
mod drivers;
mod effort;
mod export;
mod fairness;
mod goodwill;
mod improvements;
mod lessons;
mod metrics;
mod stories;
mod summary;

use std::pin::Pin;

use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::insight_service_server::InsightService;
use earshot_server::{FieldViolations, ServiceContext, ServiceError};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};
use uuid::Uuid;

pub struct Insight {
    pub ctx: ServiceContext,
}

/// The one required id of a request.
fn one_id(raw: &str, field: &str) -> Result<Uuid, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(raw, field);
    v.into_result()?;
    Ok(id.expect("checked"))
}

/// A dimension a request names, checked.
fn dimension(raw: i32, field: &str) -> Result<pb::Dimension, ServiceError> {
    pb::Dimension::try_from(raw)
        .map_err(|_| earshot_server::invalid(field, "must be a known dimension"))
}

pub type ExportStream = Pin<Box<dyn Stream<Item = Result<pb::ExportChunk, Status>> + Send>>;

/// Each RPC: the caller from the request, then the capability's handler.
macro_rules! rpcs {
    ($($rpc:ident($req:ty) -> $resp:ty => $handler:path;)+) => {
        #[tonic::async_trait]
        impl InsightService for Insight {
            earshot_webhooks::grpc_methods!(crate::WEBHOOKS, ctx);
            $(
                #[tracing::instrument(skip_all, fields(tenant))]
                async fn $rpc(&self, request: Request<$req>) -> Result<Response<$resp>, Status> {
                    let caller = earshot_auth::caller(&request)?.clone();
                    tracing::Span::current().record("tenant", caller.tenant_id.as_str());
                    let answer = $handler(&self.ctx, &caller, request.into_inner()).await?;
                    Ok(Response::new(answer))
                }
            )+

            type ExportStream = ExportStream;

            #[tracing::instrument(skip_all, fields(tenant))]
            async fn export(
                &self,
                request: Request<pb::ExportRequest>,
            ) -> Result<Response<ExportStream>, Status> {
                let caller = earshot_auth::caller(&request)?.clone();
                tracing::Span::current().record("tenant", caller.tenant_id.as_str());
                let stream = export::start(&self.ctx, &caller, request.into_inner()).await?;
                Ok(Response::new(stream))
            }
        }
    };
}

rpcs! {
    get_summary(pb::GetSummaryRequest) -> pb::GetSummaryResponse => summary::get;
    get_service_metrics(pb::GetServiceMetricsRequest) -> pb::GetServiceMetricsResponse => metrics::get;
    list_drivers(pb::ListDriversRequest) -> pb::ListDriversResponse => drivers::list;
    create_improvement(pb::CreateImprovementRequest) -> pb::Improvement => improvements::create;
    update_improvement(pb::UpdateImprovementRequest) -> pb::Improvement => improvements::update;
    get_improvement(pb::GetImprovementRequest) -> pb::Improvement => improvements::get;
    list_improvements(pb::ListImprovementsRequest) -> pb::ListImprovementsResponse => improvements::list;
    get_impact(pb::GetImpactRequest) -> pb::Impact => improvements::impact;
    list_affected_customers(pb::ListAffectedCustomersRequest) -> pb::ListAffectedCustomersResponse => improvements::affected;
    get_goodwill_index(pb::GetGoodwillIndexRequest) -> pb::GoodwillIndex => goodwill::get;
    get_fairness_report(pb::GetFairnessReportRequest) -> pb::FairnessReport => fairness::get;
    get_authenticity_report(pb::GetAuthenticityReportRequest) -> pb::AuthenticityReport => authenticity::get;
    get_customer_effort(pb::GetCustomerEffortRequest) -> pb::CustomerEffort => effort::get;
    get_consistency_report(pb::GetConsistencyReportRequest) -> pb::ConsistencyReport => consistency::get;
    list_success_stories(pb::ListSuccessStoriesRequest) -> pb::ListSuccessStoriesResponse => stories::list;
    get_lessons(pb::GetLessonsRequest) -> pb::Lessons => lessons::get;
    get_dashboard(pb::GetDashboardRequest) -> pb::Dashboard => dashboard::get;
    list_cases(pb::ListCasesRequest) -> pb::ListCasesResponse => drill::cases;
    list_mentions(pb::ListMentionsRequest) -> pb::ListMentionsResponse => drill::mentions;
}
