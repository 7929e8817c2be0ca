//! Webhooks against a real database and a real HTTP receiver on a loopback
//! port, which checks every signature with an implementation of its own.

use std::sync::Arc;
use std::time::Duration;

use earshot_config::Env;
use earshot_outbox::{Outbox, Subscriber, new_event};
use earshot_proto::common::v1::{
    CreateWebhookEndpointRequest, DeleteWebhookEndpointRequest, ListWebhookDeliveriesRequest,
    ListWebhookEndpointsRequest, ReplayWebhookDeliveryRequest, RotateWebhookSecretRequest,
    UpdateWebhookEndpointRequest, WebhookDelivery, WebhookDeliveryState, WebhookEndpoint,
};
use earshot_proto::events::v1::event::Payload;
use earshot_proto::events::v1::{EscalationRaised, Event, IncidentOpened};
use earshot_server::ServiceError;
use earshot_server::scheduler::Job;
use earshot_server::settings::DatabaseSettings;
use earshot_testkit::webhooks::{Receiver, signature_verifies};
use earshot_testkit::{TestDatabase, eventually};
use earshot_webhooks::{RetrySchedule, SUBSCRIBER, WebhookSettings, Webhooks};
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tonic::Code;

const SCHEMA: &str = "hooks";
const OFFERED: &[&str] = &["escalation.raised", "incident.opened"];
static NO_SERVICE_MIGRATIONS: Migrator = Migrator::DEFAULT;

// The harness: the outbox and webhook tables in a schema of their own, and
// the two jobs run round by round.

struct Harness {
    _db: TestDatabase,
    pool: PgPool,
    outbox: Outbox,
    hooks: Webhooks,
    jobs: Vec<Arc<dyn Job>>,
}

fn fast_settings() -> WebhookSettings {
    WebhookSettings {
        timeout: Duration::from_secs(5),
        schedule: RetrySchedule::default().scaled(0.001),
        concurrency: 4,
        poll: Duration::from_millis(20),
        keep: Duration::from_secs(30 * 24 * 60 * 60),
    }
}

impl Harness {
    async fn new() -> Self {
        Self::with(fast_settings(), &[]).await
    }

    async fn with(settings: WebhookSettings, remote: &[Subscriber]) -> Self {
        let db = TestDatabase::create().await;
        let database = DatabaseSettings::from_env(&Env::from_pairs([("DATABASE_URL", db.url())]))
            .expect("test database settings");
        let pool = earshot_server::database::pool(&database, SCHEMA).expect("a pool");
        earshot_server::database::prepare_with(
            &pool,
            SCHEMA,
            &[&earshot_webhooks::MIGRATOR],
            &NO_SERVICE_MIGRATIONS,
            Duration::from_secs(10),
        )
        .await
        .expect("migrated");
        let hooks = Webhooks::new(OFFERED);
        let jobs = hooks.jobs(&settings);
        Self {
            _db: db,
            pool,
            outbox: Outbox::with_local(remote, &[SUBSCRIBER]),
            hooks,
            jobs,
        }
    }

    /// One round of each job, as the scheduler runs them.
    async fn drive(&self) {
        for job in &self.jobs {
            let mut tx = self.pool.begin().await.expect("a transaction");
            sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
                .execute(&mut *tx)
                .await
                .expect("set");
            job.round(&mut tx, &self.outbox, 16).await.expect("a round");
            tx.commit().await.expect("commit");
        }
    }

    /// Drives the jobs until `done` holds.
    async fn until(&self, what: &str, done: impl Fn() -> bool) {
        eventually(what, || async {
            self.drive().await;
            done().then_some(())
        })
        .await;
    }

    async fn publish(&self, events: Vec<Event>) {
        let mut tx = self.pool.begin().await.expect("a transaction");
        self.outbox
            .enqueue(&mut tx, events)
            .await
            .expect("enqueued");
        tx.commit().await.expect("commit");
    }

    async fn publish_drill(&self, events: Vec<Event>) {
        let mut tx = self.pool.begin().await.expect("a transaction");
        self.outbox
            .enqueue_local(&mut tx, events)
            .await
            .expect("enqueued");
        tx.commit().await.expect("commit");
    }

    async fn endpoint(
        &self,
        tenant: &str,
        url: &str,
        types: &[&str],
        drills: bool,
    ) -> (WebhookEndpoint, String) {
        let created = self
            .hooks
            .create_endpoint(
                &self.pool,
                tenant,
                CreateWebhookEndpointRequest {
                    url: url.into(),
                    event_types: types.iter().map(|t| (*t).to_owned()).collect(),
                    accept_drills: drills,
                    description: "on-call pager".into(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                },
            )
            .await
            .expect("created");
        (created.endpoint.expect("an endpoint"), created.secret)
    }

    async fn deliveries(&self, tenant: &str, endpoint_id: &str) -> Vec<WebhookDelivery> {
        self.hooks
            .list_deliveries(
                &self.pool,
                tenant,
                ListWebhookDeliveriesRequest {
                    endpoint_id: endpoint_id.into(),
                    ..Default::default()
                },
            )
            .await
            .expect("listed")
            .deliveries
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.pool)
            .await
            .expect("counted")
    }
}

fn raised(tenant: &str) -> Event {
    new_event(
        "escalation",
        tenant,
        "esc-1",
        Payload::EscalationRaised(EscalationRaised {
            escalation_id: "esc-1".into(),
            severity: "SEV1".into(),
            reason: "legal threat".into(),
            ..Default::default()
        }),
    )
}

fn opened(tenant: &str) -> Event {
    new_event(
        "escalation",
        tenant,
        "inc-1",
        Payload::IncidentOpened(IncidentOpened {
            incident_id: "inc-1".into(),
            title: "Outage".into(),
            ..Default::default()
        }),
    )
}

fn drill(mut event: Event) -> Event {
    event.drill = true;
    event
}

fn status(e: ServiceError) -> tonic::Status {
    e.into()
}

// The tests.

#[test]
fn the_specification_example_verifies_with_the_test_implementation() {
    assert!(signature_verifies(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        r#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
    let key = earshot_webhooks::key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("whsec");
    assert_eq!(
        earshot_webhooks::sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#
        ),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[tokio::test]
async fn an_event_arrives_signed_with_its_type_time_and_data() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = h.endpoint("acme", &receiver.url, &[], false).await;
    assert!(secret.starts_with("whsec_"));
    let event = raised("acme");
    h.publish(vec![event.clone()]).await;
    h.until("the event arrives", || receiver.got().len() == 1)
        .await;

    let got = &receiver.got()[0];
    assert_eq!(got.content_type, "application/json");
    assert!(
        signature_verifies(&secret, &got.id, got.timestamp, &got.body, &got.signature),
        "{got:?}"
    );
    assert!((chrono::Utc::now().timestamp() - got.timestamp).abs() < 60);
    let body: serde_json::Value = serde_json::from_str(&got.body).expect("json");
    assert_eq!(body["type"], "escalation.raised");
    assert_eq!(body["drill"], false);
    assert_eq!(body["data"]["escalationId"], "esc-1");
    assert_eq!(body["data"]["severity"], "SEV1");
    let occurred = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().expect("text"))
        .expect("RFC 3339");
    let at = event.occurred_at.expect("set");
    assert_eq!(occurred.timestamp(), at.seconds);

    let deliveries = h.deliveries("acme", &endpoint.endpoint_id).await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(
        delivery.delivery_id, got.id,
        "webhook-id is the delivery id"
    );
    assert_eq!(delivery.event_id, event.event_id);
    assert_eq!(delivery.event_type, "escalation.raised");
    assert_eq!(delivery.state, WebhookDeliveryState::Delivered as i32);
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.last_status, 200);
    assert_eq!(delivery.next_attempt_at, None);
    assert_eq!(delivery.recent_attempts.len(), 1);
    assert_eq!(delivery.recent_attempts[0].status_code, 200);
    assert_eq!(delivery.recent_attempts[0].error, "");
    // The outbox holds nothing more for anyone.
    assert_eq!(h.count("SELECT count(*) FROM outbox_delivery").await, 0);
    assert_eq!(h.count("SELECT count(*) FROM outbox_batch").await, 0);
}

#[tokio::test]
async fn finished_deliveries_and_their_bodies_go_after_the_retention_period() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme")]).await;
    h.until("the first event arrives", || receiver.got().len() == 1)
        .await;
    // From now on the endpoint answers 503: the second delivery stays pending.
    receiver.otherwise(503);
    h.publish(vec![opened("acme")]).await;
    h.until("the second event is tried", || receiver.got().len() >= 2)
        .await;
    // Both deliveries last changed 31 days ago.
    sqlx::query("UPDATE webhook_deliveries SET updated_at = now() - interval '31 days'")
        .execute(&h.pool)
        .await
        .expect("aged");
    h.drive().await;

    let left = h.deliveries("acme", &endpoint.endpoint_id).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].event_type, "incident.opened");
    assert_eq!(left[0].state, WebhookDeliveryState::Pending as i32);
    // The delivered event's body and attempts went with it.
    assert_eq!(h.count("SELECT count(*) FROM webhook_events").await, 1);
    assert_eq!(
        h.count("SELECT count(*) FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.state <> 1").await,
        0
    );
}

#[tokio::test]
async fn failures_are_retried_until_the_endpoint_answers() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.answer(500, None);
    receiver.answer(500, None);
    let (endpoint, secret) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme")]).await;
    h.until("the third attempt arrives", || receiver.got().len() >= 3)
        .await;
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id throughout"
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same body throughout"
    );
    assert!(got.iter().all(|r| signature_verifies(
        &secret,
        &r.id,
        r.timestamp,
        &r.body,
        &r.signature
    )));
    let delivery = eventually("the delivery is recorded delivered", || async {
        h.drive().await;
        let d = h.deliveries("acme", &endpoint.endpoint_id).await.pop()?;
        (d.state == WebhookDeliveryState::Delivered as i32).then_some(d)
    })
    .await;
    assert_eq!(delivery.attempts, 3);
    let statuses: Vec<u32> = delivery
        .recent_attempts
        .iter()
        .map(|a| a.status_code)
        .collect();
    assert_eq!(statuses, [500, 500, 200]);
    assert_eq!(
        delivery.recent_attempts[0].error,
        "answered 500 Internal Server Error"
    );
    let numbers: Vec<u32> = delivery.recent_attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
}

#[tokio::test]
async fn the_schedule_ends_in_failure() {
    let settings = WebhookSettings {
        schedule: RetrySchedule {
            delays: vec![Duration::from_millis(5); 2],
            jitter: 0.2,
        },
        ..fast_settings()
    };
    let h = Harness::with(settings, &[]).await;
    let receiver = Receiver::start().await;
    receiver.otherwise(503);
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme")]).await;
    let delivery = eventually("the delivery fails", || async {
        h.drive().await;
        let d = h.deliveries("acme", &endpoint.endpoint_id).await.pop()?;
        (d.state == WebhookDeliveryState::Failed as i32).then_some(d)
    })
    .await;
    assert_eq!(delivery.attempts, 3, "the first attempt and two retries");
    assert_eq!(receiver.got().len(), 3);
}

#[tokio::test]
async fn retry_after_is_never_cut_short() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.answer(503, Some("1"));
    h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme")]).await;
    h.until("the retry arrives", || receiver.got().len() >= 2)
        .await;
    let got = receiver.got();
    let gap = got[1].at - got[0].at;
    // The schedule alone would retry after about 5 ms.
    assert!(gap >= Duration::from_millis(990), "{gap:?}");
}

#[tokio::test]
async fn gone_disables_the_endpoint_and_its_pending_deliveries() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    receiver.otherwise(410);
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme"), opened("acme")]).await;
    let deliveries = eventually("both deliveries are disabled", || async {
        h.drive().await;
        let d = h.deliveries("acme", &endpoint.endpoint_id).await;
        (d.len() == 2
            && d.iter()
                .all(|d| d.state == WebhookDeliveryState::Disabled as i32))
        .then_some(d)
    })
    .await;
    assert!(deliveries.iter().any(|d| d.last_status == 410));
    let listed = h
        .hooks
        .list_endpoints(&h.pool, "acme", ListWebhookEndpointsRequest::default())
        .await
        .expect("listed")
        .endpoints;
    assert_eq!(listed.len(), 1);
    let disabled = &listed[0];
    assert!(!disabled.enabled);
    assert_eq!(disabled.disabled_reason, earshot_webhooks::GONE_REASON);
    assert!(disabled.version > endpoint.version);

    // New events pass it by; replaying waits for it to be enabled again.
    h.publish(vec![raised("acme")]).await;
    h.drive().await;
    assert_eq!(h.deliveries("acme", &endpoint.endpoint_id).await.len(), 2);
    let replay = ReplayWebhookDeliveryRequest {
        delivery_id: deliveries[0].delivery_id.clone(),
    };
    let refused = status(
        h.hooks
            .replay_delivery(&h.pool, "acme", replay.clone())
            .await
            .expect_err("disabled"),
    );
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // Re-enabling an endpoint a 410 disabled is allowed.
    receiver.otherwise(200);
    let enabled = h
        .hooks
        .update_endpoint(
            &h.pool,
            "acme",
            UpdateWebhookEndpointRequest {
                endpoint_id: endpoint.endpoint_id.clone(),
                expected_version: disabled.version,
                url: receiver.url.clone(),
                event_types: Vec::new(),
                accept_drills: false,
                enabled: Some(true),
                description: disabled.description.clone(),
            },
        )
        .await
        .expect("enabled")
        .endpoint
        .expect("endpoint");
    assert!(enabled.enabled);
    assert_eq!(enabled.disabled_reason, "");
    let before = receiver.got().len();
    h.hooks
        .replay_delivery(&h.pool, "acme", replay)
        .await
        .expect("replayed");
    h.until("the replay arrives", || receiver.got().len() == before + 1)
        .await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_new_one() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = h.endpoint("acme", &receiver.url, &[], false).await;
    let rotated = h
        .hooks
        .rotate_secret(
            &h.pool,
            "acme",
            RotateWebhookSecretRequest {
                endpoint_id: endpoint.endpoint_id.clone(),
            },
        )
        .await
        .expect("rotated");
    let new = rotated.secret;
    assert_ne!(new, old);
    assert!(new.starts_with("whsec_"));
    let endpoint_now = rotated.endpoint.expect("endpoint");
    assert!(endpoint_now.secret_rotated_at.is_some());
    assert_eq!(endpoint_now.version, endpoint.version + 1);
    let expires = rotated.previous_secret_expires_at.expect("set").seconds;
    let in_a_day = chrono::Utc::now().timestamp() + 24 * 3600;
    assert!((expires - in_a_day).abs() < 60, "{expires} vs {in_a_day}");

    h.publish(vec![raised("acme")]).await;
    h.until("the event arrives", || receiver.got().len() == 1)
        .await;
    let got = &receiver.got()[0];
    let signatures: Vec<&str> = got.signature.split(' ').collect();
    assert_eq!(signatures.len(), 2, "{}", got.signature);
    assert!(signature_verifies(
        &new,
        &got.id,
        got.timestamp,
        &got.body,
        signatures[0]
    ));
    assert!(signature_verifies(
        &old,
        &got.id,
        got.timestamp,
        &got.body,
        signatures[1]
    ));
    assert!(!signature_verifies(
        &new,
        &got.id,
        got.timestamp,
        &got.body,
        signatures[1]
    ));
}

#[tokio::test]
async fn drill_events_reach_only_endpoints_that_accept_drills_and_no_other_service() {
    // A remote subscriber, to see that drills never get a row for it.
    let case = Subscriber {
        name: "case".into(),
        url: "http://127.0.0.1:9".into(),
    };
    let h = Harness::with(fast_settings(), &[case]).await;
    let rehearsing = Receiver::start().await;
    let live_only = Receiver::start().await;
    h.endpoint("acme", &rehearsing.url, &[], true).await;
    h.endpoint("acme", &live_only.url, &[], false).await;

    h.publish_drill(vec![drill(raised("acme"))]).await;
    assert_eq!(
        h.count("SELECT count(*) FROM outbox_delivery WHERE subscriber = 'case'")
            .await,
        0,
        "a drill stays inside the service"
    );
    h.publish(vec![opened("acme")]).await;
    assert_eq!(
        h.count("SELECT count(*) FROM outbox_delivery WHERE subscriber = 'case'")
            .await,
        1
    );
    h.until("both endpoints hear the live event", || {
        rehearsing.got().len() == 2 && !live_only.got().is_empty()
    })
    .await;
    let types = |r: &Receiver| -> Vec<(String, bool)> {
        let mut t: Vec<(String, bool)> = r
            .got()
            .iter()
            .map(|g| {
                let body: serde_json::Value = serde_json::from_str(&g.body).expect("json");
                (
                    body["type"].as_str().expect("type").to_owned(),
                    body["drill"].as_bool().expect("drill"),
                )
            })
            .collect();
        t.sort();
        t
    };
    assert_eq!(
        types(&rehearsing),
        [
            ("escalation.raised".to_owned(), true),
            ("incident.opened".to_owned(), false)
        ]
    );
    assert_eq!(types(&live_only), [("incident.opened".to_owned(), false)]);
    // The batch waits for the remote subscriber's relay, and only for it.
    assert_eq!(h.count("SELECT count(*) FROM outbox_batch").await, 1);
}

#[tokio::test]
async fn endpoints_hear_only_the_types_they_chose_and_only_offered_ones() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    h.endpoint("acme", &receiver.url, &["incident.opened"], false)
        .await;
    let everything = Receiver::start().await;
    h.endpoint("acme", &everything.url, &[], false).await;
    let erased = new_event(
        "escalation",
        "acme",
        "c",
        Payload::CustomerErased(Default::default()),
    );
    h.publish(vec![raised("acme"), opened("acme"), erased])
        .await;
    h.until("the events arrive", || {
        receiver.got().len() == 1 && everything.got().len() == 2
    })
    .await;
    assert!(receiver.got()[0].body.contains("incident.opened"));
    assert!(
        everything
            .got()
            .iter()
            .all(|g| !g.body.contains("customer.erased")),
        "a type the service does not offer is never sent"
    );
}

#[tokio::test]
async fn one_tenant_never_sees_or_touches_another_tenants_webhooks() {
    let h = Harness::new().await;
    let acme_receiver = Receiver::start().await;
    let globex_receiver = Receiver::start().await;
    let (acme, _) = h.endpoint("acme", &acme_receiver.url, &[], true).await;
    h.endpoint("globex", &globex_receiver.url, &[], true).await;
    h.publish(vec![raised("acme")]).await;
    h.until("acme's event arrives", || acme_receiver.got().len() == 1)
        .await;
    h.drive().await;
    assert!(globex_receiver.got().is_empty());

    let delivery = h.deliveries("acme", &acme.endpoint_id).await.remove(0);
    assert!(h.deliveries("globex", "").await.is_empty());
    assert!(h.deliveries("globex", &acme.endpoint_id).await.is_empty());
    let listed = h
        .hooks
        .list_endpoints(&h.pool, "globex", ListWebhookEndpointsRequest::default())
        .await
        .expect("listed")
        .endpoints;
    assert!(listed.iter().all(|e| e.endpoint_id != acme.endpoint_id));

    let not_found = |e: ServiceError| {
        let s = status(e);
        assert_eq!(s.code(), Code::NotFound, "{s:?}");
    };
    not_found(
        h.hooks
            .update_endpoint(
                &h.pool,
                "globex",
                UpdateWebhookEndpointRequest {
                    endpoint_id: acme.endpoint_id.clone(),
                    expected_version: acme.version,
                    url: globex_receiver.url.clone(),
                    ..Default::default()
                },
            )
            .await
            .expect_err("not globex's"),
    );
    not_found(
        h.hooks
            .rotate_secret(
                &h.pool,
                "globex",
                RotateWebhookSecretRequest {
                    endpoint_id: acme.endpoint_id.clone(),
                },
            )
            .await
            .expect_err("not globex's"),
    );
    not_found(
        h.hooks
            .delete_endpoint(
                &h.pool,
                "globex",
                DeleteWebhookEndpointRequest {
                    endpoint_id: acme.endpoint_id.clone(),
                    expected_version: 0,
                },
            )
            .await
            .expect_err("not globex's"),
    );
    not_found(
        h.hooks
            .replay_delivery(
                &h.pool,
                "globex",
                ReplayWebhookDeliveryRequest {
                    delivery_id: delivery.delivery_id.clone(),
                },
            )
            .await
            .expect_err("not globex's"),
    );
    // Acme's endpoint is as it was.
    let still = h
        .hooks
        .list_endpoints(&h.pool, "acme", ListWebhookEndpointsRequest::default())
        .await
        .expect("listed")
        .endpoints;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].version, acme.version);
    assert_eq!(still[0].url, acme_receiver.url);
}

#[tokio::test]
async fn bad_input_names_the_field_for_every_call() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    let fields = |e: ServiceError| -> String {
        let s = status(e);
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        s.message().to_owned()
    };
    let hooks = &h.hooks;
    let pool = &h.pool;

    let message = fields(
        hooks
            .create_endpoint(
                pool,
                "acme",
                CreateWebhookEndpointRequest {
                    url: "http://hooks.example.com/x".into(),
                    event_types: vec!["case.opened".into()],
                    accept_drills: false,
                    description: "d".repeat(501),
                    request_id: String::new(),
                },
            )
            .await
            .expect_err("bad"),
    );
    for field in ["url: ", "event_types[0]: ", "description: ", "request_id: "] {
        assert!(message.contains(field), "{field} in {message}");
    }
    let message = fields(
        hooks
            .create_endpoint(
                pool,
                "acme",
                CreateWebhookEndpointRequest {
                    url: "https://user:secret@hooks.example.com/".into(),
                    request_id: "r".into(),
                    ..Default::default()
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("url: "), "{message}");
    assert!(!message.contains("secret@"), "{message}");

    let message = fields(
        hooks
            .list_endpoints(
                pool,
                "acme",
                ListWebhookEndpointsRequest {
                    page_size: 501,
                    page_token: String::new(),
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("page_size: "), "{message}");
    let message = fields(
        hooks
            .list_endpoints(
                pool,
                "acme",
                ListWebhookEndpointsRequest {
                    page_size: 0,
                    page_token: "garbage".into(),
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("page_token: "), "{message}");

    let message = fields(
        hooks
            .update_endpoint(
                pool,
                "acme",
                UpdateWebhookEndpointRequest {
                    endpoint_id: "nope".into(),
                    expected_version: 0,
                    url: "ftp://127.0.0.1/".into(),
                    event_types: vec!["escalation.raised".into(), "spike.detected".into()],
                    ..Default::default()
                },
            )
            .await
            .expect_err("bad"),
    );
    for field in [
        "endpoint_id: ",
        "expected_version: ",
        "url: ",
        "event_types[1]: ",
    ] {
        assert!(message.contains(field), "{field} in {message}");
    }
    let message = fields(
        hooks
            .rotate_secret(pool, "acme", RotateWebhookSecretRequest::default())
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("endpoint_id: "), "{message}");
    let message = fields(
        hooks
            .delete_endpoint(
                pool,
                "acme",
                DeleteWebhookEndpointRequest {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    expected_version: -1,
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("expected_version: "), "{message}");
    let message = fields(
        hooks
            .list_deliveries(
                pool,
                "acme",
                ListWebhookDeliveriesRequest {
                    endpoint_id: "x".into(),
                    page_size: 9999,
                    page_token: String::new(),
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.contains("endpoint_id: "), "{message}");
    assert!(message.contains("page_size: "), "{message}");
    let message = fields(
        hooks
            .replay_delivery(
                pool,
                "acme",
                ReplayWebhookDeliveryRequest {
                    delivery_id: "not-a-uuid".into(),
                },
            )
            .await
            .expect_err("bad"),
    );
    assert!(message.starts_with("delivery_id: "), "{message}");
}

#[tokio::test]
async fn creating_is_idempotent_and_updates_check_the_version() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let request = CreateWebhookEndpointRequest {
        url: receiver.url.clone(),
        event_types: vec!["escalation.raised".into()],
        accept_drills: true,
        description: "pager".into(),
        request_id: "create-1".into(),
    };
    let first = h
        .hooks
        .create_endpoint(&h.pool, "acme", request.clone())
        .await
        .expect("created");
    let again = h
        .hooks
        .create_endpoint(&h.pool, "acme", request)
        .await
        .expect("the same");
    assert_eq!(first, again);
    let endpoint = first.endpoint.expect("endpoint");
    assert_eq!(endpoint.version, 1);
    assert_eq!(endpoint.event_types, ["escalation.raised"]);
    assert!(endpoint.enabled);

    let change = UpdateWebhookEndpointRequest {
        endpoint_id: endpoint.endpoint_id.clone(),
        expected_version: 1,
        url: receiver.url.clone(),
        event_types: Vec::new(),
        accept_drills: false,
        enabled: None,
        description: "all of them".into(),
    };
    let updated = h
        .hooks
        .update_endpoint(&h.pool, "acme", change.clone())
        .await
        .expect("updated")
        .endpoint
        .expect("endpoint");
    assert_eq!(updated.version, 2);
    assert!(updated.event_types.is_empty());
    assert!(updated.enabled, "unset leaves it enabled");
    assert_eq!(updated.description, "all of them");
    let stale = status(
        h.hooks
            .update_endpoint(&h.pool, "acme", change)
            .await
            .expect_err("stale"),
    );
    assert_eq!(stale.code(), Code::Aborted);
    let stale = status(
        h.hooks
            .delete_endpoint(
                &h.pool,
                "acme",
                DeleteWebhookEndpointRequest {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    expected_version: 1,
                },
            )
            .await
            .expect_err("stale"),
    );
    assert_eq!(stale.code(), Code::Aborted);
    h.hooks
        .delete_endpoint(
            &h.pool,
            "acme",
            DeleteWebhookEndpointRequest {
                endpoint_id: endpoint.endpoint_id.clone(),
                expected_version: 2,
            },
        )
        .await
        .expect("deleted");
    let gone = status(
        h.hooks
            .delete_endpoint(
                &h.pool,
                "acme",
                DeleteWebhookEndpointRequest {
                    endpoint_id: endpoint.endpoint_id,
                    expected_version: 0,
                },
            )
            .await
            .expect_err("gone"),
    );
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn a_replay_sends_again_with_the_same_webhook_id() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish(vec![raised("acme")]).await;
    h.until("the event arrives", || receiver.got().len() == 1)
        .await;
    let delivery = h.deliveries("acme", &endpoint.endpoint_id).await.remove(0);
    let replayed = h
        .hooks
        .replay_delivery(
            &h.pool,
            "acme",
            ReplayWebhookDeliveryRequest {
                delivery_id: delivery.delivery_id.clone(),
            },
        )
        .await
        .expect("replayed")
        .delivery
        .expect("delivery");
    assert_eq!(replayed.delivery_id, delivery.delivery_id);
    assert_eq!(replayed.state, WebhookDeliveryState::Pending as i32);
    assert!(replayed.next_attempt_at.is_some());
    h.until("the replay arrives", || receiver.got().len() == 2)
        .await;
    let got = receiver.got();
    assert_eq!(got[1].id, got[0].id);
    assert_eq!(got[1].body, got[0].body);
    assert!(signature_verifies(
        &secret,
        &got[1].id,
        got[1].timestamp,
        &got[1].body,
        &got[1].signature
    ));
    let after = eventually("the replay is recorded", || async {
        h.drive().await;
        let d = h.deliveries("acme", &endpoint.endpoint_id).await.pop()?;
        (d.state == WebhookDeliveryState::Delivered as i32).then_some(d)
    })
    .await;
    assert_eq!(after.attempts, 2);
    assert_eq!(after.recent_attempts.len(), 2);
}

#[tokio::test]
async fn a_redelivered_batch_fans_out_once() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    let events = vec![raised("acme"), opened("acme")];
    h.publish(events.clone()).await;
    h.drive().await;
    // The same events again, as a producer retrying after a crash would.
    h.publish(events).await;
    h.until("both events arrive", || receiver.got().len() >= 2)
        .await;
    for _ in 0..3 {
        h.drive().await;
    }
    assert_eq!(receiver.got().len(), 2);
    assert_eq!(h.deliveries("acme", &endpoint.endpoint_id).await.len(), 2);
    assert_eq!(h.count("SELECT count(*) FROM outbox_batch").await, 0);
}

#[tokio::test]
async fn pages_of_deliveries_run_newest_first_without_repeats() {
    let h = Harness::new().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = h.endpoint("acme", &receiver.url, &[], false).await;
    h.publish((0..5).map(|_| raised("acme")).collect()).await;
    h.until("five arrive", || receiver.got().len() == 5).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = h
            .hooks
            .list_deliveries(
                &h.pool,
                "acme",
                ListWebhookDeliveriesRequest {
                    endpoint_id: endpoint.endpoint_id.clone(),
                    page_size: 2,
                    page_token: token,
                },
            )
            .await
            .expect("a page");
        seen.extend(page.deliveries.into_iter().map(|d| d.delivery_id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
}

#[tokio::test]
async fn an_https_endpoint_that_speaks_no_tls_fails_the_attempt_and_is_retried() {
    let h = Harness::new().await;
    // Accepts and hangs up: the TLS handshake fails.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("bound").port();
    let _server = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    let (endpoint, _) = h
        .endpoint(
            "acme",
            &format!("https://localhost:{port}/hook"),
            &[],
            false,
        )
        .await;
    h.publish(vec![raised("acme")]).await;
    let delivery = eventually("two attempts fail", || async {
        h.drive().await;
        let d = h.deliveries("acme", &endpoint.endpoint_id).await.pop()?;
        (d.attempts >= 2).then_some(d)
    })
    .await;
    assert_eq!(delivery.state, WebhookDeliveryState::Pending as i32);
    assert_eq!(delivery.last_status, 0);
    assert!(!delivery.recent_attempts[0].error.is_empty());
}

// Wired into a service as a service wires it: the outbox's local
// subscriber, the shared migrations and the background task, run by
// `earshot_server::run`. Its events come in through its EventSink and are
// published in the handler's transaction; one keyed "rehearsal" stands for
// an event a drill of the service makes, published only locally (sinks
// refuse drill events themselves).

struct Republish;

impl earshot_server::EventHandler for Republish {
    const PRODUCERS: &'static [&'static str] = &["escalation"];

    async fn handle(
        &self,
        conn: &mut sqlx::PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let (drills, live): (Vec<Event>, Vec<Event>) = events
            .into_iter()
            .partition(|e| e.aggregate_key == "rehearsal");
        outbox.enqueue(conn, live).await?;
        outbox
            .enqueue_local(conn, drills.into_iter().map(drill).collect())
            .await?;
        Ok(())
    }
}

struct Hooked;

impl earshot_server::Service for Hooked {
    const NAME: &'static str = "hooked";
    const SCHEMA: &'static str = "hooked";
    const GRPC_PORT: u16 = 0;
    const METRICS_PORT: u16 = 0;
    const HTTP_PORT: u16 = 0;
    const GRPC_SERVICES: &'static [&'static str] = &[earshot_server::EVENT_SINK];
    const LOCAL_SUBSCRIBERS: &'static [&'static str] = &[SUBSCRIBER];

    fn migrator() -> &'static Migrator {
        &NO_SERVICE_MIGRATIONS
    }

    fn shared_migrators() -> &'static [&'static Migrator] {
        // A static: a reference to a static is no constant to promote.
        static SHARED: [&Migrator; 1] = [&earshot_webhooks::MIGRATOR];
        &SHARED
    }

    fn routes(ctx: &earshot_server::ServiceContext) -> tonic::service::Routes {
        tonic::service::Routes::new(earshot_server::event_sink(
            ctx.pool.clone(),
            ctx.outbox.clone(),
            Republish,
        ))
    }

    fn background(ctx: &earshot_server::ServiceContext) -> Vec<earshot_server::BackgroundTask> {
        vec![Webhooks::new(OFFERED).background(ctx, fast_settings())]
    }
}

#[tokio::test]
async fn a_service_delivers_its_events_through_its_background_task() {
    let db = TestDatabase::create().await;
    let mut service = earshot_testkit::TestService::start::<Hooked>(
        earshot_testkit::settings(&db, &[]),
        earshot_testkit::reserve().await,
    )
    .await;
    let database = DatabaseSettings::from_env(&Env::from_pairs([("DATABASE_URL", db.url())]))
        .expect("test database settings");
    let pool =
        earshot_server::database::pool(&database, <Hooked as earshot_server::Service>::SCHEMA)
            .expect("a pool");
    let receiver = Receiver::start().await;
    let (_, secret) = {
        let created = Webhooks::new(OFFERED)
            .create_endpoint(
                &pool,
                "acme",
                CreateWebhookEndpointRequest {
                    url: receiver.url.clone(),
                    accept_drills: true,
                    request_id: "r1".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("created");
        (created.endpoint, created.secret)
    };

    let mut sink = earshot_proto::events::v1::event_sink_client::EventSinkClient::new(
        service.authed(&earshot_testkit::service_token()),
    );
    sink.deliver(earshot_proto::events::v1::DeliverRequest {
        events: vec![raised("acme"), {
            let mut rehearsal = opened("acme");
            rehearsal.aggregate_key = "rehearsal".into();
            rehearsal
        }],
    })
    .await
    .expect("delivered to the sink");
    eventually("both events reach the endpoint", || async {
        (receiver.got().len() == 2).then_some(())
    })
    .await;
    let mut drills = Vec::new();
    for got in receiver.got() {
        assert!(signature_verifies(
            &secret,
            &got.id,
            got.timestamp,
            &got.body,
            &got.signature
        ));
        let body: serde_json::Value = serde_json::from_str(&got.body).expect("json");
        drills.push((
            body["type"].as_str().expect("type").to_owned(),
            body["drill"] == true,
        ));
    }
    drills.sort();
    assert_eq!(
        drills,
        [
            ("escalation.raised".to_owned(), false),
            ("incident.opened".to_owned(), true)
        ]
    );
    service.stop().await;
}

#[tokio::test]
async fn a_tenant_has_a_bounded_number_of_endpoints() {
    let h = Harness::new().await;
    let create = |request_id: String| CreateWebhookEndpointRequest {
        url: "https://hooks.example.com/x".into(),
        request_id,
        ..Default::default()
    };
    for i in 0..earshot_webhooks::MAX_ENDPOINTS_PER_TENANT {
        h.hooks
            .create_endpoint(&h.pool, "acme", create(format!("r{i}")))
            .await
            .expect("under the bound");
    }
    let refused = status(
        h.hooks
            .create_endpoint(&h.pool, "acme", create("one-more".into()))
            .await
            .expect_err("past the bound"),
    );
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // A retry of one made before still answers; another tenant is unaffected.
    h.hooks
        .create_endpoint(&h.pool, "acme", create("r0".into()))
        .await
        .expect("a retry");
    h.hooks
        .create_endpoint(&h.pool, "globex", create("one-more".into()))
        .await
        .expect("globex's first");
}
