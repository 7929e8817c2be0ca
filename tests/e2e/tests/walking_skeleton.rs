//! A mention walks from ingest to insight, against real Postgres and real gRPC
//! servers on loopback ports.

use earshot_e2e::{ALL, Clients, Suite, cry_for_help, eventually, high_five, token};
use earshot_proto::case::v1::{
    CaseStatus, CreateCaseRequest, GetCaseRequest, ListCasesRequest, UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::{Channel, Classification};
use earshot_proto::escalation::v1::ListEvaluationsRequest;
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{DeliverRequest, Event, MentionClassified, event};
use earshot_proto::insight::v1::GetSummaryRequest;
use earshot_proto::listening::v1::{
    GetMentionRequest, IngestMentionsRequest, IngestStatus, ListMentionsRequest,
};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn a_mention_opens_a_case_and_insight_counts_both() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);

    let response = acme.ingest(vec![cry_for_help("1001")]).await;
    assert_eq!(
        (response.accepted, response.duplicates, response.rejected),
        (1, 0, 0)
    );
    let mention_id = response.results[0].mention_id.clone();

    acme.wait_for_counts(1, 1).await;
    let cases = acme.cases().await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].mention_id, mention_id);
    assert_eq!(cases[0].status, CaseStatus::New as i32);
    assert_eq!(cases[0].customer_handle, "jane_doe");

    let mention = acme
        .listening
        .get_mention(GetMentionRequest {
            mention_id: mention_id.clone(),
        })
        .await
        .expect("stored")
        .into_inner();
    let classification = mention.classification.expect("classified");
    assert!(classification.actionable);
    assert!(
        !classification.cues.is_empty(),
        "cues explain the classification"
    );

    // Escalation evaluates the mention and, once case tells it, the case it
    // opened.
    let evaluations = eventually("escalation evaluated the mention and its case", || {
        let mut client = acme.escalation.clone();
        async move {
            let list = client
                .list_evaluations(ListEvaluationsRequest::default())
                .await
                .ok()?
                .into_inner()
                .evaluations;
            (list.len() >= 2).then_some(list)
        }
    })
    .await;
    assert_eq!(evaluations.len(), 2, "{evaluations:?}");
    assert!(evaluations.iter().all(|e| e.mention_id == mention_id));
    assert_eq!(
        evaluations.iter().filter(|e| !e.case_id.is_empty()).count(),
        1,
        "one is the case's opening"
    );
}

#[tokio::test]
async fn the_same_mention_twice_is_stored_and_counted_once() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);

    let first = acme.ingest(vec![cry_for_help("2001")]).await;
    let again = acme
        .ingest(vec![cry_for_help("2001"), cry_for_help("2001")])
        .await;
    assert_eq!((again.accepted, again.duplicates), (0, 2));
    for r in &again.results {
        assert_eq!(r.status, IngestStatus::Duplicate as i32);
        assert_eq!(r.mention_id, first.results[0].mention_id);
    }

    // A later mention that opens no case: once insight has counted it, anything
    // the duplicate had emitted (relays deliver in order) would have arrived too.
    acme.ingest(vec![high_five("2002")]).await;
    acme.wait_for_counts(2, 1).await;
    assert_eq!(acme.cases().await.len(), 1);
}

#[tokio::test]
async fn a_redelivered_event_opens_no_second_case() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let event = Event {
        event_id: "0190c7a4-0000-7000-8000-000000000001".into(),
        tenant_id: "acme".into(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        aggregate_key: "m-1".into(),
        producer: "listening".into(),
        drill: false,
        payload: Some(event::Payload::MentionClassified(MentionClassified {
            mention_id: "m-1".into(),
            channel: Channel::Facebook as i32,
            text: "My order never arrived".into(),
            classification: Some(Classification {
                actionable: true,
                ..Default::default()
            }),
            ..Default::default()
        })),
    };
    let relay_token = earshot_testkit::service_token();
    let mut sink = EventSinkClient::new(suite.case.authed(&relay_token));
    let first = sink
        .deliver(DeliverRequest {
            events: vec![event.clone(), event.clone()],
        })
        .await
        .expect("delivered")
        .into_inner();
    assert_eq!((first.handled, first.skipped), (1, 1));
    let second = sink
        .deliver(DeliverRequest {
            events: vec![event],
        })
        .await
        .expect("redelivered")
        .into_inner();
    assert_eq!((second.handled, second.skipped), (0, 1));
    assert_eq!(acme.cases().await.len(), 1);

    // Tenants' own tokens cannot inject events.
    let mut as_tenant = EventSinkClient::new(suite.case.authed(&token("acme", ALL)));
    let denied = as_tenant
        .deliver(DeliverRequest::default())
        .await
        .expect_err("no scope");
    assert_eq!(denied.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn a_consumer_that_was_down_catches_up() {
    let mut suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);

    suite.case.stop().await;
    acme.ingest(vec![cry_for_help("3001")]).await;
    // Insight is up and counts the mention while case is down.
    acme.wait_for_counts(1, 0).await;

    suite.case.start_again().await;
    acme.wait_for_counts(1, 1).await;
    assert_eq!(acme.cases().await.len(), 1);

    // What listening acknowledged survives its own restart.
    let id = acme.ingest(vec![high_five("3002")]).await.results[0]
        .mention_id
        .clone();
    suite.listening.restart().await;
    let mention = acme
        .listening
        .get_mention(GetMentionRequest { mention_id: id })
        .await;
    assert!(mention.is_ok(), "acknowledged mention kept across restart");
}

#[tokio::test]
async fn one_tenant_never_sees_another_tenants_data() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let mut globex = Clients::new(&suite, "globex", ALL);

    let ingested = globex.ingest(vec![cry_for_help("4001")]).await;
    let mention_id = ingested.results[0].mention_id.clone();
    globex.wait_for_counts(1, 1).await;
    let globex_case = globex.cases().await.remove(0);

    assert!(acme.cases().await.is_empty());
    let summary = acme.today().await;
    assert_eq!((summary.mentions, summary.cases_opened), (0, 0));
    let err = acme
        .case
        .get_case(GetCaseRequest {
            case_id: globex_case.case_id.clone(),
        })
        .await
        .expect_err("other tenant's case");
    assert_eq!(err.code(), Code::NotFound);
    let err = acme
        .listening
        .get_mention(GetMentionRequest { mention_id })
        .await
        .expect_err("other tenant's mention");
    assert_eq!(err.code(), Code::NotFound);
    let listed = acme
        .listening
        .list_mentions(ListMentionsRequest::default())
        .await
        .expect("list");
    assert!(listed.into_inner().mentions.is_empty());
    let evaluations = acme
        .escalation
        .list_evaluations(ListEvaluationsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(evaluations.evaluations.is_empty());
    let err = acme
        .case
        .update_case_status(UpdateCaseStatusRequest {
            case_id: globex_case.case_id,
            status: CaseStatus::Open as i32,
            version: globex_case.version,
        })
        .await
        .expect_err("other tenant's case");
    assert_eq!(err.code(), Code::NotFound);

    // The same external id in two tenants is two mentions.
    let mine = acme.ingest(vec![cry_for_help("4001")]).await;
    assert_eq!(mine.accepted, 1);
}

fn field_of(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_the_field_and_stores_nothing() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);

    let err = acme
        .listening
        .ingest_mentions(IngestMentionsRequest { mentions: vec![] })
        .await
        .expect_err("empty batch");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_of(&err), vec!["mentions"]);

    let mut no_text = cry_for_help("5001");
    no_text.text = "  ".into();
    let mut no_channel = cry_for_help("5002");
    no_channel.channel = 0;
    let response = acme
        .ingest(vec![no_text, cry_for_help("5003"), no_channel])
        .await;
    assert_eq!((response.accepted, response.rejected), (1, 2));
    assert_eq!(response.results[0].field, "mentions[0].text");
    assert_eq!(response.results[2].field, "mentions[2].channel");
    assert_eq!(response.results[1].status, IngestStatus::Accepted as i32);

    let err = acme
        .case
        .get_case(GetCaseRequest {
            case_id: "not-a-uuid".into(),
        })
        .await
        .expect_err("bad id");
    assert_eq!(
        (err.code(), field_of(&err)),
        (Code::InvalidArgument, vec!["case_id".to_owned()])
    );

    let err = acme
        .case
        .create_case(CreateCaseRequest {
            channel: Channel::Email as i32,
            ..Default::default()
        })
        .await
        .expect_err("missing fields");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        field_of(&err),
        vec!["request_id", "subject", "customer_handle"]
    );

    let err = acme
        .case
        .list_cases(ListCasesRequest {
            page_size: 10_000,
            ..Default::default()
        })
        .await
        .expect_err("page too large");
    assert_eq!(field_of(&err), vec!["page_size"]);
    let err = acme
        .case
        .list_cases(ListCasesRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad token");
    assert_eq!(field_of(&err), vec!["page_token"]);

    let err = acme
        .insight
        .get_summary(GetSummaryRequest::default())
        .await
        .expect_err("no range");
    assert_eq!(field_of(&err), vec!["from", "to"]);

    // Only the valid mention was stored, and only it reached the other services.
    acme.wait_for_counts(1, 1).await;
    let stored = acme
        .listening
        .list_mentions(ListMentionsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .mentions;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].external_id, "5003");
    assert_eq!(acme.cases().await.len(), 1);
}

#[tokio::test]
async fn tokens_and_scopes_are_enforced_while_health_stays_open() {
    let suite = Suite::start().await;

    let mut anonymous =
        earshot_proto::case::v1::case_service_client::CaseServiceClient::new(suite.case.channel());
    let err = anonymous
        .list_cases(ListCasesRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let forged = token_with_another_secret();
    let mut forger = earshot_proto::case::v1::case_service_client::CaseServiceClient::new(
        suite.case.authed(&forged),
    );
    let err = forger
        .list_cases(ListCasesRequest::default())
        .await
        .expect_err("bad signature");
    assert_eq!(err.code(), Code::Unauthenticated);

    let mut reader = Clients::new(&suite, "acme", &["cases:read"]);
    assert!(
        reader
            .case
            .list_cases(ListCasesRequest::default())
            .await
            .is_ok()
    );
    let err = reader
        .case
        .create_case(CreateCaseRequest::default())
        .await
        .expect_err("read-only token");
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = reader
        .listening
        .ingest_mentions(IngestMentionsRequest::default())
        .await
        .expect_err("no mentions:write");
    assert_eq!(err.code(), Code::PermissionDenied);

    let mut health = tonic_health::pb::health_client::HealthClient::new(suite.insight.channel());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "earshot.insight.v1.InsightService".into(),
        })
        .await
        .expect("health needs no token")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
}

/// A well-formed token signed with a secret the services do not know.
fn token_with_another_secret() -> String {
    earshot_auth::AuthConfig::SharedSecret(earshot_config::Secret::new(
        "a-different-secret-entirely-0000",
    ))
    .minter()
    .expect("shared secret mints")
    .mint(
        "mallory",
        "acme",
        &["admin"],
        std::time::Duration::from_secs(60),
    )
}

#[tokio::test]
async fn case_lifecycle_rejects_illegal_moves_and_stale_versions() {
    let suite = Suite::start().await;
    let mut acme = Clients::new(&suite, "acme", ALL);
    let request = CreateCaseRequest {
        request_id: "call-77".into(),
        channel: Channel::Phone as i32,
        subject: "Card blocked abroad".into(),
        customer_handle: "+44 20 7946 0000".into(),
        description: "Customer called from Lisbon".into(),
        ..Default::default()
    };
    let created = acme
        .case
        .create_case(request.clone())
        .await
        .expect("created")
        .into_inner();
    let retried = acme
        .case
        .create_case(request)
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!(created.case_id, retried.case_id);

    let move_to = |status: CaseStatus, version: i64| UpdateCaseStatusRequest {
        case_id: created.case_id.clone(),
        status: status as i32,
        version,
    };
    let err = acme
        .case
        .update_case_status(move_to(CaseStatus::Closed, 1))
        .await
        .expect_err("new -> closed");
    assert_eq!(err.code(), Code::FailedPrecondition);
    let open = acme
        .case
        .update_case_status(move_to(CaseStatus::Open, 1))
        .await
        .expect("new -> open")
        .into_inner();
    assert_eq!((open.status, open.version), (CaseStatus::Open as i32, 2));
    let err = acme
        .case
        .update_case_status(move_to(CaseStatus::Resolved, 1))
        .await
        .expect_err("stale");
    assert_eq!(err.code(), Code::Aborted);
    acme.case
        .update_case_status(move_to(CaseStatus::Resolved, 2))
        .await
        .expect("open -> resolved");
    acme.wait_for_counts(0, 1).await;
}

#[tokio::test]
async fn reflection_lists_each_service_in_v1_and_v1alpha() {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as V1Request;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse as V1Response;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest as AlphaRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse as AlphaResponse;

    let suite = Suite::start().await;
    for (service, expected) in [
        (&suite.listening, "earshot.listening.v1.ListeningService"),
        (&suite.case, "earshot.case.v1.CaseService"),
        (&suite.escalation, "earshot.escalation.v1.EscalationService"),
        (&suite.insight, "earshot.insight.v1.InsightService"),
    ] {
        let mut alpha =
            tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
                service.channel(),
            );
        let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(AlphaRequest::ListServices(String::new())),
        };
        let mut stream = alpha
            .server_reflection_info(tokio_stream_once(request))
            .await
            .expect("v1alpha reflection")
            .into_inner();
        let reply = stream.message().await.expect("reply").expect("one message");
        let Some(AlphaResponse::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected reflection reply");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.iter().any(|n| n == expected), "{names:?}");
        assert!(
            names.iter().any(|n| n == "grpc.health.v1.Health"),
            "{names:?}"
        );

        let mut v1 =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
                service.channel(),
            );
        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(V1Request::ListServices(String::new())),
        };
        let mut stream = v1
            .server_reflection_info(tokio_stream_once(request))
            .await
            .expect("v1 reflection")
            .into_inner();
        let reply = stream.message().await.expect("reply").expect("one message");
        let Some(V1Response::ListServicesResponse(list)) = reply.message_response else {
            panic!("unexpected reflection reply");
        };
        assert!(list.service.iter().any(|s| s.name == expected));
    }
}

fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tokio_stream::Stream<Item = T> + Send + 'static {
    tokio_stream::once(item)
}
