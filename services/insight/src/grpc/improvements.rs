//! SCAFFOLD: replaced by the capability's handlers.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

pub async fn create(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::CreateImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::create is not built yet".into()))
}

pub async fn update(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::UpdateImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::update is not built yet".into()))
}

pub async fn get(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::GetImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::get is not built yet".into()))
}

pub async fn list(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ListImprovementsRequest,
) -> Result<pb::ListImprovementsResponse, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::list is not built yet".into()))
}

pub async fn impact(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::GetImpactRequest,
) -> Result<pb::Impact, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::impact is not built yet".into()))
}

pub async fn affected(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ListAffectedCustomersRequest,
) -> Result<pb::ListAffectedCustomersResponse, ServiceError> {
    Err(ServiceError::FailedPrecondition("improvements::affected is not built yet".into()))
}
