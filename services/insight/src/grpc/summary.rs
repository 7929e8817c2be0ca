//! Daily activity.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use crate::activity;

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetSummaryRequest,
) -> Result<pb::GetSummaryResponse, ServiceError> {
    activity::summary(&ctx.pool, &caller.tenant_id, &req).await
}
