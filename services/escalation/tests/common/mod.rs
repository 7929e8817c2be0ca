//! An escalation service of its own per test, on a fresh migrated database,
//! with tenant clients, a way to deliver listening's and case's events as
//! their relays would, and the events it wrote to its outbox. Its one remote
//! subscriber never answers, so every batch it enqueued stays readable.

#![allow(dead_code)]

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use earshot_escalation::EscalationService;
use earshot_proto::common::v1::{
    Author, Channel, Classification, Intent, RuleMatch, Sentiment, TopicMatch, Urgency,
    UrgencySignal,
};
use earshot_proto::escalation::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::escalation::v1::{
    self as pb, Actions, Condition, ConditionList, Escalation, Evaluation, GuidelineInput,
    condition,
};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{
    CaseOpened, DeliverRequest, DeliverResponse, Event, EventBatch, MentionClassified, SlaBreached,
    event,
};
use earshot_server::Service;
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};
use tonic_types::StatusExt;

pub type Client = EscalationServiceClient<AuthedChannel>;

/// The remote subscriber every harness configures; nothing listens on it.
pub const PROBE: &str = "probe";

pub struct Harness {
    pub db: TestDatabase,
    pub service: TestService,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_as::<EscalationService>().await
    }

    /// The harness around `S`: escalation itself, or a test's variant of it
    /// (its schema, routes and jobs, some jobs set up otherwise).
    pub async fn start_as<S: Service>() -> Self {
        let db = TestDatabase::create().await;
        let nobody = reserve().await.local_addr().expect("bound");
        let service =
            TestService::start::<S>(settings(&db, &[(PROBE, nobody)]), reserve().await).await;
        Self { db, service }
    }

    /// A client calling as `tenant` with every tenant scope.
    pub fn client(&self, tenant: &str) -> Client {
        EscalationServiceClient::new(
            self.service
                .authed(&token(tenant, earshot_auth::TENANT_SCOPES)),
        )
    }

    /// Delivers `events` as a relay does.
    pub async fn deliver(&self, events: Vec<Event>) -> DeliverResponse {
        self.try_deliver(events).await.expect("delivered")
    }

    pub async fn try_deliver(&self, events: Vec<Event>) -> Result<DeliverResponse, tonic::Status> {
        let relay = earshot_testkit::service_token();
        EventSinkClient::new(self.service.authed(&relay))
            .deliver(DeliverRequest { events })
            .await
            .map(tonic::Response::into_inner)
    }

    /// A pool on the service's schema, for making things due and reading
    /// what it stored.
    pub async fn pool(&self) -> sqlx::PgPool {
        self.db.pool("escalation").await
    }

    /// Every event the service enqueued, oldest first, with the subscribers
    /// its batch is (still) to be delivered to.
    pub async fn emitted(&self) -> Vec<Emitted> {
        use prost::Message;
        let pool = self.pool().await;
        let batches: Vec<(Vec<u8>, Vec<String>)> = sqlx::query_as(
            "SELECT b.payload,
                    ARRAY(SELECT d.subscriber FROM outbox_delivery d
                           WHERE d.batch_id = b.id ORDER BY d.subscriber)
               FROM outbox_batch b ORDER BY b.id",
        )
        .fetch_all(&pool)
        .await
        .expect("outbox readable");
        pool.close().await;
        batches
            .into_iter()
            .flat_map(|(payload, subscribers)| {
                EventBatch::decode(payload.as_slice())
                    .expect("a batch")
                    .events
                    .into_iter()
                    .map(move |event| Emitted {
                        event,
                        subscribers: subscribers.clone(),
                    })
            })
            .collect()
    }
}

/// The service's own local consumers (webhooks), which alone may hear a
/// drill's events.
pub fn local_subscribers() -> &'static [&'static str] {
    <EscalationService as Service>::LOCAL_SUBSCRIBERS
}

/// An event from the outbox and where its batch goes.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub event: Event,
    pub subscribers: Vec<String>,
}

impl Emitted {
    pub fn raised(&self) -> Option<&earshot_proto::events::v1::EscalationRaised> {
        match &self.event.payload {
            Some(event::Payload::EscalationRaised(e)) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Events as listening and case send them

/// A mention as listening classifies it; each `event()` has a fresh event id.
#[derive(Debug, Clone)]
pub struct Mention {
    pub tenant: String,
    pub mention_id: String,
    pub text: String,
    pub topics: Vec<String>,
    pub urgency: Vec<Urgency>,
    pub intent: Intent,
    pub sentiment: Option<f64>,
    pub followers: u64,
    pub verified: bool,
    pub rules: Vec<String>,
    pub posted_at: DateTime<Utc>,
}

impl Mention {
    pub fn new(tenant: &str, mention_id: &str) -> Self {
        Self {
            tenant: tenant.to_owned(),
            mention_id: mention_id.to_owned(),
            text: "@acme my order is late again".to_owned(),
            topics: Vec::new(),
            urgency: Vec::new(),
            intent: Intent::Complaint,
            sentiment: None,
            followers: 120,
            verified: false,
            rules: Vec::new(),
            posted_at: Utc::now(),
        }
    }

    pub fn text(mut self, text: &str) -> Self {
        self.text = text.to_owned();
        self
    }

    pub fn topic(mut self, topic: &str) -> Self {
        self.topics.push(topic.to_owned());
        self
    }

    pub fn urgency(mut self, urgency: Urgency) -> Self {
        self.urgency.push(urgency);
        self
    }

    pub fn intent(mut self, intent: Intent) -> Self {
        self.intent = intent;
        self
    }

    pub fn sentiment(mut self, compound: f64) -> Self {
        self.sentiment = Some(compound);
        self
    }

    pub fn followers(mut self, followers: u64) -> Self {
        self.followers = followers;
        self
    }

    pub fn verified(mut self) -> Self {
        self.verified = true;
        self
    }

    pub fn rule(mut self, rule_id: &str) -> Self {
        self.rules.push(rule_id.to_owned());
        self
    }

    pub fn posted_at(mut self, at: DateTime<Utc>) -> Self {
        self.posted_at = at;
        self
    }

    pub fn classified(&self) -> MentionClassified {
        MentionClassified {
            mention_id: self.mention_id.clone(),
            source: "x".into(),
            external_id: format!("ext-{}", self.mention_id),
            channel: Channel::X as i32,
            public: true,
            author: Some(Author {
                external_id: "2244994945".into(),
                handle: "jane".into(),
                display_name: "Jane Doe".into(),
                followers: self.followers,
                verified: self.verified,
            }),
            text: self.text.clone(),
            language: "en".into(),
            thread_key: String::new(),
            posted_at: Some(SystemTime::from(self.posted_at).into()),
            classification: Some(classification(
                self.intent,
                self.sentiment,
                &self.urgency,
                &self.topics,
            )),
            matched_rules: self
                .rules
                .iter()
                .map(|id| RuleMatch {
                    rule_id: id.clone(),
                    name: format!("rule {id}"),
                    version: 1,
                })
                .collect(),
        }
    }

    pub fn event(&self) -> Event {
        envelope(
            &self.tenant,
            "listening",
            &self.mention_id,
            event::Payload::MentionClassified(self.classified()),
        )
    }
}

pub fn classification(
    intent: Intent,
    sentiment: Option<f64>,
    urgency: &[Urgency],
    topics: &[String],
) -> Classification {
    Classification {
        intent: intent as i32,
        actionable: true,
        sentiment: sentiment.map(|compound| Sentiment {
            compound,
            ..Default::default()
        }),
        urgency: urgency
            .iter()
            .map(|u| UrgencySignal {
                urgency: *u as i32,
                cues: vec![],
            })
            .collect(),
        topics: topics
            .iter()
            .map(|t| TopicMatch {
                topic: t.clone(),
                cues: vec![],
            })
            .collect(),
        ..Default::default()
    }
}

fn envelope(tenant: &str, producer: &str, key: &str, payload: event::Payload) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        occurred_at: Some(SystemTime::now().into()),
        aggregate_key: key.into(),
        producer: producer.into(),
        drill: false,
        payload: Some(payload),
    }
}

/// The same payload under a new event id: a replay, not a redelivery.
pub fn replayed(event: &Event) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        ..event.clone()
    }
}

pub fn case_opened(tenant: &str, case_id: &str, vip: bool, topic: &str) -> Event {
    envelope(
        tenant,
        "case",
        case_id,
        event::Payload::CaseOpened(CaseOpened {
            case_id: case_id.into(),
            channel: Channel::Email as i32,
            customer_handle: "jane@example.com".into(),
            subject: "Where is my order?".into(),
            priority: "normal".into(),
            customer_id: uuid::Uuid::now_v7().to_string(),
            topic: topic.into(),
            vip,
            ..Default::default()
        }),
    )
}

pub fn sla_breached(tenant: &str, case_id: &str, target: &str, lane: &str) -> Event {
    envelope(
        tenant,
        "case",
        case_id,
        event::Payload::SlaBreached(SlaBreached {
            case_id: case_id.into(),
            target: target.into(),
            due_at: Some(SystemTime::now().into()),
            priority: "normal".into(),
            lane: lane.into(),
        }),
    )
}

// ---------------------------------------------------------------------------
// Guidelines

pub fn leaf(kind: condition::Kind) -> Condition {
    Condition { kind: Some(kind) }
}

pub fn all(conditions: Vec<Condition>) -> Condition {
    leaf(condition::Kind::All(ConditionList { conditions }))
}

pub fn any(conditions: Vec<Condition>) -> Condition {
    leaf(condition::Kind::Any(ConditionList { conditions }))
}

pub fn urgency(any_of: &[Urgency]) -> Condition {
    leaf(condition::Kind::Urgency(pb::UrgencyCondition {
        any_of: any_of.iter().map(|u| *u as i32).collect(),
    }))
}

pub fn influencer(min_followers: u64, verified: bool) -> Condition {
    leaf(condition::Kind::Influencer(pb::InfluencerCondition {
        min_followers,
        verified,
    }))
}

pub fn vip() -> Condition {
    leaf(condition::Kind::Vip(pb::VipCondition {}))
}

pub fn sentiment(at_or_below: f64) -> Condition {
    leaf(condition::Kind::Sentiment(pb::SentimentCondition {
        at_or_below,
    }))
}

pub fn intent(any_of: &[Intent]) -> Condition {
    leaf(condition::Kind::Intent(pb::IntentCondition {
        any_of: any_of.iter().map(|i| *i as i32).collect(),
    }))
}

pub fn topic(any_of: &[&str]) -> Condition {
    leaf(condition::Kind::Topic(pb::TopicCondition {
        any_of: any_of.iter().map(|t| (*t).to_owned()).collect(),
    }))
}

pub fn rule(rule_ids: &[&str]) -> Condition {
    leaf(condition::Kind::Rule(pb::RuleCondition {
        rule_ids: rule_ids.iter().map(|r| (*r).to_owned()).collect(),
    }))
}

pub fn phrase(any_of: &[&str]) -> Condition {
    leaf(condition::Kind::Phrase(pb::PhraseCondition {
        any_of: any_of.iter().map(|p| (*p).to_owned()).collect(),
    }))
}

pub fn sla_breach(target: &str, lane: &str) -> Condition {
    leaf(condition::Kind::SlaBreach(pb::SlaBreachCondition {
        target: target.into(),
        lane: lane.into(),
    }))
}

/// Actions that only raise: `team` owns it, ten minutes to acknowledge, no
/// ladder, no incident.
pub fn actions(team: pb::Team) -> Actions {
    Actions {
        team: team as i32,
        ack_within_seconds: 600,
        raise_case_priority: true,
        ..Default::default()
    }
}

pub fn guideline(name: &str, condition: Condition, actions: Actions) -> GuidelineInput {
    GuidelineInput {
        name: name.to_owned(),
        severity: pb::Severity::Sev3 as i32,
        condition: Some(condition),
        actions: Some(actions),
        enabled: true,
    }
}

pub async fn create(client: &mut Client, input: GuidelineInput) -> pb::Guideline {
    client
        .create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(input),
            request_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect("guideline created")
        .into_inner()
}

pub async fn list_guidelines(client: &mut Client) -> Vec<pb::Guideline> {
    client
        .list_guidelines(pb::ListGuidelinesRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .expect("guidelines listed")
        .into_inner()
        .guidelines
}

/// The tenant's default guideline called `name`.
pub async fn default_named(client: &mut Client, name: &str) -> pb::Guideline {
    list_guidelines(client)
        .await
        .into_iter()
        .find(|g| g.built_in && g.name == name)
        .unwrap_or_else(|| panic!("a default guideline called {name:?}"))
}

/// Writes a disabled version of every default, so that only the guidelines
/// a test makes fire.
pub async fn disable_defaults(client: &mut Client) {
    for g in list_guidelines(client).await {
        if g.built_in && g.enabled {
            client
                .update_guideline(pb::UpdateGuidelineRequest {
                    guideline_id: g.guideline_id.clone(),
                    expected_version: g.version,
                    guideline: Some(GuidelineInput {
                        name: g.name.clone(),
                        severity: g.severity,
                        condition: g.condition.clone(),
                        actions: g.actions.clone(),
                        enabled: false,
                    }),
                })
                .await
                .expect("default disabled");
        }
    }
}

// ---------------------------------------------------------------------------
// Reads

pub async fn escalations(client: &mut Client, include_drills: bool) -> Vec<Escalation> {
    client
        .list_escalations(pb::ListEscalationsRequest {
            include_drills,
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("escalations listed")
        .into_inner()
        .escalations
}

pub async fn get_escalation(client: &mut Client, id: &str) -> Escalation {
    client
        .get_escalation(pb::GetEscalationRequest {
            escalation_id: id.into(),
        })
        .await
        .expect("escalation read")
        .into_inner()
}

pub async fn evaluations(client: &mut Client) -> Vec<Evaluation> {
    client
        .list_evaluations(pb::ListEvaluationsRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .expect("evaluations listed")
        .into_inner()
        .evaluations
}

/// The evaluation of the event `event_id`.
pub async fn evaluation_of(client: &mut Client, event_id: &str) -> Evaluation {
    evaluations(client)
        .await
        .into_iter()
        .find(|e| e.event_id == event_id)
        .unwrap_or_else(|| panic!("an evaluation of event {event_id}"))
}

pub async fn incidents(client: &mut Client, include_drills: bool) -> Vec<pb::Incident> {
    client
        .list_incidents(pb::ListIncidentsRequest {
            include_drills,
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("incidents listed")
        .into_inner()
        .incidents
}

pub async fn get_incident(client: &mut Client, id: &str) -> pb::Incident {
    client
        .get_incident(pb::GetIncidentRequest {
            incident_id: id.into(),
        })
        .await
        .expect("incident read")
        .into_inner()
}

pub async fn spike_alerts(client: &mut Client) -> Vec<pb::SpikeAlert> {
    client
        .list_spike_alerts(pb::ListSpikeAlertsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("alerts listed")
        .into_inner()
        .alerts
}

pub async fn detectors(client: &mut Client) -> Vec<pb::SpikeDetector> {
    client
        .list_spike_detectors(pb::ListSpikeDetectorsRequest {})
        .await
        .expect("detectors listed")
        .into_inner()
        .detectors
}

pub fn kinds(timeline: &[pb::TimelineEntry]) -> Vec<&str> {
    timeline.iter().map(|t| t.kind.as_str()).collect()
}

pub fn time(ts: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let ts = ts.as_ref().expect("a time");
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).expect("a valid time")
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    SystemTime::from(at).into()
}

// ---------------------------------------------------------------------------
// Errors

/// The fields a status's BadRequest details name.
pub fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Asserts `result` failed with INVALID_ARGUMENT naming exactly `expected`,
/// in the details and in the message.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, expected: &[&str]) {
    let status = result.expect_err("bad input is refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), expected, "{status:?}");
    for field in expected {
        assert!(
            status.message().contains(field),
            "{field} missing from the message {:?}",
            status.message()
        );
    }
}

#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: tonic::Code) {
    let status = result.expect_err("the call fails");
    assert_eq!(status.code(), code, "{status:?}");
}
