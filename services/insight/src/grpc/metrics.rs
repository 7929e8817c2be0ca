//! Service metrics.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use super::dimension;
use crate::{metrics, range};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetServiceMetricsRequest,
) -> Result<pb::GetServiceMetricsResponse, ServiceError> {
    let days = range::required(req.range.as_ref(), "range")?;
    let dim = dimension(req.group_by, "group_by")?;
    Ok(metrics::service_metrics(&ctx.pool, &caller.tenant_id, days, dim).await?)
}
