//! Success stories' read: praise by `mention_facts_praise`, consent and
//! outcomes through `case_facts_by_mention` and the author's other mentions
//! (`mention_facts_by_author_driver`).

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::Story;
use crate::range::Days;

/// `limit` stories posted in `days` after `after` (posted_at, mention_id),
/// newest first.
pub async fn stories(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    after: (Option<DateTime<Utc>>, Option<Uuid>),
    limit: i64,
) -> Result<Vec<Story>, sqlx::Error> {
    // The author's cases are those opened from any of their mentions; an
    // unknown author ('') has only the case of the praise itself.
    sqlx::query_as(
        "SELECT m.mention_id, m.channel, m.handle, m.praise, m.posted_at, m.topic,
                o.case_id, o.status AS case_status, o.csat, o.resolution_secs
           FROM mention_facts m
           LEFT JOIN LATERAL (
                SELECT case_id, status, csat, resolution_secs FROM (
                    SELECT 0 AS rank, c.opened_at, c.case_id, c.status, c.csat, c.resolution_secs
                      FROM case_facts c
                     WHERE c.tenant_id = m.tenant_id AND c.mention_id = m.mention_id
                    UNION ALL
                    SELECT 1, c.opened_at, c.case_id, c.status, c.csat, c.resolution_secs
                      FROM mention_facts m2
                      JOIN case_facts c ON c.tenant_id = m2.tenant_id AND c.mention_id = m2.mention_id
                     WHERE m2.tenant_id = m.tenant_id AND m2.author <> '' AND m2.author = m.author
                       AND m2.mention_id <> m.mention_id AND c.opened_at <= m.posted_at
                ) outcome
                ORDER BY rank, opened_at DESC, case_id DESC
                LIMIT 1) o ON true
          WHERE m.tenant_id = $1 AND m.praise IS NOT NULL
            AND m.posted_at >= $2::date::timestamp AT TIME ZONE 'UTC'
            AND m.posted_at < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'
            AND ($4::timestamptz IS NULL OR (m.posted_at, m.mention_id) < ($4, $5))
            AND (EXISTS (SELECT 1 FROM case_facts c
                          WHERE c.tenant_id = m.tenant_id AND c.mention_id = m.mention_id
                            AND c.consent_granted)
                 OR EXISTS (SELECT 1 FROM mention_facts m2
                              JOIN case_facts c
                                ON c.tenant_id = m2.tenant_id AND c.mention_id = m2.mention_id
                             WHERE m2.tenant_id = m.tenant_id AND m2.author <> ''
                               AND m2.author = m.author AND c.consent_granted))
          ORDER BY m.posted_at DESC, m.mention_id DESC
          LIMIT $6",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(pool)
    .await
}
