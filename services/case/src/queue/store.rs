//! The queue's reads of `cases`, each an ordered range scan of the queue index.

use earshot_server::convert::Cursor;
use sqlx::PgPool;

use super::Filter;
use crate::record::CaseRow;
use crate::record::store::COLUMNS;
use crate::vocabulary::Status;

/// Cases with a due time after `after` (`tail` false), or without one after
/// `after`'s id (`tail` true).
pub async fn page(
    pool: &PgPool,
    tenant_id: &str,
    f: &Filter,
    after: Option<&Cursor>,
    tail: bool,
    limit: i64,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    // Unfiltered, the statuses are those before resolution, the predicate of
    // the partial queue index.
    let statuses = if f.statuses.is_empty() {
        "status < $14"
    } else {
        "status = ANY($2)"
    };
    let (range, order) = match (tail, after.is_some()) {
        (false, false) => ("sla_due_at IS NOT NULL", "sla_due_at, id"),
        (false, true) => ("(sla_due_at, id) > ($11, $12)", "sla_due_at, id"),
        (true, false) => ("sla_due_at IS NULL", "id"),
        (true, true) => ("sla_due_at IS NULL AND id > $12", "id"),
    };
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases
          WHERE tenant_id = $1 AND {statuses} AND {range}
            AND ($3::int2 IS NULL OR lane = $3)
            AND ($4::text IS NULL OR priority = $4)
            AND ($5::text IS NULL OR queue = $5)
            AND ($6::text IS NULL OR assignee = $6)
            AND (NOT $7 OR assignee IS NULL)
            AND ($8::int2 IS NULL OR channel = $8)
            AND ($9::text IS NULL OR topic = $9)
            AND ($10::uuid IS NULL OR customer_id = $10)
            -- Types $11 and $12 when the range does not use them.
            AND ($11::timestamptz IS NULL OR $12::uuid IS NOT NULL)
          ORDER BY {order}
          LIMIT $13"
    ))
    .bind(tenant_id)
    .bind(&f.statuses)
    .bind(f.lane)
    .bind(f.priority)
    .bind(&f.queue)
    .bind(&f.assignee)
    .bind(f.unassigned)
    .bind(f.channel)
    .bind(&f.topic)
    .bind(f.customer_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .bind(Status::Resolved)
    .fetch_all(pool)
    .await
}
