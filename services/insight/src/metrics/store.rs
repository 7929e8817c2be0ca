//! Service metrics' reads of `case_rollups`, `case_durations` and `case_resolutions`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use crate::range::Days;
use crate::rollups::{CASE_COUNTERS, CaseCounters};

/// Summed counters per dimension value over the range.
pub async fn counters(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    dim: Dimension,
) -> Result<BTreeMap<String, CaseCounters>, sqlx::Error> {
    let sums = CASE_COUNTERS
        .iter()
        .map(|c| format!("sum({c})::int8"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<(String, Vec<i64>)> = sqlx::query_as(&format!(
        "SELECT value, ARRAY[{sums}] FROM case_rollups
          WHERE tenant_id = $1 AND dim = $2 AND day BETWEEN $3 AND $4
          GROUP BY value HAVING sum(opened) > 0"
    ))
    .bind(tenant_id)
    .bind(dim as i16)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(value, c)| {
            let mut counters: CaseCounters = [0; 12];
            counters.copy_from_slice(&c);
            (value, counters)
        })
        .collect())
}

/// Histograms per dimension value and metric, buckets in order.
pub async fn histograms(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    dim: Dimension,
) -> Result<BTreeMap<String, BTreeMap<i16, Vec<(i16, i64)>>>, sqlx::Error> {
    let rows: Vec<(String, i16, i16, i64)> = sqlx::query_as(
        "SELECT value, metric, bucket, sum(n)::int8 FROM case_durations
          WHERE tenant_id = $1 AND dim = $2 AND day BETWEEN $3 AND $4
          GROUP BY value, metric, bucket HAVING sum(n) > 0
          ORDER BY value, metric, bucket",
    )
    .bind(tenant_id)
    .bind(dim as i16)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, BTreeMap<i16, Vec<(i16, i64)>>> = BTreeMap::new();
    for (value, metric, bucket, n) in rows {
        out.entry(value)
            .or_default()
            .entry(metric)
            .or_default()
            .push((bucket, n));
    }
    Ok(out)
}

/// Openings and resolutions of all cases by day, and what was open before.
pub struct DailyFlow {
    pub open_before: i64,
    pub opened: BTreeMap<NaiveDate, i64>,
    pub resolved: BTreeMap<NaiveDate, i64>,
}

pub async fn daily_flow(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<DailyFlow, sqlx::Error> {
    let (opened_before, resolved_before): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT coalesce(sum(opened), 0)::int8 FROM case_rollups
                  WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day < $2),
                (SELECT coalesce(sum(n), 0)::int8 FROM case_resolutions
                  WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day < $2)",
    )
    .bind(tenant_id)
    .bind(days.from)
    .fetch_one(pool)
    .await?;
    let opened: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT day, opened FROM case_rollups
          WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day BETWEEN $2 AND $3",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    let resolved: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT day, n FROM case_resolutions
          WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day BETWEEN $2 AND $3",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    Ok(DailyFlow {
        open_before: opened_before - resolved_before,
        opened: opened.into_iter().collect(),
        resolved: resolved.into_iter().collect(),
    })
}
