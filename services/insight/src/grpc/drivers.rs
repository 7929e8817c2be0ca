//! Contact drivers.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError, invalid};

use crate::drivers::{self, DEFAULT_LIMIT, MAX_LIMIT};
use crate::range;

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListDriversRequest,
) -> Result<pb::ListDriversResponse, ServiceError> {
    let days = range::required(req.range.as_ref(), "range")?;
    let order = pb::DriverOrder::try_from(req.order)
        .map_err(|_| invalid("order", "must be a known order"))?;
    if req.limit > MAX_LIMIT {
        return Err(invalid("limit", format!("must be at most {MAX_LIMIT}")));
    }
    let limit = if req.limit == 0 {
        DEFAULT_LIMIT
    } else {
        req.limit
    };
    Ok(drivers::list(&ctx.pool, &caller.tenant_id, days, order, limit).await?)
}
