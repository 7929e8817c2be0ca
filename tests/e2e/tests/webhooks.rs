//! Webhooks for every service's events, end to end: a tenant subscribes one
//! HTTP endpoint to listening's, case's and insight's events; a cry for help
//! heard, its case opened and answered, and the fix of its driver each reach
//! the endpoint as Standard Webhooks deliveries, signed with the secret of
//! the service's endpoint (checked by the test kit's own HMAC), the event as
//! proto3 JSON. Another tenant's endpoint hears only its own events.
//!
//! No absence is waited for: the other tenant's events are followed by ones
//! it must get, and each service fans out its outbox in order.

use earshot_e2e::{ALL, Clients, Suite, cry_for_help, eventually};
use earshot_proto::case::v1::SendReplyRequest;
use earshot_proto::common::v1::CreateWebhookEndpointRequest;
use earshot_proto::insight::v1::{
    CreateImprovementRequest, DriverKey, ImprovementStatus, UpdateImprovementRequest,
};
use earshot_testkit::webhooks::{Received, Receiver, verifies};
use tonic::Code;

fn endpoint(url: &str, request_id: &str, types: &[&str]) -> CreateWebhookEndpointRequest {
    CreateWebhookEndpointRequest {
        url: url.into(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        request_id: request_id.into(),
        ..Default::default()
    }
}

/// The deliveries of `kind`.
fn of(got: &[Received], kind: &str) -> Vec<Received> {
    got.iter()
        .filter(|r| r.event_type() == kind)
        .cloned()
        .collect()
}

#[tokio::test]
async fn every_service_posts_its_events_signed_to_its_tenants_endpoints() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let mut globex = Clients::new(&suite, "globex", ALL);
    let hooks = Receiver::start().await;
    let elsewhere = Receiver::start().await;

    let listening_secret = acme
        .listening
        .create_webhook_endpoint(endpoint(&hooks.url, "l1", &["mention.classified"]))
        .await
        .expect("listening endpoint")
        .into_inner()
        .secret;
    let case_secret = acme
        .case
        .create_webhook_endpoint(endpoint(&hooks.url, "c1", &["case.opened", "reply.sent"]))
        .await
        .expect("case endpoint")
        .into_inner()
        .secret;
    let insight_secret = acme
        .insight
        .create_webhook_endpoint(endpoint(&hooks.url, "i1", &["fix.announced"]))
        .await
        .expect("insight endpoint")
        .into_inner()
        .secret;
    // Each service offers its own events only.
    let foreign = acme
        .case
        .create_webhook_endpoint(endpoint(&hooks.url, "c2", &["mention.classified"]))
        .await
        .expect_err("case does not offer mention.classified");
    assert_eq!(foreign.code(), Code::InvalidArgument);
    assert!(
        foreign.message().contains("event_types"),
        "{}",
        foreign.message()
    );
    globex
        .case
        .create_webhook_endpoint(endpoint(&elsewhere.url, "c1", &["case.opened"]))
        .await
        .expect("globex's endpoint");

    // A cry for help: heard, opened as a case, answered.
    let heard = acme.ingest(vec![cry_for_help("7001")]).await;
    let mention_id = heard.results[0].mention_id.clone();
    let classification = heard.results[0]
        .classification
        .clone()
        .expect("a classification");
    let case = acme.first_case().await;
    acme.case
        .send_reply(SendReplyRequest {
            request_id: "reply-1".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: "Hi Jane, order 7001 left our depot on Monday by tracked mail; if it is not \
                   with you by Friday we will send another by courier."
                .into(),
            public: true,
            ..Default::default()
        })
        .await
        .expect("replied");

    // Its driver fixed: insight tells the customer who raised it.
    acme.wait_for_counts(1, 1).await;
    let topic = classification
        .topics
        .first()
        .map(|t| t.topic.clone())
        .unwrap_or_default();
    let item = acme
        .insight
        .create_improvement(CreateImprovementRequest {
            title: "Orders leave the depot the day they are placed".into(),
            owner: "Ana Ruiz".into(),
            team: "logistics".into(),
            drivers: vec![DriverKey {
                topic,
                intent: classification.intent,
                rule_id: String::new(),
            }],
            request_id: "fix-1".into(),
            ..Default::default()
        })
        .await
        .expect("an improvement")
        .into_inner();
    let mut version = item.version;
    for status in [ImprovementStatus::InProgress, ImprovementStatus::Fixed] {
        version = acme
            .insight
            .update_improvement(UpdateImprovementRequest {
                improvement_id: item.improvement_id.clone(),
                version,
                status: status as i32,
                ..Default::default()
            })
            .await
            .expect("moved on")
            .into_inner()
            .version;
    }

    let got = eventually("the four events reached the endpoint", || {
        let got = hooks.got();
        async move {
            let kinds = [
                "mention.classified",
                "case.opened",
                "reply.sent",
                "fix.announced",
            ];
            kinds.iter().all(|k| !of(&got, k).is_empty()).then_some(got)
        }
    })
    .await;
    for (kind, secret) in [
        ("mention.classified", &listening_secret),
        ("case.opened", &case_secret),
        ("reply.sent", &case_secret),
        ("fix.announced", &insight_secret),
    ] {
        for delivery in of(&got, kind) {
            assert!(
                verifies(secret, &delivery),
                "{kind} is signed by its service's endpoint"
            );
            assert_eq!(delivery.content_type, "application/json");
        }
    }
    let classified = of(&got, "mention.classified")[0].json();
    assert_eq!(classified["data"]["mentionId"], mention_id.as_str());
    assert_eq!(classified["drill"], false);
    let opened = of(&got, "case.opened")[0].json();
    assert_eq!(opened["data"]["caseId"], case.case_id.as_str());
    let reply = of(&got, "reply.sent")[0].json();
    assert_eq!(reply["data"]["caseId"], case.case_id.as_str());
    assert!(
        reply["data"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("order 7001")),
        "{reply}"
    );
    let fixed = of(&got, "fix.announced")[0].json();
    assert_eq!(fixed["data"]["improvementId"], item.improvement_id.as_str());
    assert_eq!(
        fixed["data"]["customers"][0]["mentionId"],
        mention_id.as_str()
    );

    // Globex's endpoint: its own case only, none of acme's events.
    globex.ingest(vec![cry_for_help("8001")]).await;
    let theirs = elsewhere.wait("globex's case.opened", 1).await;
    assert!(theirs.iter().all(|r| r.event_type() == "case.opened"));
    assert!(
        theirs
            .iter()
            .all(|r| r.json()["data"]["caseId"] != case.case_id.as_str()),
        "acme's case reached globex"
    );
    assert!(
        hooks.got().iter().all(|r| !r.body.contains("8001")),
        "globex's mention reached acme"
    );
}
