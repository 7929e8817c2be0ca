//! Service metrics' reads of `case_rollups`, `case_durations` and `case_resolutions`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use crate::range::{Days, rollup_source};
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
    let columns = format!("value, {}", CASE_COUNTERS.join(", "));
    let source = rollup_source("case_rollups", &columns, "tenant_id = $1 AND dim = $2", 3);
    let [a, b, c, d, e, f, g, h] = days.grains().dates();
    let rows: Vec<(String, Vec<i64>)> = sqlx::query_as(&format!(
        "SELECT value, ARRAY[{sums}] FROM {source} GROUP BY value HAVING sum(opened) > 0"
    ))
    .bind(tenant_id)
    .bind(dim as i16)
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(d)
    .bind(e)
    .bind(f)
    .bind(g)
    .bind(h)
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
    let source = rollup_source(
        "case_durations",
        "value, metric, bucket, n",
        "tenant_id = $1 AND dim = $2",
        3,
    );
    let [a, b, c, d, e, f, g, h] = days.grains().dates();
    let rows: Vec<(String, i16, i16, i64)> = sqlx::query_as(&format!(
        "SELECT value, metric, bucket, sum(n)::int8 FROM {source}
          GROUP BY value, metric, bucket HAVING sum(n) > 0
          ORDER BY value, metric, bucket"
    ))
    .bind(tenant_id)
    .bind(dim as i16)
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(d)
    .bind(e)
    .bind(f)
    .bind(g)
    .bind(h)
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
    // Every day up to the range's end: what opened before it is open unless
    // resolved before it. Openings not compacted yet count too.
    let opened: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT day, sum(opened)::int8 FROM (
             SELECT day, opened FROM case_rollups
              WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day <= $2
             UNION ALL
             SELECT day, opened FROM case_rollups_pending
              WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day <= $2) AS r
          GROUP BY day",
    )
    .bind(tenant_id)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    let resolved: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT day, n FROM case_resolutions
          WHERE tenant_id = $1 AND dim = 0 AND value = '' AND day <= $2",
    )
    .bind(tenant_id)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    let before = |rows: &[(NaiveDate, i64)]| -> i64 {
        rows.iter()
            .filter(|(d, _)| *d < days.from)
            .map(|(_, n)| n)
            .sum()
    };
    let within = |rows: Vec<(NaiveDate, i64)>| -> BTreeMap<NaiveDate, i64> {
        rows.into_iter().filter(|(d, _)| *d >= days.from).collect()
    };
    Ok(DailyFlow {
        open_before: before(&opened) - before(&resolved),
        opened: within(opened),
        resolved: within(resolved),
    })
}
