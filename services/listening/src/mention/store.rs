//! Mentions in the `listening` schema: their rows and queries, every one
//! scoped by tenant, and how a stored mention reads back as the API shows it.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Author, Classification, RuleMatch};
use earshot_proto::listening::v1::{Entities, Mention};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{Keyed, Page};
use futures_util::stream::BoxStream;
use prost::Message;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::NewMention;

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
    pub is_share: bool,
    pub language_detected: bool,
    pub dropped_reason: Option<String>,
    pub dropped_detail: Option<String>,
    pub details: Option<Vec<u8>>,
}

const COLUMNS: &str = "id, source, external_id, channel, is_public, author_external_id, \
     author_handle, author_name, author_followers, author_verified, body, language, \
     thread_key, posted_at, received_at, intent, actionable, cues, is_share, \
     language_detected, dropped_reason, dropped_detail, details";

/// What `mentions.details` holds: the parts of a mention the API returns
/// but no query filters on, as protobuf.
#[derive(Clone, PartialEq, prost::Message)]
struct StoredDetails {
    #[prost(message, optional, tag = "1")]
    classification: Option<Classification>,
    #[prost(message, optional, tag = "2")]
    entities: Option<Entities>,
    #[prost(message, repeated, tag = "3")]
    matched_rules: Vec<RuleMatch>,
}

impl StoredDetails {
    fn of(mention: &NewMention) -> Vec<u8> {
        StoredDetails {
            classification: Some(mention.classification.clone()),
            entities: Some(mention.entities.clone()),
            matched_rules: mention.matched_rules.clone(),
        }
        .encode_to_vec()
    }
}

/// A stored mention as the API shows it.
pub fn to_proto(row: MentionRow) -> Mention {
    let details = row
        .details
        .as_deref()
        .and_then(|bytes| StoredDetails::decode(bytes).ok())
        .unwrap_or_default();
    let classification = details.classification.unwrap_or(Classification {
        intent: i32::from(row.intent),
        actionable: row.actionable,
        cues: row.cues,
        ..Default::default()
    });
    Mention {
        mention_id: row.id.to_string(),
        source: row.source,
        external_id: row.external_id,
        channel: i32::from(row.channel),
        public: row.is_public,
        author: Some(Author {
            external_id: row.author_external_id,
            handle: row.author_handle,
            display_name: row.author_name,
            followers: u64::try_from(row.author_followers).unwrap_or(0),
            verified: row.author_verified,
        }),
        text: row.body,
        language: row.language,
        thread_key: row.thread_key,
        posted_at: Some(timestamp(row.posted_at)),
        received_at: Some(timestamp(row.received_at)),
        classification: Some(classification),
        entities: details.entities,
        language_detected: row.language_detected,
        matched_rules: details.matched_rules,
        dropped_reason: row.dropped_reason.unwrap_or_default(),
        dropped_detail: row.dropped_detail.unwrap_or_default(),
        share: row.is_share,
        labels: Vec::new(),
    }
}

impl Keyed for MentionRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.received_at,
            id: self.id,
        }
    }
}

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
    let mut raws = Vec::with_capacity(n);
    let mut shares = Vec::with_capacity(n);
    let mut detected = Vec::with_capacity(n);
    let mut sentiments = Vec::with_capacity(n);
    let mut topics = Vec::with_capacity(n);
    let mut rule_ids = Vec::with_capacity(n);
    let mut dropped_reasons = Vec::with_capacity(n);
    let mut dropped_details = Vec::with_capacity(n);
    let mut details = Vec::with_capacity(n);
    let mut sentiment_labels = Vec::with_capacity(n);
    let mut intent_confidences = Vec::with_capacity(n);
    let mut sentiment_confidences = Vec::with_capacity(n);
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
        raws.push(m.raw.as_deref());
        shares.push(m.share);
        detected.push(m.language_detected);
        let sentiment = m.classification.sentiment.as_ref();
        sentiments.push(sentiment.map(|s| s.compound));
        sentiment_labels.push(sentiment.map(|s| i16::try_from(s.label).unwrap_or(0)));
        sentiment_confidences.push(sentiment.map(|s| s.confidence as f32));
        intent_confidences.push(m.classification.intent_confidence as f32);
        topics.push(join(
            m.classification.topics.iter().map(|t| t.topic.as_str()),
        ));
        rule_ids.push(join(m.matched_rules.iter().map(|r| r.rule_id.as_str())));
        dropped_reasons.push(m.dropped.as_ref().map(|d| d.reason.as_str()));
        dropped_details.push(m.dropped.as_ref().map(|d| d.detail.as_str()));
        details.push(StoredDetails::of(m));
    }
    // The identity key first: a mention whose key is already taken (by an
    // earlier batch, or a concurrent one that commits first) is not stored.
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "WITH keys AS (
             INSERT INTO mention_keys (tenant_id, source, external_id, mention_id)
             SELECT $1, k.source, k.external_id, k.id
               FROM unnest($2::uuid[], $3::text[], $4::text[]) AS k(id, source, external_id)
             ON CONFLICT DO NOTHING
             RETURNING mention_id
         )
         INSERT INTO mentions (id, tenant_id, source, external_id, channel, is_public,
             author_external_id, author_handle, author_name, author_followers, author_verified,
             body, language, thread_key, posted_at, received_at, intent, actionable, raw,
             is_share, language_detected, sentiment, topics, rule_ids, dropped_reason,
             dropped_detail, details, sentiment_label, intent_confidence, sentiment_confidence)
         SELECT u.id, $1, u.source, u.external_id, u.channel, u.is_public, u.author_id, u.handle,
             u.name, u.followers, u.verified, u.body, u.language, u.thread, u.posted, $17,
             u.intent, u.actionable, u.raw::jsonb, u.share, u.detected, u.sentiment,
             CASE WHEN u.topics = '' THEN '{}'::text[] ELSE string_to_array(u.topics, E'\\x1f') END,
             CASE WHEN u.rules = '' THEN '{}'::uuid[]
                  ELSE string_to_array(u.rules, E'\\x1f')::uuid[] END,
             u.dropped_reason, u.dropped_detail, u.details, u.sentiment_label,
             u.intent_confidence, u.sentiment_confidence
           FROM unnest($2::uuid[], $3::text[], $4::text[], $5::int2[], $6::bool[], $7::text[],
                       $8::text[], $9::text[], $10::int8[], $11::bool[], $12::text[], $13::text[],
                       $14::text[], $15::timestamptz[], $16::int2[], $18::bool[], $19::text[],
                       $20::bool[], $21::bool[], $22::float8[], $23::text[], $24::text[],
                       $25::text[], $26::text[], $27::bytea[], $28::int2[], $29::float4[],
                       $30::float4[])
             AS u(id, source, external_id, channel, is_public, author_id, handle, name,
                  followers, verified, body, language, thread, posted, intent, actionable, raw,
                  share, detected, sentiment, topics, rules, dropped_reason, dropped_detail,
                  details, sentiment_label, intent_confidence, sentiment_confidence)
          WHERE u.id IN (SELECT mention_id FROM keys)
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
    .bind(&raws)
    .bind(&shares)
    .bind(&detected)
    .bind(&sentiments)
    .bind(&topics)
    .bind(&rule_ids)
    .bind(&dropped_reasons)
    .bind(&dropped_details)
    .bind(&details)
    .bind(&sentiment_labels)
    .bind(&intent_confidences)
    .bind(&sentiment_confidences)
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
        "SELECT m.source, m.external_id, m.mention_id
           FROM mention_keys m
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

/// A stored mention as the noise window remembers it.
#[derive(Debug, sqlx::FromRow)]
pub struct JudgedRow {
    pub source: String,
    pub external_id: String,
    pub author_external_id: String,
    pub author_handle: String,
    pub body: String,
    pub posted_at: DateTime<Utc>,
    pub dropped_reason: Option<String>,
}

/// The tenant's mentions judged since `since`, the newest `limit` of them,
/// in the order they were judged: ids are UUIDv7 minted as each mention is
/// judged, so this is one range of the primary key, read as a stream.
pub fn judged_since<'a>(
    pool: &'a PgPool,
    tenant_id: &'a str,
    since: DateTime<Utc>,
    limit: i64,
) -> BoxStream<'a, Result<JudgedRow, sqlx::Error>> {
    let millis = u64::try_from(since.timestamp_millis()).unwrap_or(0);
    // The smallest UUIDv7 of that millisecond.
    let first = uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid();
    sqlx::query_as(
        "SELECT source, external_id, author_external_id, author_handle, body, posted_at,
                dropped_reason
           FROM (SELECT id, source, external_id, author_external_id, author_handle, body,
                        posted_at, dropped_reason
                   FROM mentions
                  WHERE tenant_id = $1 AND id >= $2
                  ORDER BY id DESC
                  LIMIT $3) AS newest
          ORDER BY id",
    )
    .bind(tenant_id)
    .bind(first)
    .bind(limit)
    .fetch(pool)
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

/// What a mention search filters on; `None` filters nothing.
#[derive(Debug, Clone, Default)]
pub struct MentionFilter {
    pub posted_from: Option<DateTime<Utc>>,
    pub posted_before: Option<DateTime<Utc>>,
    pub rule_id: Option<Uuid>,
    pub intent: Option<i16>,
    pub sentiment_min: Option<f64>,
    pub sentiment_max: Option<f64>,
    pub topic: Option<String>,
    pub author: Option<String>,
    pub channel: Option<i16>,
    pub actionable: Option<bool>,
    pub sentiment_label: Option<i16>,
    pub min_intent_confidence: Option<f64>,
    pub min_sentiment_confidence: Option<f64>,
    pub dropped: DroppedFilter,
}

/// Which mentions a search sees by their noise verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DroppedFilter {
    /// Kept mentions only (the default).
    #[default]
    Kept,
    /// Every dropped mention.
    Any,
    /// The mentions dropped for this reason.
    Reason(String),
}

/// Newest first (ids are UUIDv7, minted on arrival), one page. Only the
/// clauses a filter needs
/// are in the statement, so that the planner sees them (the partial index
/// of dropped mentions, for one).
pub async fn search(
    pool: &PgPool,
    tenant_id: &str,
    filter: &MentionFilter,
    page: &Page,
) -> Result<Vec<MentionRow>, sqlx::Error> {
    let mut q: QueryBuilder<'_, Postgres> =
        QueryBuilder::new(format!("SELECT {COLUMNS} FROM mentions WHERE tenant_id = "));
    q.push_bind(tenant_id);
    match &filter.dropped {
        DroppedFilter::Kept => q.push(" AND dropped_reason IS NULL"),
        DroppedFilter::Any => q.push(" AND dropped_reason IS NOT NULL"),
        DroppedFilter::Reason(reason) => q.push(" AND dropped_reason = ").push_bind(reason.clone()),
    };
    if let Some(at) = filter.posted_from {
        q.push(" AND posted_at >= ").push_bind(at);
    }
    if let Some(at) = filter.posted_before {
        q.push(" AND posted_at < ").push_bind(at);
    }
    if let Some(rule) = filter.rule_id {
        q.push(" AND rule_ids @> ARRAY[")
            .push_bind(rule)
            .push("]::uuid[]");
    }
    if let Some(intent) = filter.intent {
        q.push(" AND intent = ").push_bind(intent);
    }
    if let Some(min) = filter.sentiment_min {
        q.push(" AND sentiment >= ").push_bind(min);
    }
    if let Some(max) = filter.sentiment_max {
        q.push(" AND sentiment <= ").push_bind(max);
    }
    if let Some(label) = filter.sentiment_label {
        q.push(" AND sentiment_label = ").push_bind(label);
    }
    if let Some(min) = filter.min_intent_confidence {
        q.push(" AND intent_confidence >= ").push_bind(min as f32);
    }
    if let Some(min) = filter.min_sentiment_confidence {
        q.push(" AND sentiment_confidence >= ")
            .push_bind(min as f32);
    }
    if let Some(topic) = &filter.topic {
        q.push(" AND topics @> ARRAY[")
            .push_bind(topic.clone())
            .push("]::text[]");
    }
    if let Some(author) = &filter.author {
        q.push(" AND (lower(author_handle) = ")
            .push_bind(author.to_lowercase())
            .push(" OR author_external_id = ")
            .push_bind(author.clone())
            .push(")");
    }
    if let Some(channel) = filter.channel {
        q.push(" AND channel = ").push_bind(channel);
    }
    if let Some(actionable) = filter.actionable {
        q.push(" AND actionable = ").push_bind(actionable);
    }
    if let Some(cursor) = &page.after {
        q.push(" AND id < ").push_bind(cursor.id);
    }
    q.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit);
    q.build_query_as().fetch_all(pool).await
}

/// Strings of a row that travel as one value: sqlx binds `text[]` but not
/// `text[][]`, so each row's list is joined with the unit separator and
/// split again in SQL.
fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push('\u{1f}');
        }
        out.push_str(item);
    }
    out
}
