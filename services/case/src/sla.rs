//! SLAs: per-tenant policies by priority and lane, the clocks of each case
//! (started when it opens, paused while it waits on the customer, met when
//! answered or resolved), and the scheduler that marks overdue clocks breached.
//! The scheduler keeps no state of its own: it claims due rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas share the work, and marks a breach in
//! the transaction that enqueues its `SlaBreached`, so a restart neither loses
//! nor repeats one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::case::v1::{
    BusinessHours, CaseStatus, Lane, OpeningHours, PutBusinessHoursRequest, PutSlaPolicyRequest,
    SlaPolicy, SlaTarget, SlaTimer,
};
use earshot_proto::events::v1::{SlaBreached, event};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, ServiceError};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::audit::{self, Record};
use crate::routing::PRIORITIES;

/// Breaches claimed per scheduler transaction.
const BATCH: i64 = 500;
/// How often an idle scheduler looks for overdue clocks.
pub const POLL: Duration = Duration::from_millis(200);
/// Longest clock a policy may set: 90 days.
const MAX_SECONDS: u32 = 90 * 24 * 3600;

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PolicyRow {
    pub id: Uuid,
    pub priority: String,
    pub lane: i16,
    pub first_response_secs: i32,
    pub next_response_secs: i32,
    pub resolution_secs: i32,
    pub business_hours: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const POLICY_COLUMNS: &str = "id, priority, lane, first_response_secs, next_response_secs, \
                              resolution_secs, business_hours, version, created_at";

/// SQL for the moment `secs` seconds after `start` have passed: counting only
/// `tenant`'s business hours where `business` holds (`business_due` in the
/// migration), else every hour. NULL when `secs` is.
pub fn due_expr(tenant: &str, start: &str, secs: &str, business: &str) -> String {
    format!(
        "CASE WHEN {business} THEN business_due({tenant}, {start}, {secs}) \
              ELSE {start} + make_interval(secs => {secs}) END"
    )
}

pub fn policy_to_proto(row: PolicyRow) -> SlaPolicy {
    let secs = |s: i32| u32::try_from(s).unwrap_or(0);
    SlaPolicy {
        priority: row.priority,
        lane: i32::from(row.lane),
        first_response_seconds: secs(row.first_response_secs),
        next_response_seconds: secs(row.next_response_secs),
        resolution_seconds: secs(row.resolution_secs),
        version: row.version,
        business_hours: row.business_hours,
    }
}

pub fn policy_cursor(row: &PolicyRow) -> Cursor {
    Cursor {
        at: row.created_at,
        id: row.id,
    }
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    pub priority: String,
    pub lane: i16,
    pub first_response: i32,
    pub next_response: i32,
    pub resolution: i32,
    pub business_hours: bool,
    pub version: i64,
}

pub fn validate_policy(req: &PutSlaPolicyRequest) -> Result<PolicyInput, ServiceError> {
    let Some(p) = req.policy.as_ref() else {
        return Err(earshot_server::invalid("policy", "is required"));
    };
    let mut v = FieldViolations::new();
    v.check(
        !PRIORITIES.contains(&p.priority.as_str()),
        "policy.priority",
        "must be low, normal, high or urgent",
    );
    let lane = match Lane::try_from(p.lane) {
        Ok(Lane::Unspecified) | Err(_) => {
            v.add("policy.lane", "must be STANDARD or FAST");
            0
        }
        Ok(lane) => lane as i16,
    };
    for (value, field) in [
        (p.first_response_seconds, "policy.first_response_seconds"),
        (p.next_response_seconds, "policy.next_response_seconds"),
        (p.resolution_seconds, "policy.resolution_seconds"),
    ] {
        v.check(value > MAX_SECONDS, field, "must be at most 90 days");
    }
    v.check(
        p.first_response_seconds == 0 && p.next_response_seconds == 0 && p.resolution_seconds == 0,
        "policy",
        "must set at least one clock",
    );
    v.check(
        p.version < 0,
        "policy.version",
        "must be 0 to create, else the version last read",
    );
    v.into_result()?;
    let secs = |s: u32| i32::try_from(s).unwrap_or(i32::MAX);
    Ok(PolicyInput {
        priority: p.priority.clone(),
        lane,
        first_response: secs(p.first_response_seconds),
        next_response: secs(p.next_response_seconds),
        resolution: secs(p.resolution_seconds),
        business_hours: p.business_hours,
        version: p.version,
    })
}

/// Creates (version 0) or updates the tenant's policy for a priority and lane.
/// New clocks follow it; running ones keep the due time they started with.
pub async fn put_policy(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    p: PolicyInput,
) -> Result<PolicyRow, ServiceError> {
    if p.business_hours && get_hours(pool, tenant_id).await?.is_none() {
        return Err(ServiceError::FailedPrecondition(
            "policy.business_hours needs the tenant's business hours: PutBusinessHours first"
                .into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let row: Option<PolicyRow> = if p.version == 0 {
        sqlx::query_as(&format!(
            "INSERT INTO sla_policies (id, tenant_id, priority, lane, first_response_secs,
                                       next_response_secs, resolution_secs, business_hours,
                                       created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
             ON CONFLICT (tenant_id, priority, lane) DO NOTHING
             RETURNING {POLICY_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(&p.priority)
        .bind(p.lane)
        .bind(p.first_response)
        .bind(p.next_response)
        .bind(p.resolution)
        .bind(p.business_hours)
        .fetch_optional(&mut *tx)
        .await?
    } else {
        sqlx::query_as(&format!(
            "UPDATE sla_policies
                SET first_response_secs = $4, next_response_secs = $5, resolution_secs = $6,
                    business_hours = $8, version = version + 1
              WHERE tenant_id = $1 AND priority = $2 AND lane = $3 AND version = $7
             RETURNING {POLICY_COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(&p.priority)
        .bind(p.lane)
        .bind(p.first_response)
        .bind(p.next_response)
        .bind(p.resolution)
        .bind(p.version)
        .bind(p.business_hours)
        .fetch_optional(&mut *tx)
        .await?
    };
    if let Some(row) = row {
        let action = if p.version == 0 {
            "sla_policy.created"
        } else {
            "sla_policy.updated"
        };
        audit::commit_configuration(tx, tenant_id, actor, action, p.version, &row).await?;
        return Ok(row);
    }
    drop(tx);
    let current: Option<PolicyRow> = sqlx::query_as(&format!(
        "SELECT {POLICY_COLUMNS} FROM sla_policies
          WHERE tenant_id = $1 AND priority = $2 AND lane = $3"
    ))
    .bind(tenant_id)
    .bind(&p.priority)
    .bind(p.lane)
    .fetch_optional(pool)
    .await?;
    let what = format!("SLA policy for {} priority", p.priority);
    let current = current.map(|row| {
        let same = (
            row.first_response_secs,
            row.next_response_secs,
            row.resolution_secs,
            row.business_hours,
        ) == (
            p.first_response,
            p.next_response,
            p.resolution,
            p.business_hours,
        );
        (row.version, same, row)
    });
    unapplied_put(&what, p.version, current)
}

/// The answer to a versioned put (`asked` 0 creates, else the version read)
/// that neither inserted nor updated, given what is stored now: its version,
/// whether it already holds what was asked, and the row. A retried create of
/// the same content answers with it.
fn unapplied_put<R>(
    what: &str,
    asked: i64,
    current: Option<(i64, bool, R)>,
) -> Result<R, ServiceError> {
    Err(match current {
        None => ServiceError::NotFound(what.to_owned()),
        Some((1, true, row)) if asked == 0 => return Ok(row),
        Some((version, _, _)) if asked == 0 => ServiceError::AlreadyExists(format!(
            "{what}: version {version} exists; update it with that version"
        )),
        Some((version, _, _)) => ServiceError::Aborted(format!(
            "{what} changed since version {asked}; it is at version {version}"
        )),
    })
}

pub async fn list_policies(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<PolicyRow>, ServiceError> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT {POLICY_COLUMNS} FROM sla_policies
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
          ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// A tenant's weekly business hours, as stored: minutes after local midnight
/// by ISO weekday (index 0 Monday); `opens == closes` is a closed day.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct HoursRow {
    pub time_zone: String,
    pub opens: Vec<i16>,
    pub closes: Vec<i16>,
    pub version: i64,
}

pub fn hours_to_proto(row: HoursRow) -> BusinessHours {
    let days = (0..7)
        .filter(|&d| row.closes.get(d) > row.opens.get(d))
        .map(|d| OpeningHours {
            weekday: d as u32 + 1,
            opens_minute: u32::try_from(row.opens[d]).unwrap_or(0),
            closes_minute: u32::try_from(row.closes[d]).unwrap_or(0),
        })
        .collect();
    BusinessHours {
        time_zone: row.time_zone,
        days,
        version: row.version,
    }
}

/// Checked business hours: the week as stored and the version read.
#[derive(Debug, Clone, PartialEq)]
pub struct HoursInput {
    pub time_zone: String,
    pub opens: [i16; 7],
    pub closes: [i16; 7],
    pub version: i64,
}

const MINUTES_A_DAY: u32 = 24 * 60;

pub fn validate_hours(req: &PutBusinessHoursRequest) -> Result<HoursInput, ServiceError> {
    let Some(h) = req.hours.as_ref() else {
        return Err(earshot_server::invalid("hours", "is required"));
    };
    let mut v = FieldViolations::new();
    let zone = h.time_zone.trim();
    v.check(
        zone.is_empty() || zone.len() > 64,
        "hours.time_zone",
        "must be an IANA time zone such as Europe/Berlin",
    );
    v.check(
        h.days.is_empty(),
        "hours.days",
        "must open on at least one day",
    );
    let mut opens = [0i16; 7];
    let mut closes = [0i16; 7];
    let mut seen = [false; 7];
    for (i, day) in h.days.iter().enumerate() {
        let field = |name: &str| format!("hours.days[{i}].{name}");
        match usize::try_from(day.weekday)
            .ok()
            .filter(|d| (1..=7).contains(d))
        {
            None => v.add(field("weekday"), "must be 1 (Monday) to 7 (Sunday)"),
            Some(d) if seen[d - 1] => v.add(field("weekday"), "is listed twice"),
            Some(d) => {
                seen[d - 1] = true;
                if day.closes_minute > MINUTES_A_DAY {
                    v.add(field("closes_minute"), "must be at most 1440 (midnight)");
                } else if day.opens_minute >= day.closes_minute {
                    v.add(field("opens_minute"), "must be before closes_minute");
                } else {
                    // Both fit: at most 1440.
                    opens[d - 1] = day.opens_minute as i16;
                    closes[d - 1] = day.closes_minute as i16;
                }
            }
        }
    }
    v.check(
        h.version < 0,
        "hours.version",
        "must be 0 to create, else the version last read",
    );
    v.into_result()?;
    Ok(HoursInput {
        time_zone: zone.to_owned(),
        opens,
        closes,
        version: h.version,
    })
}

const HOURS_COLUMNS: &str = "time_zone, opens, closes, version";

pub async fn get_hours(pool: &PgPool, tenant_id: &str) -> Result<Option<HoursRow>, ServiceError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {HOURS_COLUMNS} FROM business_hours WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?)
}

/// Creates (version 0) or updates the tenant's business hours.
pub async fn put_hours(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    h: HoursInput,
) -> Result<HoursRow, ServiceError> {
    let known: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
            .bind(&h.time_zone)
            .fetch_one(pool)
            .await?;
    if !known {
        return Err(earshot_server::invalid(
            "hours.time_zone",
            "is not a time zone this database knows; use an IANA name such as Europe/Berlin",
        ));
    }
    let sql = if h.version == 0 {
        format!(
            "INSERT INTO business_hours (tenant_id, time_zone, opens, closes, updated_at)
             VALUES ($1, $2, $3, $4, now())
             ON CONFLICT (tenant_id) DO NOTHING
             RETURNING {HOURS_COLUMNS}"
        )
    } else {
        format!(
            "UPDATE business_hours
                SET time_zone = $2, opens = $3, closes = $4, version = version + 1,
                    updated_at = now()
              WHERE tenant_id = $1 AND version = $5
             RETURNING {HOURS_COLUMNS}"
        )
    };
    let mut tx = pool.begin().await?;
    let row: Option<HoursRow> = sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(&h.time_zone)
        .bind(h.opens.as_slice())
        .bind(h.closes.as_slice())
        .bind(h.version)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = row {
        let action = if h.version == 0 {
            "business_hours.created"
        } else {
            "business_hours.updated"
        };
        audit::commit_configuration(tx, tenant_id, actor, action, h.version, &row).await?;
        return Ok(row);
    }
    drop(tx);
    let current = get_hours(pool, tenant_id).await?.map(|row| {
        let same = row.time_zone == h.time_zone && row.opens == h.opens && row.closes == h.closes;
        (row.version, same, row)
    });
    unapplied_put("business hours", h.version, current)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimerRow {
    pub case_id: Uuid,
    pub target: i16,
    pub state: i16,
    pub due_at: Option<DateTime<Utc>>,
    pub remaining_secs: Option<f64>,
    pub breached_at: Option<DateTime<Utc>>,
}

pub fn timer_to_proto(row: &TimerRow) -> SlaTimer {
    SlaTimer {
        target: i32::from(row.target),
        state: i32::from(row.state),
        due_at: row.due_at.map(timestamp),
        breached_at: row.breached_at.map(timestamp),
        remaining_seconds: row
            .remaining_secs
            .map_or(0, |s| s.clamp(0.0, f64::from(u32::MAX)) as u32),
    }
}

/// Recomputes each case's `sla_due_at`: the earliest due time of a running or
/// breached clock.
async fn refresh_due(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cases c
            SET sla_due_at = (SELECT min(t.due_at) FROM case_sla_timers t
                               WHERE t.case_id = c.id AND t.state IN (1, 4))
          WHERE c.id = ANY($1)",
    )
    .bind(cases)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts the first-response and resolution clocks of newly opened cases by
/// their tenant's policy for the case's priority and lane. Set-based. The
/// cases' `sla_due_at` was set when they were inserted (`cases::opening_due`).
pub async fn start(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    if cases.is_empty() {
        return Ok(());
    }
    let due = due_expr("c.tenant_id", "c.opened_at", "t.secs", "p.business_hours");
    sqlx::query(&format!(
        "INSERT INTO case_sla_timers (case_id, tenant_id, target, state, due_at, business_hours)
         SELECT c.id, c.tenant_id, t.target, 1, {due}, p.business_hours
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
          CROSS JOIN LATERAL (VALUES (1::int2, p.first_response_secs),
                                     (3::int2, p.resolution_secs)) AS t(target, secs)
          WHERE c.id = ANY($1) AND t.secs > 0
         ON CONFLICT (case_id, target) DO NOTHING"
    ))
    .bind(cases)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Starts (or restarts) the next-response clock of cases the customer wrote
/// to again after their first reply; a clock already running keeps its time.
pub async fn start_next_response(
    conn: &mut PgConnection,
    cases: &[Uuid],
) -> Result<(), sqlx::Error> {
    if cases.is_empty() {
        return Ok(());
    }
    let due = due_expr(
        "c.tenant_id",
        "now()",
        "p.next_response_secs",
        "p.business_hours",
    );
    let started: Vec<Uuid> = sqlx::query_scalar(&format!(
        "INSERT INTO case_sla_timers (case_id, tenant_id, target, state, due_at, business_hours)
         SELECT c.id, c.tenant_id, 2, 1, {due}, p.business_hours
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
           JOIN case_sla_timers f ON f.case_id = c.id AND f.target = 1 AND f.state = 3
          WHERE c.id = ANY($1) AND p.next_response_secs > 0
         ON CONFLICT (case_id, target) DO UPDATE
            SET state = 1, due_at = EXCLUDED.due_at, breached_at = NULL, remaining_secs = NULL,
                business_hours = EXCLUDED.business_hours
          WHERE case_sla_timers.state IN (3, 4)
         RETURNING case_id"
    ))
    .bind(cases)
    .fetch_all(&mut *conn)
    .await?;
    refresh_due(conn, &started).await
}

/// A reply meets the response clocks that run (or wait) on the case.
pub async fn met_by_reply(conn: &mut PgConnection, case_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE case_sla_timers SET state = 3, remaining_secs = NULL
          WHERE case_id = $1 AND target IN (1, 2) AND state IN (1, 2)",
    )
    .bind(case_id)
    .execute(&mut *conn)
    .await?;
    refresh_due(conn, &[case_id]).await
}

/// After a case's priority or lane changed: running clocks take the new
/// policy's time from when they started (the case's opening) when that is
/// sooner than their current due time.
pub async fn tighten(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    let due = due_expr(
        "c.tenant_id",
        "c.opened_at",
        "CASE t.target WHEN 1 THEN p.first_response_secs ELSE p.resolution_secs END",
        "p.business_hours",
    );
    sqlx::query(&format!(
        "UPDATE case_sla_timers t
            SET due_at = least(t.due_at, {due})
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
          WHERE t.case_id = c.id AND c.id = ANY($1) AND t.state = 1 AND t.target IN (1, 3)
            AND CASE t.target WHEN 1 THEN p.first_response_secs ELSE p.resolution_secs END > 0"
    ))
    .bind(cases)
    .execute(&mut *conn)
    .await?;
    // Clocks the old policy did not run start under the new one.
    start(conn, cases).await?;
    refresh_due(conn, cases).await
}

/// Moves the clocks of cases whose status changed: paused while pending the
/// customer, running again when they leave it, met (or stopped) when resolved
/// or closed, and a fresh resolution clock when a resolved case reopens.
pub async fn on_status(
    conn: &mut PgConnection,
    changes: &[(Uuid, CaseStatus, CaseStatus)],
) -> Result<(), sqlx::Error> {
    let pick = |f: &dyn Fn(CaseStatus, CaseStatus) -> bool| -> Vec<Uuid> {
        changes
            .iter()
            .filter(|(_, from, to)| f(*from, *to))
            .map(|(id, _, _)| *id)
            .collect()
    };
    let pause = pick(&|_, to| to == CaseStatus::PendingCustomer);
    let resume = pick(&|from, to| {
        from == CaseStatus::PendingCustomer
            && !matches!(to, CaseStatus::Resolved | CaseStatus::Closed)
    });
    let stop = pick(&|_, to| matches!(to, CaseStatus::Resolved | CaseStatus::Closed));
    let reopen = pick(&|from, to| from == CaseStatus::Resolved && to == CaseStatus::Open);
    if !pause.is_empty() {
        sqlx::query(
            "UPDATE case_sla_timers
                SET state = 2, due_at = NULL,
                    remaining_secs = CASE WHEN business_hours
                        THEN business_seconds(tenant_id, now(), due_at)
                        ELSE greatest(0, extract(epoch FROM due_at - now())) END
              WHERE case_id = ANY($1) AND state = 1",
        )
        .bind(&pause)
        .execute(&mut *conn)
        .await?;
    }
    if !resume.is_empty() {
        let due = due_expr("tenant_id", "now()", "remaining_secs", "business_hours");
        sqlx::query(&format!(
            "UPDATE case_sla_timers SET state = 1, due_at = {due}, remaining_secs = NULL
              WHERE case_id = ANY($1) AND state = 2"
        ))
        .bind(&resume)
        .execute(&mut *conn)
        .await?;
    }
    if !stop.is_empty() {
        sqlx::query(
            "UPDATE case_sla_timers SET state = 3, remaining_secs = NULL
              WHERE case_id = ANY($1) AND state IN (1, 2)",
        )
        .bind(&stop)
        .execute(&mut *conn)
        .await?;
    }
    if !reopen.is_empty() {
        // The reopened problem gets the policy's whole resolution time again.
        let due = due_expr(
            "c.tenant_id",
            "now()",
            "p.resolution_secs",
            "p.business_hours",
        );
        sqlx::query(&format!(
            "UPDATE case_sla_timers t
                SET state = 1, due_at = {due}, breached_at = NULL, remaining_secs = NULL,
                    business_hours = p.business_hours
               FROM cases c
               JOIN sla_policies p
                 ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
              WHERE t.case_id = c.id AND c.id = ANY($1) AND t.target = 3 AND t.state IN (3, 4)
                AND p.resolution_secs > 0"
        ))
        .bind(&reopen)
        .execute(&mut *conn)
        .await?;
    }
    let touched: Vec<Uuid> = changes.iter().map(|(id, _, _)| *id).collect();
    refresh_due(conn, &touched).await
}

/// A clock past its due time, claimed by the scheduler.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    case_id: Uuid,
    tenant_id: String,
    target: i16,
    due_at: DateTime<Utc>,
    priority: String,
    lane: i16,
}

fn target_label(target: i16) -> &'static str {
    SlaTarget::try_from(i32::from(target))
        .unwrap_or(SlaTarget::Unspecified)
        .as_str_name()
        .trim_start_matches("SLA_TARGET_")
}

/// One round of the scheduler: claims up to a batch of overdue running
/// clocks, marks them breached, audits them and enqueues `SlaBreached`, all in
/// one transaction. Returns how many it marked.
pub async fn breach_due(pool: &PgPool, outbox: &Outbox) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<Due> = sqlx::query_as(
        "WITH claimed AS (
             SELECT case_id, target FROM case_sla_timers
              WHERE state = 1 AND due_at <= now()
              ORDER BY due_at
              LIMIT $1
              FOR UPDATE SKIP LOCKED
         )
         UPDATE case_sla_timers t SET state = 4, breached_at = now()
           FROM claimed, cases c
          WHERE t.case_id = claimed.case_id AND t.target = claimed.target AND c.id = t.case_id
         RETURNING t.case_id, t.tenant_id, t.target, t.due_at, c.priority, c.lane",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = due.iter().map(|d| d.tenant_id.as_str()).collect();
    let records: Vec<Record> = due
        .iter()
        .map(|d| {
            Record::case(
                d.case_id,
                "case.sla_breached",
                json!({ "target": target_label(d.target), "state": "RUNNING" }),
                json!({ "target": target_label(d.target), "state": "BREACHED", "due_at": d.due_at.to_rfc3339() }),
            )
        })
        .collect();
    audit::append_for(&mut tx, &tenants, audit::SYSTEM, &records).await?;
    let events = due
        .iter()
        .map(|d| {
            new_event(
                crate::NAME,
                &d.tenant_id,
                d.case_id.to_string(),
                event::Payload::SlaBreached(SlaBreached {
                    case_id: d.case_id.to_string(),
                    target: target_label(d.target).to_owned(),
                    due_at: Some(timestamp(d.due_at)),
                    priority: d.priority.clone(),
                    lane: Lane::try_from(i32::from(d.lane))
                        .unwrap_or(Lane::Unspecified)
                        .as_str_name()
                        .trim_start_matches("LANE_")
                        .to_owned(),
                }),
            )
        })
        .collect();
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(due.len())
}

/// The scheduler: marks overdue clocks breached and overdue commitments
/// until `shutdown`. Errors (a database outage) are logged and retried on
/// the next round.
pub async fn run(pool: PgPool, outbox: Outbox, shutdown: CancellationToken) {
    loop {
        let round = async {
            let breached = breach_due(&pool, &outbox).await?;
            let overdue = crate::commitments::mark_overdue(&pool, &outbox).await?;
            Ok::<_, sqlx::Error>(breached.max(overdue))
        };
        let marked = tokio::select! {
            () = shutdown.cancelled() => return,
            marked = round => marked,
        };
        match marked {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler round failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::case::v1::SlaState;

    #[test]
    fn policies_name_their_bad_fields() {
        let err = validate_policy(&PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: "asap".into(),
                lane: 0,
                first_response_seconds: MAX_SECONDS + 1,
                ..Default::default()
            }),
        })
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "policy.priority",
            "policy.lane",
            "policy.first_response_seconds",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert_eq!(
            target_label(SlaTarget::FirstResponse as i16),
            "FIRST_RESPONSE"
        );
        assert_eq!(SlaState::Breached as i16, 4, "the SQL above relies on it");
        assert_eq!(SlaState::Running as i16, 1);
        assert_eq!(SlaState::Paused as i16, 2);
        assert_eq!(SlaState::Met as i16, 3);
    }
}
