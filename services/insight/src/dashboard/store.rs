//! The dashboard's reads: today's facts by channel, mentions by hour, the
//! open queue by SLA due time (`case_facts_open_by_due`), escalations and
//! incidents.

use chrono::{DateTime, Utc};
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use super::{DUE_EDGES_SECS, due_bucket};
use crate::facts::SLA_BREACHED;

/// (channel, mentions, cases opened) since `since`.
pub async fn volume_since(
    pool: &PgPool,
    tenant_id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(i16, i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT channel, sum(mentions)::int8, sum(cases)::int8
           FROM (SELECT channel, count(*) AS mentions, 0::int8 AS cases
                   FROM mention_facts WHERE tenant_id = $1 AND posted_at >= $2
                  GROUP BY channel
                 UNION ALL
                 SELECT channel, 0::int8, count(*)
                   FROM case_facts WHERE tenant_id = $1 AND opened_at >= $2 AND NOT merged
                  GROUP BY channel) AS v
          GROUP BY channel",
    )
    .bind(tenant_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// (hour since the epoch, mentions) from `first_hour` on.
pub async fn mentions_by_hour(
    pool: &PgPool,
    tenant_id: &str,
    first_hour: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    counted(
        pool,
        tenant_id,
        "mention_facts",
        "posted_at",
        3_600,
        first_hour,
    )
    .await
}

/// (slot since the epoch, rows) of the tenant's rows of `table` whose
/// `column` falls in slot `first` or later, a slot being `width` seconds.
async fn counted(
    pool: &PgPool,
    tenant_id: &str,
    table: &str,
    column: &str,
    width: i64,
    first: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let since = DateTime::from_timestamp(first * width, 0).unwrap_or_default();
    sqlx::query_as(&format!(
        "SELECT floor(extract(epoch FROM {column}) / {width})::int8, count(*)
           FROM {table} WHERE tenant_id = $1 AND {column} >= $2
          GROUP BY 1"
    ))
    .bind(tenant_id)
    .bind(since)
    .fetch_all(pool)
    .await
}

/// Open cases counted by SLA bucket.
pub async fn open_queue(
    pool: &PgPool,
    tenant_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(pb::SlaDue, u64)>, sqlx::Error> {
    let rows: Vec<(bool, Option<i32>, i64)> = sqlx::query_as(
        "SELECT (sla_first_response = $3 OR sla_next_response = $3 OR sla_resolution = $3),
                width_bucket(extract(epoch FROM sla_due_at - $2)::float8, $4::float8[]),
                count(*)
           FROM case_facts
          WHERE tenant_id = $1 AND status NOT IN ('RESOLVED', 'CLOSED') AND NOT merged
          GROUP BY 1, 2",
    )
    .bind(tenant_id)
    .bind(now)
    .bind(SLA_BREACHED)
    .bind(DUE_EDGES_SECS.to_vec())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(breached, edge, n)| (due_bucket(breached, edge), u64::try_from(n).unwrap_or(0)))
        .collect())
}

pub struct Escalations {
    pub open: u64,
    pub unacknowledged: u64,
    pub by_severity: Vec<(String, i64)>,
    /// (day since the epoch, escalations raised).
    pub raised_by_day: Vec<(i64, i64)>,
    pub open_incidents: u64,
    pub incidents_by_day: Vec<(i64, i64)>,
}

/// Open escalations and incidents, and those raised or opened from `first_day` on.
pub async fn escalations(
    pool: &PgPool,
    tenant_id: &str,
    first_day: i64,
) -> Result<Escalations, sqlx::Error> {
    let (open, unacknowledged): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE acknowledged_at IS NULL)
           FROM escalation_facts
          WHERE tenant_id = $1 AND raised_at IS NOT NULL AND resolved_at IS NULL",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    let by_severity = sqlx::query_as(
        "SELECT severity, count(*) FROM escalation_facts
          WHERE tenant_id = $1 AND raised_at IS NOT NULL AND resolved_at IS NULL
          GROUP BY severity ORDER BY severity",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?;
    let raised_by_day = counted(
        pool,
        tenant_id,
        "escalation_facts",
        "raised_at",
        86_400,
        first_day,
    )
    .await?;
    let (open_incidents,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM incident_facts
          WHERE tenant_id = $1 AND opened_at IS NOT NULL
            AND state NOT IN ('RESOLVED', 'LEARNING', 'CLOSED')",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    let incidents_by_day = counted(
        pool,
        tenant_id,
        "incident_facts",
        "opened_at",
        86_400,
        first_day,
    )
    .await?;
    Ok(Escalations {
        open: u64::try_from(open).unwrap_or(0),
        unacknowledged: u64::try_from(unacknowledged).unwrap_or(0),
        by_severity,
        raised_by_day,
        open_incidents: u64::try_from(open_incidents).unwrap_or(0),
        incidents_by_day,
    })
}
