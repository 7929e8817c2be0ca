//! The fairness report.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError, invalid};

use crate::fairness::{self, HighReach};
use crate::range::{self, Days};

/// A fairness request checked: its range and follower threshold.
pub(super) fn check(req: &pb::GetFairnessReportRequest) -> Result<(Days, HighReach), ServiceError> {
    let days = range::required(req.range.as_ref(), "range")?;
    let high = match req.high_followers {
        0 => HighReach::DEFAULT,
        n => HighReach::from_followers(n).ok_or_else(|| {
            invalid(
                "high_followers",
                "must be a power of ten from 10 to 10^12 (0 for 10000)",
            )
        })?,
    };
    Ok((days, high))
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetFairnessReportRequest,
) -> Result<pb::FairnessReport, ServiceError> {
    let (days, high) = check(&req)?;
    Ok(fairness::report(&ctx.pool, &caller.tenant_id, days, high).await?)
}
