//! A case service of its own per test, on a fresh database, with clients and
//! a way to deliver classified mentions as listening's relay would.

#![allow(dead_code)]

use earshot_case::CaseService;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{AuditEntry, ListAuditEntriesRequest};
use earshot_proto::common::v1::{Author, Channel, Classification, Intent, Sentiment, TopicMatch};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{
    DeliverRequest, DeliverResponse, Event, EventBatch, MentionClassified, event,
};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};
use tonic_types::StatusExt;

pub struct Harness {
    pub db: TestDatabase,
    pub service: TestService,
}

impl Harness {
    pub async fn start() -> Self {
        let db = TestDatabase::create().await;
        let service = TestService::start::<CaseService>(settings(&db, &[]), reserve().await).await;
        Self { db, service }
    }

    /// A service whose events stay in its outbox (its one subscriber never
    /// answers), so a test can read every event it emitted with [`Self::emitted`].
    pub async fn start_keeping_events() -> Self {
        let db = TestDatabase::create().await;
        let nobody = reserve().await.local_addr().expect("bound");
        let service =
            TestService::start::<CaseService>(settings(&db, &[("probe", nobody)]), reserve().await)
                .await;
        Self { db, service }
    }

    /// Every event the service enqueued, oldest first.
    pub async fn emitted(&self) -> Vec<Event> {
        use prost::Message;
        let pool = self.db.pool("cases").await;
        let batches: Vec<Vec<u8>> =
            sqlx::query_scalar("SELECT payload FROM outbox_batch ORDER BY id")
                .fetch_all(&pool)
                .await
                .expect("outbox readable");
        pool.close().await;
        batches
            .iter()
            .flat_map(|b| EventBatch::decode(b.as_slice()).expect("a batch").events)
            .collect()
    }

    /// A client calling as `tenant` with every tenant scope.
    pub fn client(&self, tenant: &str) -> CaseServiceClient<AuthedChannel> {
        CaseServiceClient::new(
            self.service
                .authed(&token(tenant, earshot_auth::TENANT_SCOPES)),
        )
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
}

/// A mention as listening classifies it; `event_id` fresh each call.
pub struct Mention<'a> {
    pub tenant: &'a str,
    pub mention_id: &'a str,
    pub author: &'a str,
    pub thread: &'a str,
    pub topic: &'a str,
    pub actionable: bool,
    pub text: &'a str,
    pub followers: u64,
    pub sentiment: Option<f64>,
    pub channel: Channel,
    pub public: bool,
    pub intent: Intent,
}

impl Default for Mention<'_> {
    fn default() -> Self {
        Self {
            tenant: "acme",
            mention_id: "m-1",
            author: "2244994945",
            thread: "",
            topic: "",
            actionable: true,
            text: "@acme my card still hasn't arrived, can you help?",
            followers: 812,
            sentiment: None,
            channel: Channel::X,
            public: true,
            intent: Intent::Unspecified,
        }
    }
}

impl Mention<'_> {
    pub fn event(&self) -> Event {
        let classified = MentionClassified {
            mention_id: self.mention_id.into(),
            source: "x".into(),
            external_id: format!("ext-{}", self.mention_id),
            channel: self.channel as i32,
            public: self.public,
            author: Some(Author {
                external_id: self.author.into(),
                handle: format!("user_{}", self.author),
                display_name: "Jane Doe".into(),
                followers: self.followers,
                verified: false,
            }),
            text: self.text.into(),
            language: "en".into(),
            thread_key: self.thread.into(),
            posted_at: Some(std::time::SystemTime::now().into()),
            classification: Some(Classification {
                actionable: self.actionable,
                intent: self.intent as i32,
                topics: if self.topic.is_empty() {
                    vec![]
                } else {
                    vec![TopicMatch {
                        topic: self.topic.into(),
                        cues: vec![],
                    }]
                },
                sentiment: self.sentiment.map(|compound| Sentiment {
                    compound,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            matched_rules: vec![],
        };
        Event {
            event_id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.tenant.into(),
            occurred_at: Some(std::time::SystemTime::now().into()),
            aggregate_key: self.mention_id.into(),
            producer: "listening".into(),
            drill: false,
            payload: Some(event::Payload::MentionClassified(classified)),
        }
    }
}

/// The fields a status's BadRequest details name.
pub fn fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

/// Asserts `result` failed with INVALID_ARGUMENT naming exactly `expected`.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, expected: &[&str]) {
    let status = result.expect_err("bad input is rejected");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert_eq!(fields(&status), expected, "{status:?}");
}

#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: tonic::Code) {
    let status = result.expect_err("the call fails");
    assert_eq!(status.code(), code, "{status:?}");
}

/// The actions of a case's (or customer's) audit trail, oldest first.
pub async fn audit(
    client: &mut CaseServiceClient<AuthedChannel>,
    request: ListAuditEntriesRequest,
) -> Vec<AuditEntry> {
    client
        .list_audit_entries(request)
        .await
        .expect("audit trail")
        .into_inner()
        .entries
}

/// The tenant's configuration changes, oldest first.
pub async fn configuration_trail(client: &mut CaseServiceClient<AuthedChannel>) -> Vec<AuditEntry> {
    audit(
        client,
        ListAuditEntriesRequest {
            configuration: true,
            ..Default::default()
        },
    )
    .await
}
