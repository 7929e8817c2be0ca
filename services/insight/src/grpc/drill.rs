//! Drill-down to the cases and mentions behind a figure.

use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{Page, ServiceContext, ServiceError};

use crate::drill::{self, store};

pub async fn cases(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListCasesRequest,
) -> Result<pb::ListCasesResponse, ServiceError> {
    let page = Page::parse(req.page_size, &req.page_token)?;
    let filter = drill::check_cases(req.filter.as_ref(), "filter")?;
    let rows = store::cases(
        &ctx.pool,
        &caller.tenant_id,
        &filter,
        page.after_key(),
        page.limit,
    )
    .await?;
    Ok(pb::ListCasesResponse {
        next_page_token: page.next_token(&rows),
        cases: rows.iter().map(drill::case_fact).collect(),
    })
}

pub async fn mentions(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListMentionsRequest,
) -> Result<pb::ListMentionsResponse, ServiceError> {
    let page = Page::parse(req.page_size, &req.page_token)?;
    let filter = drill::check_mentions(req.filter.as_ref(), "filter")?;
    let rows = store::mentions(
        &ctx.pool,
        &caller.tenant_id,
        &filter,
        page.after_key(),
        page.limit,
    )
    .await?;
    Ok(pb::ListMentionsResponse {
        next_page_token: page.next_token(&rows),
        mentions: rows.iter().map(drill::mention_fact).collect(),
    })
}
