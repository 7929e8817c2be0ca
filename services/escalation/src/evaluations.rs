//! Evaluating mentions against escalation guidelines, and what came of it.

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1::Evaluation;
use earshot_proto::events::v1::MentionClassified;
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{Keyed, Page, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Outcome recorded when no guideline of the tenant applies to a mention.
pub const NO_GUIDELINE_MATCHED: &str = "no_guideline_matched";

#[derive(Debug, sqlx::FromRow)]
pub struct EvaluationRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub mention_id: String,
    pub outcome: String,
    pub guideline_versions: Vec<String>,
    pub evaluated_at: DateTime<Utc>,
}

/// A mention heard, with the tenant and the id of the event that carried it.
pub struct Heard {
    pub tenant_id: String,
    pub event_id: Uuid,
    pub mention: MentionClassified,
}

/// Records one evaluation per mention. Tenants have no guidelines yet, so each
/// evaluation finds none in force and raises nothing.
pub async fn evaluate(conn: &mut PgConnection, heard: &[Heard]) -> Result<u64, sqlx::Error> {
    if heard.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = heard.iter().map(|_| Uuid::now_v7()).collect();
    let tenants: Vec<&str> = heard.iter().map(|h| h.tenant_id.as_str()).collect();
    let event_ids: Vec<Uuid> = heard.iter().map(|h| h.event_id).collect();
    let mention_ids: Vec<&str> = heard
        .iter()
        .map(|h| h.mention.mention_id.as_str())
        .collect();
    let done = sqlx::query(
        "INSERT INTO evaluations (id, tenant_id, event_id, mention_id, outcome)
         SELECT u.id, u.tenant_id, u.event_id, u.mention_id, $5
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[])
             AS u(id, tenant_id, event_id, mention_id)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&event_ids)
    .bind(&mention_ids)
    .bind(NO_GUIDELINE_MATCHED)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    page: &Page,
) -> Result<Vec<EvaluationRow>, ServiceError> {
    let (at, id) = page
        .after
        .as_ref()
        .map(|c| (Some(c.at), Some(c.id)))
        .unwrap_or((None, None));
    Ok(sqlx::query_as(
        "SELECT id, event_id, mention_id, outcome, guideline_versions, evaluated_at
           FROM evaluations
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (evaluated_at, id) < ($2, $3))
          ORDER BY evaluated_at DESC, id DESC
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

pub fn to_proto(row: EvaluationRow) -> Evaluation {
    Evaluation {
        evaluation_id: row.id.to_string(),
        mention_id: row.mention_id,
        event_id: row.event_id.to_string(),
        outcome: row.outcome,
        guideline_versions: row.guideline_versions,
        evaluated_at: Some(timestamp(row.evaluated_at)),
    }
}

impl Keyed for EvaluationRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.evaluated_at,
            id: self.id,
        }
    }
}
