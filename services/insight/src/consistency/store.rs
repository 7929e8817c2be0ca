//! Consistency's read: the replies of a range (by `reply_facts_by_sent`)
//! with their cases' drivers (by the case's primary key).

use sqlx::PgPool;

use super::{CASES_PER_SIDE, Side};
use crate::range::Days;

/// Every (driver, channel, article, version) answered in `days`, drivers
/// without a topic left out, with its replies and its newest cases.
pub async fn sides(pool: &PgPool, tenant_id: &str, days: Days) -> Result<Vec<Side>, sqlx::Error> {
    sqlx::query_as(
        "SELECT topic, intent, channel, kb_article_id, kb_article_version, sum(n)::int8 AS replies,
                (array_agg(case_id ORDER BY opened_at DESC, case_id DESC))[1:$4] AS case_ids
           FROM (SELECT c.topic, c.intent, r.channel, r.kb_article_id,
                        CASE WHEN r.kb_article_id = '' THEN 0 ELSE r.kb_article_version END
                            AS kb_article_version,
                        r.case_id, c.opened_at, count(*) AS n
                   FROM reply_facts r
                   JOIN case_facts c ON c.tenant_id = r.tenant_id AND c.case_id = r.case_id
                  WHERE r.tenant_id = $1
                    AND r.sent_at >= $2::date::timestamp AT TIME ZONE 'UTC'
                    AND r.sent_at < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'
                    AND c.topic <> ''
                  GROUP BY 1, 2, 3, 4, 5, 6, 7) per_case
          GROUP BY 1, 2, 3, 4, 5",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .bind(i32::try_from(CASES_PER_SIDE).expect("a small constant"))
    .fetch_all(pool)
    .await
}
