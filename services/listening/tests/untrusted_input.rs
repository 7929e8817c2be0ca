//! What a caller cannot fix by retrying must never sink a call or a stream:
//! a NUL (which PostgreSQL refuses in text and jsonb) in one item rejects
//! that item alone, named; a request past a documented maximum is refused
//! before anything else runs. Through a real listening server and Postgres.

use std::collections::HashSet;

mod common;

use earshot_listening::ListeningService;
use earshot_listening::tenant::settings::MAX_BRAND_HANDLES;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    BacktestRuleRequest, CreateRuleRequest, IngestMentionsRequest, IngestPayloadRequest,
    IngestStatus, MentionInput, PayloadKind, StreamMentionsRequest, UpdateListeningSettingsRequest,
};
use earshot_testkit::{AuthedChannel, TestDatabase, TestService, reserve, settings, token};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic_types::StatusExt;

const SCOPES: &[&str] = &["mentions:read", "mentions:write", "rules:write"];

async fn start() -> (TestDatabase, TestService) {
    let db = TestDatabase::create().await;
    let service = TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    (db, service)
}

fn client(service: &TestService) -> ListeningServiceClient<AuthedChannel> {
    ListeningServiceClient::new(service.authed(&token("acme", SCOPES)))
}

fn mention(id: &str, text: &str) -> MentionInput {
    common::mention(id, &format!("customer_{id}"), text)
}

/// The external ids of the tenant's stored mentions, kept or dropped.
async fn stored(client: &mut ListeningServiceClient<AuthedChannel>) -> HashSet<String> {
    common::verdicts(client).await.into_keys().collect()
}

fn violations(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_nul_in_any_text_field_rejects_that_mention_alone() {
    let (_db, service) = start().await;
    let mut acme = client(&service);
    type Mutation = fn(&mut MentionInput);
    let bad: Vec<(Mutation, &str)> = vec![
        (|m| m.text = "a\u{0}b".into(), "text"),
        (|m| m.external_id = "e\u{0}".into(), "external_id"),
        (|m| m.thread_key = "x:\u{0}".into(), "thread_key"),
        (|m| m.language = "e\u{0}n".into(), "language"),
        (
            |m| {
                if let Some(a) = m.author.as_mut() {
                    a.handle = "ja\u{0}ne".into();
                }
            },
            "author.handle",
        ),
    ];
    let mut mentions = vec![mention(
        "good-0",
        "My card was charged twice, can you help?",
    )];
    for (i, (mutate, _)) in bad.iter().enumerate() {
        let mut m = mention(&format!("bad-{i}"), "Where is my parcel? It is a week late");
        mutate(&mut m);
        mentions.push(m);
    }
    mentions.push(mention(
        "good-1",
        "The app logs me out every time I open it",
    ));

    let response = acme
        .ingest_mentions(IngestMentionsRequest { mentions })
        .await
        .expect("the call succeeds; only the bad items are rejected")
        .into_inner();
    assert_eq!((response.accepted, response.rejected), (2, 5));
    for (i, (_, field)) in bad.iter().enumerate() {
        let r = &response.results[i + 1];
        assert_eq!(r.status, IngestStatus::Rejected as i32, "{r:?}");
        assert_eq!(r.field, format!("mentions[{}].{field}", i + 1));
        assert!(r.reason.contains("NUL"), "{}", r.reason);
    }
    assert_eq!(
        stored(&mut acme).await,
        HashSet::from(["good-0".to_owned(), "good-1".to_owned()])
    );
}

#[tokio::test]
async fn a_stream_rejects_a_mention_with_a_nul_and_goes_on() {
    let (_db, service) = start().await;
    let mut acme = client(&service);
    let (send, messages) = mpsc::channel(4);
    let mut acks = acme
        .stream_mentions(ReceiverStream::new(messages))
        .await
        .expect("stream opened")
        .into_inner();
    let texts = [
        "My card was charged twice, can you help?",
        "poison\u{0}pill",
        "The app logs me out every time I open it",
    ];
    let mut rejections = Vec::new();
    let mut accepted = 0;
    // One message at a time, each acknowledged before the next goes, so the
    // mentions after the bad one are sent on a stream that already saw it.
    for (i, text) in texts.iter().enumerate() {
        send.send(StreamMentionsRequest {
            mentions: vec![mention(&format!("s{i}"), text)],
        })
        .await
        .expect("the stream is open");
        let ack = acks
            .message()
            .await
            .expect("acknowledged, not failed")
            .expect("an ack per message");
        assert_eq!(ack.durable_through, i as u64 + 1);
        accepted += ack.accepted;
        rejections.extend(ack.rejections);
    }
    drop(send);
    assert!(acks.message().await.expect("ends cleanly").is_none());
    assert_eq!(accepted, 2);
    assert_eq!(rejections.len(), 1, "{rejections:?}");
    assert_eq!(rejections[0].index, 1);
    assert_eq!(rejections[0].field, "mentions[1].text");
    assert_eq!(
        stored(&mut acme).await,
        HashSet::from(["s0".to_owned(), "s2".to_owned()])
    );
}

#[tokio::test]
async fn a_payload_item_with_a_nul_is_rejected_alone() {
    let (_db, service) = start().await;
    let mut acme = client(&service);
    let mut payload: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/adapters/x_search_recent.json"))
            .expect("fixture is JSON");
    // JSON's "\u0000" is a real NUL once parsed: in the first tweet's text
    // (kept in the raw item too), and in the handle of the second tweet's
    // author (only in the mention: users sit beside the tweets).
    payload["data"][0]["text"] = "before\u{0}after".into();
    let author = payload["data"][1]["author_id"].clone();
    let users = payload["includes"]["users"]
        .as_array_mut()
        .expect("the fixture has users");
    let user = users
        .iter_mut()
        .find(|u| u["id"] == author)
        .expect("the second tweet's author");
    user["username"] = "da\u{0}na".into();
    let response = acme
        .ingest_payload(IngestPayloadRequest {
            kind: PayloadKind::X as i32,
            payload: serde_json::to_vec(&payload).expect("serialises"),
        })
        .await
        .expect("the call succeeds; only the bad items are rejected")
        .into_inner();
    assert_eq!(response.failures.len(), 1, "{:?}", response.failures);
    assert_eq!(response.failures[0].item, 0);
    // Named from the payload's root, as every other failure is.
    assert_eq!(response.failures[0].field, "data[0].text");
    let ingested = response.ingested.expect("the other tweets were ingested");
    assert_eq!((ingested.accepted, ingested.rejected), (1, 1));
    let rejected = ingested
        .results
        .iter()
        .find(|r| r.status == IngestStatus::Rejected as i32)
        .expect("one rejected");
    assert_eq!(rejected.index, 1);
    assert_eq!(rejected.field, "mentions[1].author.handle");
    assert_eq!(stored(&mut acme).await.len(), 1);
}

#[tokio::test]
async fn rule_queries_and_settings_with_a_nul_are_refused_by_field() {
    let (_db, service) = start().await;
    let mut acme = client(&service);
    let rule = acme
        .create_rule(CreateRuleRequest {
            request_id: "r1".into(),
            name: "cards".into(),
            query: "card\u{0}".into(),
            ..Default::default()
        })
        .await
        .expect_err("a NUL in the query");
    assert_eq!(violations(&rule), vec!["query"]);
    let backtest = acme
        .backtest_rule(BacktestRuleRequest {
            query: "\u{0}".into(),
            ..Default::default()
        })
        .await
        .expect_err("a NUL in the draft");
    assert_eq!(violations(&backtest), vec!["query"]);
    let handles = acme
        .update_listening_settings(UpdateListeningSettingsRequest {
            brand_handles: vec!["acme".into(), "ac\u{0}me".into()],
            ..Default::default()
        })
        .await
        .expect_err("a NUL in a handle");
    assert_eq!(violations(&handles), vec!["brand_handles[1]"]);
}

#[tokio::test]
async fn a_hundred_thousand_brand_handles_are_refused_before_any_is_read() {
    let (_db, service) = start().await;
    let mut acme = client(&service);
    // Each handle is invalid too: had they been read one by one, each would
    // have been named (and compared with all the others, quadratically).
    let brand_handles: Vec<String> = (0..100_000).map(|i| format!("bad handle {i}!")).collect();
    let status = acme
        .update_listening_settings(UpdateListeningSettingsRequest {
            brand_handles,
            ..Default::default()
        })
        .await
        .expect_err("too many handles");
    assert_eq!(violations(&status), vec!["brand_handles"]);
    assert_eq!(
        status.message(),
        format!("brand_handles: must hold at most {MAX_BRAND_HANDLES} handles")
    );
}
