//! Escalation RPCs.

use earshot_auth::Caller;
use earshot_proto::escalation::v1 as pb;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};

use super::{convert, one_id};
use crate::escalations::{self, store};
use crate::timeline;
use crate::vocabulary::{EscalationState, Team};

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListEscalationsRequest,
) -> Result<pb::ListEscalationsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let state = match req.state {
        0 => None,
        n => {
            let state = EscalationState::from_proto(n);
            v.check(state.is_none(), "state", "is not an escalation state");
            state
        }
    };
    let page = Page::parse(req.page_size, &req.page_token);
    v.into_result()?;
    let page = page?;
    let filter = store::Filter {
        state,
        include_drills: req.include_drills,
        drill_id: None,
    };
    let rows = store::list(&ctx.pool, &caller.tenant_id, &filter, &page).await?;
    Ok(pb::ListEscalationsResponse {
        next_page_token: page.next_token(&rows),
        escalations: rows
            .iter()
            .map(|r| convert::escalation(r, Vec::new()))
            .collect(),
    })
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetEscalationRequest,
) -> Result<pb::Escalation, ServiceError> {
    let id = one_id(&req.escalation_id, "escalation_id")?;
    let mut conn = ctx.pool.acquire().await?;
    let row = store::get(&mut conn, &caller.tenant_id, id).await?;
    let steps = timeline::of(&mut conn, &caller.tenant_id, id).await?;
    Ok(convert::escalation(&row, convert::timeline(steps)))
}

pub async fn acknowledge(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::AcknowledgeEscalationRequest,
) -> Result<pb::Escalation, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.escalation_id, "escalation_id");
    let team = Team::from_proto(req.team);
    v.check(
        team.is_none(),
        "team",
        "must name the team the acknowledger answers for",
    );
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let row = escalations::acknowledge(
        &mut tx,
        &ctx.outbox,
        &caller.tenant_id,
        id.expect("checked"),
        &caller.subject,
        team.expect("checked"),
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    Ok(convert::escalation(&row, Vec::new()))
}

pub async fn resolve(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ResolveEscalationRequest,
) -> Result<pb::Escalation, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.escalation_id, "escalation_id");
    v.check(
        req.note.chars().count() > 4000,
        "note",
        "must be at most 4000 characters",
    );
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let row = escalations::resolve(
        &mut tx,
        &ctx.outbox,
        &caller.tenant_id,
        id.expect("checked"),
        &caller.subject,
        req.note.trim(),
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    Ok(convert::escalation(&row, Vec::new()))
}
