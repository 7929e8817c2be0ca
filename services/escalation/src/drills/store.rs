//! Drills and their scenario steps in Postgres.

use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1::{Drill, DrillCheck};
use earshot_server::convert::Cursor;
use earshot_server::{Keyed, Page, ServiceError};
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{Scenario, due_at};
use crate::guidelines::store::GuidelineRow;
use crate::vocabulary::{DrillState, EscalationState, IncidentState};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DrillRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub guideline_id: Uuid,
    pub guideline_version: i32,
    pub state: DrillState,
    pub started_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub scenario_size: i32,
    pub replayed: i32,
    pub score: Option<f64>,
    pub checks: Option<Vec<u8>>,
    pub started_by: String,
}

impl DrillRow {
    pub fn checks(&self) -> Vec<DrillCheck> {
        self.checks
            .as_deref()
            .and_then(|b| Drill::decode(b).ok())
            .map(|d| d.checks)
            .unwrap_or_default()
    }
}

impl Keyed for DrillRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.started_at,
            id: self.id,
        }
    }
}

const COLUMNS: &str = "id, tenant_id, guideline_id, guideline_version, state, started_at, ends_at,
     ended_at, scenario_size, replayed, score, checks, started_by";

pub async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<DrillRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drills WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    guideline: &GuidelineRow,
    scenario: &Scenario,
    time_limit: Duration,
    request_id: &str,
) -> Result<DrillRow, sqlx::Error> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let drill: DrillRow = sqlx::query_as(&format!(
        "INSERT INTO drills (id, tenant_id, guideline_id, guideline_version, state, started_at,
                             ends_at, scenario_size, started_by, request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant_id)
    .bind(guideline.id)
    .bind(guideline.version)
    .bind(DrillState::Running)
    .bind(now)
    .bind(due_at(now, time_limit))
    .bind(scenario.len() as i32)
    .bind(actor)
    .bind(request_id)
    .fetch_one(&mut *conn)
    .await?;
    let seqs: Vec<i32> = (0..scenario.len() as i32).collect();
    let dues: Vec<DateTime<Utc>> = scenario
        .iter()
        .map(|(offset, _)| due_at(now, *offset))
        .collect();
    let mention_ids: Vec<&str> = scenario
        .iter()
        .map(|(_, m)| m.mention_id.as_str())
        .collect();
    let mentions: Vec<Vec<u8>> = scenario.iter().map(|(_, m)| m.encode_to_vec()).collect();
    sqlx::query(
        "INSERT INTO drill_steps (drill_id, seq, tenant_id, due_at, mention_id, mention)
         SELECT $1, u.seq, $2, u.due_at, u.mention_id, u.mention
           FROM unnest($3::int[], $4::timestamptz[], $5::text[], $6::bytea[])
             AS u(seq, due_at, mention_id, mention)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(&seqs)
    .bind(&dues)
    .bind(&mention_ids)
    .bind(&mentions)
    .execute(conn)
    .await?;
    Ok(drill)
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<DrillRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drills WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("drill {id}")))
}

pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<DrillRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drills WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("drill {id}")))
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    guideline_id: Option<Uuid>,
    page: &Page,
) -> Result<Vec<DrillRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drills
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR guideline_id = $2)
            AND ($3::timestamptz IS NULL OR (started_at, id) < ($3, $4))
          ORDER BY started_at DESC, id DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(guideline_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

/// The definition of the guideline version a drill rehearses.
pub async fn definition(conn: &mut PgConnection, drill: &DrillRow) -> Result<Vec<u8>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT definition FROM guideline_versions WHERE guideline_id = $1 AND version = $2",
    )
    .bind(drill.guideline_id)
    .bind(drill.guideline_version)
    .fetch_one(conn)
    .await
}

/// An ended drill pages nobody any more.
pub async fn stop_ladders(conn: &mut PgConnection, drill_id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE escalations SET ack_due_at = NULL WHERE drill_id = $1 AND ack_due_at IS NOT NULL",
    )
    .bind(drill_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE incidents SET statement_due_at = NULL WHERE drill_id = $1 AND statement_due_at IS NOT NULL")
        .bind(drill_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM drill_steps WHERE drill_id = $1")
        .bind(drill_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn finish(
    conn: &mut PgConnection,
    id: Uuid,
    score: f64,
    checks: &[DrillCheck],
) -> Result<DrillRow, sqlx::Error> {
    let checks = Drill {
        checks: checks.to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    sqlx::query_as(&format!(
        "UPDATE drills SET state = $2, ended_at = now(), score = $3, checks = $4
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(DrillState::Ended)
    .bind(score)
    .bind(checks)
    .fetch_one(conn)
    .await
}

/// A scenario step due, with what replaying it needs.
#[derive(Debug, sqlx::FromRow)]
pub struct DueStep {
    pub drill_id: Uuid,
    pub seq: i32,
    pub tenant_id: String,
    pub mention_id: String,
    pub mention: Vec<u8>,
    pub guideline_id: Uuid,
    pub guideline_version: i32,
    pub definition: Vec<u8>,
}

pub async fn claim_due_steps(
    tx: &mut Transaction<'static, Postgres>,
    limit: i64,
) -> Result<Vec<DueStep>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.drill_id, s.seq, s.tenant_id, s.mention_id, s.mention,
                d.guideline_id, d.guideline_version, v.definition
           FROM drill_steps s
           JOIN drills d ON d.id = s.drill_id
           JOIN guideline_versions v
             ON v.guideline_id = d.guideline_id AND v.version = d.guideline_version
          WHERE s.due_at <= now()
          ORDER BY s.due_at, s.seq
          LIMIT $1
            FOR UPDATE OF s SKIP LOCKED",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// Removes replayed steps and counts them on their drills.
pub async fn replayed(
    tx: &mut Transaction<'static, Postgres>,
    steps: &[DueStep],
) -> Result<(), sqlx::Error> {
    let drills: Vec<Uuid> = steps.iter().map(|s| s.drill_id).collect();
    let seqs: Vec<i32> = steps.iter().map(|s| s.seq).collect();
    sqlx::query(
        "DELETE FROM drill_steps s USING unnest($1::uuid[], $2::int[]) AS u(drill_id, seq)
          WHERE s.drill_id = u.drill_id AND s.seq = u.seq",
    )
    .bind(&drills)
    .bind(&seqs)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE drills d SET replayed = d.replayed + u.n
           FROM (SELECT drill_id, count(*)::int AS n FROM unnest($1::uuid[]) AS drill_id
                  GROUP BY drill_id) AS u
          WHERE d.id = u.drill_id",
    )
    .bind(&drills)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Running drills whose time ran out or that are over, locked.
pub async fn claim_over(
    tx: &mut Transaction<'static, Postgres>,
    limit: i64,
    resolved: EscalationState,
    closed: IncidentState,
) -> Result<Vec<DrillRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM drills d
          WHERE d.ended_at IS NULL
            AND (d.ends_at <= now()
                 OR (d.replayed >= d.scenario_size
                     AND EXISTS (SELECT 1 FROM escalations e WHERE e.drill_id = d.id)
                     AND NOT EXISTS (SELECT 1 FROM escalations e
                                      WHERE e.drill_id = d.id AND e.state <> $2)
                     AND NOT EXISTS (SELECT 1 FROM incidents i
                                      WHERE i.drill_id = d.id AND i.state <> $3)))
          ORDER BY d.ends_at
          LIMIT $1
            FOR UPDATE SKIP LOCKED"
    ))
    .bind(limit)
    .bind(resolved)
    .bind(closed)
    .fetch_all(&mut **tx)
    .await
}
