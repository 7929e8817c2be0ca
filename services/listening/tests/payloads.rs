//! `IngestPayload` with the platforms' own payloads (the fixtures in
//! `fixtures/adapters`, see its README), through the gRPC API against real
//! Postgres: the mentions stored, the summary in the body and in the
//! `earshot-ingest-summary` header, the skipped reasons, the all-failed rule,
//! derived e-mail ids and tenant isolation.

mod common;

use common::Harness;

use std::collections::BTreeMap;

use earshot_proto::common::v1::Channel;
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    GetMentionRequest, IngestOutcome, IngestPayloadRequest, IngestPayloadResponse, IngestStatus,
    Mention, PayloadKind,
};
use earshot_testkit::AuthedChannel;
use tonic::Code;
use tonic_types::StatusExt;

const SCOPES: &[&str] = &["mentions:read", "mentions:write"];

const X_DMS: &[u8] = include_bytes!("fixtures/adapters/x_account_activity_dm.json");
const GROUP_FEED: &[u8] = include_bytes!("fixtures/adapters/facebook_group_feed_webhook.json");
const GROUP: &[u8] = include_bytes!("fixtures/adapters/facebook_group_webhook.json");
const WHATSAPP: &[u8] = include_bytes!("fixtures/adapters/whatsapp_cloud_webhook.json");
const TRUSTPILOT: &[u8] = include_bytes!("fixtures/adapters/review_trustpilot_webhook.json");
const YELP: &[u8] = include_bytes!("fixtures/adapters/review_yelp_fusion.json");
const NO_MESSAGE_ID: &[u8] = include_bytes!("fixtures/adapters/email_list_reply_no_message_id.eml");
const QUOTING_FRENCH: &[u8] = include_bytes!("fixtures/adapters/email_reply_quoting_french.eml");
const X_SEARCH: &[u8] = include_bytes!("fixtures/adapters/x_search_recent.json");

/// What a call answered: the body, and the summary header.
struct Answer {
    body: IngestPayloadResponse,
    header: String,
}

impl Answer {
    /// (accepted, duplicates, skipped, failed) and the outcome.
    fn summary(&self) -> ((u32, u32, u32, u32), IngestOutcome) {
        let s = self.body.summary.expect("every answer has a summary");
        let outcome = IngestOutcome::try_from(s.outcome).expect("a known outcome");
        ((s.accepted, s.duplicates, s.skipped, s.failed), outcome)
    }

    /// The skipped items as (path, reason).
    fn skipped(&self) -> Vec<(&str, &str)> {
        self.body
            .skipped_items
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect()
    }

    /// The mention ids of the accepted or duplicate items, in payload order.
    fn mention_ids(&self) -> Vec<String> {
        self.body
            .ingested
            .iter()
            .flat_map(|i| &i.results)
            .filter(|r| r.status != IngestStatus::Rejected as i32)
            .map(|r| r.mention_id.clone())
            .collect()
    }
}

async fn send(
    client: &mut ListeningServiceClient<AuthedChannel>,
    kind: PayloadKind,
    payload: &[u8],
) -> Answer {
    let response = client
        .ingest_payload(IngestPayloadRequest {
            kind: kind as i32,
            payload: payload.to_vec(),
        })
        .await
        .expect("answered OK");
    let header = response
        .metadata()
        .get("earshot-ingest-summary")
        .and_then(|v| v.to_str().ok())
        .expect("every OK answer has the summary header")
        .to_owned();
    let body = response.into_inner();
    // The legacy strings say the same as the structured list.
    let legacy: Vec<String> = body
        .skipped_items
        .iter()
        .map(|s| format!("{}: {}", s.path, s.reason))
        .collect();
    assert_eq!(body.skipped, legacy);
    Answer { body, header }
}

async fn get(client: &mut ListeningServiceClient<AuthedChannel>, id: &str) -> Mention {
    client
        .get_mention(GetMentionRequest {
            mention_id: id.into(),
        })
        .await
        .expect("stored")
        .into_inner()
}

/// Every stored mention of the caller's tenant: external id → dropped reason.
async fn stored(client: &mut ListeningServiceClient<AuthedChannel>) -> BTreeMap<String, String> {
    common::verdicts(client).await
}

#[tokio::test]
async fn x_direct_messages_are_heard_and_other_activity_is_skipped_with_why() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);

    let dms = send(&mut acme, PayloadKind::X, X_DMS).await;
    assert_eq!(dms.summary(), ((1, 0, 1, 0), IngestOutcome::AllHeard));
    assert_eq!(
        dms.header,
        "outcome=all_heard accepted=1 duplicates=0 skipped=1 failed=0"
    );
    assert_eq!(
        dms.skipped(),
        [(
            "direct_message_events[1]",
            "message sent by the account itself"
        )]
    );
    let dm = get(&mut acme, &dms.mention_ids()[0]).await;
    assert_eq!(
        (dm.source.as_str(), dm.channel, dm.public),
        ("x", Channel::X as i32, false)
    );
    assert_eq!(dm.external_id, "1839210000000000001");
    assert_eq!(dm.thread_key, "x:dm:4337869213:3001969357");
    let author = dm.author.expect("an author");
    assert_eq!(
        (author.handle.as_str(), author.display_name.as_str()),
        ("dana_k", "Dana K")
    );
    assert!(dm.text.contains("order #4411 never arrived"), "{}", dm.text);

    // Likes and typing: nothing to hear, each said, never an error.
    let activity = br#"{"for_user_id": "4337869213",
        "favorite_events": [{"id": "a7ba59eab0bfcba386f7acedac279542", "created_at": "Mon Mar 26 16:33:26 +0000 2018"}],
        "direct_message_indicate_typing_events": [{"created_timestamp": "1518127183443", "sender_id": "3001969357", "target": {"recipient_id": "4337869213"}}]}"#;
    let nothing = send(&mut acme, PayloadKind::X, activity).await;
    assert_eq!(
        nothing.summary(),
        ((0, 0, 2, 0), IngestOutcome::NothingToHear)
    );
    assert!(nothing.body.ingested.is_none());
    assert_eq!(
        nothing.skipped(),
        [
            (
                "direct_message_indicate_typing_events[0]",
                "direct_message_indicate_typing_events: a typing indicator, not a mention"
            ),
            (
                "favorite_events[0]",
                "favorite_events: a like, not a mention"
            ),
        ]
    );
    assert_eq!(stored(&mut acme).await.len(), 1);
}

#[tokio::test]
async fn facebook_group_comments_and_posts_are_heard() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);

    let feed = send(&mut acme, PayloadKind::Facebook, GROUP_FEED).await;
    assert_eq!(feed.summary(), ((1, 0, 2, 0), IngestOutcome::AllHeard));
    assert_eq!(
        feed.skipped(),
        [
            ("[0].entry[0].messaging[1]", "comment by the page itself"),
            (
                "[0].entry[0].messaging[2]",
                "verb \"remove\": only new posts and comments are mentions"
            ),
        ]
    );
    let comment = get(&mut acme, &feed.mention_ids()[0]).await;
    assert_eq!(
        (comment.source.as_str(), comment.channel, comment.public),
        ("facebook", Channel::Facebook as i32, true)
    );
    assert_eq!(comment.external_id, "1520544814777_2236409990");
    assert_eq!(
        comment.thread_key,
        "facebook:2333220550043074_1520544814777"
    );

    let group = send(&mut acme, PayloadKind::Facebook, GROUP).await;
    assert_eq!(group.summary(), ((2, 0, 2, 0), IngestOutcome::AllHeard));
    let post = get(&mut acme, &group.mention_ids()[0]).await;
    assert!(post.text.contains("arrived damaged"), "{}", post.text);
    let reply = get(&mut acme, &group.mention_ids()[1]).await;
    assert_eq!(
        reply.thread_key, post.thread_key,
        "a comment threads with its post"
    );
}

#[tokio::test]
async fn whatsapp_messages_are_private_receipts_skipped_and_tenants_apart() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let mut globex = harness.client("globex", SCOPES);

    let first = send(&mut acme, PayloadKind::Whatsapp, WHATSAPP).await;
    assert_eq!(first.summary(), ((2, 0, 4, 0), IngestOutcome::AllHeard));
    let reasons: Vec<&str> = first.skipped().into_iter().map(|(_, r)| r).collect();
    assert_eq!(reasons[0], "sticker message: no text to hear");
    assert_eq!(reasons[1], "a reaction to a message, not a message");
    assert!(
        reasons[2].starts_with("status \"delivered\"") && reasons[3].starts_with("status \"read\""),
        "{reasons:?}"
    );
    let message = get(&mut acme, &first.mention_ids()[0]).await;
    assert_eq!(
        (message.source.as_str(), message.channel, message.public),
        ("whatsapp", Channel::Whatsapp as i32, false)
    );
    assert_eq!(message.thread_key, "whatsapp:106540352242922:447700900123");
    assert_eq!(
        message.author.map(|a| (a.external_id, a.display_name)),
        Some(("447700900123".to_owned(), "Priya Shah".to_owned()))
    );

    // A redelivery is heard already.
    let again = send(&mut acme, PayloadKind::Whatsapp, WHATSAPP).await;
    assert_eq!(again.summary(), ((0, 2, 4, 0), IngestOutcome::AllHeard));
    assert_eq!(again.mention_ids(), first.mention_ids());

    // Another tenant's delivery of the same messages is its own.
    let theirs = send(&mut globex, PayloadKind::Whatsapp, WHATSAPP).await;
    assert_eq!(theirs.summary(), ((2, 0, 4, 0), IngestOutcome::AllHeard));
    assert!(
        theirs
            .mention_ids()
            .iter()
            .all(|id| !first.mention_ids().contains(id))
    );
    assert_eq!(stored(&mut acme).await.len(), 2);
    assert_eq!(stored(&mut globex).await.len(), 2);
    let status = acme
        .get_mention(GetMentionRequest {
            mention_id: theirs.mention_ids()[0].clone(),
        })
        .await
        .expect_err("another tenant's mention");
    assert_eq!(status.code(), Code::NotFound);

    // Receipts alone: nothing to hear.
    let receipts = br#"{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "106540352242922"},
                  "statuses": [{"id": "wamid.1", "status": "sent", "timestamp": "1727352100", "recipient_id": "447700900123"}]}}]}]}"#;
    let nothing = send(&mut acme, PayloadKind::Whatsapp, receipts).await;
    assert_eq!(
        nothing.summary(),
        ((0, 0, 1, 0), IngestOutcome::NothingToHear)
    );
}

#[tokio::test]
async fn trustpilot_webhooks_and_yelp_review_lists_are_reviews() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);

    let trustpilot = send(&mut acme, PayloadKind::Review, TRUSTPILOT).await;
    assert_eq!(
        trustpilot.summary(),
        ((1, 0, 2, 0), IngestOutcome::AllHeard)
    );
    assert_eq!(
        trustpilot.skipped(),
        [
            (
                "events[1]",
                "service-review-updated: an edit of a review already heard, not a new one"
            ),
            (
                "events[2]",
                "service-review-deleted: a removed review, not a new one"
            ),
        ]
    );
    let review = get(&mut acme, &trustpilot.mention_ids()[0]).await;
    assert_eq!(
        (review.source.as_str(), review.channel, review.public),
        ("trustpilot", Channel::Review as i32, true)
    );
    assert_eq!(
        review.thread_key,
        "review:trustpilot:66f5410c1f0b7a3e9c2d4b11"
    );
    assert_eq!(review.language, "en");

    // The same review relayed as Earshot's review JSON is the same mention.
    let relayed = serde_json::json!({"id": "66f5410c1f0b7a3e9c2d4b11", "platform": "trustpilot",
        "rating": 2, "text": "They did refund me in the end, but only after four phone calls.",
        "author": {"id": "5f3a1b2c4d5e6f7a8b9c0d2f"}});
    let relayed = send(
        &mut acme,
        PayloadKind::Review,
        relayed.to_string().as_bytes(),
    )
    .await;
    assert_eq!(relayed.summary(), ((0, 1, 0, 0), IngestOutcome::AllHeard));

    let yelp = send(&mut acme, PayloadKind::Review, YELP).await;
    assert_eq!(yelp.summary(), ((2, 0, 0, 0), IngestOutcome::AllHeard));
    let first = get(&mut acme, &yelp.mention_ids()[0]).await;
    assert_eq!(first.source, "yelp");
    assert_eq!(first.external_id, "xAG4O7l-t1ubbwVAlPnDKg");
    // 2024-09-25 18:41:13 in Pacific daylight time.
    assert_eq!(first.posted_at.map(|t| t.seconds), Some(1_727_314_873));
}

#[tokio::test]
async fn partial_failure_is_visible_and_all_failed_is_invalid_argument() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);

    // One bad tweet among three: OK, but the summary and the header say so.
    let mut search: serde_json::Value = serde_json::from_slice(X_SEARCH).expect("JSON");
    search["data"][0]
        .as_object_mut()
        .expect("a tweet")
        .remove("author_id");
    let partial = send(&mut acme, PayloadKind::X, search.to_string().as_bytes()).await;
    assert_eq!(partial.summary(), ((2, 0, 0, 1), IngestOutcome::Partial));
    assert_eq!(
        partial.header,
        "outcome=partial accepted=2 duplicates=0 skipped=0 failed=1"
    );
    assert_eq!(partial.body.failures.len(), 1);
    assert_eq!(partial.body.failures[0].field, "data[0].author_id");
    let before = stored(&mut acme).await;
    assert_eq!(before.len(), 2);

    // Every item failed and none was skipped: INVALID_ARGUMENT, nothing stored.
    let refused = |payload: &'static [u8], kind: PayloadKind| {
        let mut client = acme.clone();
        async move {
            client
                .ingest_payload(IngestPayloadRequest {
                    kind: kind as i32,
                    payload: payload.to_vec(),
                })
                .await
                .expect_err("every item failed")
        }
    };
    let status = refused(
        br#"{"data":[{"id":"1","text":"help me please"},{"id":"2","author_id":"7"}]}"#,
        PayloadKind::X,
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "payload.data[0].author_id: missing; payload.data[1].text: missing"
    );
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        ["payload.data[0].author_id", "payload.data[1].text"]
    );
    // Adapted, but refused by ingest (a time before 1970): the same rule.
    let status = refused(
        br#"{"data":{"id":"3","text":"help","author_id":"7","created_at":"1960-01-01T00:00:00Z"}}"#,
        PayloadKind::X,
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().starts_with("mentions[0].posted_at"),
        "{}",
        status.message()
    );
    // A bad envelope names its field.
    let status = refused(br#"{"object":"page","entry":{}}"#, PayloadKind::Facebook).await;
    assert_eq!(status.message(), "payload.entry: must be an array");
    assert_eq!(stored(&mut acme).await, before);

    // Failed items beside skipped ones: OK, and nothing heard says so.
    let failed_and_skipped = br#"{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messages": [{"id": "wamid.9", "timestamp": "1727352000", "type": "text", "text": {"body": "hi"}}],
                  "statuses": [{"id": "wamid.1", "status": "read", "timestamp": "1727352100"}]}}]}]}"#;
    let none_heard = send(&mut acme, PayloadKind::Whatsapp, failed_and_skipped).await;
    assert_eq!(
        none_heard.summary(),
        ((0, 0, 1, 1), IngestOutcome::AllFailed)
    );
    assert_eq!(
        none_heard.body.failures[0].field,
        "entry[0].changes[0].value.messages[0].from"
    );

    // Valid payloads with nothing to hear: skipped with why, never a failure.
    for (kind, payload, reason) in [
        (
            PayloadKind::Facebook,
            &br#"{"object": "page", "entry": []}"#[..],
            "nothing to hear: the payload holds no items (a ping or an empty delivery)",
        ),
        (
            PayloadKind::Instagram,
            br#"{"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "t"}"#,
            "a webhook verification request (hub.challenge): answer it with the challenge; nothing to hear",
        ),
        (
            PayloadKind::X,
            br#"{"meta": {"result_count": 0}}"#,
            "no data (a search or lookup with no results): nothing to hear",
        ),
    ] {
        let answer = send(&mut acme, kind, payload).await;
        assert_eq!(
            answer.summary(),
            ((0, 0, 1, 0), IngestOutcome::NothingToHear)
        );
        assert_eq!(answer.skipped(), [("payload", reason)]);
    }
    let mention_only = br#"{"object": "instagram", "entry": [{"id": "17841405309211844", "time": 1520622968,
        "changes": [{"field": "mentions", "value": {"media_id": "17918195224117851", "comment_id": "17887498072083520"}}]}]}"#;
    let answer = send(&mut acme, PayloadKind::Instagram, mention_only).await;
    assert_eq!(
        answer.summary(),
        ((0, 0, 1, 0), IngestOutcome::NothingToHear)
    );
    assert!(
        answer.skipped()[0].1.starts_with("a mention without text"),
        "{:?}",
        answer.skipped()
    );
    assert_eq!(stored(&mut acme).await, before);
}

#[tokio::test]
async fn e_mail_without_message_id_is_a_duplicate_when_sent_again() {
    let harness = Harness::start().await;
    let mut acme = harness.client("acme", SCOPES);
    let mut globex = harness.client("globex", SCOPES);

    let first = send(&mut acme, PayloadKind::Email, NO_MESSAGE_ID).await;
    assert_eq!(first.summary(), ((1, 0, 0, 0), IngestOutcome::AllHeard));
    let mention = get(&mut acme, &first.mention_ids()[0]).await;
    assert!(
        mention.external_id.starts_with("derived-"),
        "{}",
        mention.external_id
    );
    assert_eq!(mention.thread_key, "email:list.4411.1@lists.acme.example");

    let again = send(&mut acme, PayloadKind::Email, NO_MESSAGE_ID).await;
    assert_eq!(again.summary(), ((0, 1, 0, 0), IngestOutcome::AllHeard));
    assert_eq!(again.mention_ids(), first.mention_ids());

    // Another tenant's copy is its own mention.
    let theirs = send(&mut globex, PayloadKind::Email, NO_MESSAGE_ID).await;
    assert_eq!(theirs.summary(), ((1, 0, 0, 0), IngestOutcome::AllHeard));
    assert_ne!(theirs.mention_ids(), first.mention_ids());

    // A short English reply quoting a French message is English.
    let reply = send(&mut acme, PayloadKind::Email, QUOTING_FRENCH).await;
    let reply = get(&mut acme, &reply.mention_ids()[0]).await;
    assert_eq!(reply.language, "en", "{}", reply.text);
    assert!(reply.language_detected);
    assert!(!reply.text.contains("écrit"), "{}", reply.text);
}
