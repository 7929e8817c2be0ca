//! SLA tables: `sla_policies`, `business_hours` and each case's clocks in
//! `case_sla_timers`, with the case's `sla_due_at` kept in step.

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{SlaBreached, event};
use earshot_server::convert::{Cursor, timestamp};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{ClockMoves, HoursInput, PolicyInput};
use crate::audit::{self, Record};
use crate::record;
use crate::vocabulary::{Lane, Priority, SlaState, SlaTarget};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PolicyRow {
    pub id: Uuid,
    pub priority: Priority,
    pub lane: Lane,
    pub first_response_secs: i32,
    pub next_response_secs: i32,
    pub resolution_secs: i32,
    pub business_hours: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

impl PolicyRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
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

/// A new case's `sla_due_at`, computed in its INSERT from the policy `p`
/// joined on its priority and lane, `tenant` being the case's tenant and
/// `opened` its opening time: the sooner of the first-response and
/// resolution clocks, as [`start`] starts them. Setting it at insert spares
/// every new case an update.
pub fn opening_due(tenant: &str, opened: &str) -> String {
    due_expr(
        tenant,
        opened,
        "least(nullif(p.first_response_secs, 0), nullif(p.resolution_secs, 0))",
        "p.business_hours",
    )
}

pub async fn insert_policy(
    conn: &mut PgConnection,
    tenant_id: &str,
    p: &PolicyInput,
) -> Result<Option<PolicyRow>, sqlx::Error> {
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
    .bind(p.priority)
    .bind(p.lane)
    .bind(p.first_response)
    .bind(p.next_response)
    .bind(p.resolution)
    .bind(p.business_hours)
    .fetch_optional(conn)
    .await
}

pub async fn update_policy(
    conn: &mut PgConnection,
    tenant_id: &str,
    p: &PolicyInput,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE sla_policies
            SET first_response_secs = $4, next_response_secs = $5, resolution_secs = $6,
                business_hours = $8, version = version + 1
          WHERE tenant_id = $1 AND priority = $2 AND lane = $3 AND version = $7
         RETURNING {POLICY_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(p.priority)
    .bind(p.lane)
    .bind(p.first_response)
    .bind(p.next_response)
    .bind(p.resolution)
    .bind(p.version)
    .bind(p.business_hours)
    .fetch_optional(conn)
    .await
}

pub async fn get_policy(
    pool: &PgPool,
    tenant_id: &str,
    priority: Priority,
    lane: Lane,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {POLICY_COLUMNS} FROM sla_policies
          WHERE tenant_id = $1 AND priority = $2 AND lane = $3"
    ))
    .bind(tenant_id)
    .bind(priority)
    .bind(lane)
    .fetch_optional(pool)
    .await
}

pub async fn list_policies(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<PolicyRow>, sqlx::Error> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    sqlx::query_as(&format!(
        "SELECT {POLICY_COLUMNS} FROM sla_policies
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
          ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
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

const HOURS_COLUMNS: &str = "time_zone, opens, closes, version";

pub async fn get_hours(pool: &PgPool, tenant_id: &str) -> Result<Option<HoursRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {HOURS_COLUMNS} FROM business_hours WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
}

pub async fn known_time_zone(pool: &PgPool, zone: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(zone)
        .fetch_one(pool)
        .await
}

/// Creates (version 0) or updates the tenant's hours; `None` when the version
/// read is not the one stored.
pub async fn put_hours(
    conn: &mut PgConnection,
    tenant_id: &str,
    h: &HoursInput,
) -> Result<Option<HoursRow>, sqlx::Error> {
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
    sqlx::query_as(&sql)
        .bind(tenant_id)
        .bind(&h.time_zone)
        .bind(h.opens.as_slice())
        .bind(h.closes.as_slice())
        .bind(h.version)
        .fetch_optional(conn)
        .await
}

/// One clock of a case.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimerRow {
    pub case_id: Uuid,
    pub target: SlaTarget,
    pub state: SlaState,
    pub due_at: Option<DateTime<Utc>>,
    pub remaining_secs: Option<f64>,
    pub breached_at: Option<DateTime<Utc>>,
}

/// Recomputes each case's `sla_due_at`: the due time of its next running
/// clock, an overdue (breached) one that nothing has met yet included, so
/// such a case sorts first; none once every clock is met or paused.
pub async fn refresh_due(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE cases c
            SET sla_due_at = (SELECT min(t.due_at) FROM case_sla_timers t
                               WHERE t.case_id = c.id AND t.met_at IS NULL
                                 AND t.state IN ($2, $3))
          WHERE c.id = ANY($1)",
    )
    .bind(cases)
    .bind(SlaState::Running)
    .bind(SlaState::Breached)
    .execute(conn)
    .await?;
    Ok(())
}

/// Starts the first-response and resolution clocks of newly opened cases by
/// their tenant's policy for the case's priority and lane. Set-based. The
/// cases' `sla_due_at` was set when they were inserted ([`opening_due`]).
pub async fn start(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    if cases.is_empty() {
        return Ok(());
    }
    let due = due_expr("c.tenant_id", "c.opened_at", "t.secs", "p.business_hours");
    sqlx::query(&format!(
        "INSERT INTO case_sla_timers (case_id, tenant_id, target, state, due_at, business_hours)
         SELECT c.id, c.tenant_id, t.target, $2, {due}, p.business_hours
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
          CROSS JOIN LATERAL (VALUES ($3::int2, p.first_response_secs),
                                     ($4::int2, p.resolution_secs)) AS t(target, secs)
          WHERE c.id = ANY($1) AND t.secs > 0
         ON CONFLICT (case_id, target) DO NOTHING"
    ))
    .bind(cases)
    .bind(SlaState::Running)
    .bind(SlaTarget::FirstResponse)
    .bind(SlaTarget::Resolution)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Starts (or restarts) the next-response clock of cases the customer wrote
/// to again: a reply after that is due whatever happened to the first
/// response (met, late, or no such clock), unless the first reply is still
/// awaited on time. A next-response clock nothing has met yet keeps its time.
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
         SELECT c.id, c.tenant_id, $2, $3, {due}, p.business_hours
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
          WHERE c.id = ANY($1) AND p.next_response_secs > 0
            AND NOT EXISTS (SELECT 1 FROM case_sla_timers f
                             WHERE f.case_id = c.id AND f.target = $4 AND f.state IN ($3, $5))
         ON CONFLICT (case_id, target) DO UPDATE
            SET state = EXCLUDED.state, due_at = EXCLUDED.due_at, breached_at = NULL,
                met_at = NULL, remaining_secs = NULL, business_hours = EXCLUDED.business_hours
          WHERE case_sla_timers.met_at IS NOT NULL
         RETURNING case_id"
    ))
    .bind(cases)
    .bind(SlaTarget::NextResponse)
    .bind(SlaState::Running)
    .bind(SlaTarget::FirstResponse)
    .bind(SlaState::Paused)
    .fetch_all(&mut *conn)
    .await?;
    refresh_due(conn, &started).await
}

/// A reply meets the response clocks that run, wait or are overdue on the
/// case: MET, or met late (an overdue clock stays BREACHED).
pub async fn met_by_reply(conn: &mut PgConnection, case_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE case_sla_timers
            SET state = CASE WHEN state = $5 THEN state ELSE $2 END, met_at = now(),
                remaining_secs = NULL
          WHERE case_id = $1 AND target IN ($3, $4) AND met_at IS NULL",
    )
    .bind(case_id)
    .bind(SlaState::Met)
    .bind(SlaTarget::FirstResponse)
    .bind(SlaTarget::NextResponse)
    .bind(SlaState::Breached)
    .execute(&mut *conn)
    .await?;
    refresh_due(conn, &[case_id]).await
}

/// After a case's priority or lane changed: running clocks take the new
/// policy's time from when they started (the case's opening) when that is
/// sooner than their current due time.
pub async fn tighten(conn: &mut PgConnection, cases: &[Uuid]) -> Result<(), sqlx::Error> {
    let secs = "CASE t.target WHEN $2 THEN p.first_response_secs ELSE p.resolution_secs END";
    let due = due_expr("c.tenant_id", "c.opened_at", secs, "p.business_hours");
    sqlx::query(&format!(
        "UPDATE case_sla_timers t
            SET due_at = least(t.due_at, {due})
           FROM cases c
           JOIN sla_policies p
             ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
          WHERE t.case_id = c.id AND c.id = ANY($1) AND t.state = $4 AND t.target IN ($2, $3)
            AND {secs} > 0"
    ))
    .bind(cases)
    .bind(SlaTarget::FirstResponse)
    .bind(SlaTarget::Resolution)
    .bind(SlaState::Running)
    .execute(&mut *conn)
    .await?;
    // Clocks the old policy did not run start under the new one.
    start(conn, cases).await?;
    refresh_due(conn, cases).await
}

/// Pauses, resumes, stops and restarts clocks as status changes asked.
pub async fn move_clocks(conn: &mut PgConnection, moves: &ClockMoves) -> Result<(), sqlx::Error> {
    if !moves.pause.is_empty() {
        sqlx::query(
            "UPDATE case_sla_timers
                SET state = $2, due_at = NULL,
                    remaining_secs = CASE WHEN business_hours
                        THEN business_seconds(tenant_id, now(), due_at)
                        ELSE greatest(0, extract(epoch FROM due_at - now())) END
              WHERE case_id = ANY($1) AND state = $3",
        )
        .bind(&moves.pause)
        .bind(SlaState::Paused)
        .bind(SlaState::Running)
        .execute(&mut *conn)
        .await?;
    }
    if !moves.resume.is_empty() {
        let due = due_expr("tenant_id", "now()", "remaining_secs", "business_hours");
        sqlx::query(&format!(
            "UPDATE case_sla_timers SET state = $2, due_at = {due}, remaining_secs = NULL
              WHERE case_id = ANY($1) AND state = $3"
        ))
        .bind(&moves.resume)
        .bind(SlaState::Running)
        .bind(SlaState::Paused)
        .execute(&mut *conn)
        .await?;
    }
    if !moves.stop.is_empty() {
        // Running and waiting clocks are met; overdue ones stay BREACHED.
        sqlx::query(
            "UPDATE case_sla_timers
                SET state = CASE WHEN state = $3 THEN state ELSE $2 END, met_at = now(),
                    remaining_secs = NULL
              WHERE case_id = ANY($1) AND met_at IS NULL",
        )
        .bind(&moves.stop)
        .bind(SlaState::Met)
        .bind(SlaState::Breached)
        .execute(&mut *conn)
        .await?;
    }
    if !moves.reopen.is_empty() {
        let due = due_expr(
            "c.tenant_id",
            "now()",
            "p.resolution_secs",
            "p.business_hours",
        );
        sqlx::query(&format!(
            "UPDATE case_sla_timers t
                SET state = $3, due_at = {due}, breached_at = NULL, met_at = NULL,
                    remaining_secs = NULL, business_hours = p.business_hours
               FROM cases c
               JOIN sla_policies p
                 ON p.tenant_id = c.tenant_id AND p.priority = c.priority AND p.lane = c.lane
              WHERE t.case_id = c.id AND c.id = ANY($1) AND t.target = $2
                AND t.state IN ($4, $5) AND p.resolution_secs > 0"
        ))
        .bind(&moves.reopen)
        .bind(SlaTarget::Resolution)
        .bind(SlaState::Running)
        .bind(SlaState::Met)
        .bind(SlaState::Breached)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A clock past its due time, claimed by the scheduler.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    case_id: Uuid,
    tenant_id: String,
    target: SlaTarget,
    due_at: DateTime<Utc>,
    priority: Priority,
    lane: Lane,
}

/// Claims up to `limit` overdue running clocks, marks them breached, audits
/// them and enqueues `SlaBreached`, in the caller's transaction. Answers how
/// many it marked.
pub async fn breach_due(
    conn: &mut PgConnection,
    outbox: &Outbox,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let due: Vec<Due> = sqlx::query_as(
        "WITH claimed AS (
             SELECT case_id, target FROM case_sla_timers
              WHERE state = $2 AND due_at <= now()
              ORDER BY due_at
              LIMIT $1
              FOR UPDATE SKIP LOCKED
         )
         UPDATE case_sla_timers t SET state = $3, breached_at = now()
           FROM claimed, cases c
          WHERE t.case_id = claimed.case_id AND t.target = claimed.target AND c.id = t.case_id
         RETURNING t.case_id, t.tenant_id, t.target, t.due_at, c.priority, c.lane",
    )
    .bind(limit)
    .bind(SlaState::Running)
    .bind(SlaState::Breached)
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = due.iter().map(|d| d.tenant_id.as_str()).collect();
    let records: Vec<Record> = due
        .iter()
        .map(|d| {
            let target = d.target.label();
            Record::case(
                d.case_id,
                "case.sla_breached",
                json!({ "target": target, "state": SlaState::Running.label() }),
                json!({ "target": target, "state": SlaState::Breached.label(), "due_at": d.due_at.to_rfc3339() }),
            )
        })
        .collect();
    audit::store::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    let events = due
        .iter()
        .map(|d| {
            new_event(
                record::PRODUCER,
                &d.tenant_id,
                d.case_id.to_string(),
                event::Payload::SlaBreached(SlaBreached {
                    case_id: d.case_id.to_string(),
                    target: d.target.label().to_owned(),
                    due_at: Some(timestamp(d.due_at)),
                    priority: d.priority.to_string(),
                    lane: d.lane.label().to_owned(),
                }),
            )
        })
        .collect();
    record::store::enqueue(conn, outbox, events).await?;
    Ok(due.len() as u64)
}
