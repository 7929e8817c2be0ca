//! The claim columns of a case.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::record::CaseRow;
use crate::record::store::COLUMNS;

/// Claims a locked case for `actor` for `minutes` from now, bumping its version.
pub async fn take(
    conn: &mut PgConnection,
    id: Uuid,
    actor: &str,
    minutes: i32,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases
            SET claimed_by = $2, claim_expires_at = now() + make_interval(mins => $3),
                version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(actor)
    .bind(minutes)
    .fetch_one(conn)
    .await
}

/// Releases a locked case's claim, bumping its version.
pub async fn release(conn: &mut PgConnection, id: Uuid) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET claimed_by = NULL, claim_expires_at = NULL,
                          version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}
