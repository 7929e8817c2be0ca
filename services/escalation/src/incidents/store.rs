//! Incidents in Postgres.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_server::convert::Cursor;
use earshot_server::{Keyed, Page, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::vocabulary::{IncidentState, Severity};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub title: String,
    pub severity: Severity,
    pub commander: String,
    pub state: IncidentState,
    pub guideline_id: Option<Uuid>,
    pub guideline_version: Option<i32>,
    pub drill_id: Option<Uuid>,
    pub escalation_ids: Vec<Uuid>,
    pub mention_ids: Vec<String>,
    pub case_ids: Vec<Uuid>,
    pub statement_proposed: String,
    pub statement_approved: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub first_posted_at: Option<DateTime<Utc>>,
    pub last_posted_at: Option<DateTime<Utc>>,
    pub updates_posted: i32,
    pub statement_due_at: Option<DateTime<Utc>>,
    pub statements_overdue: i32,
    pub first_within_seconds: i32,
    pub update_every_seconds: i32,
    pub learning_note: String,
    pub notify: bool,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i32,
}

impl Keyed for IncidentRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.opened_at,
            id: self.id,
        }
    }
}

pub const COLUMNS: &str = "id, tenant_id, title, severity, commander, state, guideline_id,
     guideline_version, drill_id, escalation_ids, mention_ids, case_ids, statement_proposed,
     statement_approved, approved_by, approved_at, first_posted_at, last_posted_at,
     updates_posted, statement_due_at, statements_overdue, first_within_seconds,
     update_every_seconds, learning_note, notify, opened_at, updated_at, version";

/// An incident to open.
#[derive(Debug, Clone)]
pub struct NewIncident {
    pub tenant_id: String,
    pub title: String,
    pub severity: Severity,
    pub commander: String,
    pub guideline: Option<(Uuid, i32)>,
    pub drill_id: Option<Uuid>,
    pub escalation_ids: Vec<Uuid>,
    pub mention_ids: Vec<String>,
    pub case_ids: Vec<Uuid>,
    pub statement_proposed: String,
    pub first_within_seconds: i32,
    pub update_every_seconds: i32,
    pub notify: bool,
    pub request_id: Option<String>,
}

/// Inserts `new`; `None` when the guideline already has an active incident
/// (or the request id was used), which the caller then joins or answers.
pub async fn insert(
    conn: &mut PgConnection,
    new: &NewIncident,
) -> Result<Option<IncidentRow>, sqlx::Error> {
    let due = (!new.statement_proposed.is_empty())
        .then(|| Utc::now() + chrono::Duration::seconds(i64::from(new.first_within_seconds)));
    sqlx::query_as(&format!(
        "INSERT INTO incidents (id, tenant_id, title, severity, commander, state, guideline_id,
             guideline_version, drill_id, escalation_ids, mention_ids, case_ids,
             statement_proposed, statement_due_at, first_within_seconds, update_every_seconds,
             notify, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         ON CONFLICT DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(&new.tenant_id)
    .bind(&new.title)
    .bind(new.severity)
    .bind(&new.commander)
    .bind(IncidentState::Triage)
    .bind(new.guideline.map(|g| g.0))
    .bind(new.guideline.map(|g| g.1))
    .bind(new.drill_id)
    .bind(&new.escalation_ids)
    .bind(&new.mention_ids)
    .bind(&new.case_ids)
    .bind(&new.statement_proposed)
    .bind(due)
    .bind(new.first_within_seconds)
    .bind(new.update_every_seconds)
    .bind(new.notify)
    .bind(new.request_id.as_deref())
    .fetch_optional(conn)
    .await
}

/// The guideline's active incident (of the drill, for drills), locked.
pub async fn active_of_guideline(
    conn: &mut PgConnection,
    tenant_id: &str,
    guideline_id: Uuid,
    drill_id: Option<Uuid>,
) -> Result<Option<IncidentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents
          WHERE tenant_id = $1 AND guideline_id = $2 AND drill_id IS NOT DISTINCT FROM $3
            AND active
            FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(guideline_id)
    .bind(drill_id)
    .fetch_optional(conn)
    .await
}

pub async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<IncidentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<IncidentRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))
}

pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<IncidentRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("incident {id}")))
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub state: Option<IncidentState>,
    pub include_drills: bool,
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    filter: &Filter,
    page: &Page,
) -> Result<Vec<IncidentRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents
          WHERE tenant_id = $1
            AND ($2::smallint IS NULL OR state = $2)
            AND ($3 OR drill_id IS NULL)
            AND ($4::timestamptz IS NULL OR (opened_at, id) < ($4, $5))
          ORDER BY opened_at DESC, id DESC
          LIMIT $6"
    ))
    .bind(tenant_id)
    .bind(filter.state)
    .bind(filter.include_drills)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

/// Writes an incident's changed fields back, bumping its version when a
/// person changed it.
pub async fn save(
    conn: &mut PgConnection,
    row: &IncidentRow,
    bump_version: bool,
) -> Result<IncidentRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE incidents
            SET state = $2, active = $3, commander = $4, learning_note = $5,
                statement_approved = $6, approved_by = $7, approved_at = $8,
                first_posted_at = $9, last_posted_at = $10, updates_posted = $11,
                statement_due_at = $12, statements_overdue = $13,
                escalation_ids = $14, mention_ids = $15, case_ids = $16,
                updated_at = now(), version = version + $17
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(row.id)
    .bind(row.state)
    .bind(row.state.is_active())
    .bind(&row.commander)
    .bind(&row.learning_note)
    .bind(&row.statement_approved)
    .bind(&row.approved_by)
    .bind(row.approved_at)
    .bind(row.first_posted_at)
    .bind(row.last_posted_at)
    .bind(row.updates_posted)
    .bind(row.statement_due_at)
    .bind(row.statements_overdue)
    .bind(&row.escalation_ids)
    .bind(&row.mention_ids)
    .bind(&row.case_ids)
    .bind(i32::from(bump_version))
    .fetch_one(conn)
    .await
}

/// The incidents of a drill.
pub async fn of_drill(
    conn: &mut PgConnection,
    tenant_id: &str,
    drill_id: Uuid,
) -> Result<Vec<IncidentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents WHERE tenant_id = $1 AND drill_id = $2 ORDER BY opened_at"
    ))
    .bind(tenant_id)
    .bind(drill_id)
    .fetch_all(conn)
    .await
}

/// Most escalations, mentions and cases an incident lists from what joined it.
pub const MAX_JOINED: i64 = 1000;

/// What joined each of `ids` through its escalations (the links made by
/// hand are the row's own), oldest first and at most [`MAX_JOINED`] each.
pub async fn joined(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Joined>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT i.id, e.id, e.mention_id, e.case_id
           FROM unnest($1::uuid[]) AS i(id)
           CROSS JOIN LATERAL (
               SELECT id, mention_id, case_id FROM escalations
                WHERE incident_id = i.id
                ORDER BY raised_at, id
                LIMIT $2) AS e",
    )
    .bind(ids)
    .bind(MAX_JOINED)
    .fetch_all(conn)
    .await?;
    let mut joined: HashMap<Uuid, Joined> = HashMap::new();
    for (incident, escalation, mention, case) in rows {
        let j = joined.entry(incident).or_default();
        j.escalation_ids.push(escalation);
        if !mention.is_empty() && !j.mention_ids.contains(&mention) {
            j.mention_ids.push(mention);
        }
        if let Some(case) = case.filter(|c| !j.case_ids.contains(c)) {
            j.case_ids.push(case);
        }
    }
    Ok(joined)
}

/// What joined an incident through its escalations.
#[derive(Debug, Clone, Default)]
pub struct Joined {
    pub escalation_ids: Vec<Uuid>,
    pub mention_ids: Vec<String>,
    pub case_ids: Vec<Uuid>,
}

impl IncidentRow {
    /// The row with what joined it merged into its links.
    pub fn with(mut self, joined: Option<&Joined>) -> Self {
        if let Some(j) = joined {
            for e in &j.escalation_ids {
                if !self.escalation_ids.contains(e) {
                    self.escalation_ids.push(*e);
                }
            }
            for m in &j.mention_ids {
                if !self.mention_ids.contains(m) {
                    self.mention_ids.push(m.clone());
                }
            }
            for c in &j.case_ids {
                if !self.case_ids.contains(c) {
                    self.case_ids.push(*c);
                }
            }
        }
        self
    }
}
