//! SCAFFOLD: replaced by the capability's handlers.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

pub async fn list(
    _ctx: &ServiceContext,
    _caller: &Caller,
    _req: pb::ListSuccessStoriesRequest,
) -> Result<pb::ListSuccessStoriesResponse, ServiceError> {
    Err(ServiceError::FailedPrecondition("stories::list is not built yet".into()))
}
