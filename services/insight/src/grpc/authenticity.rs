//! The authenticity report.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError, invalid};

use crate::authenticity::{self, Grouping};
use crate::range::{self, Days};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetAuthenticityReportRequest,
) -> Result<pb::AuthenticityReport, ServiceError> {
    let (days, by) = check(&req, "")?;
    Ok(authenticity::report(&ctx.pool, &caller.tenant_id, days, by).await?)
}

/// The request checked into what the report takes; `prefix` goes before
/// the field names ("" for the RPC, "authenticity." inside an export).
pub(super) fn check(
    req: &pb::GetAuthenticityReportRequest,
    prefix: &str,
) -> Result<(Days, Grouping), ServiceError> {
    let days = range::required(req.range.as_ref(), &format!("{prefix}range"))?;
    let by = match pb::AuthenticityGroup::try_from(req.group_by) {
        Ok(pb::AuthenticityGroup::Unspecified) => Grouping::All,
        Ok(pb::AuthenticityGroup::Team) => Grouping::Team,
        Ok(pb::AuthenticityGroup::Agent) => Grouping::Agent,
        Err(_) => {
            return Err(invalid(
                format!("{prefix}group_by"),
                "must be AUTHENTICITY_GROUP_TEAM, AUTHENTICITY_GROUP_AGENT or unspecified",
            ));
        }
    };
    Ok((days, by))
}
