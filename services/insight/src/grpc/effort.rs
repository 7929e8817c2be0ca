//! SCAFFOLD: replaced by the capability's handlers.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

pub async fn get(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::GetCustomerEffortRequest,
) -> Result<pb::CustomerEffort, ServiceError> {
    Err(ServiceError::FailedPrecondition("effort::get is not built yet".into()))
}
