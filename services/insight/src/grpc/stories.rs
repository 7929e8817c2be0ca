//! Success stories.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{Page, ServiceContext, ServiceError};

use crate::range::{self, Days};
use crate::stories;

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListSuccessStoriesRequest,
) -> Result<pb::ListSuccessStoriesResponse, ServiceError> {
    let (days, page) = check(&req, "")?;
    Ok(stories::list(&ctx.pool, &caller.tenant_id, days, &page).await?)
}

/// The request checked into what the list takes; `prefix` goes before the
/// range's field name ("" for the RPC, "success_stories." inside an export).
pub(super) fn check(
    req: &pb::ListSuccessStoriesRequest,
    prefix: &str,
) -> Result<(Days, Page), ServiceError> {
    let page = Page::parse(req.page_size, &req.page_token)?;
    let days = range::required(req.range.as_ref(), &format!("{prefix}range"))?;
    Ok((days, page))
}
