//! Collision (claims) and outcomes (resolution code, goodwill, CSAT), against
//! a real case service and Postgres.

mod common;

use std::time::Duration;

use common::{Harness, assert_code, assert_invalid, audit};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    AddCommitmentRequest, AddGoodwillRequest, Case, ClaimCaseRequest, CommitmentState,
    CreateCaseRequest, GetCaseRequest, KeepCommitmentRequest, ListAuditEntriesRequest,
    RecordCsatRequest, ResolveCaseRequest, SendReplyRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::goodwill_gesture::Kind;
use earshot_proto::events::v1::{GoodwillGesture, event};
use earshot_testkit::{AuthedChannel, TEST_SECRET, eventually};
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

/// A client acting as agent `subject` of `tenant`.
fn agent(h: &Harness, tenant: &str, subject: &str) -> Client {
    let token = earshot_auth::AuthConfig::SharedSecret(earshot_config::Secret::new(TEST_SECRET))
        .minter()
        .expect("shared secret mints")
        .mint(
            subject,
            tenant,
            earshot_auth::TENANT_SCOPES,
            Duration::from_secs(3600),
        );
    CaseServiceClient::new(h.service.authed(&token))
}

async fn open(client: &mut Client) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: "mail-1".into(),
            channel: Channel::Email as i32,
            subject: "Charged twice".into(),
            customer_handle: "jane@example.com".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
}

async fn get(client: &mut Client, case: &Case) -> Case {
    client
        .get_case(GetCaseRequest {
            case_id: case.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner()
}

fn claim(case: &Case, release: bool) -> ClaimCaseRequest {
    ClaimCaseRequest {
        case_id: case.case_id.clone(),
        version: case.version,
        release,
    }
}

#[tokio::test]
async fn a_claim_shows_its_holder_and_keeps_others_from_replying_across_a_restart() {
    let mut h = Harness::start().await;
    let mut ann = agent(&h, "acme", "ann");
    let mut bob = agent(&h, "acme", "bob");
    let case = open(&mut ann).await;
    let held = ann
        .claim_case(claim(&case, false))
        .await
        .expect("claimed")
        .into_inner();
    assert_eq!(held.claimed_by, "ann");
    assert!(held.claim_expires_at.is_some());
    assert_code(ann.claim_case(claim(&case, false)).await, Code::Aborted);

    h.service.restart().await;
    let seen = get(&mut bob, &case).await;
    assert_eq!(seen.claimed_by, "ann", "others see who holds it");
    let err = bob
        .claim_case(claim(&seen, false))
        .await
        .expect_err("held by ann");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("ann"), "{}", err.message());
    let err = bob
        .send_reply(SendReplyRequest {
            request_id: "bob-1".into(),
            case_id: seen.case_id.clone(),
            version: seen.version,
            body: "Hi Jane, I am looking into it.".into(),
            public: false,
            ..Default::default()
        })
        .await
        .expect_err("held by ann");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_code(
        bob.claim_case(claim(&seen, true)).await,
        Code::FailedPrecondition,
    );

    let replied = ann
        .send_reply(SendReplyRequest {
            request_id: "ann-1".into(),
            case_id: seen.case_id.clone(),
            version: seen.version,
            body: "Hi Jane, the second charge is a pending hold and drops off tonight.".into(),
            public: false,
            ..Default::default()
        })
        .await
        .expect("the holder replies")
        .into_inner()
        .case
        .expect("case");
    let released = ann
        .claim_case(claim(&replied, true))
        .await
        .expect("released")
        .into_inner();
    assert!(released.claimed_by.is_empty());
    let taken = bob
        .claim_case(claim(&released, false))
        .await
        .expect("free now")
        .into_inner();
    assert_eq!(taken.claimed_by, "bob");
    let trail = audit(
        &mut bob,
        ListAuditEntriesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let claims: Vec<_> = trail
        .iter()
        .filter(|e| e.action.starts_with("case.claimed") || e.action == "case.released")
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        claims,
        [
            ("case.claimed", "ann"),
            ("case.released", "ann"),
            ("case.claimed", "bob")
        ]
    );
}

fn refund(case: &Case, request_id: &str) -> AddGoodwillRequest {
    AddGoodwillRequest {
        request_id: request_id.into(),
        case_id: case.case_id.clone(),
        version: case.version,
        gesture: Some(GoodwillGesture {
            kind: Kind::Refund as i32,
            amount_minor: 1999,
            currency: "EUR".into(),
            note: "second charge refunded".into(),
            ..Default::default()
        }),
    }
}

#[tokio::test]
async fn outcomes_record_goodwill_resolution_and_csat_and_travel_with_case_resolved() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    let case = open(&mut acme).await;
    let with_refund = acme
        .add_goodwill(refund(&case, "gw-1"))
        .await
        .expect("goodwill")
        .into_inner();
    let again = acme
        .add_goodwill(refund(&case, "gw-1"))
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!(again.version, with_refund.version);
    let outcome = with_refund.outcome.clone().expect("outcome");
    assert_eq!(outcome.goodwill.len(), 1);
    assert_eq!(
        (
            outcome.goodwill[0].amount_minor,
            outcome.goodwill[0].currency.as_str()
        ),
        (1999, "EUR")
    );
    assert_code(
        acme.record_csat(RecordCsatRequest {
            case_id: case.case_id.clone(),
            score: 5,
            comment: String::new(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_code(
        acme.resolve_case(ResolveCaseRequest {
            case_id: case.case_id.clone(),
            version: case.version,
            resolution_code: "refunded".into(),
        })
        .await,
        Code::Aborted,
    );
    let resolved = acme
        .resolve_case(ResolveCaseRequest {
            case_id: case.case_id.clone(),
            version: with_refund.version,
            resolution_code: "refunded".into(),
        })
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(
        resolved.outcome.expect("outcome").resolution_code,
        "refunded"
    );
    let rated = acme
        .record_csat(RecordCsatRequest {
            case_id: case.case_id.clone(),
            score: 5,
            comment: "quick and human".into(),
        })
        .await
        .expect("csat")
        .into_inner();
    let outcome = rated.outcome.expect("outcome");
    assert_eq!(
        (outcome.csat, outcome.csat_comment.as_str()),
        (5, "quick and human")
    );

    let resolved_events: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::CaseResolved(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(resolved_events.len(), 1);
    assert_eq!(resolved_events[0].resolution_code, "refunded");
    assert_eq!(resolved_events[0].goodwill.len(), 1);
    assert_eq!(resolved_events[0].customer_id, case.customer_id);
}

#[tokio::test]
async fn bad_input_and_other_tenants_are_refused() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let case = open(&mut acme).await;
    assert_invalid(
        acme.claim_case(ClaimCaseRequest {
            case_id: "x".into(),
            version: 0,
            release: false,
        })
        .await,
        &["case_id", "version"],
    );
    assert_invalid(
        acme.add_goodwill(AddGoodwillRequest {
            request_id: "gw".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            gesture: Some(GoodwillGesture {
                kind: Kind::Credit as i32,
                amount_minor: -5,
                currency: "EUR".into(),
                ..Default::default()
            }),
        })
        .await,
        &["gesture.amount_minor"],
    );
    assert_invalid(
        acme.record_csat(RecordCsatRequest {
            case_id: case.case_id.clone(),
            score: 0,
            comment: String::new(),
        })
        .await,
        &["score"],
    );
    assert_invalid(
        acme.resolve_case(ResolveCaseRequest {
            case_id: case.case_id.clone(),
            version: case.version,
            resolution_code: "Fixed It!".into(),
        })
        .await,
        &["resolution_code"],
    );
    assert_code(globex.claim_case(claim(&case, false)).await, Code::NotFound);
    assert_code(
        globex.add_goodwill(refund(&case, "g-1")).await,
        Code::NotFound,
    );
    assert_code(
        globex
            .resolve_case(ResolveCaseRequest {
                case_id: case.case_id.clone(),
                version: case.version,
                resolution_code: "refunded".into(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        globex
            .record_csat(RecordCsatRequest {
                case_id: case.case_id.clone(),
                score: 1,
                comment: String::new(),
            })
            .await,
        Code::NotFound,
    );
    let untouched = get(&mut acme, &case).await;
    assert_eq!(untouched.version, case.version);
}

fn in_seconds(s: u64) -> prost_types::Timestamp {
    (std::time::SystemTime::now() + Duration::from_secs(s)).into()
}

#[tokio::test]
async fn a_promise_past_due_is_overdue_once_across_restarts_and_can_still_be_kept() {
    let mut h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    let case = open(&mut acme).await;
    let promise = AddCommitmentRequest {
        request_id: "promise-1".into(),
        case_id: case.case_id.clone(),
        version: case.version,
        text: "We will confirm the refund by email by Friday".into(),
        due_at: Some(in_seconds(1)),
    };
    let made = acme
        .add_commitment(promise.clone())
        .await
        .expect("made")
        .into_inner();
    assert_eq!(made.commitments.len(), 1);
    assert_eq!(made.commitments[0].state, CommitmentState::Open as i32);
    assert_eq!(made.commitments[0].made_by, "test-user");
    let again = acme
        .add_commitment(promise)
        .await
        .expect("idempotent")
        .into_inner();
    assert_eq!((again.version, again.commitments.len()), (made.version, 1));
    assert_code(
        globex
            .add_commitment(AddCommitmentRequest {
                request_id: "g".into(),
                case_id: case.case_id.clone(),
                version: made.version,
                text: "x".into(),
                due_at: Some(in_seconds(60)),
            })
            .await,
        Code::NotFound,
    );

    let overdue = eventually("the promise is overdue", || {
        let mut acme = acme.clone();
        let case = case.clone();
        async move {
            let now = get(&mut acme, &case).await;
            (now.commitments[0].state == CommitmentState::Overdue as i32).then_some(now)
        }
    })
    .await;
    let count = |events: Vec<earshot_proto::events::v1::Event>| {
        events
            .into_iter()
            .filter(|e| matches!(e.payload, Some(event::Payload::CommitmentOverdue(_))))
            .count()
    };
    assert_eq!(count(h.emitted().await), 1);
    // A restart and a later scheduler round (a second promise falls due) do
    // not repeat it.
    h.service.restart().await;
    let second = acme
        .add_commitment(AddCommitmentRequest {
            request_id: "promise-2".into(),
            case_id: case.case_id.clone(),
            version: overdue.version,
            text: "We will call you back today".into(),
            due_at: Some(in_seconds(1)),
        })
        .await
        .expect("made")
        .into_inner();
    let both = eventually("the second promise is overdue", || {
        let mut acme = acme.clone();
        let case = case.clone();
        async move {
            let now = get(&mut acme, &case).await;
            now.commitments
                .iter()
                .all(|c| c.state == CommitmentState::Overdue as i32)
                .then_some(now)
        }
    })
    .await;
    assert_eq!(count(h.emitted().await), 2);
    assert_eq!(
        both.version, second.version,
        "the scheduler does not bump versions"
    );

    let kept = acme
        .keep_commitment(KeepCommitmentRequest {
            case_id: case.case_id.clone(),
            version: both.version,
            commitment_id: both.commitments[0].commitment_id.clone(),
        })
        .await
        .expect("kept late")
        .into_inner();
    assert_eq!(kept.commitments[0].state, CommitmentState::Kept as i32);
    assert!(kept.commitments[0].kept_at.is_some());
    assert_code(
        acme.keep_commitment(KeepCommitmentRequest {
            case_id: case.case_id.clone(),
            version: kept.version,
            commitment_id: both.commitments[0].commitment_id.clone(),
        })
        .await,
        Code::FailedPrecondition,
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
            .filter(|e| e.action == "case.commitment_overdue")
            .count(),
        2
    );
    assert_invalid(
        acme.add_commitment(AddCommitmentRequest {
            request_id: String::new(),
            case_id: case.case_id.clone(),
            version: kept.version,
            text: " ".into(),
            due_at: Some(prost_types::Timestamp {
                seconds: 1,
                nanos: 0,
            }),
        })
        .await,
        &["request_id", "text", "due_at"],
    );
    assert_invalid(
        acme.keep_commitment(KeepCommitmentRequest {
            case_id: case.case_id.clone(),
            version: 0,
            commitment_id: "x".into(),
        })
        .await,
        &["version", "commitment_id"],
    );
}
