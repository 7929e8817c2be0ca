//! The dashboard's data.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError, invalid};

use crate::dashboard::{self, DEFAULT_TOP_DRIVERS, MAX_TOP_DRIVERS};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetDashboardRequest,
) -> Result<pb::Dashboard, ServiceError> {
    if req.top_drivers > MAX_TOP_DRIVERS {
        return Err(invalid(
            "top_drivers",
            format!("must be at most {MAX_TOP_DRIVERS}"),
        ));
    }
    let top = match req.top_drivers {
        0 => DEFAULT_TOP_DRIVERS,
        n => n,
    };
    Ok(dashboard::dashboard(&ctx.pool, &caller.tenant_id, chrono::Utc::now(), top).await?)
}
