//! Lessons for the traditional teams.

use chrono::Utc;
use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use crate::{lessons, range};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetLessonsRequest,
) -> Result<pb::Lessons, ServiceError> {
    let days = match &req.range {
        Some(r) => range::check(r.from.as_ref(), r.to.as_ref(), "range")?,
        None => lessons::last_week(Utc::now().date_naive()),
    };
    lessons::lessons(&ctx.pool, &caller.tenant_id, days).await
}
