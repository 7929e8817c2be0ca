//! Escalations in Postgres.

use chrono::{DateTime, Utc};
use earshot_server::convert::Cursor;
use earshot_server::{Keyed, Page, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{NewEscalation, first_deadline};
use crate::vocabulary::{EscalationState, Severity, Team, TriggerKind};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EscalationRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub guideline_id: Uuid,
    pub guideline_version: i32,
    pub guideline_name: String,
    pub trigger_kind: TriggerKind,
    pub trigger_key: String,
    pub mention_id: String,
    pub case_id: Option<Uuid>,
    pub spike_alert_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    pub severity: Severity,
    pub team: Team,
    pub state: EscalationState,
    pub level: i32,
    pub repeat: i32,
    pub reason: String,
    pub notify: bool,
    pub raised_at: DateTime<Utc>,
    pub ack_due_at: Option<DateTime<Utc>>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_for: Option<Team>,
    pub acknowledged_level: Option<i32>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub drill_id: Option<Uuid>,
}

impl Keyed for EscalationRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.raised_at,
            id: self.id,
        }
    }
}

pub const COLUMNS: &str = "id, tenant_id, guideline_id, guideline_version, guideline_name,
     trigger_kind, trigger_key, mention_id, case_id, spike_alert_id, incident_id, event_id,
     severity, team, state, level, repeat, reason, notify, raised_at, ack_due_at,
     acknowledged_at, acknowledged_by, acknowledged_for, acknowledged_level, resolved_at,
     resolved_by, drill_id";

/// Inserts `news`; answers those not raised before.
pub async fn insert(
    conn: &mut PgConnection,
    news: &[NewEscalation],
    now: DateTime<Utc>,
) -> Result<Vec<EscalationRow>, sqlx::Error> {
    let n = news.len();
    let mut ids = Vec::with_capacity(n);
    let mut tenants = Vec::with_capacity(n);
    let mut guidelines = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut mentions = Vec::with_capacity(n);
    let mut cases = Vec::with_capacity(n);
    let mut alerts = Vec::with_capacity(n);
    let mut incidents = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut severities = Vec::with_capacity(n);
    let mut teams = Vec::with_capacity(n);
    let mut reasons = Vec::with_capacity(n);
    let mut notify = Vec::with_capacity(n);
    let mut due = Vec::with_capacity(n);
    let mut drills = Vec::with_capacity(n);
    for e in news {
        ids.push(Uuid::now_v7());
        tenants.push(e.tenant_id.as_str());
        guidelines.push(e.guideline.id);
        versions.push(e.guideline.version);
        names.push(e.guideline.name.as_str());
        kinds.push(e.trigger.kind);
        keys.push(e.trigger.key.as_str());
        mentions.push(e.trigger.mention_id.as_str());
        cases.push(e.trigger.case_id);
        alerts.push(e.trigger.spike_alert_id);
        incidents.push(e.trigger.incident_id);
        events.push(e.trigger.event_id);
        severities.push(e.guideline.severity);
        teams.push(e.guideline.team);
        reasons.push(e.reason());
        notify.push(e.guideline.actions.notify_webhooks);
        due.push(first_deadline(&e.guideline, now));
        drills.push(e.drill_id);
    }
    sqlx::query_as(&format!(
        "INSERT INTO escalations (id, tenant_id, guideline_id, guideline_version, guideline_name,
             trigger_kind, trigger_key, mention_id, case_id, spike_alert_id, incident_id, event_id,
             severity, team, state, reason, notify, raised_at, ack_due_at, drill_id)
         SELECT u.id, u.tenant_id, u.guideline_id, u.version, u.name, u.kind, u.key, u.mention_id,
                u.case_id, u.alert_id, u.incident_id, u.event_id, u.severity, u.team, $18,
                u.reason, u.notify, $19, u.due, u.drill_id
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::smallint[],
                       $7::text[], $8::text[], $9::uuid[], $10::uuid[], $11::uuid[], $12::uuid[],
                       $13::smallint[], $14::smallint[], $15::text[], $16::bool[],
                       $17::timestamptz[], $20::uuid[])
             AS u(id, tenant_id, guideline_id, version, name, kind, key, mention_id, case_id,
                  alert_id, incident_id, event_id, severity, team, reason, notify, due, drill_id)
         ON CONFLICT DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(&ids)
    .bind(&tenants)
    .bind(&guidelines)
    .bind(&versions)
    .bind(&names)
    .bind(&kinds)
    .bind(&keys)
    .bind(&mentions)
    .bind(&cases)
    .bind(&alerts)
    .bind(&incidents)
    .bind(&events)
    .bind(&severities)
    .bind(&teams)
    .bind(&reasons)
    .bind(&notify)
    .bind(&due)
    .bind(EscalationState::Raised)
    .bind(now)
    .bind(&drills)
    .fetch_all(conn)
    .await
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<EscalationRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("escalation {id}")))
}

pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<EscalationRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("escalation {id}")))
}

/// Which escalations a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<EscalationState>,
    pub include_drills: bool,
    pub drill_id: Option<Uuid>,
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    filter: &Filter,
    page: &Page,
) -> Result<Vec<EscalationRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations
          WHERE tenant_id = $1
            AND ($2::smallint IS NULL OR state = $2)
            AND ($3 OR drill_id IS NULL)
            AND ($4::uuid IS NULL OR drill_id = $4)
            AND ($5::timestamptz IS NULL OR (raised_at, id) < ($5, $6))
          ORDER BY raised_at DESC, id DESC
          LIMIT $7"
    ))
    .bind(tenant_id)
    .bind(filter.state)
    .bind(filter.include_drills || filter.drill_id.is_some())
    .bind(filter.drill_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

/// Every escalation of a drill, oldest first.
pub async fn of_drill(
    conn: &mut PgConnection,
    tenant_id: &str,
    drill_id: Uuid,
) -> Result<Vec<EscalationRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE tenant_id = $1 AND drill_id = $2
          ORDER BY raised_at, id"
    ))
    .bind(tenant_id)
    .bind(drill_id)
    .fetch_all(conn)
    .await
}

pub async fn acknowledge(
    conn: &mut PgConnection,
    id: Uuid,
    actor: &str,
    team: Team,
) -> Result<EscalationRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE escalations
            SET state = $2, acknowledged_at = now(), acknowledged_by = $3,
                acknowledged_for = $4, acknowledged_level = level, ack_due_at = NULL
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(EscalationState::Acknowledged)
    .bind(actor)
    .bind(team)
    .fetch_one(conn)
    .await
}

pub async fn resolve(
    conn: &mut PgConnection,
    id: Uuid,
    actor: &str,
) -> Result<EscalationRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE escalations
            SET state = $2, resolved_at = now(), resolved_by = $3, ack_due_at = NULL
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(EscalationState::Resolved)
    .bind(actor)
    .fetch_one(conn)
    .await
}

/// Records the incident an escalation joined.
pub async fn set_incident(
    conn: &mut PgConnection,
    ids: &[Uuid],
    incidents: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE escalations e SET incident_id = u.incident
           FROM unnest($1::uuid[], $2::uuid[]) AS u(id, incident)
          WHERE e.id = u.id",
    )
    .bind(ids)
    .bind(incidents)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which of `ids` are the tenant's escalations.
pub async fn exist(
    conn: &mut PgConnection,
    tenant_id: &str,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT id FROM escalations WHERE tenant_id = $1 AND id = ANY($2)")
        .bind(tenant_id)
        .bind(ids)
        .fetch_all(conn)
        .await
}
