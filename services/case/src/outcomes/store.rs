//! Outcome storage: `goodwill_gestures` and the case's CSAT columns.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::Gesture;
use crate::record::CaseRow;
use crate::record::store::COLUMNS;
use crate::vocabulary::GoodwillKind;

/// Goodwill as a case shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GestureRow {
    pub id: Uuid,
    pub kind: GoodwillKind,
    pub amount_minor: i64,
    pub currency: String,
    pub note: String,
}

/// Goodwill given on `cases`, oldest first per case.
pub async fn goodwill_of(
    conn: &mut PgConnection,
    tenant_id: &str,
    cases: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GestureRow>>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Given {
        case_id: Uuid,
        #[sqlx(flatten)]
        gesture: GestureRow,
    }
    let rows: Vec<Given> = sqlx::query_as(
        "SELECT case_id, id, kind, amount_minor, currency, note FROM goodwill_gestures
          WHERE tenant_id = $1 AND case_id = ANY($2) ORDER BY case_id, given_at, id",
    )
    .bind(tenant_id)
    .bind(cases)
    .fetch_all(conn)
    .await?;
    let mut out: HashMap<Uuid, Vec<GestureRow>> = HashMap::new();
    for r in rows {
        out.entry(r.case_id).or_default().push(r.gesture);
    }
    Ok(out)
}

/// The case goodwill was given on under `request_id`, if any was.
pub async fn case_of_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT case_id FROM goodwill_gestures WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// Records goodwill given by `actor`; answers its id.
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    g: &Gesture,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO goodwill_gestures (id, tenant_id, case_id, kind, amount_minor, currency, note,
                                        request_id, given_by, given_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(g.case.id)
    .bind(g.kind)
    .bind(g.amount_minor)
    .bind(&g.currency)
    .bind(&g.note)
    .bind(&g.request_id)
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Sets a locked case's score and bumps its version.
pub async fn set_csat(
    conn: &mut PgConnection,
    id: Uuid,
    score: i16,
    comment: &str,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET csat = $2, csat_comment = $3, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(score)
    .bind(comment)
    .fetch_one(conn)
    .await
}
