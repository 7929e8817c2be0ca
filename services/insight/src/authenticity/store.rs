//! Authenticity's reads of `reply_facts` (by `reply_facts_by_sent`).

use sqlx::PgPool;
use uuid::Uuid;

use super::{GroupCounts, Grouping, KINDS, Reused};
use crate::range::Days;

/// The replies of a range: UTC days, whatever the session's time zone.
const IN_RANGE: &str = "tenant_id = $1
    AND sent_at >= $2::date::timestamp AT TIME ZONE 'UTC'
    AND sent_at < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'";

fn key_column(by: Grouping) -> &'static str {
    match by {
        Grouping::All => "''::text",
        Grouping::Team => "queue",
        Grouping::Agent => "agent",
    }
}

/// Replies, flagged replies and replies per kind for each group, in one scan.
pub async fn groups(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    by: Grouping,
) -> Result<Vec<GroupCounts>, sqlx::Error> {
    // One filtered count per kind, each kind bound after the range.
    let per_kind = (0..KINDS.len())
        .map(|i| format!("count(*) FILTER (WHERE ${}::int2 = ANY(findings))", i + 4))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {key} AS key, count(*)::int8,
                count(*) FILTER (WHERE cardinality(findings) > 0)::int8,
                ARRAY[{per_kind}]::int8[]
           FROM reply_facts WHERE {IN_RANGE}
          GROUP BY 1",
        key = key_column(by)
    );
    let mut q = sqlx::query_as::<_, (String, i64, i64, Vec<i64>)>(&sql)
        .bind(tenant_id)
        .bind(days.from)
        .bind(days.to);
    for kind in KINDS {
        q = q.bind(kind as i16);
    }
    Ok(q.fetch_all(pool)
        .await?
        .into_iter()
        .map(|(key, replies, flagged, kinds)| GroupCounts {
            key,
            replies,
            flagged,
            kinds,
        })
        .collect())
}

/// The `limit` bodies sent at least twice, most uses first (the later last
/// use first on ties), each with its last reply's excerpt and id.
pub async fn most_reused(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    limit: i64,
) -> Result<Vec<Reused>, sqlx::Error> {
    // The groups are counted first and only the few listed look up their
    // last reply, by its exact time, so no group carries its replies along.
    let rows: Vec<(String, i64, i64, Uuid)> = sqlx::query_as(&format!(
        "WITH top AS (
             SELECT body_hash, count(*)::int8 AS uses,
                    count(DISTINCT agent) FILTER (WHERE agent <> '')::int8 AS agents,
                    max(sent_at) AS last_at
               FROM reply_facts WHERE {IN_RANGE}
              GROUP BY body_hash HAVING count(*) >= 2
              ORDER BY uses DESC, last_at DESC, body_hash
              LIMIT $4)
         SELECT last.excerpt, top.uses, top.agents, last.reply_id
           FROM top
           CROSS JOIN LATERAL (
                SELECT excerpt, reply_id FROM reply_facts
                 WHERE tenant_id = $1 AND sent_at = top.last_at AND body_hash = top.body_hash
                 ORDER BY reply_id DESC LIMIT 1) last
          ORDER BY top.uses DESC, top.last_at DESC, top.body_hash"
    ))
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(excerpt, uses, agents, last_reply_id)| Reused {
            excerpt,
            uses,
            agents,
            last_reply_id,
        })
        .collect())
}
