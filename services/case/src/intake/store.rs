//! Intake's statements: redelivery checks, the open cases mentions thread
//! into, and new cases inserted with their first SLA due time.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Mention;
use super::plan::{Existing, Incoming, REOPEN_WINDOW_DAYS};
use crate::record::store::{COLUMNS, TenantCaseRow};
use crate::record::{CaseRow, StatusChange};
use crate::routing::Decision;
use crate::sla::store::opening_due;
use crate::vocabulary::{Lane, Priority, Status};

/// Plans this transaction's statements for the arrays they are given. A
/// batch's statements bind whole columns of a thousand rows and the statuses
/// they skip; the generic plan a prepared statement falls back to after a few
/// runs estimates ten rows per array and cannot see through a bound status, so
/// it scanned cases where an index serves (6,000 → 536 mentions a second).
/// Planning costs microseconds against a batch's milliseconds.
pub async fn plan_for_this_batch(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(conn)
        .await?;
    Ok(())
}

/// Takes a transaction-level advisory lock per key, in a stable order.
pub async fn lock_anonymous(conn: &mut PgConnection, keys: &[String]) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
           FROM unnest($1::text[]) AS k ORDER BY k",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// The (tenant, mention id) of `mentions` already on a case.
pub async fn known_mentions(
    conn: &mut PgConnection,
    mentions: &[&Mention],
) -> Result<HashSet<(String, String)>, sqlx::Error> {
    let tenants: Vec<&str> = mentions.iter().map(|m| m.tenant_id.as_str()).collect();
    let ids: Vec<&str> = mentions.iter().map(|m| m.mention_id.as_str()).collect();
    let known: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.tenant_id, m.mention_id FROM case_messages m
           JOIN unnest($1::text[], $2::text[]) AS u(t, mid)
             ON m.tenant_id = u.t AND m.mention_id = u.mid",
    )
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(known.into_iter().collect())
}

/// For each message, the open case of its thread (first) or of its customer
/// on one of its topics, if any: not closed, not merged, and if resolved then recently.
pub async fn open_cases_for(
    conn: &mut PgConnection,
    incoming: &[Incoming<'_>],
) -> Result<Vec<Option<Existing>>, sqlx::Error> {
    let tenants: Vec<&str> = incoming.iter().map(|m| m.tenant_id).collect();
    let threads: Vec<&str> = incoming.iter().map(|m| m.thread_key).collect();
    let customers: Vec<Option<Uuid>> = incoming.iter().map(|m| m.customer_id).collect();
    // Each message's topics, flattened: (its ordinal, a topic).
    let (at, topics): (Vec<i64>, Vec<&str>) = incoming
        .iter()
        .zip(1i64..)
        .flat_map(|(m, i)| m.topics.iter().map(move |t| (i, *t)))
        .unzip();
    let rows: Vec<(i64, Uuid, Status)> = sqlx::query_as(
        "WITH u AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[])
                    WITH ORDINALITY AS u(t, thread, customer, i)
         ), ut AS (
             SELECT * FROM unnest($8::int8[], $4::text[]) AS ut(i, topic)
         ), candidates AS (
             SELECT u.i, c.id, c.status, 0 AS rank, c.opened_at
               FROM u JOIN cases c
                 ON c.tenant_id = u.t AND c.thread_key = u.thread
                AND c.thread_key <> '' AND c.status <> $6
              WHERE c.merged_into IS NULL
                AND (c.status <> $7 OR c.resolved_at > now() - make_interval(days => $5))
             UNION ALL
             SELECT u.i, c.id, c.status, 1 AS rank, c.opened_at
               FROM u JOIN ut ON ut.i = u.i
               JOIN cases c
                 ON c.tenant_id = u.t AND c.customer_id = u.customer
                AND ut.topic = ANY(c.topics) AND c.status <> $6
              WHERE c.merged_into IS NULL
                AND (c.status <> $7 OR c.resolved_at > now() - make_interval(days => $5))
         )
         SELECT DISTINCT ON (i) i, id, status FROM candidates ORDER BY i, rank, opened_at DESC",
    )
    .bind(&tenants)
    .bind(&threads)
    .bind(&customers)
    .bind(&topics)
    .bind(REOPEN_WINDOW_DAYS)
    .bind(Status::Closed)
    .bind(Status::Resolved)
    .bind(&at)
    .fetch_all(conn)
    .await?;
    let mut found = vec![None; incoming.len()];
    for (i, case_id, status) in rows {
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| found.get_mut(i)) {
            *slot = Some(Existing { case_id, status });
        }
    }
    Ok(found)
}

/// A case about to open.
#[derive(Debug, Clone)]
pub struct Opening<'a> {
    pub id: Uuid,
    pub tenant_id: &'a str,
    pub channel: i16,
    pub subject: String,
    pub handle: &'a str,
    pub mention_id: Option<&'a str>,
    pub thread_key: &'a str,
    pub customer_id: Option<Uuid>,
    /// The main topic first.
    pub topics: Vec<&'a str>,
    /// The client's idempotency key of a case opened by API.
    pub request_id: Option<&'a str>,
    pub description: &'a str,
    pub decision: Decision,
    pub assignee: Option<String>,
    /// The intent of the mention it opens from (0 by API).
    pub intent: i16,
    /// Opened from a public post.
    pub public: bool,
    /// The author's followers the mention showed; `None` (by API) takes the
    /// profile's.
    pub followers: Option<i64>,
}

/// Inserts new cases, each with its routing rule's skills and its first SLA
/// due time, in one statement; a case whose request id was used already is
/// skipped. Answers those inserted.
pub async fn insert_opened(
    conn: &mut PgConnection,
    openings: &[Opening<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<TenantCaseRow>, sqlx::Error> {
    let tenants: Vec<&str> = openings.iter().map(|o| o.tenant_id).collect();
    let subjects: Vec<&str> = openings.iter().map(|o| o.subject.as_str()).collect();
    let handles: Vec<&str> = openings.iter().map(|o| o.handle).collect();
    let threads: Vec<&str> = openings.iter().map(|o| o.thread_key).collect();
    let topics: Vec<&str> = openings
        .iter()
        .map(|o| o.topics.first().copied().unwrap_or_default())
        .collect();
    // Topic keys hold no comma: each case's topics travel as one string.
    let all_topics: Vec<String> = openings.iter().map(|o| o.topics.join(",")).collect();
    let queues: Vec<&str> = openings.iter().map(|o| o.decision.queue.as_str()).collect();
    let descriptions: Vec<&str> = openings.iter().map(|o| o.description).collect();
    let ids: Vec<Uuid> = openings.iter().map(|o| o.id).collect();
    let channels: Vec<i16> = openings.iter().map(|o| o.channel).collect();
    let mentions: Vec<Option<&str>> = openings.iter().map(|o| o.mention_id).collect();
    let customers: Vec<Option<Uuid>> = openings.iter().map(|o| o.customer_id).collect();
    let requests: Vec<Option<&str>> = openings.iter().map(|o| o.request_id).collect();
    let priorities: Vec<Priority> = openings.iter().map(|o| o.decision.priority).collect();
    let lanes: Vec<Lane> = openings.iter().map(|o| o.decision.lane).collect();
    let assignees: Vec<Option<&str>> = openings.iter().map(|o| o.assignee.as_deref()).collect();
    let rules: Vec<Option<Uuid>> = openings.iter().map(|o| o.decision.rule_id).collect();
    let intents: Vec<i16> = openings.iter().map(|o| o.intent).collect();
    let public: Vec<bool> = openings.iter().map(|o| o.public).collect();
    let followers: Vec<Option<i64>> = openings.iter().map(|o| o.followers).collect();
    let due = opening_due("u.tenant_id", "$11");
    sqlx::query_as(&format!(
        "INSERT INTO cases (id, tenant_id, status, channel, subject, customer_handle,
                            mention_id, thread_key, priority, opened_at, updated_at,
                            customer_id, topic, lane, queue, assignee, routing_rule_id,
                            required_skills, sla_due_at, request_id, description, topics,
                            intent, public, followers)
         SELECT u.id, u.tenant_id, $10, u.channel, u.subject, u.handle, u.mention_id,
                u.thread, u.priority, $11, $11, u.customer_id, u.topic, u.lane, u.queue,
                u.assignee, u.rule_id, coalesce(r.required_skills, '{{}}'), {due},
                u.request_id, u.description,
                coalesce(string_to_array(nullif(u.topics, ''), ','), '{{}}'),
                u.intent, u.public, coalesce(u.followers, cu.followers, 0)
           FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::text[],
                       $6::text[], $7::text[], $8::uuid[], $9::text[], $12::text[],
                       $13::int2[], $14::text[], $15::text[], $16::uuid[], $17::text[],
                       $18::text[], $19::text[], $20::int2[], $21::bool[], $22::int8[])
             AS u(id, tenant_id, channel, subject, handle, mention_id, thread, customer_id,
                  topic, priority, lane, queue, assignee, rule_id, request_id, description,
                  topics, intent, public, followers)
           LEFT JOIN routing_rules r ON r.id = u.rule_id
           LEFT JOIN customers cu ON cu.id = u.customer_id
           LEFT JOIN sla_policies p
             ON p.tenant_id = u.tenant_id AND p.priority = u.priority AND p.lane = u.lane
         ON CONFLICT ON CONSTRAINT cases_one_per_request DO NOTHING
         RETURNING tenant_id, {COLUMNS}"
    ))
    .bind(&ids)
    .bind(&tenants)
    .bind(&channels)
    .bind(&subjects)
    .bind(&handles)
    .bind(&mentions)
    .bind(&threads)
    .bind(&customers)
    .bind(&topics)
    .bind(Status::New)
    .bind(now)
    .bind(&priorities)
    .bind(&lanes)
    .bind(&queues)
    .bind(&assignees)
    .bind(&rules)
    .bind(&requests)
    .bind(&descriptions)
    .bind(&all_topics)
    .bind(&intents)
    .bind(&public)
    .bind(&followers)
    .fetch_all(conn)
    .await
}

/// The case opened under `request_id`, if one was.
pub async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

/// Moves woken cases to their new status (open again, no longer resolved),
/// counting a reopen when one was resolved, bumping their versions; answers
/// each case's new version.
pub async fn reopen(
    conn: &mut PgConnection,
    changes: &[StatusChange],
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    let ids: Vec<Uuid> = changes.iter().map(|c| c.case_id).collect();
    let to: Vec<Status> = changes.iter().map(|c| c.to).collect();
    sqlx::query_as(
        "UPDATE cases c
            SET status = u.to_status, version = c.version + 1, updated_at = now(),
                resolved_at = NULL,
                reopens = c.reopens + (c.status >= $3 AND u.to_status < $3)::int
           FROM unnest($1::uuid[], $2::int2[]) AS u(id, to_status)
          WHERE c.id = u.id
         RETURNING c.id, c.version",
    )
    .bind(&ids)
    .bind(&to)
    .bind(Status::Resolved)
    .fetch_all(conn)
    .await
}
