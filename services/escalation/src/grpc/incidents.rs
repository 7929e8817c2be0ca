//! Incident RPCs.

use earshot_auth::Caller;
use earshot_proto::escalation::v1 as pb;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError};
use uuid::Uuid;

use super::{convert, one_id};
use crate::guidelines;
use crate::incidents::{self, Change, NewIncident, store};
use crate::timeline;
use crate::vocabulary::{IncidentState, Severity};

const MAX_TITLE_CHARS: usize = 300;
const MAX_TEXT_CHARS: usize = 4000;
const MAX_LINKS: usize = 500;

fn ids(raw: &[String], field: &str, v: &mut FieldViolations) -> Vec<Uuid> {
    v.check(raw.len() > MAX_LINKS, field, "must name at most 500");
    raw.iter()
        .enumerate()
        .filter_map(|(i, id)| v.id(id, &format!("{field}[{i}]")))
        .collect()
}

fn mention_ids(raw: &[String], field: &str, v: &mut FieldViolations) -> Vec<String> {
    v.check(raw.len() > MAX_LINKS, field, "must name at most 500");
    for (i, id) in raw.iter().enumerate() {
        v.check(
            id.trim().is_empty() || id.len() > 128,
            format!("{field}[{i}]"),
            "must be a mention id",
        );
    }
    raw.to_vec()
}

fn text(raw: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    v.check(
        raw.chars().count() > MAX_TEXT_CHARS,
        field,
        "must be at most 4000 characters",
    );
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

async fn with_timeline(
    ctx: &ServiceContext,
    row: &incidents::IncidentRow,
) -> Result<pb::Incident, ServiceError> {
    let mut conn = ctx.pool.acquire().await?;
    let steps = timeline::of(&mut conn, &row.tenant_id, row.id).await?;
    let joined = store::joined(&mut conn, &[row.id]).await?;
    let row = row.clone().with(joined.get(&row.id));
    Ok(convert::incident(&row, convert::timeline(steps)))
}

pub async fn open(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::OpenIncidentRequest,
) -> Result<pb::Incident, ServiceError> {
    let mut v = FieldViolations::new();
    let title = req.title.trim();
    v.check(title.is_empty(), "title", "is required");
    v.check(
        title.chars().count() > MAX_TITLE_CHARS,
        "title",
        "must be at most 300 characters",
    );
    let severity = match req.severity {
        0 => Some(incidents::DEFAULT_SEVERITY),
        n => Severity::from_proto(n),
    };
    v.check(
        severity.is_none(),
        "severity",
        "must be SEV1, SEV2, SEV3 or SEV4",
    );
    v.check(
        req.commander.chars().count() > 200,
        "commander",
        "must be at most 200 characters",
    );
    let escalation_ids = ids(&req.escalation_ids, "escalation_ids", &mut v);
    let case_ids = ids(&req.case_ids, "case_ids", &mut v);
    let mention_ids = mention_ids(&req.mention_ids, "mention_ids", &mut v);
    if let Some(statement) = &req.holding_statement {
        guidelines::check_statement(statement, "holding_statement", &mut v);
    }
    let request_id = v.request_id(&req.request_id).to_owned();
    v.into_result()?;
    let statement = req.holding_statement.unwrap_or_default();
    let commander = match req.commander.trim() {
        "" => caller.subject.clone(),
        name => name.to_owned(),
    };
    let mut tx = ctx.pool.begin().await?;
    let known =
        crate::escalations::store::exist(&mut tx, &caller.tenant_id, &escalation_ids).await?;
    if let Some(missing) = escalation_ids.iter().find(|e| !known.contains(e)) {
        return Err(ServiceError::NotFound(format!("escalation {missing}")));
    }
    let row = incidents::open(
        &mut tx,
        &ctx.outbox,
        &caller.subject,
        NewIncident {
            tenant_id: caller.tenant_id.clone(),
            title: title.to_owned(),
            severity: severity.expect("checked"),
            commander,
            guideline: None,
            drill_id: None,
            escalation_ids,
            mention_ids,
            case_ids,
            statement_proposed: guidelines::render(
                &statement.template,
                &[
                    ("guideline", ""),
                    ("severity", severity.expect("checked").label()),
                    ("topic", "this"),
                    ("trigger", "opened by hand"),
                ],
            ),
            first_within_seconds: statement.first_within_seconds as i32,
            update_every_seconds: statement.update_every_seconds as i32,
            notify: true,
            request_id: Some(request_id),
        },
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    with_timeline(ctx, &row).await
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetIncidentRequest,
) -> Result<pb::Incident, ServiceError> {
    let id = one_id(&req.incident_id, "incident_id")?;
    let mut conn = ctx.pool.acquire().await?;
    let row = store::get(&mut conn, &caller.tenant_id, id).await?;
    drop(conn);
    with_timeline(ctx, &row).await
}

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListIncidentsRequest,
) -> Result<pb::ListIncidentsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let state = match req.state {
        0 => None,
        n => {
            let state = IncidentState::from_proto(n);
            v.check(state.is_none(), "state", "is not an incident state");
            state
        }
    };
    let page = Page::parse(req.page_size, &req.page_token);
    v.into_result()?;
    let page = page?;
    let filter = store::Filter {
        state,
        include_drills: req.include_drills,
    };
    let rows = store::list(&ctx.pool, &caller.tenant_id, &filter, &page).await?;
    let next_page_token = page.next_token(&rows);
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut conn = ctx.pool.acquire().await?;
    let joined = store::joined(&mut conn, &ids).await?;
    Ok(pb::ListIncidentsResponse {
        next_page_token,
        incidents: rows
            .into_iter()
            .map(|r| {
                let id = r.id;
                convert::incident(&r.with(joined.get(&id)), Vec::new())
            })
            .collect(),
    })
}

pub async fn update(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::UpdateIncidentRequest,
) -> Result<pb::Incident, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.incident_id, "incident_id");
    v.version(i64::from(req.expected_version), "expected_version");
    let state = match req.state {
        0 => None,
        n => {
            let state = IncidentState::from_proto(n);
            v.check(state.is_none(), "state", "is not an incident state");
            state
        }
    };
    v.check(
        req.commander.chars().count() > 200,
        "commander",
        "must be at most 200 characters",
    );
    let learning_note = text(&req.learning_note, "learning_note", &mut v);
    let change = Change {
        expected_version: i32::try_from(req.expected_version).unwrap_or(i32::MAX),
        state,
        commander: Some(req.commander.trim().to_owned()).filter(|c| !c.is_empty()),
        learning_note,
        escalation_ids: ids(&req.link_escalation_ids, "link_escalation_ids", &mut v),
        mention_ids: mention_ids(&req.link_mention_ids, "link_mention_ids", &mut v),
        case_ids: ids(&req.link_case_ids, "link_case_ids", &mut v),
    };
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let known =
        crate::escalations::store::exist(&mut tx, &caller.tenant_id, &change.escalation_ids)
            .await?;
    if let Some(missing) = change.escalation_ids.iter().find(|e| !known.contains(e)) {
        return Err(ServiceError::NotFound(format!("escalation {missing}")));
    }
    let row = incidents::update(
        &mut tx,
        &ctx.outbox,
        &caller.tenant_id,
        &caller.subject,
        id.expect("checked"),
        change,
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    with_timeline(ctx, &row).await
}

pub async fn approve(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ApproveHoldingStatementRequest,
) -> Result<pb::Incident, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.incident_id, "incident_id");
    let text = text(&req.text, "text", &mut v);
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let row = incidents::approve_statement(
        &mut tx,
        &ctx.outbox,
        &caller.tenant_id,
        &caller.subject,
        id.expect("checked"),
        text,
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    with_timeline(ctx, &row).await
}

pub async fn post(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::PostIncidentStatementRequest,
) -> Result<pb::Incident, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.incident_id, "incident_id");
    let text = text(&req.text, "text", &mut v);
    v.into_result()?;
    let mut tx = ctx.pool.begin().await?;
    let row = incidents::post_statement(
        &mut tx,
        &ctx.outbox,
        &caller.tenant_id,
        &caller.subject,
        id.expect("checked"),
        text,
    )
    .await?;
    tx.commit().await?;
    ctx.outbox.wake();
    with_timeline(ctx, &row).await
}
