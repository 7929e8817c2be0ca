//! Webhooks through the escalation service: endpoints made over its gRPC
//! API, its events fanned out and POSTed by its background work to a real
//! HTTP receiver on a loopback port, which checks every signature with an
//! HMAC-SHA256 of its own (Standard Webhooks), not the crate's.
//!
//! Absences are never waited for: an event that must not arrive is followed
//! by one that must, in outbox order. Fan-out takes the outbox's batches in
//! order and writes every delivery of a batch in one transaction, so once
//! the later event's delivery exists, any delivery of the earlier one would
//! exist too, and `ListWebhookDeliveries` shows there is none.

mod common;

use common::{
    Client, Emitted, Harness, Mention, PROBE, actions, assert_code, create, default_named,
    guideline, phrase,
};
use earshot_config::Env;
use earshot_escalation::{EscalationService, WEBHOOK_EVENTS};
use earshot_proto::common::v1::{
    Author, Channel, CreateWebhookEndpointRequest, Intent, ListWebhookDeliveriesRequest,
    ListWebhookEndpointsRequest, ReplayWebhookDeliveryRequest, Urgency, WebhookDelivery,
    WebhookDeliveryState, WebhookEndpoint,
};
use earshot_proto::escalation::v1::{self as pb, start_drill_request::Scenario};
use earshot_server::{BackgroundTask, Service, ServiceContext};
use earshot_testkit::eventually;
use earshot_testkit::webhooks::{Received, Receiver, verifies};
use earshot_webhooks::{POLL_VAR, RETRY_SCALE_VAR, WebhookSettings, Webhooks};
use tonic::Code;

// ---------------------------------------------------------------------------
// The receiver: the test kit's, with escalation's id read from a body

fn escalation_id(got: &Received) -> String {
    got.json()["data"]["escalationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------
// Escalation with fast retries

/// Escalation as it is, but for the settings of its webhook scheduler.
///
/// Escalation reads them from the process environment as its background
/// work starts (`WebhookSettings::from_env(&Env::process())`). A test cannot
/// set that environment: `std::env::set_var` is unsafe (edition 2024), the
/// workspace forbids unsafe code, and the other tests of this binary read
/// the environment as their servers start. So the one test that needs
/// retries in moments runs this variant, with the same routes, migrations,
/// outbox subscribers and jobs, its webhook scheduler swapped for one over
/// the same `WEBHOOK_EVENTS` with settings of its own; every other test runs
/// `EscalationService` unchanged, wiring and default settings included.
struct FastRetries;

fn fast_settings() -> WebhookSettings {
    WebhookSettings::from_env(&Env::from_pairs([
        // The first retry after 5 ms instead of 5 s.
        (RETRY_SCALE_VAR, "0.001"),
        (POLL_VAR, "20"),
    ]))
    .expect("valid webhook settings")
}

impl Service for FastRetries {
    const NAME: &'static str = <EscalationService as Service>::NAME;
    const SCHEMA: &'static str = <EscalationService as Service>::SCHEMA;
    const GRPC_PORT: u16 = <EscalationService as Service>::GRPC_PORT;
    const METRICS_PORT: u16 = <EscalationService as Service>::METRICS_PORT;
    const HTTP_PORT: u16 = <EscalationService as Service>::HTTP_PORT;
    const GRPC_SERVICES: &'static [&'static str] = <EscalationService as Service>::GRPC_SERVICES;
    const LOCAL_SUBSCRIBERS: &'static [&'static str] =
        <EscalationService as Service>::LOCAL_SUBSCRIBERS;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        EscalationService::migrator()
    }

    fn shared_migrators() -> &'static [&'static sqlx::migrate::Migrator] {
        EscalationService::shared_migrators()
    }

    fn routes(ctx: &ServiceContext) -> tonic::service::Routes {
        EscalationService::routes(ctx)
    }

    fn background(ctx: &ServiceContext) -> Vec<BackgroundTask> {
        let mut tasks = EscalationService::background(ctx);
        let before = tasks.len();
        tasks.retain(|t| t.name() != "webhooks");
        assert_eq!(
            tasks.len() + 1,
            before,
            "escalation has one webhook scheduler"
        );
        tasks.push(Webhooks::new(WEBHOOK_EVENTS).background(ctx, fast_settings()));
        tasks
    }
}

// ---------------------------------------------------------------------------
// Calls

async fn endpoint(
    client: &mut Client,
    url: &str,
    event_types: &[&str],
    accept_drills: bool,
) -> (WebhookEndpoint, String) {
    let created = client
        .create_webhook_endpoint(CreateWebhookEndpointRequest {
            url: url.into(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
            accept_drills,
            description: "on-call pager".into(),
            request_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect("endpoint created")
        .into_inner();
    assert!(created.secret.starts_with("whsec_"), "{}", created.secret);
    (created.endpoint.expect("an endpoint"), created.secret)
}

/// The tenant's deliveries (to `endpoint_id`, if not empty), newest first.
async fn deliveries(client: &mut Client, endpoint_id: &str) -> Vec<WebhookDelivery> {
    client
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            endpoint_id: endpoint_id.into(),
            page_size: 500,
            page_token: String::new(),
        })
        .await
        .expect("deliveries listed")
        .into_inner()
        .deliveries
}

/// The delivery `webhook_id` to `endpoint_id`, once recorded DELIVERED after
/// `attempts` attempts (an endpoint has its answer before the round that
/// sent it commits).
async fn delivered(
    client: &Client,
    endpoint_id: &str,
    webhook_id: &str,
    attempts: u32,
) -> WebhookDelivery {
    eventually(
        &format!("delivery {webhook_id} is DELIVERED after {attempts} attempts"),
        || {
            let mut client = client.clone();
            async move {
                deliveries(&mut client, endpoint_id)
                    .await
                    .into_iter()
                    .find(|d| {
                        d.delivery_id == webhook_id
                            && d.state == WebhookDeliveryState::Delivered as i32
                            && d.attempts == attempts
                    })
            }
        },
    )
    .await
}

fn statuses(delivery: &WebhookDelivery) -> Vec<u32> {
    delivery
        .recent_attempts
        .iter()
        .map(|a| a.status_code)
        .collect()
}

fn legal_threat(tenant: &str, mention_id: &str) -> Mention {
    Mention::new(tenant, mention_id)
        .text("we are talking to our lawyers about this")
        .urgency(Urgency::LegalThreat)
}

/// The real escalation the mention `mention_id` raised.
async fn escalation_of(client: &mut Client, mention_id: &str) -> pb::Escalation {
    let mut found: Vec<_> = common::escalations(client, false)
        .await
        .into_iter()
        .filter(|e| {
            e.trigger
                .as_ref()
                .is_some_and(|t| t.mention_id == mention_id)
        })
        .collect();
    assert_eq!(found.len(), 1, "one escalation of {mention_id}: {found:#?}");
    found.remove(0)
}

/// The `escalation.raised` event of `escalation_id` in the outbox. Its batch
/// stays there: the harness's remote subscriber never answers.
async fn raised_event(h: &Harness, escalation_id: &str) -> Emitted {
    h.emitted()
        .await
        .into_iter()
        .find(|e| e.raised().is_some_and(|r| r.escalation_id == escalation_id))
        .unwrap_or_else(|| panic!("escalation.raised of {escalation_id} in the outbox"))
}

// ---------------------------------------------------------------------------
// The tests

#[tokio::test]
async fn a_legal_threat_reaches_the_endpoint_signed_and_is_recorded_delivered() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let receiver = Receiver::start().await;
    let (hook, secret) = endpoint(
        &mut client,
        &receiver.url,
        &["escalation.raised", "incident.opened"],
        false,
    )
    .await;
    assert!(hook.enabled);
    assert_eq!(hook.url, receiver.url);
    assert_eq!(hook.event_types, ["escalation.raised", "incident.opened"]);
    let legal = default_named(&mut client, "Legal threat").await;
    assert!(legal.actions.as_ref().expect("actions").notify_webhooks);

    h.deliver(vec![legal_threat("acme", "m-1").event()]).await;
    let raised = escalation_of(&mut client, "m-1").await;
    assert_eq!(raised.guideline_id, legal.guideline_id);

    let got = receiver
        .wait("the escalation reaches the endpoint", 1)
        .await;
    let post = &got[0];
    assert_eq!(post.content_type, "application/json");
    assert!(verifies(&secret, post), "{post:?}");
    assert!(
        (chrono::Utc::now().timestamp() - post.timestamp).abs() < 300,
        "{post:?}"
    );
    let body = post.json();
    assert_eq!(body["type"], "escalation.raised", "{body}");
    assert_eq!(body["drill"], false, "{body}");
    assert_eq!(body["data"]["escalationId"], raised.escalation_id.as_str());
    assert_eq!(body["data"]["mentionId"], "m-1");
    assert_eq!(body["data"]["guidelineId"], legal.guideline_id.as_str());

    let event = raised_event(&h, &raised.escalation_id).await;
    let delivery = delivered(&client, &hook.endpoint_id, &post.id, 1).await;
    assert_eq!(delivery.endpoint_id, hook.endpoint_id);
    assert_eq!(delivery.event_id, event.event.event_id);
    assert_eq!(delivery.event_type, "escalation.raised");
    assert!(!delivery.drill);
    assert_eq!(delivery.last_status, 200);
    assert_eq!(delivery.next_attempt_at, None);
    assert_eq!(statuses(&delivery), [200]);
    assert_eq!(delivery.recent_attempts[0].attempt, 1);
    assert_eq!(delivery.recent_attempts[0].error, "");
    assert_eq!(deliveries(&mut client, "").await.len(), 1);
    assert_eq!(receiver.got().len(), 1, "sent once");
}

#[tokio::test]
async fn a_guideline_that_does_not_notify_webhooks_sends_nothing() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let receiver = Receiver::start().await;
    let (hook, _) = endpoint(&mut client, &receiver.url, &[], true).await;
    let quiet = create(
        &mut client,
        guideline(
            "Refund scam, team only",
            phrase(&["refund scam"]),
            actions(pb::Team::Pr),
        ),
    )
    .await;
    assert!(!quiet.actions.as_ref().expect("actions").notify_webhooks);

    h.deliver(vec![
        Mention::new("acme", "m-quiet")
            .text("this refund scam again")
            .event(),
    ])
    .await;
    let silent = escalation_of(&mut client, "m-quiet").await;
    assert_eq!(silent.guideline_id, quiet.guideline_id);
    // Its event is for the other services alone.
    let silent_event = raised_event(&h, &silent.escalation_id).await;
    assert_eq!(silent_event.subscribers, [PROBE]);

    // Then an escalation that notifies, after it in the outbox.
    h.deliver(vec![legal_threat("acme", "m-loud").event()])
        .await;
    let loud = escalation_of(&mut client, "m-loud").await;
    let got = receiver
        .wait("the notifying escalation reaches the endpoint", 1)
        .await;
    assert_eq!(escalation_id(&got[0]), loud.escalation_id);
    delivered(&client, &hook.endpoint_id, &got[0].id, 1).await;

    let all = deliveries(&mut client, "").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(
        all.iter()
            .all(|d| d.event_id != silent_event.event.event_id)
    );
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got.iter().all(|r| escalation_id(r) != silent.escalation_id));
}

#[tokio::test]
async fn a_drill_reaches_only_the_endpoints_that_accept_drills() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let live_only = Receiver::start().await;
    let rehearsing = Receiver::start().await;
    let (live_hook, _) = endpoint(&mut client, &live_only.url, &["escalation.raised"], false).await;
    let (drill_hook, drill_secret) =
        endpoint(&mut client, &rehearsing.url, &["escalation.raised"], true).await;
    let legal = default_named(&mut client, "Legal threat").await;

    let drill = client
        .start_drill(pb::StartDrillRequest {
            guideline_id: legal.guideline_id.clone(),
            scenario: Some(Scenario::Script(pb::DrillScript {
                mentions: vec![pb::ScriptedMention {
                    offset_seconds: 0,
                    text: "We are talking to our lawyers about this".into(),
                    channel: Channel::X as i32,
                    author: Some(Author {
                        handle: "drill-author".into(),
                        followers: 50,
                        ..Default::default()
                    }),
                    classification: Some(common::classification(
                        Intent::Complaint,
                        None,
                        &[Urgency::LegalThreat],
                        &[],
                    )),
                    matched_rules: vec![],
                }],
            })),
            time_limit_seconds: 0,
            request_id: "drill-1".into(),
        })
        .await
        .expect("drill started")
        .into_inner();

    let got = rehearsing
        .wait("the drill's escalation reaches the drills endpoint", 1)
        .await;
    let post = &got[0];
    assert!(verifies(&drill_secret, post), "{post:?}");
    let body = post.json();
    assert_eq!(body["type"], "escalation.raised", "{body}");
    assert_eq!(body["drill"], true, "{body}");
    let rehearsed: Vec<_> = common::escalations(&mut client, true)
        .await
        .into_iter()
        .filter(|e| e.drill_id == drill.drill_id)
        .collect();
    assert_eq!(rehearsed.len(), 1, "{rehearsed:#?}");
    assert!(rehearsed[0].drill);
    assert_eq!(escalation_id(post), rehearsed[0].escalation_id);
    let delivery = delivered(&client, &drill_hook.endpoint_id, &post.id, 1).await;
    assert!(delivery.drill);
    // Fan-out wrote every delivery of the drill's event at once.
    let none = deliveries(&mut client, &live_hook.endpoint_id).await;
    assert!(none.is_empty(), "{none:#?}");

    // A real escalation after the drill reaches both.
    h.deliver(vec![legal_threat("acme", "m-real").event()])
        .await;
    let real = escalation_of(&mut client, "m-real").await;
    let live = live_only
        .wait("the real escalation reaches the live endpoint", 1)
        .await;
    assert_eq!(escalation_id(&live[0]), real.escalation_id);
    assert_eq!(live[0].json()["drill"], false);
    delivered(&client, &live_hook.endpoint_id, &live[0].id, 1).await;
    let live_deliveries = deliveries(&mut client, &live_hook.endpoint_id).await;
    assert_eq!(live_deliveries.len(), 1, "{live_deliveries:#?}");
    assert!(!live_deliveries[0].drill);
    assert_eq!(live_only.got().len(), 1, "nothing of the drill");
    let both = rehearsing
        .wait("the real escalation reaches the drills endpoint", 2)
        .await;
    assert_eq!(escalation_id(&both[1]), real.escalation_id);
    assert_eq!(both[1].json()["drill"], false);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_and_a_replay_sends_the_same_webhook_id() {
    let h = Harness::start_as::<FastRetries>().await;
    let mut client = h.client("acme");
    let receiver = Receiver::start().await;
    receiver.answer(500, None);
    let (hook, secret) = endpoint(&mut client, &receiver.url, &[], false).await;

    h.deliver(vec![legal_threat("acme", "m-1").event()]).await;
    let raised = escalation_of(&mut client, "m-1").await;
    let got = receiver.wait("the retry after a 500 arrives", 2).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[1].id, got[0].id, "one webhook-id throughout");
    assert_eq!(got[1].body, got[0].body, "the same body throughout");
    assert!(got.iter().all(|r| verifies(&secret, r)), "{got:#?}");
    assert_eq!(escalation_id(&got[0]), raised.escalation_id);
    let delivery = delivered(&client, &hook.endpoint_id, &got[0].id, 2).await;
    assert_eq!(statuses(&delivery), [500, 200]);
    assert!(
        delivery.recent_attempts[0].error.contains("500"),
        "{delivery:?}"
    );

    let replayed = client
        .replay_webhook_delivery(ReplayWebhookDeliveryRequest {
            delivery_id: delivery.delivery_id.clone(),
        })
        .await
        .expect("replayed")
        .into_inner()
        .delivery
        .expect("the delivery");
    assert_eq!(replayed.delivery_id, delivery.delivery_id);
    assert_eq!(replayed.state, WebhookDeliveryState::Pending as i32);
    let got = receiver.wait("the replay arrives", 3).await;
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[2].id, got[0].id, "a replay keeps the webhook-id");
    assert_eq!(got[2].body, got[0].body);
    assert!(verifies(&secret, &got[2]), "{:?}", got[2]);
    let after = delivered(&client, &hook.endpoint_id, &got[0].id, 3).await;
    assert_eq!(statuses(&after), [500, 200, 200]);
    assert_eq!(deliveries(&mut client, "").await.len(), 1);
}

#[tokio::test]
async fn one_tenant_never_hears_sees_or_replays_another_tenants_webhooks() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let acme_receiver = Receiver::start().await;
    let globex_receiver = Receiver::start().await;
    let (acme_hook, _) = endpoint(&mut acme, &acme_receiver.url, &[], true).await;
    let (globex_hook, globex_secret) = endpoint(&mut globex, &globex_receiver.url, &[], true).await;

    // Both tenants' escalations in one outbox batch, so one fan-out round
    // holds both tenants' events and endpoints, and writes every delivery
    // of them at once.
    h.deliver(vec![
        legal_threat("acme", "m-acme").event(),
        legal_threat("globex", "m-globex").event(),
    ])
    .await;
    let acme_raised = escalation_of(&mut acme, "m-acme").await;
    let globex_raised = escalation_of(&mut globex, "m-globex").await;
    let acme_post = acme_receiver.wait("acme's escalation arrives", 1).await;
    let acme_delivery = delivered(&acme, &acme_hook.endpoint_id, &acme_post[0].id, 1).await;
    let globex_post = globex_receiver.wait("globex's escalation arrives", 1).await;
    assert!(verifies(&globex_secret, &globex_post[0]));
    let globex_delivery = delivered(&globex, &globex_hook.endpoint_id, &globex_post[0].id, 1).await;
    // Whichever tenant a stray delivery were recorded under, it would show.
    for (client, hook) in [(&mut acme, &acme_hook), (&mut globex, &globex_hook)] {
        let all = deliveries(client, "").await;
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_eq!(all[0].endpoint_id, hook.endpoint_id, "{all:#?}");
    }
    for (receiver, raised) in [
        (&acme_receiver, &acme_raised),
        (&globex_receiver, &globex_raised),
    ] {
        let got = receiver.got();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert_eq!(escalation_id(&got[0]), raised.escalation_id);
    }

    // Globex lists only its own deliveries, and none of acme's endpoint.
    let seen: Vec<String> = deliveries(&mut globex, "")
        .await
        .into_iter()
        .map(|d| d.delivery_id)
        .collect();
    assert_eq!(seen, [globex_delivery.delivery_id]);
    assert!(
        deliveries(&mut globex, &acme_hook.endpoint_id)
            .await
            .is_empty()
    );
    let endpoints = globex
        .list_webhook_endpoints(ListWebhookEndpointsRequest::default())
        .await
        .expect("endpoints listed")
        .into_inner()
        .endpoints;
    assert!(
        endpoints
            .iter()
            .all(|e| e.endpoint_id != acme_hook.endpoint_id)
    );
    assert_code(
        globex
            .replay_webhook_delivery(ReplayWebhookDeliveryRequest {
                delivery_id: acme_delivery.delivery_id.clone(),
            })
            .await,
        Code::NotFound,
    );

    // Acme's delivery is as it was, and was not sent again.
    let still = deliveries(&mut acme, "").await;
    assert_eq!(still.len(), 1);
    assert_eq!(still[0].delivery_id, acme_delivery.delivery_id);
    assert_eq!(still[0].state, WebhookDeliveryState::Delivered as i32);
    assert_eq!(still[0].attempts, 1);
}
