//! Replies and the authenticity guard, against a real case service and
//! Postgres, with the Bitext agent responses as the tenant's canned answers.

mod common;

use common::{Harness, Mention, assert_code, assert_invalid, audit};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    AuthenticityReport, Case, CaseStatus, CheckReplyRequest, CreateCaseRequest, GetCaseRequest,
    GetGuardPolicyRequest, GuardMode, GuardPhrase, GuardPolicy, ListAuditEntriesRequest,
    ListCaseMessagesRequest, ListCasesRequest, MessageDirection, PutGuardPolicyRequest,
    PutSlaPolicyRequest, SendReplyRequest, SendReplyResponse, SlaPolicy, SlaState, SlaTarget,
    UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_proto::events::v1::event;
use earshot_testkit::AuthedChannel;
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

/// The distinct agent responses of the Bitext sample, or None when the shared
/// data is not beside the checkout.
fn canned_answers() -> Option<Vec<String>> {
    let path = earshot_testkit::corpus::data_dir()
        .join("bitext-support/bitext_customer_support_sample.csv");
    let mut reader = csv::Reader::from_path(&path).ok()?;
    let mut out: Vec<String> = Vec::new();
    for record in reader.deserialize::<std::collections::HashMap<String, String>>() {
        let record = record.expect("a Bitext row");
        let response = record.get("response").expect("a response column").clone();
        if !out.contains(&response) {
            out.push(response);
        }
    }
    Some(out)
}

/// What an agent does to a canned answer to make it look written: one word
/// changed, one added, one dropped.
fn lightly_edited(canned: &str) -> String {
    let mut words: Vec<&str> = canned.split_whitespace().collect();
    let n = words.len();
    words[n / 2] = "really";
    words.insert(3, "also");
    words.remove(n - 2);
    words.join(" ")
}

const ORIGINALS: &[&str] = &[
    "Thanks for flagging this, Maria. I've cancelled order 4587345 myself just now, so there's nothing you need to do; the refund of 42.90 should reach your card within three working days.",
    "Tom, the top-up failed because the card issuer declined it at 14:02. I've whitelisted the merchant on our side, so trying again from the app should work now.",
    "That fee is the overseas ATM charge from the other bank, not ours. I've refunded it as a one-off and added a note so your next withdrawal in Lisbon is free.",
    "Good news: the replacement card left our warehouse this morning with tracked delivery, number RM5521 GB. If it isn't with you by Thursday, reply here and I'll send a courier.",
    "I can see two identical charges of 19.99 from the same shop a minute apart. The second one is a pending authorisation that drops off by itself tonight, and I'll keep an eye on it.",
];

async fn open_case(client: &mut Client, request_id: &str) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: request_id.into(),
            channel: Channel::Email as i32,
            subject: "Help".into(),
            customer_handle: format!("{request_id}@example.com"),
            ..Default::default()
        })
        .await
        .expect("case created")
        .into_inner()
}

async fn reply(
    client: &mut Client,
    case: &Case,
    request_id: &str,
    body: &str,
) -> SendReplyResponse {
    client
        .send_reply(SendReplyRequest {
            request_id: request_id.into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: body.into(),
            public: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("reply {request_id}: {e:?}"))
        .into_inner()
}

async fn check(client: &mut Client, case: &Case, body: &str) -> AuthenticityReport {
    client
        .check_reply(CheckReplyRequest {
            case_id: case.case_id.clone(),
            body: body.into(),
        })
        .await
        .expect("checked")
        .into_inner()
}

fn kinds(report: &AuthenticityReport) -> Vec<Kind> {
    report
        .findings
        .iter()
        .map(|f| Kind::try_from(f.kind).unwrap_or(Kind::Unspecified))
        .collect()
}

#[tokio::test]
async fn the_guard_catches_every_lightly_edited_canned_answer_and_passes_originals() {
    let Some(canned) = canned_answers() else {
        eprintln!(
            "skipped: no Bitext data in {}",
            earshot_testkit::corpus::data_dir().display()
        );
        return;
    };
    assert!(canned.len() >= 20, "{} canned answers", canned.len());
    let mut h = Harness::start().await;
    let mut acme = h.client("acme");
    // The team has used every canned answer once, each on its own case.
    let mut sent = Vec::new();
    for (i, answer) in canned.iter().enumerate() {
        let case = open_case(&mut acme, &format!("c{i}")).await;
        let response = reply(&mut acme, &case, &format!("r{i}"), answer).await;
        sent.push(response.reply.expect("reply").message_id);
    }
    // The guard survives a restart: its history is the database.
    h.service.restart().await;
    let case = open_case(&mut acme, "new").await;
    for (answer, earlier) in canned.iter().zip(&sent) {
        let draft = lightly_edited(answer);
        let report = check(&mut acme, &case, &draft).await;
        let dup = report
            .findings
            .iter()
            .find(|f| f.kind == Kind::NearDuplicate as i32)
            .unwrap_or_else(|| panic!("not caught: {draft}"));
        assert_eq!(&dup.similar_reply_id, earlier, "{draft}");
        assert!(dup.similarity >= 0.5, "{dup:?}");
        assert_eq!(&report.most_similar_reply_id, earlier);
    }
    for original in ORIGINALS {
        let report = check(&mut acme, &case, original).await;
        assert!(
            !kinds(&report).contains(&Kind::NearDuplicate),
            "{original}: {report:?}"
        );
        assert!(report.most_similar_similarity < 0.3, "{report:?}");
    }
    // A check stores nothing.
    let messages = acme
        .list_case_messages(ListCaseMessagesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        })
        .await
        .expect("messages")
        .into_inner()
        .messages;
    assert!(
        messages
            .iter()
            .all(|m| m.direction == MessageDirection::Inbound as i32)
    );
}

#[tokio::test]
async fn replies_open_the_case_meet_its_clocks_and_carry_findings_to_the_connector() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    acme.put_sla_policy(PutSlaPolicyRequest {
        policy: Some(SlaPolicy {
            priority: "normal".into(),
            lane: earshot_proto::case::v1::Lane::Standard as i32,
            first_response_seconds: 3600,
            next_response_seconds: 1800,
            resolution_seconds: 86_400,
            version: 0,
            business_hours: false,
        }),
    })
    .await
    .expect("policy");
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let case = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .remove(0);
    let first = "It appears your card was posted to an old address. Please DM us your new one.";
    let draft = check(&mut acme, &case, first).await;
    assert_eq!(kinds(&draft), [Kind::Hedging, Kind::ReflexDm]);
    assert!(!draft.blocked);

    let sent = reply(&mut acme, &case, "r-1", first).await;
    let after = sent.case.expect("case");
    assert_eq!(after.status, CaseStatus::Open as i32, "answering opens it");
    assert_eq!(after.version, case.version + 1);
    let first_clock = after
        .slas
        .iter()
        .find(|t| t.target == SlaTarget::FirstResponse as i32)
        .expect("first response clock");
    assert_eq!(first_clock.state, SlaState::Met as i32);
    let stored = sent.reply.expect("reply");
    assert_eq!(
        (stored.direction, stored.public, stored.author.as_str()),
        (MessageDirection::Outbound as i32, true, "test-user")
    );
    assert_eq!(stored.findings.len(), 2);
    // The same request again is the same reply.
    let again = reply(&mut acme, &case, "r-1", first).await;
    assert_eq!(again.reply.expect("reply").message_id, stored.message_id);
    // A stale version is refused.
    assert_code(
        acme.send_reply(SendReplyRequest {
            request_id: "r-2".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: "A second answer".into(),
            public: false,
            ..Default::default()
        })
        .await,
        Code::Aborted,
    );

    // The connector learns what to post, where, and what the guard found.
    let posted: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::ReplySent(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].body, first);
    assert_eq!(posted[0].thread_key, "t-1");
    assert_eq!(posted[0].in_reply_to_mention_id, "m-1");
    assert_eq!(posted[0].channel, Channel::X as i32);
    assert_eq!(posted[0].findings.len(), 2);

    // The customer writes again: a next response is due; answering meets it,
    // and asking for a DM now is no reflex.
    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "t-1",
            actionable: false,
            text: "sent you my address",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let waiting = acme
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let next = waiting
        .slas
        .iter()
        .find(|t| t.target == SlaTarget::NextResponse as i32)
        .expect("next response clock");
    assert_eq!(next.state, SlaState::Running as i32);
    let second = "Thanks Jane, please DM us a photo of the envelope when it arrives.";
    assert!(check(&mut acme, &waiting, second).await.findings.is_empty());
    let answered = reply(&mut acme, &waiting, "r-3", second)
        .await
        .case
        .expect("case");
    assert!(
        answered.slas.iter().all(
            |t| t.state != SlaState::Running as i32 || t.target == SlaTarget::Resolution as i32
        )
    );
    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "case.reply_sent")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_blocking_tenant_refuses_replies_with_findings_and_stores_nothing() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let default = acme
        .get_guard_policy(GetGuardPolicyRequest {})
        .await
        .expect("defaults")
        .into_inner();
    assert_eq!((default.mode, default.version), (GuardMode::Warn as i32, 0));
    let policy = acme
        .put_guard_policy(PutGuardPolicyRequest {
            policy: Some(GuardPolicy {
                mode: GuardMode::Block as i32,
                similarity_threshold: 0.8,
                lookback_replies: 100,
                extra_phrases: vec![GuardPhrase {
                    kind: Kind::Custom as i32,
                    phrase: "Rest assured".into(),
                }],
                disabled_phrases: vec!["it appears".into()],
                version: 0,
            }),
        })
        .await
        .expect("policy")
        .into_inner();
    assert_eq!(policy.version, 1);
    assert_code(
        acme.put_guard_policy(PutGuardPolicyRequest {
            policy: Some(GuardPolicy {
                version: 0,
                ..policy.clone()
            }),
        })
        .await,
        Code::Aborted,
    );
    let case = open_case(&mut acme, "c1").await;
    let err = acme
        .send_reply(SendReplyRequest {
            request_id: "r1".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: "Rest assured, we apologise for any inconvenience.".into(),
            public: true,
            ..Default::default()
        })
        .await
        .expect_err("blocked");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("rest assured"), "{}", err.message());
    assert!(err.message().contains("inconvenience"), "{}", err.message());
    let unchanged = acme
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (unchanged.version, unchanged.status),
        (case.version, CaseStatus::New as i32)
    );
    // Disabled defaults pass; a clean reply goes out.
    let sent = reply(
        &mut acme,
        &case,
        "r2",
        "It appears the card was sent on Monday; tracking RM5521.",
    )
    .await;
    assert!(sent.report.expect("report").findings.is_empty());
    // A closed case takes no reply.
    let case = sent.case.expect("case");
    let resolved = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: CaseStatus::Resolved as i32,
            version: case.version,
        })
        .await
        .expect("resolved")
        .into_inner();
    let closed = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: CaseStatus::Closed as i32,
            version: resolved.version,
        })
        .await
        .expect("closed")
        .into_inner();
    assert_code(
        acme.send_reply(SendReplyRequest {
            request_id: "r3".into(),
            case_id: closed.case_id.clone(),
            version: closed.version,
            body: "One more thing".into(),
            public: true,
            ..Default::default()
        })
        .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn bad_input_and_other_tenants_are_refused() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    assert_invalid(
        acme.check_reply(CheckReplyRequest {
            case_id: "x".into(),
            body: "  ".into(),
        })
        .await,
        &["case_id", "body"],
    );
    assert_invalid(
        acme.send_reply(SendReplyRequest::default()).await,
        &["request_id", "case_id", "version", "body"],
    );
    assert_invalid(
        acme.put_guard_policy(PutGuardPolicyRequest {
            policy: Some(GuardPolicy {
                mode: 0,
                similarity_threshold: 1.5,
                extra_phrases: vec![GuardPhrase {
                    kind: Kind::NearDuplicate as i32,
                    phrase: "!!!".into(),
                }],
                ..Default::default()
            }),
        })
        .await,
        &[
            "policy.mode",
            "policy.similarity_threshold",
            "policy.extra_phrases[0].kind",
            "policy.extra_phrases[0].phrase",
        ],
    );
    // Globex's canned answer does not make acme's reply a duplicate, and
    // globex cannot check or answer acme's cases.
    let canned = "We're sorry to hear you want to cancel your order. You can do this by going to your order details and clicking the 'Cancel Order' button.";
    let theirs = open_case(&mut globex, "g1").await;
    reply(&mut globex, &theirs, "g-r1", canned).await;
    let mine = open_case(&mut acme, "a1").await;
    let report = check(&mut acme, &mine, canned).await;
    assert!(
        report.findings.is_empty() && report.most_similar_reply_id.is_empty(),
        "{report:?}"
    );
    assert_code(
        globex
            .check_reply(CheckReplyRequest {
                case_id: mine.case_id.clone(),
                body: "hello".into(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        globex
            .send_reply(SendReplyRequest {
                request_id: "g-r2".into(),
                case_id: mine.case_id.clone(),
                version: mine.version,
                body: "hello".into(),
                public: true,
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    // The second time acme uses it, it is caught.
    reply(&mut acme, &mine, "a-r1", canned).await;
    let other = open_case(&mut acme, "a2").await;
    assert_eq!(
        kinds(&check(&mut acme, &other, canned).await),
        [Kind::NearDuplicate]
    );
}
