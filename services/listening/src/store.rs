//! Queries of the `listening` schema. Every one is scoped by tenant.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::mentions::NewMention;

#[derive(Debug, sqlx::FromRow)]
pub struct MentionRow {
    pub id: Uuid,
    pub source: String,
    pub external_id: String,
    pub channel: i16,
    pub is_public: bool,
    pub author_external_id: String,
    pub author_handle: String,
    pub author_name: String,
    pub author_followers: i64,
    pub author_verified: bool,
    pub body: String,
    pub language: String,
    pub thread_key: String,
    pub posted_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub intent: i16,
    pub actionable: bool,
    pub cues: Vec<String>,
}

const COLUMNS: &str = "id, source, external_id, channel, is_public, author_external_id, \
     author_handle, author_name, author_followers, author_verified, body, language, \
     thread_key, posted_at, received_at, intent, actionable, cues";

/// Inserts the mentions that are new and returns their ids; the others were
/// stored before (same tenant, source and external id) and are left alone.
pub async fn insert_new(
    conn: &mut PgConnection,
    tenant_id: &str,
    mentions: &[&NewMention],
    received_at: DateTime<Utc>,
) -> Result<HashSet<Uuid>, sqlx::Error> {
    if mentions.is_empty() {
        return Ok(HashSet::new());
    }
    let n = mentions.len();
    let mut ids = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut external_ids = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    let mut publics = Vec::with_capacity(n);
    let mut author_ids = Vec::with_capacity(n);
    let mut handles = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut followers = Vec::with_capacity(n);
    let mut verified = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    let mut languages = Vec::with_capacity(n);
    let mut threads = Vec::with_capacity(n);
    let mut posted = Vec::with_capacity(n);
    let mut intents = Vec::with_capacity(n);
    let mut actionable = Vec::with_capacity(n);
    // sqlx cannot bind text[][]: cues travel as one unit-separator-joined string each.
    let mut cues = Vec::with_capacity(n);
    let mut raws = Vec::with_capacity(n);
    for m in mentions {
        ids.push(m.id);
        sources.push(m.source.as_str());
        external_ids.push(m.external_id.as_str());
        channels.push(m.channel as i16);
        publics.push(m.public);
        author_ids.push(m.author.external_id.as_str());
        handles.push(m.author.handle.as_str());
        names.push(m.author.display_name.as_str());
        followers.push(i64::try_from(m.author.followers).unwrap_or(i64::MAX));
        verified.push(m.author.verified);
        bodies.push(m.text.as_str());
        languages.push(m.language.as_str());
        threads.push(m.thread_key.as_str());
        posted.push(m.posted_at);
        intents.push(i16::try_from(m.classification.intent).unwrap_or(0));
        actionable.push(m.classification.actionable);
        cues.push(m.classification.cues.join("\u{1f}"));
        raws.push(m.raw.as_deref());
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO mentions (id, tenant_id, source, external_id, channel, is_public,
             author_external_id, author_handle, author_name, author_followers, author_verified,
             body, language, thread_key, posted_at, received_at, intent, actionable, cues, raw)
         SELECT u.id, $1, u.source, u.external_id, u.channel, u.is_public, u.author_id, u.handle,
             u.name, u.followers, u.verified, u.body, u.language, u.thread, u.posted, $17,
             u.intent, u.actionable,
             CASE WHEN u.cues = '' THEN '{}'::text[] ELSE string_to_array(u.cues, E'\\x1f') END,
             u.raw::jsonb
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int2[], $6::bool[], $7::text[],
                       $8::text[], $9::text[], $10::int8[], $11::bool[], $12::text[], $13::text[],
                       $14::text[], $15::timestamptz[], $16::int2[], $18::bool[], $19::text[],
                       $20::text[])
             AS u(id, source, external_id, channel, is_public, author_id, handle, name,
                  followers, verified, body, language, thread, posted, intent, actionable, cues,
                  raw)
         ON CONFLICT ON CONSTRAINT mentions_identity DO NOTHING
         RETURNING id",
    )
    .bind(tenant_id)
    .bind(&ids)
    .bind(&sources)
    .bind(&external_ids)
    .bind(&channels)
    .bind(&publics)
    .bind(&author_ids)
    .bind(&handles)
    .bind(&names)
    .bind(&followers)
    .bind(&verified)
    .bind(&bodies)
    .bind(&languages)
    .bind(&threads)
    .bind(&posted)
    .bind(&intents)
    .bind(received_at)
    .bind(&actionable)
    .bind(&cues)
    .bind(&raws)
    .fetch_all(conn)
    .await?;
    Ok(inserted.into_iter().collect())
}

/// Ids of already stored mentions, by (source, external id).
pub async fn existing_ids(
    conn: &mut PgConnection,
    tenant_id: &str,
    mentions: &[&NewMention],
) -> Result<HashMap<(String, String), Uuid>, sqlx::Error> {
    let sources: Vec<&str> = mentions.iter().map(|m| m.source.as_str()).collect();
    let external_ids: Vec<&str> = mentions.iter().map(|m| m.external_id.as_str()).collect();
    let rows: Vec<(String, String, Uuid)> = sqlx::query_as(
        "SELECT m.source, m.external_id, m.id
           FROM mentions m
           JOIN unnest($2::text[], $3::text[]) AS k(source, external_id)
             ON m.source = k.source AND m.external_id = k.external_id
          WHERE m.tenant_id = $1",
    )
    .bind(tenant_id)
    .bind(&sources)
    .bind(&external_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(s, e, id)| ((s, e), id)).collect())
}

pub async fn get(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<MentionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mentions WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// Newest first, after `cursor` when given.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<earshot_server::convert::Cursor>,
    limit: i64,
) -> Result<Vec<MentionRow>, sqlx::Error> {
    let (at, id) = after
        .map(|c| (Some(c.at), Some(c.id)))
        .unwrap_or((None, None));
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mentions
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (received_at, id) < ($2, $3))
          ORDER BY received_at DESC, id DESC
          LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(pool)
    .await
}
