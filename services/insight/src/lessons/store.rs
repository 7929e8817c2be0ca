//! The lessons digest's reads of `reply_facts` and `case_facts`.

use chrono::{DateTime, Utc};
use earshot_proto::insight::v1 as pb;
use earshot_server::convert::timestamp;
use sqlx::PgPool;

use crate::range::Days;

/// Article versions cited in the period and never before it.
pub async fn knowledge_first_cited(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<Vec<pb::KnowledgeChange>, sqlx::Error> {
    let (from, until) = (days.start(), days.end());
    let rows: Vec<(String, i32, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT r.kb_article_id, r.kb_article_version, min(r.sent_at), count(*)::int8
           FROM reply_facts r
          WHERE r.tenant_id = $1 AND r.kb_article_id <> ''
            AND r.sent_at >= $2 AND r.sent_at < $3
            AND NOT EXISTS (SELECT 1 FROM reply_facts e
                             WHERE e.tenant_id = r.tenant_id
                               AND e.kb_article_id = r.kb_article_id
                               AND e.kb_article_version = r.kb_article_version
                               AND e.sent_at < $2)
          GROUP BY r.kb_article_id, r.kb_article_version
          ORDER BY min(r.sent_at), r.kb_article_id",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(until)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, version, first, replies)| pb::KnowledgeChange {
            kb_article_id: id,
            kb_article_version: u32::try_from(version).unwrap_or(0),
            first_cited_at: Some(timestamp(first)),
            replies: u64::try_from(replies).unwrap_or(0),
        })
        .collect())
}

/// Replies sent with the same words on rated cases, best mean CSAT first.
pub async fn best_replies(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    min_uses: i64,
    limit: i64,
) -> Result<Vec<pb::ReplyPattern>, sqlx::Error> {
    let (from, until) = (days.start(), days.end());
    let rows: Vec<(String, i64, f64)> = sqlx::query_as(
        "SELECT max(r.excerpt), count(*)::int8, avg(c.csat)::float8
           FROM reply_facts r
           JOIN case_facts c ON c.tenant_id = r.tenant_id AND c.case_id = r.case_id
          WHERE r.tenant_id = $1 AND r.sent_at >= $2 AND r.sent_at < $3
            AND c.csat > 0 AND r.excerpt <> ''
          GROUP BY r.body_hash
         HAVING count(*) >= $4
          ORDER BY avg(c.csat) DESC, count(*) DESC
          LIMIT $5",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(until)
    .bind(min_uses)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(excerpt, uses, mean_csat)| pb::ReplyPattern {
            excerpt,
            uses: u64::try_from(uses).unwrap_or(0),
            mean_csat,
        })
        .collect())
}
