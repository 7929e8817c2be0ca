//! The improvement loop: items, their impact and the customers to tell.

use chrono::{NaiveDate, Utc};
use earshot_auth::Caller;
use earshot_proto::insight::v1 as pb;
use earshot_server::{FieldViolations, Page, ServiceContext, ServiceError, convert::timestamp};

use super::one_id;
use crate::drivers::{check_key, key};
use crate::improvements::impact::{MAX_WEEKS, Weeks};
use crate::improvements::{
    self, AffectedCustomer, Change, DriverKey, Improvement, MAX_DRIVERS, NewImprovement, Status,
};
use crate::range::to_day;

const MAX_TITLE_CHARS: usize = 200;
const MAX_NAME_CHARS: usize = 100;
const MAX_NOTE_CHARS: usize = 2000;

/// A text field trimmed, at most `max` characters; required or not.
fn text(raw: &str, field: &str, max: usize, required: bool, v: &mut FieldViolations) -> String {
    let t = raw.trim();
    v.check(required && t.is_empty(), field, "is required");
    v.check(
        t.chars().count() > max,
        field,
        &format!("must be at most {max} characters"),
    );
    t.to_owned()
}

/// An optional text field of an update: empty leaves it as it is.
fn changed(raw: &str, field: &str, max: usize, v: &mut FieldViolations) -> Option<String> {
    let t = text(raw, field, max, false, v);
    (!t.is_empty()).then_some(t)
}

fn day(raw: Option<&pb::Day>, field: &str, v: &mut FieldViolations) -> Option<NaiveDate> {
    raw.and_then(|d| v.day(d.year, d.month, d.day, field))
}

fn driver(k: &pb::DriverKey, field: &str, v: &mut FieldViolations) -> DriverKey {
    check_key(k, field, false, v);
    DriverKey {
        topic: k.topic.trim().to_owned(),
        intent: i16::try_from(k.intent).unwrap_or(0),
        rule_id: k.rule_id.trim().to_owned(),
    }
}

fn drivers(raw: &[pb::DriverKey], v: &mut FieldViolations) -> Vec<DriverKey> {
    v.check(raw.is_empty(), "drivers", "is required: 1 to 20 drivers");
    v.check(raw.len() > MAX_DRIVERS, "drivers", "must be at most 20");
    let mut out: Vec<DriverKey> = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let field = format!("drivers[{i}]");
        let d = driver(k, &field, v);
        if let Some(j) = out.iter().position(|o| *o == d) {
            v.add(field, format!("repeats drivers[{j}]"));
        }
        out.push(d);
    }
    out
}

fn status(raw: i32, v: &mut FieldViolations) -> Option<Status> {
    if raw == 0 {
        return None;
    }
    let status = Status::from_proto(raw);
    v.check(status.is_none(), "status", "must be a known status");
    status
}

fn improvement(i: Improvement) -> pb::Improvement {
    pb::Improvement {
        improvement_id: i.id.to_string(),
        title: i.title,
        owner: i.owner,
        team: i.team,
        status: i.status.to_proto(),
        due: i.due_on.map(to_day),
        fixed_on: i.fixed_on.map(to_day),
        drivers: i
            .drivers
            .iter()
            .map(|d| key(&d.topic, d.intent, &d.rule_id))
            .collect(),
        note: i.note,
        version: i.version,
        created_at: Some(timestamp(i.created_at)),
        updated_at: Some(timestamp(i.updated_at)),
        customers_told: u64::try_from(i.customers_told).unwrap_or(0),
    }
}

fn affected_customer(c: AffectedCustomer) -> pb::AffectedCustomer {
    pb::AffectedCustomer {
        author: c.author,
        handle: c.handle,
        customer_id: c.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        last_mention_id: c.last_mention_id.to_string(),
        last_contact_at: Some(timestamp(c.last_contact_at)),
        told: c.told,
    }
}

pub async fn create(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::CreateImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    let mut v = FieldViolations::new();
    let new = NewImprovement {
        tenant_id: caller.tenant_id.clone(),
        title: text(&req.title, "title", MAX_TITLE_CHARS, true, &mut v),
        owner: text(&req.owner, "owner", MAX_NAME_CHARS, true, &mut v),
        team: text(&req.team, "team", MAX_NAME_CHARS, true, &mut v),
        due_on: day(req.due.as_ref(), "due", &mut v),
        drivers: drivers(&req.drivers, &mut v),
        note: text(&req.note, "note", MAX_NOTE_CHARS, false, &mut v),
        request_id: v.request_id(&req.request_id).to_owned(),
    };
    v.into_result()?;
    Ok(improvement(improvements::create(&ctx.pool, &new).await?))
}

pub async fn update(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::UpdateImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    let today = Utc::now().date_naive();
    let mut v = FieldViolations::new();
    let id = v.id(&req.improvement_id, "improvement_id");
    v.version(req.version, "version");
    let status = status(req.status, &mut v);
    let fixed_on = day(req.fixed_on.as_ref(), "fixed_on", &mut v);
    if let Some(fixed_on) = fixed_on {
        v.check(
            status != Some(Status::Fixed),
            "fixed_on",
            "is only set with status FIXED",
        );
        v.check(fixed_on > today, "fixed_on", "must not be in the future");
    }
    let change = Change {
        status,
        owner: changed(&req.owner, "owner", MAX_NAME_CHARS, &mut v),
        team: changed(&req.team, "team", MAX_NAME_CHARS, &mut v),
        due_on: day(req.due.as_ref(), "due", &mut v),
        note: changed(&req.note, "note", MAX_NOTE_CHARS, &mut v),
        fixed_on,
    };
    v.into_result()?;
    let id = id.expect("checked");
    let item = improvements::update(
        &ctx.pool,
        &ctx.outbox,
        &caller.tenant_id,
        id,
        req.version,
        &change,
        today,
    )
    .await?;
    Ok(improvement(item))
}

pub async fn get(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetImprovementRequest,
) -> Result<pb::Improvement, ServiceError> {
    let id = one_id(&req.improvement_id, "improvement_id")?;
    Ok(improvement(
        improvements::store::get(&ctx.pool, &caller.tenant_id, id).await?,
    ))
}

pub async fn list(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListImprovementsRequest,
) -> Result<pb::ListImprovementsResponse, ServiceError> {
    let mut v = FieldViolations::new();
    let status = status(req.status, &mut v);
    v.into_result()?;
    let page = Page::parse(req.page_size, &req.page_token)?;
    let items = improvements::store::list(&ctx.pool, &caller.tenant_id, status, &page).await?;
    Ok(pb::ListImprovementsResponse {
        next_page_token: page.next_token(&items),
        improvements: items.into_iter().map(improvement).collect(),
    })
}

pub async fn impact(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::GetImpactRequest,
) -> Result<pb::Impact, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(&req.improvement_id, "improvement_id");
    let weeks = Weeks::new(req.weeks);
    v.check(
        weeks.is_none(),
        "weeks",
        &format!("must be at most {MAX_WEEKS}"),
    );
    // A control without a topic is no control: the closest driver is found.
    let control = req
        .control
        .as_ref()
        .filter(|k| !k.topic.trim().is_empty())
        .map(|k| driver(k, "control", &mut v));
    v.into_result()?;
    let (id, weeks) = (id.expect("checked"), weeks.expect("checked"));
    improvements::impact_of(&ctx.pool, &caller.tenant_id, id, weeks, control).await
}

pub async fn affected(
    ctx: &ServiceContext,
    caller: &Caller,
    req: pb::ListAffectedCustomersRequest,
) -> Result<pb::ListAffectedCustomersResponse, ServiceError> {
    let id = one_id(&req.improvement_id, "improvement_id")?;
    let page = Page::parse(req.page_size, &req.page_token)?;
    let today = Utc::now().date_naive();
    let customers =
        improvements::affected_customers(&ctx.pool, &caller.tenant_id, id, &page, today).await?;
    Ok(pb::ListAffectedCustomersResponse {
        next_page_token: page.next_token(&customers),
        customers: customers.into_iter().map(affected_customer).collect(),
    })
}
