//! The gRPC face of the escalation service: reads the caller, checks each
//! request into what its domain function takes, calls it and translates the
//! answer. Proto types meet the domain here and in `convert`.

mod convert;
mod drills;
mod escalations;
mod guidelines;
mod incidents;
mod spikes;

use earshot_proto::escalation::v1 as pb;
use earshot_proto::escalation::v1::escalation_service_server::EscalationService;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::evaluations;

/// The one required id of a request.
fn one_id(raw: &str, field: &str) -> Result<Uuid, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(raw, field);
    v.into_result()?;
    Ok(id.expect("checked"))
}

pub struct Escalations {
    pub ctx: ServiceContext,
}

/// Each RPC: the caller from the request, then the capability's handler.
macro_rules! rpcs {
    ($($(#[$doc:meta])* $rpc:ident($req:ty) -> $resp:ty => $handler:path;)+) => {
        #[tonic::async_trait]
        impl EscalationService for Escalations {
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
        }
    };
}

rpcs! {
    list_evaluations(pb::ListEvaluationsRequest) -> pb::ListEvaluationsResponse => list_evaluations;
    list_guidelines(pb::ListGuidelinesRequest) -> pb::ListGuidelinesResponse => guidelines::list;
    get_guideline(pb::GetGuidelineRequest) -> pb::Guideline => guidelines::get;
    list_guideline_versions(pb::ListGuidelineVersionsRequest) -> pb::ListGuidelineVersionsResponse => guidelines::versions;
    create_guideline(pb::CreateGuidelineRequest) -> pb::Guideline => guidelines::create;
    update_guideline(pb::UpdateGuidelineRequest) -> pb::Guideline => guidelines::update;
    list_escalations(pb::ListEscalationsRequest) -> pb::ListEscalationsResponse => escalations::list;
    get_escalation(pb::GetEscalationRequest) -> pb::Escalation => escalations::get;
    acknowledge_escalation(pb::AcknowledgeEscalationRequest) -> pb::Escalation => escalations::acknowledge;
    resolve_escalation(pb::ResolveEscalationRequest) -> pb::Escalation => escalations::resolve;
    open_incident(pb::OpenIncidentRequest) -> pb::Incident => incidents::open;
    get_incident(pb::GetIncidentRequest) -> pb::Incident => incidents::get;
    list_incidents(pb::ListIncidentsRequest) -> pb::ListIncidentsResponse => incidents::list;
    update_incident(pb::UpdateIncidentRequest) -> pb::Incident => incidents::update;
    approve_holding_statement(pb::ApproveHoldingStatementRequest) -> pb::Incident => incidents::approve;
    post_incident_statement(pb::PostIncidentStatementRequest) -> pb::Incident => incidents::post;
    list_spike_detectors(pb::ListSpikeDetectorsRequest) -> pb::ListSpikeDetectorsResponse => spikes::list_detectors;
    update_spike_detector(pb::UpdateSpikeDetectorRequest) -> pb::SpikeDetector => spikes::update_detector;
    list_spike_alerts(pb::ListSpikeAlertsRequest) -> pb::ListSpikeAlertsResponse => spikes::list_alerts;
    mark_spike_alert(pb::MarkSpikeAlertRequest) -> pb::SpikeAlert => spikes::mark_alert;
    backtest_spike_detector(pb::BacktestSpikeDetectorRequest) -> pb::BacktestSpikeDetectorResponse => spikes::backtest;
    start_drill(pb::StartDrillRequest) -> pb::Drill => drills::start;
    end_drill(pb::EndDrillRequest) -> pb::Drill => drills::end;
    get_drill(pb::GetDrillRequest) -> pb::Drill => drills::get;
    list_drills(pb::ListDrillsRequest) -> pb::ListDrillsResponse => drills::list;
}

async fn list_evaluations(
    ctx: &ServiceContext,
    caller: &earshot_auth::Caller,
    req: pb::ListEvaluationsRequest,
) -> Result<pb::ListEvaluationsResponse, ServiceError> {
    let page = Page::parse(req.page_size, &req.page_token)?;
    let rows = evaluations::store::list(&ctx.pool, &caller.tenant_id, &page).await?;
    Ok(pb::ListEvaluationsResponse {
        next_page_token: page.next_token(&rows),
        evaluations: rows.into_iter().map(evaluations::store::to_proto).collect(),
    })
}
