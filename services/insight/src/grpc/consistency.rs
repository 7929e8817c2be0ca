//! The cross-channel consistency report.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use crate::consistency;
use crate::range::{self, Days};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetConsistencyReportRequest,
) -> Result<pb::ConsistencyReport, ServiceError> {
    let days = check(&req, "")?;
    Ok(consistency::report(&ctx.pool, &caller.tenant_id, days).await?)
}

/// The request checked into what the report takes; `prefix` goes before
/// the field names ("" for the RPC, "consistency." inside an export).
pub(super) fn check(
    req: &pb::GetConsistencyReportRequest,
    prefix: &str,
) -> Result<Days, ServiceError> {
    range::required(req.range.as_ref(), &format!("{prefix}range"))
}
