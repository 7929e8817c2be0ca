//! Sources' own payloads: adapted, ingested once, the raw item kept for audit.

use earshot_e2e::{ALL, Clients, Suite};
use earshot_proto::insight::v1::{Day, GetSummaryRequest};
use earshot_proto::listening::v1::{
    GetMentionRequest, IngestOutcome, IngestPayloadRequest, IngestStatus, ListMentionsRequest,
    PayloadKind,
};
use tonic::Code;

const X_SEARCH: &[u8] =
    include_bytes!("../../../services/listening/tests/fixtures/adapters/x_search_recent.json");
const EMAIL: &[u8] =
    include_bytes!("../../../services/listening/tests/fixtures/adapters/email_plain_qp.eml");

#[tokio::test]
async fn an_x_search_response_is_adapted_ingested_once_and_kept_raw() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let request = IngestPayloadRequest {
        kind: PayloadKind::X as i32,
        payload: X_SEARCH.to_vec(),
    };
    let first = acme
        .listening
        .ingest_payload(request.clone())
        .await
        .expect("ingested")
        .into_inner();
    assert_eq!(
        first.summary.map(|s| s.outcome),
        Some(IngestOutcome::AllHeard as i32),
        "every tweet of the response adapts"
    );
    let ingested = first.ingested.expect("some items adapted");
    assert!(ingested.accepted >= 1, "{ingested:?}");
    assert_eq!(
        ingested.accepted as usize + first.failures.len(),
        ingested.results.len() + first.failures.len()
    );

    let again = acme
        .listening
        .ingest_payload(request)
        .await
        .expect("again")
        .into_inner();
    let again = again.ingested.expect("same items");
    assert_eq!((again.accepted, again.duplicates), (0, ingested.accepted));

    let accepted = ingested
        .results
        .iter()
        .find(|r| r.status == IngestStatus::Accepted as i32)
        .expect("one accepted");
    let mention = acme
        .listening
        .get_mention(GetMentionRequest {
            mention_id: accepted.mention_id.clone(),
        })
        .await
        .expect("stored")
        .into_inner();
    assert_eq!(mention.source, "x");
    assert!(
        mention.thread_key.starts_with("x:"),
        "{}",
        mention.thread_key
    );

    let pool = suite.db.pool("listening").await;
    let raw_id: Option<String> =
        sqlx::query_scalar("SELECT raw->>'id' FROM mentions WHERE id = $1::uuid")
            .bind(&accepted.mention_id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(
        raw_id.as_deref(),
        Some(mention.external_id.as_str()),
        "the tweet object is kept"
    );

    // The retweet and the link-only tweet are stored but dropped as noise, so
    // they are not announced.
    let dropped = acme
        .listening
        .list_mentions(ListMentionsRequest {
            dropped_reason: "*".into(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .mentions;
    assert_eq!(
        dropped
            .iter()
            .map(|m| m.dropped_reason.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["link_only", "share_without_text"]
    );

    // The others reach insight like any mention, counted on the day they were posted.
    let total = u64::from(ingested.accepted) - dropped.len() as u64;
    let day = Day {
        year: 2024,
        month: 9,
        day: 26,
    };
    earshot_e2e::eventually("insight counted the tweets on their posting day", || {
        let mut insight = acme.insight.clone();
        async move {
            let s = insight
                .get_summary(GetSummaryRequest {
                    from: Some(day),
                    to: Some(day),
                })
                .await
                .ok()?
                .into_inner();
            (s.mentions == total).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn an_email_is_ingested_with_its_thread() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let response = acme
        .listening
        .ingest_payload(IngestPayloadRequest {
            kind: PayloadKind::Email as i32,
            payload: EMAIL.to_vec(),
        })
        .await
        .expect("ingested")
        .into_inner();
    let ingested = response.ingested.expect("adapted");
    assert_eq!(ingested.accepted, 1);
    let mention = acme
        .listening
        .get_mention(GetMentionRequest {
            mention_id: ingested.results[0].mention_id.clone(),
        })
        .await
        .expect("stored")
        .into_inner();
    assert!(!mention.public, "e-mail is private");
    assert!(
        mention.thread_key.starts_with("email:"),
        "{}",
        mention.thread_key
    );
}

#[tokio::test]
async fn bad_payloads_name_the_field() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    for (kind, payload, field) in [
        (0, b"{}".to_vec(), "kind"),
        (PayloadKind::X as i32, Vec::new(), "payload"),
        (PayloadKind::Review as i32, b"not json".to_vec(), "payload"),
    ] {
        let err = acme
            .listening
            .ingest_payload(IngestPayloadRequest { kind, payload })
            .await
            .expect_err(field);
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().starts_with(field), "{}", err.message());
    }
    // An X response whose only item lacks its author: every item failed, so
    // the call fails naming the field, and nothing is stored.
    let payload = br#"{"data":[{"id":"1","text":"help me please"}]}"#.to_vec();
    let err = acme
        .listening
        .ingest_payload(IngestPayloadRequest {
            kind: PayloadKind::X as i32,
            payload,
        })
        .await
        .expect_err("every item failed");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "payload.data[0].author_id: missing");
    for dropped_reason in ["", "*"] {
        let stored = acme
            .listening
            .list_mentions(ListMentionsRequest {
                dropped_reason: dropped_reason.into(),
                ..Default::default()
            })
            .await
            .expect("listed")
            .into_inner();
        assert!(stored.mentions.is_empty(), "{:?}", stored.mentions);
    }
}
