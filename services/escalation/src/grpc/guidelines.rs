//! Guideline RPCs.

use earshot_auth::Caller;
use earshot_proto::escalation::v1 as pb;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};

use super::{convert, one_id};
use crate::guidelines::{self, store};
use crate::onboarding;

fn checked_input(
    input: Option<&pb::GuidelineInput>,
    v: &mut FieldViolations,
) -> pb::GuidelineInput {
    match input {
        None => {
            v.add("guideline", "is required");
            pb::GuidelineInput::default()
        }
        Some(input) => {
            guidelines::check(input, "guideline", v);
            let mut input = input.clone();
            input.name = input.name.trim().to_owned();
            input
        }
    }
}

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListGuidelinesRequest,
) -> Result<pb::ListGuidelinesResponse, ServiceError> {
    let page = Page::parse(req.page_size, &req.page_token)?;
    let mut conn = ctx.pool.acquire().await?;
    // A tenant's first look shows the defaults it starts with.
    onboarding::ensure(&mut conn, &[caller.tenant_id.as_str()]).await?;
    let rows = store::list(&mut conn, &caller.tenant_id, &page).await?;
    Ok(pb::ListGuidelinesResponse {
        next_page_token: page.next_token(&rows),
        guidelines: rows.iter().map(convert::guideline).collect(),
    })
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetGuidelineRequest,
) -> Result<pb::Guideline, ServiceError> {
    let id = one_id(&req.guideline_id, "guideline_id")?;
    let version = (req.version > 0)
        .then(|| i32::try_from(req.version))
        .transpose()
        .map_err(|_| earshot_server::invalid("version", "is too large"))?;
    let mut conn = ctx.pool.acquire().await?;
    let row = store::get(&mut conn, &caller.tenant_id, id, version).await?;
    Ok(convert::guideline(&row))
}

pub async fn versions(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListGuidelineVersionsRequest,
) -> Result<pb::ListGuidelineVersionsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.guideline_id, "guideline_id");
    let page = Page::parse(req.page_size, &req.page_token);
    v.into_result()?;
    let (id, page) = (id.expect("checked"), page?);
    let rows = store::versions(&ctx.pool, &caller.tenant_id, id, &page).await?;
    let keyed: Vec<store::VersionKey<'_>> = rows.iter().map(store::VersionKey).collect();
    Ok(pb::ListGuidelineVersionsResponse {
        next_page_token: page.next_token(&keyed),
        versions: rows.iter().map(convert::guideline).collect(),
    })
}

pub async fn create(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::CreateGuidelineRequest,
) -> Result<pb::Guideline, ServiceError> {
    let mut v = FieldViolations::new();
    let input = checked_input(req.guideline.as_ref(), &mut v);
    let request_id = v.request_id(&req.request_id).to_owned();
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    onboarding::ensure(&mut tx, &[caller.tenant_id.as_str()]).await?;
    let row = store::create(
        &mut tx,
        &caller.tenant_id,
        &caller.subject,
        &input,
        &request_id,
    )
    .await?;
    tx.commit().await?;
    Ok(convert::guideline(&row))
}

pub async fn update(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::UpdateGuidelineRequest,
) -> Result<pb::Guideline, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.guideline_id, "guideline_id");
    v.version(i64::from(req.expected_version), "expected_version");
    let input = checked_input(req.guideline.as_ref(), &mut v);
    v.into_result()?;
    let expected = i32::try_from(req.expected_version)
        .map_err(|_| earshot_server::invalid("expected_version", "is too large"))?;
    let mut tx = ctx.pool.begin().await?;
    let row = store::update(
        &mut tx,
        &caller.tenant_id,
        &caller.subject,
        id.expect("checked"),
        expected,
        &input,
    )
    .await?;
    tx.commit().await?;
    Ok(convert::guideline(&row))
}
