//! Customer effort.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::Dimension;
use earshot_server::{ServiceContext, ServiceError};

use super::dimension;
use crate::effort;
use crate::range::{self, Days};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetCustomerEffortRequest,
) -> Result<pb::CustomerEffort, ServiceError> {
    let (days, dim) = check(&req, "")?;
    Ok(effort::customer_effort(&ctx.pool, &caller.tenant_id, days, dim).await?)
}

/// The request checked into what the report takes; `prefix` goes before
/// the field names ("" for the RPC, "effort." inside an export).
pub(super) fn check(
    req: &pb::GetCustomerEffortRequest,
    prefix: &str,
) -> Result<(Days, Dimension), ServiceError> {
    let days = range::required(req.range.as_ref(), &format!("{prefix}range"))?;
    let dim = dimension(req.group_by, &format!("{prefix}group_by"))?;
    Ok((days, dim))
}
