//! The status columns of a case.

use sqlx::PgConnection;
use uuid::Uuid;

use super::ResolvedAt;
use crate::record::CaseRow;
use crate::record::store::COLUMNS;
use crate::vocabulary::Status;

/// Moves a locked case to `to` (the caller checked the move), stamping or
/// clearing its resolution time, recording `resolution_code` when given and
/// counting a reopen when a resolved (or closed) case goes back to work;
/// bumps its version.
pub async fn move_to(
    conn: &mut PgConnection,
    id: Uuid,
    to: Status,
    resolution_code: Option<&str>,
) -> Result<CaseRow, sqlx::Error> {
    let resolved = ResolvedAt::after_move_to(to);
    sqlx::query_as(&format!(
        "UPDATE cases
            SET status = $2, version = version + 1, updated_at = now(),
                resolved_at = CASE WHEN $4 THEN now() WHEN $5 THEN resolved_at ELSE NULL END,
                resolution_code = coalesce($3, resolution_code),
                reopens = reopens + (status >= $6 AND $2 < $6)::int
          WHERE id = $1
          RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(to)
    .bind(resolution_code)
    .bind(resolved == ResolvedAt::Now)
    .bind(resolved == ResolvedAt::Keep)
    .bind(Status::Resolved)
    .fetch_one(conn)
    .await
}

/// Closes a locked case as merged into `into`, bumping its version.
pub async fn close_into(
    conn: &mut PgConnection,
    id: Uuid,
    into: Uuid,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET status = $2, merged_into = $3, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(Status::Closed)
    .bind(into)
    .fetch_one(conn)
    .await
}
