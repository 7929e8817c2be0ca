//! Case facts: every `CaseOpened` and `CaseUpdated` the service enqueues
//! carries the case as it stands at that event's version (how it opened,
//! replies, resolutions, reopens, SLA outcomes, goodwill), against a real case
//! service and Postgres.

mod common;

use std::path::{Path, PathBuf};

use common::{Harness, Mention};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    AddGoodwillRequest, Case, CaseStatus, CreateCaseRequest, CreateRoutingRuleRequest,
    GetCaseRequest, ListCasesRequest, MergeCasesRequest, PutSlaPolicyRequest, RecordCsatRequest,
    ResolveCaseRequest, RoutingConditions, RoutingRule, SendReplyRequest, SlaPolicy,
    UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::goodwill_gesture::Kind;
use earshot_proto::events::v1::{
    CaseFacts, EscalationRaised, Event, GoodwillGesture, ReplySent, event,
};
use earshot_testkit::AuthedChannel;

type Client = CaseServiceClient<AuthedChannel>;

/// What one case event told about its case.
#[derive(Debug, Clone)]
struct Told {
    case_id: String,
    /// `CaseOpened` (which names no version) rather than `CaseUpdated`.
    opened: bool,
    /// The version a `CaseUpdated` names.
    version: i64,
    facts: CaseFacts,
}

/// Every case event the service enqueued, oldest first; each must carry facts.
async fn told(h: &Harness) -> Vec<Told> {
    h.emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::CaseOpened(o)) => Some(Told {
                case_id: o.case_id.clone(),
                opened: true,
                version: 0,
                facts: o
                    .facts
                    .clone()
                    .unwrap_or_else(|| panic!("CaseOpened without facts: {o:?}")),
            }),
            Some(event::Payload::CaseUpdated(u)) => Some(Told {
                case_id: u.case_id.clone(),
                opened: false,
                version: u.version,
                facts: u
                    .facts
                    .clone()
                    .unwrap_or_else(|| panic!("CaseUpdated without facts: {u:?}")),
            }),
            _ => None,
        })
        .collect()
}

/// What the events said of one case, oldest first.
fn of<'a>(told: &'a [Told], case: &Case) -> Vec<&'a Told> {
    told.iter().filter(|t| t.case_id == case.case_id).collect()
}

/// The facts the last event about `case` told.
fn latest(told: &[Told], case: &Case) -> CaseFacts {
    of(told, case)
        .last()
        .unwrap_or_else(|| panic!("no event about {}", case.case_id))
        .facts
        .clone()
}

/// Each event's facts are of the version it names (an opening of version 1),
/// and a case's versions only go up.
#[track_caller]
fn versions_agree(told: &[Told]) {
    for t in told {
        let expected = if t.opened { 1 } else { t.version };
        assert_eq!(t.facts.version, expected, "{t:?}");
    }
    let mut cases: Vec<&str> = told.iter().map(|t| t.case_id.as_str()).collect();
    cases.sort_unstable();
    cases.dedup();
    for case in cases {
        let versions: Vec<i64> = told
            .iter()
            .filter(|t| t.case_id == case)
            .map(|t| t.facts.version)
            .collect();
        assert!(
            versions.windows(2).all(|w| w[0] < w[1]),
            "{case}: {versions:?}"
        );
    }
}

fn sla(facts: &CaseFacts) -> Vec<(&str, &str)> {
    facts
        .sla
        .iter()
        .map(|s| (s.target.as_str(), s.state.as_str()))
        .collect()
}

async fn policy(client: &mut Client) {
    client
        .put_sla_policy(PutSlaPolicyRequest {
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
}

async fn the_case(client: &mut Client) -> Case {
    client
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .remove(0)
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

async fn move_to(client: &mut Client, case: &Case, status: CaseStatus) -> Case {
    client
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: status as i32,
            version: case.version,
        })
        .await
        .expect("moved")
        .into_inner()
}

async fn resolve(client: &mut Client, case: &Case) -> Case {
    client
        .resolve_case(ResolveCaseRequest {
            case_id: case.case_id.clone(),
            version: case.version,
            resolution_code: "resent".into(),
        })
        .await
        .expect("resolved")
        .into_inner()
}

async fn goodwill(client: &mut Client, case: &Case, request_id: &str, amount_minor: i64) -> Case {
    client
        .add_goodwill(AddGoodwillRequest {
            request_id: request_id.into(),
            case_id: case.case_id.clone(),
            version: case.version,
            gesture: Some(GoodwillGesture {
                kind: Kind::Credit as i32,
                amount_minor,
                currency: "EUR".into(),
                note: "for the wait".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("goodwill")
        .into_inner()
}

async fn create(client: &mut Client, request_id: &str) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: request_id.into(),
            channel: Channel::Email as i32,
            subject: "Where is my card?".into(),
            customer_handle: format!("{request_id}@example.com"),
            ..Default::default()
        })
        .await
        .expect("case created")
        .into_inner()
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> Option<(i64, i32)> {
    ts.as_ref().map(|t| (t.seconds, t.nanos))
}

#[tokio::test]
async fn a_case_tells_how_it_opened_each_tenant_its_own() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    policy(&mut acme).await;
    // One batch of two tenants' mentions, as a relay delivers them.
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            topic: "card",
            intent: Intent::Complaint,
            followers: 812,
            ..Default::default()
        }
        .event(),
        Mention {
            tenant: "globex",
            mention_id: "m-1",
            author: "99",
            channel: Channel::Facebook,
            public: false,
            intent: Intent::Question,
            followers: 5,
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let mail = create(&mut acme, "mail-1").await;
    let case = the_case(&mut globex).await;
    let x = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .into_iter()
        .find(|c| c.mention_id == "m-1")
        .expect("the case of the mention");

    let told = told(&h).await;
    versions_agree(&told);
    assert!(told.iter().all(|t| t.opened), "nothing but openings");
    let opened = latest(&told, &x);
    assert_eq!(
        (
            opened.status.as_str(),
            opened.channel,
            opened.public,
            opened.intent,
            opened.topic.as_str(),
            opened.followers,
            opened.mention_id.as_str(),
        ),
        (
            "NEW",
            Channel::X as i32,
            true,
            Intent::Complaint as i32,
            "card",
            812,
            "m-1"
        )
    );
    assert_eq!(seconds(&opened.opened_at), seconds(&x.opened_at));
    assert_eq!(opened.customer_id, x.customer_id);
    assert_eq!(
        (
            opened.priority.as_str(),
            opened.lane.as_str(),
            opened.queue.as_str()
        ),
        ("normal", "STANDARD", "general")
    );
    assert_eq!((opened.inbound_messages, opened.replies), (1, 0));
    assert!(opened.first_response_at.is_none() && opened.resolved_at.is_none());
    assert_eq!(opened.agent, "", "nobody assigned, nobody replied");
    assert_eq!(
        sla(&opened),
        [("FIRST_RESPONSE", "RUNNING"), ("RESOLUTION", "RUNNING")]
    );

    let theirs = latest(&told, &case);
    assert_eq!(
        (
            theirs.channel,
            theirs.public,
            theirs.intent,
            theirs.followers
        ),
        (Channel::Facebook as i32, false, Intent::Question as i32, 5)
    );
    assert!(theirs.sla.is_empty(), "globex has no SLA policy");
    assert_ne!(theirs.customer_id, opened.customer_id);

    // A case by API was classified by nobody and is private.
    let by_api = latest(&told, &mail);
    assert_eq!(
        (
            by_api.channel,
            by_api.public,
            by_api.intent,
            by_api.mention_id.as_str(),
            by_api.inbound_messages
        ),
        (
            Channel::Email as i32,
            false,
            Intent::Unspecified as i32,
            "",
            1
        )
    );
    assert_eq!(by_api.customer_id, mail.customer_id);
}

#[tokio::test]
async fn replies_resolutions_reopens_and_goodwill_are_told_at_each_version() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    policy(&mut acme).await;
    acme.create_routing_rule(CreateRoutingRuleRequest {
        request_id: "cards".into(),
        rule: Some(RoutingRule {
            name: "Cards team".into(),
            when: Some(RoutingConditions {
                topics: vec!["card".into()],
                ..Default::default()
            }),
            lane: earshot_proto::case::v1::Lane::Standard as i32,
            priority: "normal".into(),
            queue: "cards".into(),
            ..Default::default()
        }),
    })
    .await
    .expect("rule");
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t-1",
            topic: "card",
            intent: Intent::Complaint,
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let case = the_case(&mut acme).await;

    // Answered in private: the first response, by whoever sent it.
    let sent = acme
        .send_reply(SendReplyRequest {
            request_id: "r-1".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: "Sorry Jane, I've sent you the tracking number in a private message.".into(),
            public: false,
            ..Default::default()
        })
        .await
        .expect("reply")
        .into_inner();
    let answered = sent.case.expect("case");
    let replied = latest(&told(&h).await, &answered);
    assert_eq!(replied.version, answered.version);
    assert_eq!(
        (
            replied.status.as_str(),
            replied.replies,
            replied.agent.as_str(),
            replied.queue.as_str(),
            replied.moved_private
        ),
        ("OPEN", 1, "test-user", "cards", true)
    );
    let first = replied.first_response_at.expect("first response");
    let opened = case.opened_at.expect("opened");
    let waited =
        (first.seconds - opened.seconds) as f64 + f64::from(first.nanos - opened.nanos) / 1e9;
    assert!(
        (replied.first_response_business_secs - waited).abs() < 0.01,
        "every hour counts without business hours: {} vs {waited}",
        replied.first_response_business_secs
    );
    assert!(sla(&replied).contains(&("FIRST_RESPONSE", "MET")));
    let posted: Vec<ReplySent> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            Some(event::Payload::ReplySent(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].queue, "cards", "the team that answered");

    let one = goodwill(&mut acme, &answered, "gw-1", 1999).await;
    let two = goodwill(&mut acme, &one, "gw-2", 500).await;
    let given = latest(&told(&h).await, &two);
    assert_eq!((given.goodwill_gestures, given.goodwill_minor), (2, 2499));

    let resolved = resolve(&mut acme, &two).await;
    let first_resolution = latest(&told(&h).await, &resolved);
    assert_eq!(first_resolution.status, "RESOLVED");
    assert_eq!(
        seconds(&first_resolution.resolved_at),
        seconds(&resolved.resolved_at)
    );
    assert!(first_resolution.resolution_business_secs >= replied.first_response_business_secs);
    assert_eq!(first_resolution.reopens, 0);

    // Back to work by hand, and resolved again.
    let reopened = move_to(&mut acme, &resolved, CaseStatus::Open).await;
    let back = latest(&told(&h).await, &reopened);
    assert_eq!((back.status.as_str(), back.reopens), ("OPEN", 1));
    assert!(back.resolved_at.is_none());
    assert_eq!(back.resolution_business_secs, 0.0);
    let again = resolve(&mut acme, &reopened).await;
    let second_resolution = latest(&told(&h).await, &again);
    assert_eq!(second_resolution.reopens, 1);
    assert!(second_resolution.resolved_at.is_some());

    // The customer writes again, by another channel: intake reopens it.
    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "t-1",
            channel: Channel::Facebook,
            actionable: false,
            text: "still nothing in the post",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let woken = get(&mut acme, &again).await;
    let written = latest(&told(&h).await, &woken);
    assert_eq!(written.version, woken.version);
    assert_eq!(
        (
            written.status.as_str(),
            written.reopens,
            written.inbound_messages,
            written.channel_switches
        ),
        ("OPEN", 2, 2, 1)
    );
    assert!(written.resolved_at.is_none());

    let done = resolve(&mut acme, &woken).await;
    let rated = acme
        .record_csat(RecordCsatRequest {
            case_id: done.case_id.clone(),
            score: 4,
            comment: String::new(),
        })
        .await
        .expect("csat")
        .into_inner();
    let told = told(&h).await;
    versions_agree(&told);
    let last = latest(&told, &rated);
    assert_eq!((last.version, last.csat), (rated.version, 4));
    assert_eq!(
        (last.replies, last.goodwill_gestures, last.reopens),
        (1, 2, 2),
        "what happened before stays told"
    );
    assert_eq!(
        of(&told, &rated).len() as i64,
        rated.version,
        "one event per version"
    );
}

#[tokio::test]
async fn escalations_and_merges_tell_their_cases_facts() {
    let h = Harness::start_keeping_events().await;
    let mut acme = h.client("acme");
    let source = create(&mut acme, "mail-1").await;
    let target = create(&mut acme, "mail-2").await;
    let escalation = Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: "acme".into(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        aggregate_key: "esc".into(),
        producer: "escalation".into(),
        drill: false,
        payload: Some(event::Payload::EscalationRaised(EscalationRaised {
            escalation_id: "esc-1".into(),
            case_id: target.case_id.clone(),
            severity: "high".into(),
            reason: "legal threat".into(),
            ..Default::default()
        })),
    };
    h.deliver(vec![escalation]).await;
    let raised = get(&mut acme, &target).await;
    let escalated = latest(&told(&h).await, &raised);
    assert_eq!(escalated.version, raised.version);
    assert_eq!(
        (escalated.priority.as_str(), escalated.lane.as_str()),
        ("high", "FAST")
    );

    let merged = acme
        .merge_cases(MergeCasesRequest {
            source_case_id: source.case_id.clone(),
            source_version: source.version,
            target_case_id: raised.case_id.clone(),
            target_version: raised.version,
        })
        .await
        .expect("merged")
        .into_inner();
    let told = told(&h).await;
    versions_agree(&told);
    let folded = latest(&told, &source);
    assert_eq!(
        (folded.status.as_str(), folded.merged_into.as_str()),
        ("CLOSED", target.case_id.as_str())
    );
    let into = latest(&told, &merged);
    assert_eq!(into.version, merged.version);
    assert_eq!(into.inbound_messages, 2, "it counts for both now");
    assert_eq!(into.merged_into, "");
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Facts are put on case events in one place, so every event goes through it.
#[test]
fn only_the_record_enqueues() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let the_one = src.join("record").join("store.rs");
    let elsewhere: Vec<String> = files
        .iter()
        .filter(|f| **f != the_one)
        .filter(|f| {
            std::fs::read_to_string(f)
                .expect("source readable")
                .contains(".enqueue")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        elsewhere.is_empty(),
        "enqueue through record::store::enqueue: {elsewhere:?}"
    );
}
