//! The Goodwill Index.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{ServiceContext, ServiceError};

use crate::{goodwill, range};

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetGoodwillIndexRequest,
) -> Result<pb::GoodwillIndex, ServiceError> {
    let days = range::required(req.range.as_ref(), "range")?;
    Ok(goodwill::index(&ctx.pool, &caller.tenant_id, days).await?)
}
