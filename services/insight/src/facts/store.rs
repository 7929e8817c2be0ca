//! The fact tables: a batch's facts written set-based, each write giving
//! back what it changed so the rollups can follow.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Breach, CaseFact, MentionFact, ReplyFact};
use crate::rollups::Deltas;

/// Rows per statement: 38 binds a case stays under PostgreSQL's 65 535.
const CHUNK: usize = 1_000;

pub const CASE_COLUMNS: &str = "tenant_id, case_id, version, status, channel, public, topic, intent, \
    priority, lane, queue, agent, customer_id, followers, vip, mention_id, opened_at, \
    first_response_secs, first_response_business_secs, resolved_at, resolution_secs, \
    resolution_business_secs, reopens, replies, inbound_messages, channel_switches, \
    sla_first_response, sla_next_response, sla_resolution, goodwill_gestures, goodwill_minor, \
    csat, moved_private, consent_granted, merged, sla_due_at";

pub const MENTION_COLUMNS: &str = "tenant_id, mention_id, posted_at, channel, public, topic, intent, \
    rule_id, author, handle, followers, thread_key, sentiment, praise, recurrent";

/// Serialises the fact writes of each tenant in the batch (in one order, so
/// two batches cannot wait on each other): a case's old facts and its
/// mentions' neighbours are read and changed by one batch at a time.
pub async fn lock_tenants(conn: &mut PgConnection, tenants: &[String]) -> Result<(), sqlx::Error> {
    let mut tenants = tenants.to_vec();
    tenants.sort();
    tenants.dedup();
    for tenant in tenants {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('earshot.insight.facts:' || $1, 0))",
        )
        .bind(tenant)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Keeps each case at the highest version heard, adding to `deltas` what
/// the newer facts change.
pub async fn record_cases(
    conn: &mut PgConnection,
    facts: Vec<CaseFact>,
    deltas: &mut Deltas,
) -> Result<usize, sqlx::Error> {
    let mut newest: BTreeMap<(String, Uuid), CaseFact> = BTreeMap::new();
    for f in facts {
        let key = (f.tenant_id.clone(), f.case_id);
        match newest.get(&key) {
            Some(seen) if seen.version >= f.version => {}
            _ => {
                newest.insert(key, f);
            }
        }
    }
    if newest.is_empty() {
        return Ok(0);
    }
    let (tenants, ids): (Vec<String>, Vec<Uuid>) = newest.keys().cloned().unzip();
    let old: Vec<CaseFact> = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM case_facts
          WHERE case_id = ANY($2) AND tenant_id = ANY($1)"
    ))
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    for o in old {
        let key = (o.tenant_id.clone(), o.case_id);
        if newest.get(&key).is_some_and(|n| n.version > o.version) {
            deltas.add_case(&o, -1);
        } else {
            newest.remove(&key);
        }
    }
    let changed: Vec<CaseFact> = newest.into_values().collect();
    for f in &changed {
        deltas.add_case(f, 1);
    }
    for chunk in changed.chunks(CHUNK) {
        upsert_cases(conn, chunk).await?;
    }
    Ok(changed.len())
}

async fn upsert_cases(conn: &mut PgConnection, rows: &[CaseFact]) -> Result<(), sqlx::Error> {
    let mut q: QueryBuilder<Postgres> =
        QueryBuilder::new(format!("INSERT INTO case_facts ({CASE_COLUMNS}) "));
    q.push_values(rows, |mut b, f| {
        b.push_bind(&f.tenant_id)
            .push_bind(f.case_id)
            .push_bind(f.version)
            .push_bind(&f.status)
            .push_bind(f.channel)
            .push_bind(f.public)
            .push_bind(&f.topic)
            .push_bind(f.intent)
            .push_bind(&f.priority)
            .push_bind(&f.lane)
            .push_bind(&f.queue)
            .push_bind(&f.agent)
            .push_bind(f.customer_id)
            .push_bind(f.followers)
            .push_bind(f.vip)
            .push_bind(f.mention_id)
            .push_bind(f.opened_at)
            .push_bind(f.first_response_secs)
            .push_bind(f.first_response_business_secs)
            .push_bind(f.resolved_at)
            .push_bind(f.resolution_secs)
            .push_bind(f.resolution_business_secs)
            .push_bind(f.reopens)
            .push_bind(f.replies)
            .push_bind(f.inbound_messages)
            .push_bind(f.channel_switches)
            .push_bind(f.sla_first_response)
            .push_bind(f.sla_next_response)
            .push_bind(f.sla_resolution)
            .push_bind(f.goodwill_gestures)
            .push_bind(f.goodwill_minor)
            .push_bind(f.csat)
            .push_bind(f.moved_private)
            .push_bind(f.consent_granted)
            .push_bind(f.merged)
            .push_bind(f.sla_due_at);
    });
    let updates = CASE_COLUMNS
        .split(',')
        .map(str::trim)
        .filter(|c| *c != "tenant_id" && *c != "case_id")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    q.push(format!(
        " ON CONFLICT (tenant_id, case_id) DO UPDATE SET {updates}
          WHERE case_facts.version < excluded.version"
    ));
    q.build().execute(conn).await?;
    Ok(())
}

/// Marks breached the clocks the case service said were, on the facts as
/// they stand (a breach of a case not heard of yet waits for its facts,
/// which will say so), adding the change to `deltas`.
pub async fn record_breaches(
    conn: &mut PgConnection,
    breaches: &[Breach],
    deltas: &mut Deltas,
) -> Result<(), sqlx::Error> {
    if breaches.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = breaches.iter().map(|b| b.tenant_id.as_str()).collect();
    let ids: Vec<Uuid> = breaches.iter().map(|b| b.case_id).collect();
    let current: Vec<CaseFact> = sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM case_facts
          WHERE case_id = ANY($2) AND tenant_id = ANY($1)"
    ))
    .bind(&tenants)
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = Vec::new();
    for old in current {
        let new = breaches
            .iter()
            .filter(|b| b.tenant_id == old.tenant_id && b.case_id == old.case_id)
            .fold(old.clone(), |f, b| f.breached(b.target));
        if new != old {
            deltas.add_case(&old, -1);
            deltas.add_case(&new, 1);
            changed.push(new);
        }
    }
    if changed.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = changed.iter().map(|f| f.tenant_id.as_str()).collect();
    let ids: Vec<Uuid> = changed.iter().map(|f| f.case_id).collect();
    let states: [Vec<i16>; 3] =
        [0, 1, 2].map(|i| changed.iter().map(|f| f.sla_states()[i]).collect());
    sqlx::query(
        "UPDATE case_facts f
            SET sla_first_response = u.fr, sla_next_response = u.nr, sla_resolution = u.res
           FROM unnest($1::text[], $2::uuid[], $3::int2[], $4::int2[], $5::int2[])
                AS u(tenant_id, case_id, fr, nr, res)
          WHERE f.tenant_id = u.tenant_id AND f.case_id = u.case_id",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&states[0])
    .bind(&states[1])
    .bind(&states[2])
    .execute(conn)
    .await?;
    Ok(())
}

/// Tenant, author, topic and intent: whose contacts about what recur.
type AuthorDriver = (String, String, String, i16);

/// Records mentions heard for the first time and marks the ones that
/// became (or stopped being) recurrent because of them.
pub async fn record_mentions(
    conn: &mut PgConnection,
    facts: Vec<MentionFact>,
    deltas: &mut Deltas,
) -> Result<usize, sqlx::Error> {
    let mut inserted: Vec<MentionFact> = Vec::new();
    for chunk in facts.chunks(CHUNK) {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("INSERT INTO mention_facts ({MENTION_COLUMNS}) "));
        q.push_values(chunk, |mut b, m| {
            b.push_bind(&m.tenant_id)
                .push_bind(m.mention_id)
                .push_bind(m.posted_at)
                .push_bind(m.channel)
                .push_bind(m.public)
                .push_bind(&m.topic)
                .push_bind(m.intent)
                .push_bind(&m.rule_id)
                .push_bind(&m.author)
                .push_bind(&m.handle)
                .push_bind(m.followers)
                .push_bind(&m.thread_key)
                .push_bind(m.sentiment)
                .push_bind(&m.praise)
                .push_bind(false);
        });
        q.push(format!(
            " ON CONFLICT (tenant_id, mention_id) DO NOTHING RETURNING {MENTION_COLUMNS}"
        ));
        inserted.extend(
            q.build_query_as::<MentionFact>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    for m in &inserted {
        deltas.add_mention(m, 1);
    }
    // Each (author, driver) touched: the window its new mentions can change.
    let mut windows: BTreeMap<AuthorDriver, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for m in inserted.iter().filter(|m| !m.author.is_empty()) {
        let key = (
            m.tenant_id.clone(),
            m.author.clone(),
            m.topic.clone(),
            m.intent,
        );
        let w = windows.entry(key).or_insert((m.posted_at, m.posted_at));
        w.0 = w.0.min(m.posted_at);
        w.1 = w.1.max(m.posted_at);
    }
    if windows.is_empty() {
        return Ok(inserted.len());
    }
    let mut tenants = Vec::new();
    let mut authors = Vec::new();
    let mut topics = Vec::new();
    let mut intents = Vec::new();
    let mut lows = Vec::new();
    let mut highs = Vec::new();
    for ((tenant, author, topic, intent), (lo, hi)) in windows {
        tenants.push(tenant);
        authors.push(author);
        topics.push(topic);
        intents.push(intent);
        lows.push(lo);
        highs.push(hi);
    }
    // A table that grew since its statistics were taken looks small to the
    // planner, which then scans all of it for every batch; the neighbours of
    // a few authors are a few index probes, so this statement is told so.
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL enable_hashjoin = off")
        .execute(&mut *conn)
        .await?;
    let flipped: Vec<MentionFact> = sqlx::query_as(&format!(
        "WITH keys AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[],
                                  $5::timestamptz[], $6::timestamptz[])
                        AS k(tenant_id, author, topic, intent, lo, hi)),
         judged AS (
             SELECT m.tenant_id, m.mention_id,
                    EXISTS (SELECT 1 FROM mention_facts p
                             WHERE p.tenant_id = m.tenant_id AND p.author = m.author
                               AND p.topic = m.topic AND p.intent = m.intent
                               AND (p.posted_at, p.mention_id) < (m.posted_at, m.mention_id)
                               AND p.posted_at >= m.posted_at - interval '7 days') AS recurrent
               FROM keys k
               JOIN mention_facts m
                 ON m.tenant_id = k.tenant_id AND m.author = k.author
                AND m.topic = k.topic AND m.intent = k.intent
                AND m.posted_at BETWEEN k.lo AND k.hi + interval '7 days')
         UPDATE mention_facts f SET recurrent = j.recurrent
           FROM judged j
          WHERE f.tenant_id = j.tenant_id AND f.mention_id = j.mention_id
            AND f.recurrent <> j.recurrent
         RETURNING {}",
        MENTION_COLUMNS
            .split(',')
            .map(|c| format!("f.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(&tenants)
    .bind(&authors)
    .bind(&topics)
    .bind(&intents)
    .bind(&lows)
    .bind(&highs)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("SET LOCAL enable_seqscan = DEFAULT")
        .execute(&mut *conn)
        .await?;
    sqlx::query("SET LOCAL enable_hashjoin = DEFAULT")
        .execute(&mut *conn)
        .await?;
    for now in flipped {
        let before = MentionFact {
            recurrent: !now.recurrent,
            ..now.clone()
        };
        deltas.add_mention(&before, -1);
        deltas.add_mention(&now, 1);
    }
    Ok(inserted.len())
}

/// Records replies heard for the first time.
pub async fn record_replies(
    conn: &mut PgConnection,
    facts: &[ReplyFact],
) -> Result<(), sqlx::Error> {
    for chunk in facts.chunks(CHUNK) {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
            "INSERT INTO reply_facts (tenant_id, reply_id, case_id, sent_at, agent, queue, \
             channel, public, findings, body_hash, excerpt, kb_article_id, kb_article_version) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.tenant_id)
                .push_bind(r.reply_id)
                .push_bind(r.case_id)
                .push_bind(r.sent_at)
                .push_bind(&r.agent)
                .push_bind(&r.queue)
                .push_bind(r.channel)
                .push_bind(r.public)
                .push_bind(&r.findings)
                .push_bind(r.body_hash)
                .push_bind(&r.excerpt)
                .push_bind(&r.kb_article_id)
                .push_bind(r.kb_article_version);
        });
        q.push(" ON CONFLICT (tenant_id, reply_id) DO NOTHING");
        q.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every case fact of a tenant, for a recomputation.
pub async fn all_cases(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Vec<CaseFact>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CASE_COLUMNS} FROM case_facts WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}

/// Every mention fact of a tenant, for a recomputation.
pub async fn all_mentions(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Vec<MentionFact>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {MENTION_COLUMNS} FROM mention_facts WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_all(conn)
    .await
}
