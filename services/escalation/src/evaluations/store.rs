//! Evaluations in Postgres: one row per event evaluated.

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1::Evaluation;
use earshot_proto::events::v1::MentionClassified;
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{Keyed, Page, ServiceError};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Outcome recorded when no guideline of the tenant applies.
pub const NO_GUIDELINE_MATCHED: &str = "no_guideline_matched";

/// An evaluation to record.
pub struct NewEvaluation<'a> {
    pub tenant_id: &'a str,
    pub event_id: Uuid,
    pub mention_id: &'a str,
    pub case_id: Option<Uuid>,
    pub outcome: &'static str,
    /// The tenant's rules revision, naming the guideline versions in force.
    pub revision: i64,
    pub escalation_ids: Vec<Uuid>,
    /// The mention as heard (protobuf), for replays in drills.
    pub mention: Option<Vec<u8>>,
}

#[derive(Debug, sqlx::FromRow)]
pub struct EvaluationRow {
    pub id: Uuid,
    pub event_id: Uuid,
    pub mention_id: String,
    pub case_id: Option<Uuid>,
    pub outcome: String,
    pub guideline_versions: Vec<String>,
    pub escalation_ids: Vec<Uuid>,
    pub evaluated_at: DateTime<Utc>,
}

/// Records evaluations; an event evaluated before keeps its first record.
pub async fn insert(
    conn: &mut PgConnection,
    rows: &[NewEvaluation<'_>],
) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    // Escalation ids go as one text per row ("" for none): arrays of arrays
    // must be rectangular.
    let escalations: Vec<String> = rows
        .iter()
        .map(|r| {
            r.escalation_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    let done = sqlx::query(
        "INSERT INTO evaluations
             (id, tenant_id, event_id, mention_id, case_id, outcome, revision, escalation_ids, mention)
         SELECT u.event_id, u.tenant_id, u.event_id, u.mention_id, u.case_id, u.outcome,
                u.revision, COALESCE(string_to_array(NULLIF(u.escalations, ''), ',')::uuid[], '{}'),
                u.mention
           FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::bigint[],
                       $7::text[], $8::bytea[])
             AS u(tenant_id, event_id, mention_id, case_id, outcome, revision, escalations, mention)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.event_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.mention_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.case_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.revision).collect::<Vec<_>>())
    .bind(&escalations)
    .bind(rows.iter().map(|r| r.mention.as_deref()).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    page: &Page,
) -> Result<Vec<EvaluationRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(
        "SELECT e.id, e.event_id, e.mention_id, e.case_id, e.outcome,
                COALESCE(r.versions, e.guideline_versions) AS guideline_versions,
                COALESCE(e.escalation_ids, '{}') AS escalation_ids, e.evaluated_at
           FROM evaluations e
           LEFT JOIN guideline_revisions r ON r.tenant_id = e.tenant_id AND r.revision = e.revision
          WHERE e.tenant_id = $1
            AND ($2::timestamptz IS NULL OR (e.evaluated_at, e.id) < ($2, $3))
          ORDER BY e.evaluated_at DESC, e.id DESC
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

/// The mentions the tenant's evaluations recorded in [from, to), oldest
/// first, as a drill replays them.
pub async fn recorded(
    conn: &mut PgConnection,
    tenant_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<(DateTime<Utc>, MentionClassified)>, sqlx::Error> {
    let rows: Vec<(DateTime<Utc>, Vec<u8>)> = sqlx::query_as(
        "SELECT evaluated_at, mention FROM evaluations
          WHERE tenant_id = $1 AND evaluated_at >= $2 AND evaluated_at < $3
            AND mention IS NOT NULL
          ORDER BY evaluated_at, id
          LIMIT $4",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(at, bytes)| {
            MentionClassified::decode(bytes.as_slice())
                .ok()
                .map(|m| (at, m))
        })
        .collect())
}

pub fn to_proto(row: EvaluationRow) -> Evaluation {
    Evaluation {
        evaluation_id: row.id.to_string(),
        mention_id: row.mention_id,
        event_id: row.event_id.to_string(),
        outcome: row.outcome,
        guideline_versions: row.guideline_versions,
        evaluated_at: Some(timestamp(row.evaluated_at)),
        case_id: row.case_id.map(|c| c.to_string()).unwrap_or_default(),
        escalation_ids: row.escalation_ids.iter().map(Uuid::to_string).collect(),
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
