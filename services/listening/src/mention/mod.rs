//! Mentions: validating what sources send, storing each once, and telling the
//! other services in the same transaction.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::common::v1::{Author, Channel, Classification, RuleMatch};
use earshot_proto::events::v1::{MentionClassified, event};
use earshot_proto::listening::v1::{
    Entities, IngestMentionsResponse, IngestResult, IngestStatus, Mention, MentionInput,
};
use earshot_server::convert::{Cursor, from_timestamp, timestamp};
use earshot_server::error::FieldViolation;
use earshot_server::{ServiceError, invalid};
use prost::Message;
use sqlx::PgPool;
use uuid::Uuid;

use crate::noise::Dropped;
use crate::pipeline;
use crate::profile::Profiles;

pub const MAX_BATCH: usize = 1_000;

/// `earshot_mentions_ingested_total{outcome}`: the ingest rate, by outcome.
#[derive(Clone)]
pub struct IngestCounter(prometheus::IntCounterVec);

impl IngestCounter {
    pub fn register(registry: &prometheus::Registry) -> Self {
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new("mentions_ingested_total", "mentions ingested, by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(counter.clone()))
            .expect("registered once per service");
        Self(counter)
    }

    pub fn record(&self, response: &IngestMentionsResponse) {
        for (outcome, n) in [
            ("accepted", response.accepted),
            ("duplicate", response.duplicates),
            ("rejected", response.rejected),
        ] {
            self.0.with_label_values(&[outcome]).inc_by(u64::from(n));
        }
    }
}
const MAX_TEXT_CHARS: usize = 20_000;

/// A mention that passed validation, before the pipeline looked at it.
#[derive(Debug, Clone)]
pub struct ValidMention {
    pub source: String,
    pub external_id: String,
    pub channel: Channel,
    pub public: bool,
    pub author: Author,
    pub text: String,
    pub language: String,
    pub thread_key: String,
    pub posted_at: DateTime<Utc>,
    pub share: bool,
}

/// A mention through the whole pipeline (normalised, judged for noise,
/// classified, matched against the tenant's rules), ready to store.
#[derive(Debug, Clone)]
pub struct NewMention {
    pub id: Uuid,
    pub source: String,
    pub external_id: String,
    pub channel: Channel,
    pub public: bool,
    pub author: Author,
    /// NFC-normalised.
    pub text: String,
    pub language: String,
    pub language_detected: bool,
    pub thread_key: String,
    pub posted_at: DateTime<Utc>,
    pub share: bool,
    pub classification: Classification,
    pub entities: Entities,
    pub matched_rules: Vec<RuleMatch>,
    /// Set when the mention is noise: stored and listable, but not announced.
    pub dropped: Option<Dropped>,
    /// The source's own item as JSON, when it came through an adapter.
    pub raw: Option<String>,
}

/// What `mentions.details` holds: the parts of a mention the API returns
/// but no query filters on, as protobuf.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StoredDetails {
    #[prost(message, optional, tag = "1")]
    pub classification: Option<Classification>,
    #[prost(message, optional, tag = "2")]
    pub entities: Option<Entities>,
    #[prost(message, repeated, tag = "3")]
    pub matched_rules: Vec<RuleMatch>,
}

impl NewMention {
    pub fn details(&self) -> Vec<u8> {
        StoredDetails {
            classification: Some(self.classification.clone()),
            entities: Some(self.entities.clone()),
            matched_rules: self.matched_rules.clone(),
        }
        .encode_to_vec()
    }
}

fn violation(index: usize, field: &str, description: &str) -> FieldViolation {
    FieldViolation {
        field: format!("mentions[{index}].{field}"),
        description: description.to_owned(),
    }
}

/// Checks one item of a batch; the error names the field at fault.
pub fn validate(
    index: usize,
    input: MentionInput,
    now: DateTime<Utc>,
) -> Result<ValidMention, FieldViolation> {
    let source = input.source.trim();
    if source.is_empty() {
        return Err(violation(index, "source", "is required"));
    }
    if source.len() > 64
        || !source
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(violation(
            index,
            "source",
            "must be 1-64 of a-z, 0-9, '-', '_', '.'",
        ));
    }
    let external_id = input.external_id.trim();
    if external_id.is_empty() {
        return Err(violation(index, "external_id", "is required"));
    }
    if external_id.len() > 256 {
        return Err(violation(index, "external_id", "must be at most 256 bytes"));
    }
    let channel = match Channel::try_from(input.channel) {
        Ok(Channel::Unspecified) | Err(_) => {
            return Err(violation(index, "channel", "must be a known channel"));
        }
        Ok(channel) => channel,
    };
    let Some(author) = input.author else {
        return Err(violation(index, "author", "is required"));
    };
    if author.external_id.trim().is_empty() && author.handle.trim().is_empty() {
        return Err(violation(
            index,
            "author.external_id",
            "or author.handle is required",
        ));
    }
    let text = input.text.trim();
    if text.is_empty() {
        return Err(violation(index, "text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(violation(index, "text", "must be at most 20000 characters"));
    }
    if input.language.len() > 35 {
        return Err(violation(index, "language", "must be a BCP 47 tag"));
    }
    if input.thread_key.len() > 256 {
        return Err(violation(index, "thread_key", "must be at most 256 bytes"));
    }
    let posted_at = match &input.posted_at {
        None => now,
        Some(ts) => from_timestamp(ts, "posted_at")
            .map_err(|_| violation(index, "posted_at", "is not a valid timestamp"))?,
    };
    Ok(ValidMention {
        source: source.to_owned(),
        external_id: external_id.to_owned(),
        channel,
        public: input.public,
        author,
        text: text.to_owned(),
        language: input.language.trim().to_owned(),
        thread_key: input.thread_key.trim().to_owned(),
        posted_at,
        share: input.share,
    })
}

fn result(index: usize, status: IngestStatus) -> IngestResult {
    IngestResult {
        index: index as u64,
        status: status as i32,
        ..Default::default()
    }
}

/// Stores mentions: validates each, runs the pipeline, stores each new one
/// once and announces the kept ones (`MentionClassified`) in the same transaction.
#[derive(Clone)]
pub struct Ingestor {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub profiles: Arc<Profiles>,
    pub counter: IngestCounter,
}

impl Ingestor {
    /// One batch of mentions in Earshot's model.
    pub async fn ingest(
        &self,
        tenant_id: &str,
        inputs: Vec<MentionInput>,
    ) -> Result<IngestMentionsResponse, ServiceError> {
        self.ingest_with_raw(tenant_id, inputs.into_iter().map(|m| (m, None)).collect())
            .await
    }

    /// [`Ingestor::ingest`], keeping with each mention the source's raw item
    /// (JSON) for audit. Every item gets its own result.
    pub async fn ingest_with_raw(
        &self,
        tenant_id: &str,
        inputs: Vec<(MentionInput, Option<String>)>,
    ) -> Result<IngestMentionsResponse, ServiceError> {
        if inputs.is_empty() {
            return Err(invalid("mentions", "must hold at least one mention"));
        }
        if inputs.len() > MAX_BATCH {
            return Err(invalid(
                "mentions",
                "must hold at most 1000 mentions; split the batch",
            ));
        }
        let profile = self.profiles.current(&self.pool, tenant_id).await?;
        let window = self.profiles.window(tenant_id);
        let now = Utc::now();
        // The pipeline is CPU work (tens of microseconds a mention): off the
        // async workers, so a big batch never stalls other requests.
        let (mut results, fresh, repeats) =
            tokio::task::spawn_blocking(move || prepare(inputs, now, &profile, &window))
                .await
                .map_err(|e| ServiceError::Unexpected(Box::new(e)))?;

        let mut tx = self.pool.begin().await?;
        let mentions: Vec<&NewMention> = fresh.iter().map(|(_, m)| m).collect();
        let inserted = crate::store::insert_new(&mut tx, tenant_id, &mentions, now).await?;
        let existing = if inserted.len() < mentions.len() {
            crate::store::existing_ids(&mut tx, tenant_id, &mentions).await?
        } else {
            HashMap::new()
        };
        let mut events = Vec::with_capacity(inserted.len());
        for (index, mention) in &fresh {
            let r = &mut results[*index];
            if inserted.contains(&mention.id) {
                r.mention_id = mention.id.to_string();
                if mention.dropped.is_none() {
                    events.push(mention_classified(tenant_id, mention));
                }
            } else {
                r.status = IngestStatus::Duplicate as i32;
                r.mention_id = existing
                    .get(&(mention.source.clone(), mention.external_id.clone()))
                    .map(Uuid::to_string)
                    .unwrap_or_default();
            }
        }
        for (index, first) in repeats {
            results[index].mention_id = results[first].mention_id.clone();
        }
        self.outbox.enqueue(&mut tx, events).await?;
        tx.commit().await?;
        self.outbox.wake();

        let count =
            |s: IngestStatus| results.iter().filter(|r| r.status == s as i32).count() as u32;
        let response = IngestMentionsResponse {
            accepted: count(IngestStatus::Accepted),
            duplicates: count(IngestStatus::Duplicate),
            rejected: count(IngestStatus::Rejected),
            results,
        };
        self.counter.record(&response);
        Ok(response)
    }
}

/// The items of a batch to store, by position.
type Prepared = (
    Vec<IngestResult>,
    Vec<(usize, NewMention)>,
    Vec<(usize, usize)>,
);

/// Validates every item and runs the pipeline on the valid ones, in order:
/// the results (accepted until the store says otherwise), the new
/// mentions, and the repeats of an earlier item of the same batch.
fn prepare(
    inputs: Vec<(MentionInput, Option<String>)>,
    now: DateTime<Utc>,
    profile: &crate::profile::TenantProfile,
    window: &std::sync::Mutex<crate::noise::NoiseWindow>,
) -> Prepared {
    let mut results = Vec::with_capacity(inputs.len());
    let mut fresh = Vec::with_capacity(inputs.len());
    let mut seen = HashMap::new();
    let mut repeats = Vec::new();
    let mut pipeline = pipeline::Pipeline::new(profile);
    for (index, (input, raw)) in inputs.into_iter().enumerate() {
        match validate(index, input, now) {
            Err(v) => {
                let mut r = result(index, IngestStatus::Rejected);
                r.field = v.field;
                r.reason = v.description;
                results.push(r);
            }
            Ok(valid) => {
                let key = (valid.source.clone(), valid.external_id.clone());
                if let Some(first) = seen.get(&key) {
                    // The same mention twice in one batch: the first one counts.
                    results.push(result(index, IngestStatus::Duplicate));
                    repeats.push((index, *first));
                } else {
                    seen.insert(key, index);
                    results.push(result(index, IngestStatus::Accepted));
                    let mut mention = pipeline.process(valid);
                    mention.raw = raw;
                    fresh.push((index, mention));
                }
            }
        }
    }
    // Concurrent batches of a tenant share its window for this pass only.
    let mut window = window.lock().expect("noise window poisoned");
    for (_, mention) in &mut fresh {
        pipeline::judge_noise(&mut window, &profile.noise, mention);
    }
    (results, fresh, repeats)
}

fn mention_classified(tenant_id: &str, m: &NewMention) -> earshot_proto::events::v1::Event {
    new_event(
        crate::NAME,
        tenant_id,
        m.id.to_string(),
        event::Payload::MentionClassified(MentionClassified {
            mention_id: m.id.to_string(),
            source: m.source.clone(),
            external_id: m.external_id.clone(),
            channel: m.channel as i32,
            public: m.public,
            author: Some(m.author.clone()),
            text: m.text.clone(),
            language: m.language.clone(),
            thread_key: m.thread_key.clone(),
            posted_at: Some(timestamp(m.posted_at)),
            classification: Some(m.classification.clone()),
            matched_rules: m.matched_rules.clone(),
        }),
    )
}

/// A stored mention as the API shows it.
pub fn to_proto(row: crate::store::MentionRow) -> Mention {
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

pub fn cursor(row: &crate::store::MentionRow) -> Cursor {
    Cursor {
        at: row.received_at,
        id: row.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> MentionInput {
        MentionInput {
            source: "x".into(),
            external_id: "1460323737035677698".into(),
            channel: Channel::X as i32,
            public: true,
            author: Some(Author {
                external_id: "2244994945".into(),
                handle: "jane".into(),
                ..Default::default()
            }),
            text: "My card hasn't arrived yet, can you help?".into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_event_carries_what_case_escalation_and_insight_need() {
        let mut input = valid();
        input.text = "@acme my card hasn't arrived after 2 weeks, this is unacceptable 😡".into();
        input.thread_key = "x:1460323737035677000".into();
        if let Some(author) = input.author.as_mut() {
            author.followers = 48_000;
        }
        let mut profile = crate::profile::TenantProfile::initial();
        let rule = uuid::Uuid::now_v7();
        profile.rules = crate::rules::RuleSet::compile([crate::rules::Rule {
            id: rule,
            version: 3,
            query: "card* AND @acme".into(),
        }])
        .expect("valid rule");
        profile.rule_names.insert(rule, "cards".into());
        let mut pipeline = pipeline::Pipeline::new(&profile);
        let mut mention = pipeline.process(validate(0, input, Utc::now()).expect("valid"));
        pipeline::judge_noise(
            &mut crate::noise::NoiseWindow::new(),
            &profile.noise,
            &mut mention,
        );
        assert!(mention.dropped.is_none());
        let event = mention_classified("acme", &mention);
        assert_eq!(event.tenant_id, "acme");
        let Some(event::Payload::MentionClassified(m)) = event.payload else {
            panic!("a MentionClassified event");
        };
        assert_eq!(m.author.as_ref().map(|a| a.followers), Some(48_000));
        assert_eq!((m.channel, m.public), (Channel::X as i32, true));
        assert_eq!(m.thread_key, "x:1460323737035677000");
        assert_eq!(m.matched_rules.len(), 1);
        assert_eq!(
            (m.matched_rules[0].name.as_str(), m.matched_rules[0].version),
            ("cards", 3)
        );
        let c = m.classification.expect("classification");
        assert!(c.actionable);
        assert!(
            c.sentiment
                .is_some_and(|s| s.compound < 0.0 && !s.cues.is_empty())
        );
        assert!(c.topics.iter().any(|t| t.topic == "card"), "{:?}", c.topics);
        assert!(
            c.urgency
                .iter()
                .any(|u| u.urgency == earshot_proto::common::v1::Urgency::MediaAttention as i32),
            "48k followers draw attention: {:?}",
            c.urgency
        );
        assert_eq!(mention.entities.handles, vec!["acme"]);
        assert_eq!(mention.entities.emoji, vec!["😡"]);
    }

    #[test]
    fn a_valid_mention_keeps_its_fields() {
        let m = validate(0, valid(), Utc::now()).expect("valid");
        assert_eq!(m.source, "x");
        assert_eq!(m.text, "My card hasn't arrived yet, can you help?");
    }

    #[test]
    fn each_bad_field_is_named_with_its_index() {
        type Mutation = fn(&mut MentionInput);
        let cases: Vec<(Mutation, &str)> = vec![
            (|m| m.source.clear(), "mentions[3].source"),
            (|m| m.source = "X Corp".into(), "mentions[3].source"),
            (|m| m.external_id = " ".into(), "mentions[3].external_id"),
            (|m| m.channel = 0, "mentions[3].channel"),
            (|m| m.channel = 99, "mentions[3].channel"),
            (|m| m.author = None, "mentions[3].author"),
            (
                |m| m.author = Some(Author::default()),
                "mentions[3].author.external_id",
            ),
            (|m| m.text = "   ".into(), "mentions[3].text"),
            (
                |m| {
                    m.posted_at = Some(prost_types::Timestamp {
                        seconds: 1,
                        nanos: -5,
                    })
                },
                "mentions[3].posted_at",
            ),
        ];
        for (mutate, field) in cases {
            let mut input = valid();
            mutate(&mut input);
            let err = validate(3, input, Utc::now()).expect_err(field);
            assert_eq!(err.field, field);
        }
    }
}
