//! The Goodwill Index's reads: mention counts from `driver_rollups`,
//! conversations from `mention_facts`, SLA outcomes from `case_rollups`.

use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use super::Counts;
use crate::facts::NEGATIVE_BELOW;
use crate::range::{Days, rollup_source};

pub async fn counts(pool: &PgPool, tenant_id: &str, days: Days) -> Result<Counts, sqlx::Error> {
    let (mentions, positive, negative, recurrent): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(contacts), 0)::int8, coalesce(sum(positive), 0)::int8,
                coalesce(sum(negative), 0)::int8, coalesce(sum(recurrent), 0)::int8
           FROM driver_rollups
          WHERE tenant_id = $1 AND day BETWEEN $2 AND $3",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .fetch_one(pool)
    .await?;
    // A conversation is a thread's mentions in the range; it opened negative
    // when its first is, and recovered when its last is not (an unscored
    // last mention is not negative).
    let (opened_negative, recovered): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE opening <= $4),
                count(*) FILTER (WHERE opening <= $4 AND NOT coalesce(closing <= $4, false))
           FROM (SELECT (array_agg(sentiment ORDER BY posted_at, mention_id))[1] AS opening,
                        (array_agg(sentiment ORDER BY posted_at DESC, mention_id DESC))[1] AS closing
                   FROM mention_facts
                  WHERE tenant_id = $1 AND thread_key <> ''
                    AND posted_at >= $2 AND posted_at < $3
                  GROUP BY thread_key) AS conversations",
    )
    .bind(tenant_id)
    .bind(days.start())
    .bind(days.end())
    .bind(NEGATIVE_BELOW)
    .fetch_one(pool)
    .await?;
    let source = rollup_source(
        "case_rollups",
        "fr_met, nr_met, res_met, fr_breached, nr_breached, res_breached",
        "tenant_id = $1 AND dim = $2 AND value = ''",
        3,
    );
    let [a, b, c, d, e, f, g, h] = days.grains().dates();
    let (sla_met, sla_breached): (i64, i64) = sqlx::query_as(&format!(
        "SELECT coalesce(sum(fr_met + nr_met + res_met), 0)::int8,
                coalesce(sum(fr_breached + nr_breached + res_breached), 0)::int8
           FROM {source}"
    ))
    .bind(tenant_id)
    .bind(Dimension::Unspecified as i16)
    .bind(a)
    .bind(b)
    .bind(c)
    .bind(d)
    .bind(e)
    .bind(f)
    .bind(g)
    .bind(h)
    .fetch_one(pool)
    .await?;
    Ok(Counts {
        mentions,
        positive,
        negative,
        recurrent,
        opened_negative,
        recovered,
        sla_met,
        sla_breached,
    })
}
