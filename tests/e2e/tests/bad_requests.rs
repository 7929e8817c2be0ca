//! What a caller gets for a request it got wrong: times out of range,
//! a hundred bad items, bytes that are not protobuf. Each is the caller's
//! mistake, so each is `INVALID_ARGUMENT` naming what to fix, never
//! `INTERNAL`, never the decoder's or the database's words, and never so
//! large that a gRPC-core client cannot read it.

use base64::Engine as _;
use earshot_case::CaseService;
use earshot_e2e::{ALL, cry_for_help, token};
use earshot_insight::InsightService;
use earshot_listening::ListeningService;
use earshot_proto::case::v1::CreateArticleRequest;
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::insight::v1::insight_service_client::InsightServiceClient;
use earshot_proto::insight::v1::{Day, GetSummaryRequest};
use earshot_proto::listening::v1::listening_service_client::ListeningServiceClient;
use earshot_proto::listening::v1::{
    BacktestRuleRequest, IngestMentionsRequest, IngestStatus, ListMentionsRequest,
};
use earshot_testkit::{TestDatabase, TestService, raw, reserve, settings};
use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt as _;

/// The start of year -5000 and of year ~57,900 (a Unix time in
/// milliseconds sent as seconds), both outside what any call accepts.
const YEAR_MINUS_5000: i64 = -219_950_000_000;
const MILLIS_AS_SECONDS: i64 = 1_763_900_000_000;

fn at(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}: ")),
        "names {field}: {}",
        status.message()
    );
    for internal in ["sql", "out of range for", "postgres", "chrono"] {
        assert!(!status.message().contains(internal), "{}", status.message());
    }
}

#[tokio::test]
async fn times_before_1970_or_after_9999_are_refused_where_they_enter() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let mut client = ListeningServiceClient::new(listening.authed(&token("acme", ALL)));

    // Ingest answers per item: the two bad times are rejected alone, the
    // good mention beside them is stored.
    let mut ancient = cry_for_help("t-1");
    ancient.posted_at = at(-300_000_000_000);
    let mut millis = cry_for_help("t-2");
    millis.posted_at = at(MILLIS_AS_SECONDS);
    let answer = client
        .ingest_mentions(IngestMentionsRequest {
            mentions: vec![ancient, millis, cry_for_help("t-3")],
        })
        .await
        .expect("a batch with bad items is answered per item")
        .into_inner();
    let statuses: Vec<_> = answer
        .results
        .iter()
        .map(|r| (r.status, r.field.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            (IngestStatus::Rejected as i32, "mentions[0].posted_at"),
            (IngestStatus::Rejected as i32, "mentions[1].posted_at"),
            (IngestStatus::Accepted as i32, ""),
        ]
    );

    for (name, request) in [
        (
            "posted_from",
            ListMentionsRequest {
                posted_from: at(YEAR_MINUS_5000),
                ..Default::default()
            },
        ),
        (
            "posted_before",
            ListMentionsRequest {
                posted_before: at(MILLIS_AS_SECONDS),
                ..Default::default()
            },
        ),
    ] {
        let err = client.list_mentions(request).await.expect_err(name);
        assert_invalid(&err, name);
    }

    for (name, from, to) in [
        ("from", at(YEAR_MINUS_5000), None),
        ("to", None, at(MILLIS_AS_SECONDS)),
    ] {
        let err = client
            .backtest_rule(BacktestRuleRequest {
                query: "card*".into(),
                from,
                to,
                ..Default::default()
            })
            .await
            .expect_err(name);
        assert_invalid(&err, name);
    }

    // A page token is opaque, not trusted: one carrying such a time is refused too.
    let micros = YEAR_MINUS_5000 * 1_000_000;
    let page_token = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{micros}|{}", uuid::Uuid::now_v7()));
    let err = client
        .list_mentions(ListMentionsRequest {
            page_token,
            ..Default::default()
        })
        .await
        .expect_err("token out of range");
    assert_invalid(&err, "page_token");

    // A summary's days are in the same range: year -5000 is the caller's mistake.
    let insight = TestService::start::<InsightService>(settings(&db, &[]), reserve().await).await;
    let err = InsightServiceClient::new(insight.authed(&token("acme", ALL)))
        .get_summary(GetSummaryRequest {
            from: Some(Day {
                year: -5000,
                month: 1,
                day: 1,
            }),
            to: Some(Day {
                year: 2026,
                month: 12,
                day: 1,
            }),
        })
        .await
        .expect_err("year -5000");
    assert_invalid(&err, "from");
}

#[tokio::test]
async fn a_hundred_bad_items_make_a_small_invalid_argument() {
    let db = TestDatabase::create().await;
    let case = TestService::start::<CaseService>(settings(&db, &[]), reserve().await).await;
    let request = CreateArticleRequest {
        request_id: "a-1".into(),
        title: "Cards".into(),
        body: "How to order a new card.".into(),
        topics: vec!["Bad Topic!".into(); 100],
        channels: Vec::new(),
    };

    // Measured on the wire: what a gRPC-core client holds against its 8 KiB.
    let answer = raw::call(
        case.channel(),
        "/earshot.case.v1.CaseService/CreateArticle",
        &token("acme", ALL),
        raw::frame(&request.encode_to_vec()),
    )
    .await;
    assert_eq!(
        answer.status.code(),
        Code::InvalidArgument,
        "{:?}",
        answer.status
    );
    assert!(
        answer.metadata_bytes < 6 * 1024,
        "{} bytes of metadata",
        answer.metadata_bytes
    );
    assert!(answer.status.message().starts_with("topics[0]: "));
    assert!(
        answer.status.message().ends_with(" more"),
        "the rest are counted: {}",
        answer.status.message()
    );

    // And as a generated client sees it: the first violations, field by field.
    let mut client = CaseServiceClient::new(case.authed(&token("acme", ALL)));
    let err = client
        .create_article(request)
        .await
        .expect_err("bad topics");
    assert_eq!(err.code(), Code::InvalidArgument);
    let details = err.get_error_details();
    let violations = &details
        .bad_request()
        .expect("field violations")
        .field_violations;
    assert!((1..=20).contains(&violations.len()), "{}", violations.len());
    assert_eq!(violations[0].field, "topics[0]");
}

#[tokio::test]
async fn bytes_that_are_not_protobuf_are_invalid_argument_without_decoder_text() {
    let db = TestDatabase::create().await;
    let listening =
        TestService::start::<ListeningService>(settings(&db, &[]), reserve().await).await;
    let caller = token("acme", ALL);
    let ingest = "/earshot.listening.v1.ListeningService/IngestMentions";
    let stream = "/earshot.listening.v1.ListeningService/StreamMentions";

    // A well-framed message whose bytes are no protobuf (an invalid wire
    // type), random bytes that are not even gRPC framing, and a frame cut short.
    let mut rng = earshot_testkit::rng::Rng(7);
    let random: Vec<u8> = (0..64)
        .map(|_| (rng.next_u64() & 0xff) as u8 | 0x80)
        .collect();
    let mut short = raw::frame(&[0x0a; 100]);
    short.truncate(20);
    for (path, body) in [
        (ingest, raw::frame(&[0xff; 16])),
        (ingest, random.clone()),
        (ingest, short),
        // A stream meets the bad message mid-call: the status comes in its trailers.
        (stream, raw::frame(&[0xff; 16])),
    ] {
        let answer = raw::call(listening.channel(), path, &caller, body).await;
        assert_eq!(
            answer.status.code(),
            Code::InvalidArgument,
            "{path}: {:?}",
            answer.status
        );
        assert_eq!(
            answer.status.message(),
            earshot_server::malformed::MALFORMED
        );
    }

    // Nothing was stored, and the service still answers well-formed calls.
    let mut client = ListeningServiceClient::new(listening.authed(&caller));
    let list = client
        .list_mentions(ListMentionsRequest::default())
        .await
        .expect("a good call after bad ones")
        .into_inner();
    assert!(list.mentions.is_empty());
}
