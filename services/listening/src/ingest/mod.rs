//! Ingest: checks what sources send, runs each new mention through the
//! pipeline with its tenant's profile, stores it once and tells the other
//! services in the same transaction. A batch ([`Ingestor::ingest`]), a
//! stream ([`stream`]) or a source's own payload ([`payload`]) all come
//! through here.

pub mod payload;
pub mod process;
pub mod stream;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{Event, MentionClassified, event};
use earshot_proto::listening::v1::{
    IngestMentionsResponse, IngestResult, IngestStatus, MentionInput,
};
use earshot_server::convert::timestamp;
use earshot_server::{ServiceError, invalid};
use sqlx::PgPool;
use uuid::Uuid;

use crate::mention::{NewMention, store, validate};
use crate::pipeline::noise::NoiseWindow;
use crate::tenant::profile::{Profiles, TenantProfile};
use process::{Pipeline, judge_noise};

pub const MAX_BATCH: usize = 1_000;

/// `earshot_mentions_ingested_total{outcome}`: the ingest rate, by outcome.
#[derive(Clone)]
pub struct IngestCounter(prometheus::IntCounterVec);

impl IngestCounter {
    pub fn register(registry: &prometheus::Registry) -> Self {
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "earshot_mentions_ingested_total",
                "mentions ingested, by outcome",
            ),
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

/// Moves a batch's result to `index`, its position in the stream or payload
/// it came from, so that its field names the item there too.
pub fn reindex(result: &mut IngestResult, index: u64) {
    let batch_item = format!("mentions[{}]", result.index);
    if let Some(rest) = result.field.strip_prefix(&batch_item) {
        result.field = format!("mentions[{index}]{rest}");
    }
    result.index = index;
}

fn result(index: usize, status: IngestStatus) -> IngestResult {
    IngestResult {
        index: index as u64,
        status: status as i32,
        ..Default::default()
    }
}

/// A mention to ingest, with what its source's payload told beside it.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    pub mention: MentionInput,
    /// The source's raw item (JSON), kept for audit.
    pub raw: Option<String>,
    /// The part of the text its author wrote anew, when not all of it is (see
    /// `adapters::Adapted::language_text`): what the language is detected on.
    pub language_text: Option<String>,
}

impl From<MentionInput> for Incoming {
    fn from(mention: MentionInput) -> Self {
        Self {
            mention,
            ..Self::default()
        }
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
        self.ingest_incoming(tenant_id, inputs.into_iter().map(Incoming::from).collect())
            .await
    }

    /// [`Ingestor::ingest`], keeping with each mention what its source's
    /// payload told beside it (the raw item for audit, the text to detect the
    /// language on). Every item gets its own result.
    pub async fn ingest_incoming(
        &self,
        tenant_id: &str,
        inputs: Vec<Incoming>,
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
        let window = self
            .profiles
            .window(&self.pool, tenant_id, &profile.noise)
            .await?;
        let now = Utc::now();
        // The pipeline is CPU work (tens of microseconds a mention): off the
        // async workers, so a big batch never stalls other requests.
        let (mut results, fresh, repeats) =
            tokio::task::spawn_blocking(move || prepare(inputs, now, &profile, &window))
                .await
                .map_err(|e| ServiceError::Unexpected(Box::new(e)))?;

        let mut tx = self.pool.begin().await?;
        let mentions: Vec<&NewMention> = fresh.iter().map(|(_, m)| m).collect();
        let inserted = store::insert_new(&mut tx, tenant_id, &mentions, now).await?;
        let existing = if inserted.len() < mentions.len() {
            store::existing_ids(&mut tx, tenant_id, &mentions).await?
        } else {
            HashMap::new()
        };
        let mut events = Vec::with_capacity(inserted.len());
        for (index, mention) in &fresh {
            let r = &mut results[*index];
            if inserted.contains(&mention.id) {
                r.mention_id = mention.id.to_string();
                r.classification = Some(mention.classification.clone());
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
    inputs: Vec<Incoming>,
    now: DateTime<Utc>,
    profile: &TenantProfile,
    window: &Mutex<NoiseWindow>,
) -> Prepared {
    let mut results = Vec::with_capacity(inputs.len());
    let mut fresh = Vec::with_capacity(inputs.len());
    let mut seen = HashMap::new();
    let mut repeats = Vec::new();
    let mut pipeline = Pipeline::new(profile);
    for (index, incoming) in inputs.into_iter().enumerate() {
        match validate(index, incoming.mention, now) {
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
                    let mut mention =
                        pipeline.process_with(valid, incoming.language_text.as_deref());
                    mention.raw = incoming.raw;
                    fresh.push((index, mention));
                }
            }
        }
    }
    // Concurrent batches of a tenant share its window for this pass only.
    let mut window = window.lock().expect("noise window poisoned");
    for (_, mention) in &mut fresh {
        // Ids are minted in judging order, so that the window rebuilt after
        // a restart recalls the stored mentions (by id) as they were judged.
        mention.id = Uuid::now_v7();
        judge_noise(&mut window, &profile.noise, mention);
    }
    (results, fresh, repeats)
}

fn mention_classified(tenant_id: &str, m: &NewMention) -> Event {
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

#[cfg(test)]
mod tests {
    use earshot_proto::common::v1::Channel;

    use super::*;
    use crate::mention::valid;

    #[test]
    fn the_event_carries_what_case_escalation_and_insight_need() {
        let mut input = valid();
        input.text = "@acme my card hasn't arrived after 2 weeks, this is unacceptable 😡".into();
        input.thread_key = "x:1460323737035677000".into();
        if let Some(author) = input.author.as_mut() {
            author.followers = 48_000;
        }
        let mut profile = TenantProfile::initial();
        let rule = uuid::Uuid::now_v7();
        profile.rules = crate::query::RuleSet::compile([crate::query::Rule {
            id: rule,
            version: 3,
            query: "card* AND @acme".into(),
            options: Default::default(),
        }])
        .expect("valid rule");
        profile.rule_names.insert(rule, "cards".into());
        let mut pipeline = Pipeline::new(&profile);
        let mut mention = pipeline.process(validate(0, input, Utc::now()).expect("valid"));
        judge_noise(&mut NoiseWindow::new(), &profile.noise, &mut mention);
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
}
