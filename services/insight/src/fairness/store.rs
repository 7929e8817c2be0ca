//! The fairness report's read of `fairness_rollups`.

use sqlx::PgPool;

use super::{Cell, HighReach, Stratum, Tally};
use crate::range::{Days, rollup_source};
use crate::rollups::FairnessSums;

#[derive(sqlx::FromRow)]
struct Row {
    topic: String,
    intent: i16,
    priority: String,
    social: bool,
    high_reach: bool,
    cases: i64,
    goodwill_cases: i64,
    goodwill_sum: f64,
    goodwill_sq: f64,
    resolved: i64,
    log_res_sum: f64,
    log_res_sq: f64,
    sla_met: i64,
    sla_breached: i64,
    moved_private: i64,
}

/// The range's sums per stratum and cell (social or not × high-reach or
/// not), in one pass over the rollups whatever the follower threshold.
pub async fn cells(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    high: HighReach,
) -> Result<Vec<Cell>, sqlx::Error> {
    let source = rollup_source(
        "fairness_rollups",
        "topic, intent, priority, social, reach, cases, goodwill_cases, goodwill_sum, \
         goodwill_sq, resolved, log_res_sum, log_res_sq, sla_met, sla_breached, moved_private",
        "tenant_id = $1",
        3,
    );
    let [a, b, c, d, e, f, g, h] = days.grains().dates();
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT topic, intent, priority, social, reach >= $2 AS high_reach,
                sum(cases)::int8 AS cases, sum(goodwill_cases)::int8 AS goodwill_cases,
                sum(goodwill_sum) AS goodwill_sum, sum(goodwill_sq) AS goodwill_sq,
                sum(resolved)::int8 AS resolved, sum(log_res_sum) AS log_res_sum,
                sum(log_res_sq) AS log_res_sq, sum(sla_met)::int8 AS sla_met,
                sum(sla_breached)::int8 AS sla_breached, sum(moved_private)::int8 AS moved_private
           FROM {source}
          GROUP BY 1, 2, 3, 4, 5
         HAVING sum(cases) > 0"
    ))
    .bind(tenant_id)
    .bind(high.min_reach())
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
        .map(|r| Cell {
            stratum: Stratum {
                topic: r.topic,
                intent: r.intent,
                priority: r.priority,
            },
            social: r.social,
            high_reach: r.high_reach,
            tally: Tally::of(&FairnessSums {
                cases: r.cases,
                goodwill_cases: r.goodwill_cases,
                goodwill_sum: r.goodwill_sum,
                goodwill_sq: r.goodwill_sq,
                resolved: r.resolved,
                log_res_sum: r.log_res_sum,
                log_res_sq: r.log_res_sq,
                sla_met: r.sla_met,
                sla_breached: r.sla_breached,
                moved_private: r.moved_private,
            }),
        })
        .collect())
}
