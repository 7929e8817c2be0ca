//! An insight service of its own per test, on a fresh migrated database,
//! with tenant clients, a way to deliver the other services' events as their
//! relays would, builders for those events, and the events insight wrote to
//! its outbox. Its one remote subscriber never answers, so every batch it
//! enqueued stays readable.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use earshot_insight::InsightService;
use earshot_proto::common::v1::{
    Author, Channel, Classification, Intent, RuleMatch, Sentiment, TopicMatch,
};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{
    AuthenticityFinding, CaseFacts, CaseOpened, CaseUpdated, DeliverRequest, DeliverResponse,
    Event, EventBatch, MentionClassified, ReplySent, SlaOutcome, event,
};
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{Day, DayRange};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};
use uuid::Uuid;

pub type Client = InsightServiceClient<AuthedChannel>;

/// The remote subscriber every harness configures; nothing listens on it.
pub const PROBE: &str = "probe";

pub struct Harness {
    pub db: TestDatabase,
    pub service: TestService,
}

impl Harness {
    pub async fn start() -> Self {
        let db = TestDatabase::create().await;
        let nobody = reserve().await.local_addr().expect("bound");
        let service = TestService::start::<InsightService>(
            settings(&db, &[(PROBE, nobody)]),
            reserve().await,
        )
        .await;
        Self { db, service }
    }

    /// A client calling as `tenant` with every tenant scope.
    pub fn client(&self, tenant: &str) -> Client {
        InsightServiceClient::new(
            self.service
                .authed(&token(tenant, earshot_auth::TENANT_SCOPES)),
        )
        .max_decoding_message_size(64 << 20)
    }

    /// A client calling as `tenant` with only `scopes`.
    pub fn client_with(&self, tenant: &str, scopes: &[&str]) -> Client {
        InsightServiceClient::new(self.service.authed(&token(tenant, scopes)))
    }

    /// Delivers `events` as a relay does.
    pub async fn deliver(&self, events: Vec<Event>) -> DeliverResponse {
        let relay = earshot_testkit::service_token();
        EventSinkClient::new(self.service.authed(&relay))
            .deliver(DeliverRequest { events })
            .await
            .expect("delivered")
            .into_inner()
    }

    /// A pool on the service's schema, to read what it stored.
    pub async fn pool(&self) -> sqlx::PgPool {
        self.db.pool("insight").await
    }

    /// Every event the service enqueued, oldest first.
    pub async fn emitted(&self) -> Vec<Event> {
        use prost::Message;
        let pool = self.pool().await;
        let batches: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT payload FROM outbox_batch ORDER BY id")
                .fetch_all(&pool)
                .await
                .expect("outbox readable");
        pool.close().await;
        batches
            .into_iter()
            .flat_map(|p| EventBatch::decode(p.as_slice()).expect("a batch").events)
            .collect()
    }
}

pub fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

/// A UTC time from "2026-03-02T10:00:00Z".
pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .with_timezone(&Utc)
}

pub fn day(y: i32, m: u32, d: u32) -> Day {
    Day {
        year: y,
        month: m,
        day: d,
    }
}

pub fn days(from: Day, to: Day) -> Option<DayRange> {
    Some(DayRange {
        from: Some(from),
        to: Some(to),
    })
}

pub fn envelope(
    producer: &str,
    tenant: &str,
    occurred: DateTime<Utc>,
    payload: event::Payload,
) -> Event {
    Event {
        event_id: Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        occurred_at: ts(occurred),
        aggregate_key: String::new(),
        producer: producer.into(),
        drill: false,
        payload: Some(payload),
    }
}

/// A mention as listening tells it.
#[derive(Debug, Clone)]
pub struct MentionSpec {
    pub id: Uuid,
    pub channel: Channel,
    pub author: String,
    pub followers: u64,
    pub topic: String,
    pub intent: Intent,
    pub rule: String,
    pub sentiment: f64,
    pub text: String,
    pub thread: String,
    pub posted: DateTime<Utc>,
}

impl MentionSpec {
    pub fn new(author: &str, topic: &str, intent: Intent, posted: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            channel: Channel::X,
            author: author.into(),
            followers: 10,
            topic: topic.into(),
            intent,
            rule: String::new(),
            sentiment: -0.5,
            text: format!("{topic} problem"),
            thread: format!("thread-{author}-{topic}"),
            posted,
        }
    }

    pub fn event(&self, tenant: &str) -> Event {
        envelope(
            "listening",
            tenant,
            self.posted,
            event::Payload::MentionClassified(MentionClassified {
                mention_id: self.id.to_string(),
                source: "x".into(),
                external_id: format!("ext-{}", self.id),
                channel: self.channel as i32,
                public: true,
                author: Some(Author {
                    external_id: String::new(),
                    handle: self.author.clone(),
                    display_name: self.author.clone(),
                    followers: self.followers,
                    verified: false,
                }),
                text: self.text.clone(),
                language: "en".into(),
                thread_key: self.thread.clone(),
                posted_at: ts(self.posted),
                classification: Some(Classification {
                    intent: self.intent as i32,
                    topics: if self.topic.is_empty() {
                        Vec::new()
                    } else {
                        vec![TopicMatch {
                            topic: self.topic.clone(),
                            ..Default::default()
                        }]
                    },
                    sentiment: Some(Sentiment {
                        compound: self.sentiment,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                matched_rules: if self.rule.is_empty() {
                    Vec::new()
                } else {
                    vec![RuleMatch {
                        rule_id: self.rule.clone(),
                        name: "rule".into(),
                        version: 1,
                    }]
                },
            }),
        )
    }
}

/// A case as the case service tells it at one version.
#[derive(Debug, Clone)]
pub struct CaseSpec {
    pub id: Uuid,
    pub facts: CaseFacts,
}

impl CaseSpec {
    pub fn new(channel: Channel, topic: &str, opened: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::now_v7(),
            facts: CaseFacts {
                version: 1,
                status: "NEW".into(),
                channel: channel as i32,
                public: matches!(
                    channel,
                    Channel::X | Channel::Facebook | Channel::Instagram | Channel::Review
                ),
                topic: topic.into(),
                intent: Intent::Complaint as i32,
                priority: "NORMAL".into(),
                lane: "STANDARD".into(),
                queue: "general".into(),
                agent: String::new(),
                opened_at: ts(opened),
                inbound_messages: 1,
                sla: vec![
                    SlaOutcome {
                        target: "FIRST_RESPONSE".into(),
                        state: "RUNNING".into(),
                        ..Default::default()
                    },
                    SlaOutcome {
                        target: "RESOLUTION".into(),
                        state: "RUNNING".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        }
    }

    pub fn opened_at(&self) -> DateTime<Utc> {
        let t = self.facts.opened_at.expect("opened");
        DateTime::from_timestamp(t.seconds, 0).expect("time")
    }

    /// The case answered `secs` after it opened (calendar and business alike), by `agent`.
    pub fn replied(mut self, secs: i64, agent: &str) -> Self {
        self.facts.version += 1;
        self.facts.status = "OPEN".into();
        self.facts.first_response_at = ts(self.opened_at() + chrono::Duration::seconds(secs));
        self.facts.first_response_business_secs = secs as f64;
        self.facts.replies += 1;
        self.facts.agent = agent.into();
        self.set_sla("FIRST_RESPONSE", "MET");
        self
    }

    /// The case resolved `secs` after it opened.
    pub fn resolved(mut self, secs: i64) -> Self {
        self.facts.version += 1;
        self.facts.status = "RESOLVED".into();
        self.facts.resolved_at = ts(self.opened_at() + chrono::Duration::seconds(secs));
        self.facts.resolution_business_secs = secs as f64;
        self.set_sla("RESOLUTION", "MET");
        self
    }

    pub fn set_sla(&mut self, target: &str, state: &str) {
        for o in &mut self.facts.sla {
            if o.target == target {
                o.state = state.into();
            }
        }
    }

    /// A later version with `change` applied.
    pub fn then(mut self, change: impl FnOnce(&mut CaseFacts)) -> Self {
        self.facts.version += 1;
        change(&mut self.facts);
        self
    }

    /// CaseOpened at version 1, else CaseUpdated at the current version.
    pub fn event(&self, tenant: &str) -> Event {
        let occurred = self.opened_at() + chrono::Duration::seconds(self.facts.version);
        let payload = if self.facts.version == 1 {
            event::Payload::CaseOpened(CaseOpened {
                case_id: self.id.to_string(),
                channel: self.facts.channel,
                topic: self.facts.topic.clone(),
                priority: self.facts.priority.clone(),
                facts: Some(self.facts.clone()),
                ..Default::default()
            })
        } else {
            event::Payload::CaseUpdated(CaseUpdated {
                case_id: self.id.to_string(),
                status: self.facts.status.clone(),
                version: self.facts.version,
                facts: Some(self.facts.clone()),
            })
        };
        envelope("case", tenant, occurred, payload)
    }
}

/// A reply as the case service tells it.
pub fn reply(
    tenant: &str,
    case: &CaseSpec,
    agent: &str,
    body: &str,
    sent: DateTime<Utc>,
    findings: &[i32],
    kb: (&str, u32),
) -> Event {
    envelope(
        "case",
        tenant,
        sent,
        event::Payload::ReplySent(ReplySent {
            case_id: case.id.to_string(),
            reply_id: Uuid::now_v7().to_string(),
            channel: case.facts.channel,
            public: case.facts.public,
            body: body.into(),
            author: agent.into(),
            queue: case.facts.queue.clone(),
            findings: findings
                .iter()
                .map(|k| AuthenticityFinding {
                    kind: *k,
                    ..Default::default()
                })
                .collect(),
            kb_article_id: kb.0.into(),
            kb_article_version: kb.1,
            ..Default::default()
        }),
    )
}
