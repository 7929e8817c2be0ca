//! SCAFFOLD: replaced by the capability's handlers.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

pub async fn cases(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ListCasesRequest,
) -> Result<pb::ListCasesResponse, ServiceError> {
    Err(ServiceError::FailedPrecondition("drill::cases is not built yet".into()))
}

pub async fn mentions(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ListMentionsRequest,
) -> Result<pb::ListMentionsResponse, ServiceError> {
    Err(ServiceError::FailedPrecondition("drill::mentions is not built yet".into()))
}
