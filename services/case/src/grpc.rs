//! The gRPC face of the case service: reads the caller, delegates, translates.

use earshot_proto::case::v1::case_service_server::CaseService;
use earshot_proto::case::v1::{
    Case, CaseStatus, CreateCaseRequest, GetCaseRequest, ListCasesRequest, ListCasesResponse,
    UpdateCaseStatusRequest,
};
use earshot_server::convert::{Cursor, next_page_token, page_size, parse_id};
use earshot_server::{ServiceContext, invalid};
use tonic::{Request, Response, Status};

use crate::cases;

pub struct Cases {
    pub ctx: ServiceContext,
}

/// A status filter: unspecified means any status.
fn optional_status(raw: i32) -> Result<Option<CaseStatus>, Status> {
    match CaseStatus::try_from(raw) {
        Ok(CaseStatus::Unspecified) => Ok(None),
        _ => required_status(raw).map(Some),
    }
}

fn required_status(raw: i32) -> Result<CaseStatus, Status> {
    match CaseStatus::try_from(raw) {
        Ok(CaseStatus::Unspecified) | Err(_) => {
            Err(invalid("status", "must be a known case status").into())
        }
        Ok(status) => Ok(status),
    }
}

#[tonic::async_trait]
impl CaseService for Cases {
    #[tracing::instrument(skip_all, fields(request_id = %request.get_ref().request_id))]
    async fn create_case(
        &self,
        request: Request<CreateCaseRequest>,
    ) -> Result<Response<Case>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let row = cases::create(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            request.into_inner(),
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let id = parse_id(&request.get_ref().case_id, "case_id")?;
        let row = cases::get(&self.ctx.pool, &tenant, id).await?;
        Ok(Response::new(cases::to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_cases(
        &self,
        request: Request<ListCasesRequest>,
    ) -> Result<Response<ListCasesResponse>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let limit = page_size(req.page_size)?;
        let after = Cursor::decode(&req.page_token)?;
        let status = optional_status(req.status)?;
        let rows = cases::list(&self.ctx.pool, &tenant, status, after, limit).await?;
        let next_page_token = next_page_token(&rows, limit, cases::cursor);
        Ok(Response::new(ListCasesResponse {
            cases: rows.into_iter().map(cases::to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_case_status(
        &self,
        request: Request<UpdateCaseStatusRequest>,
    ) -> Result<Response<Case>, Status> {
        let tenant = earshot_auth::caller(&request)?.tenant_id.clone();
        let req = request.into_inner();
        let id = parse_id(&req.case_id, "case_id")?;
        let to = required_status(req.status)?;
        if req.version < 1 {
            return Err(invalid("version", "must be the version last read (1 or more)").into());
        }
        let row = cases::update_status(
            &self.ctx.pool,
            &self.ctx.outbox,
            &tenant,
            id,
            to,
            req.version,
        )
        .await?;
        Ok(Response::new(cases::to_proto(row)))
    }
}
