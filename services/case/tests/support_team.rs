//! Issue 17, "Case service as a support team finds it": each row of the issue
//! as the support team met it, through the gRPC API of a real case service on
//! Postgres. Clocks and promises are made due by setting their due time in
//! the past, never by waiting for it.

mod common;

use common::{Harness, Mention, assert_code, audit, configuration_trail};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    AddCommitmentRequest, AddExpertRequest, Agent, AssignCaseRequest, Case, CaseStatus,
    CommitmentState, CreateCaseRequest, CreateCustomerRequest, CreateRoutingRuleRequest,
    CustomerAttributes, FindCustomerRequest, GetCaseRequest, Identity, KeepCommitmentRequest, Lane,
    ListAuditEntriesRequest, ListCasesRequest, ListQueueRequest, ListRoutingRulesRequest,
    MergeCasesRequest, PutAgentRequest, PutSlaPolicyRequest, RecordCsatRequest, ResolveCaseRequest,
    RoutingConditions, RoutingRule, SendReplyRequest, SlaPolicy, SlaState, SlaTarget,
    UpdateCaseStatusRequest, UpdateRoutingRuleRequest,
};
use earshot_proto::common::v1::{Channel, TopicMatch};
use earshot_proto::events::v1::{Event, event};
use earshot_testkit::{AuthedChannel, eventually};
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

async fn get(client: &mut Client, case_id: &str) -> Case {
    client
        .get_case(GetCaseRequest {
            case_id: case_id.into(),
        })
        .await
        .expect("get")
        .into_inner()
}

async fn email_case(client: &mut Client, request_id: &str, topic: &str) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: request_id.into(),
            channel: Channel::Email as i32,
            subject: "Refund".into(),
            customer_handle: format!("{request_id}@example.com"),
            topic: topic.into(),
            ..Default::default()
        })
        .await
        .expect("case created")
        .into_inner()
}

async fn put_policy(client: &mut Client, first: u32, next: u32, resolution: u32) {
    client
        .put_sla_policy(PutSlaPolicyRequest {
            policy: Some(SlaPolicy {
                priority: "normal".into(),
                lane: Lane::Standard as i32,
                first_response_seconds: first,
                next_response_seconds: next,
                resolution_seconds: resolution,
                ..Default::default()
            }),
        })
        .await
        .expect("policy");
}

async fn reply(client: &mut Client, case: &Case, request_id: &str) -> Case {
    client
        .send_reply(SendReplyRequest {
            request_id: request_id.into(),
            case_id: case.case_id.clone(),
            version: case.version,
            body: format!("Looking into it for you now ({request_id})."),
            public: true,
            ..Default::default()
        })
        .await
        .expect("reply sent")
        .into_inner()
        .case
        .expect("case")
}

async fn case_of_mention(client: &mut Client, mention_id: &str) -> Case {
    eventually(&format!("a case holds {mention_id}"), || {
        let mut client = client.clone();
        async move {
            client
                .list_cases(ListCasesRequest::default())
                .await
                .expect("list")
                .into_inner()
                .cases
                .into_iter()
                .find(|c| c.mention_id == mention_id)
        }
    })
    .await
}

fn clock(case: &Case, target: SlaTarget) -> Option<&earshot_proto::case::v1::SlaTimer> {
    case.slas.iter().find(|t| t.target == target as i32)
}

/// Makes a case's running first-response clock overdue now, as time would.
async fn first_response_overdue(h: &Harness, case: &Case) {
    let pool = h.db.pool("cases").await;
    sqlx::query(
        "UPDATE case_sla_timers SET due_at = now() - interval '1 minute'
          WHERE case_id = $1::uuid AND target = 1",
    )
    .bind(&case.case_id)
    .execute(&pool)
    .await
    .expect("clock moved");
    sqlx::query("UPDATE cases SET sla_due_at = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(&case.case_id)
        .execute(&pool)
        .await
        .expect("due time moved");
    pool.close().await;
}

async fn wait_breached(client: &Client, case: &Case) -> Case {
    eventually("the first response is breached", || {
        let mut client = client.clone();
        let id = case.case_id.clone();
        async move {
            let now = get(&mut client, &id).await;
            clock(&now, SlaTarget::FirstResponse)
                .is_some_and(|t| t.state == SlaState::Breached as i32)
                .then_some(now)
        }
    })
    .await
}

/// A mention from `author` (x user id) with `handle` on `topics`.
fn mention_from(
    mention_id: &str,
    author: &str,
    handle: &str,
    thread: &str,
    topics: &[&str],
) -> Event {
    let mut e = Mention {
        mention_id,
        author,
        thread,
        ..Default::default()
    }
    .event();
    if let Some(event::Payload::MentionClassified(m)) = e.payload.as_mut() {
        if let Some(a) = m.author.as_mut() {
            a.handle = handle.into();
        }
        if let Some(c) = m.classification.as_mut() {
            c.topics = topics
                .iter()
                .map(|t| TopicMatch {
                    topic: (*t).into(),
                    cues: vec![],
                })
                .collect();
        }
    }
    e
}

// Row 1: a case for a known customer is opened by id, without a handle.
#[tokio::test]
async fn a_case_for_a_known_customer_opens_by_their_id() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let jane = acme
        .create_customer(CreateCustomerRequest {
            request_id: "c-1".into(),
            display_name: "Jane Doe".into(),
            identities: vec![Identity {
                platform: "email".into(),
                value: "jane@example.com".into(),
            }],
            ..Default::default()
        })
        .await
        .expect("customer")
        .into_inner();
    let case = acme
        .create_case(CreateCaseRequest {
            request_id: "r-1".into(),
            channel: Channel::Email as i32,
            customer_id: jane.customer_id.clone(),
            description: "help".into(),
            ..Default::default()
        })
        .await
        .expect("a case for Jane")
        .into_inner();
    assert_eq!(case.customer_id, jane.customer_id);
    assert_eq!(case.customer_handle, "Jane Doe");
    assert_eq!(case.subject, "help");
    // Neither an id nor a handle: still nobody to open it for.
    common::assert_invalid(
        acme.create_case(CreateCaseRequest {
            request_id: "r-2".into(),
            channel: Channel::Email as i32,
            description: "help".into(),
            ..Default::default()
        })
        .await,
        &["customer_handle"],
    );
}

async fn vip_rule(client: &mut Client) -> RoutingRule {
    client
        .create_routing_rule(CreateRoutingRuleRequest {
            request_id: "rule-vip".into(),
            rule: Some(RoutingRule {
                name: "VIP".into(),
                when: Some(RoutingConditions {
                    vip: true,
                    ..Default::default()
                }),
                lane: Lane::Fast as i32,
                priority: "urgent".into(),
                queue: "vip".into(),
                ..Default::default()
            }),
        })
        .await
        .expect("rule")
        .into_inner()
}

async fn vip_customer(client: &mut Client, handle: &str) -> String {
    client
        .create_customer(CreateCustomerRequest {
            request_id: format!("c-{handle}"),
            display_name: "Mara K".into(),
            attributes: Some(CustomerAttributes {
                vip: true,
                ..Default::default()
            }),
            identities: vec![Identity {
                platform: "x".into(),
                value: handle.into(),
            }],
            ..Default::default()
        })
        .await
        .expect("customer")
        .into_inner()
        .customer_id
}

// Row 2: a tweet from a customer's known handle is theirs; the user id joins them.
#[tokio::test]
async fn a_tweet_from_a_known_handle_is_that_customers_and_links_the_user_id() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    vip_rule(&mut acme).await;
    let mara = vip_customer(&mut acme, "@mara_k").await;
    h.deliver(vec![mention_from("m-1", "777123", "mara_k", "t-1", &[])])
        .await;
    let case = case_of_mention(&mut acme, "m-1").await;
    assert_eq!(case.customer_id, mara, "the existing profile");
    assert_eq!(case.lane, Lane::Fast as i32, "so VIP routing applies");
    let by_id = acme
        .find_customer(FindCustomerRequest {
            identity: Some(Identity {
                platform: "x".into(),
                value: "777123".into(),
            }),
        })
        .await
        .expect("the user id is linked")
        .into_inner();
    assert_eq!(by_id.customer_id, mara);
    assert!(by_id.attributes.expect("attributes").vip, "no new profile");
}

// Row 3: platform handles compare case-insensitively.
#[tokio::test]
async fn handles_are_found_whatever_their_case() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let jane = vip_customer(&mut acme, "@JaneDoe").await;
    for written in ["janedoe", "@JANEDOE", "JaneDoe"] {
        let found = acme
            .find_customer(FindCustomerRequest {
                identity: Some(Identity {
                    platform: "x".into(),
                    value: written.into(),
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("{written}: {e:?}"))
            .into_inner();
        assert_eq!(found.customer_id, jane, "{written}");
    }
}

// Row 4: every Case in every answer equals GetCase.
#[tokio::test]
async fn every_answer_shows_the_case_as_get_case_does() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    put_policy(&mut acme, 3600, 0, 86_400).await;
    acme.put_agent(PutAgentRequest {
        agent: Some(Agent {
            agent_id: "ann".into(),
            queues: vec!["general".into()],
            capacity: 5,
            available: true,
            expert_topics: vec!["billing".into()],
            ..Default::default()
        }),
    })
    .await
    .expect("agent");
    let case = email_case(&mut acme, "r-1", "billing").await;
    let promised = acme
        .add_commitment(AddCommitmentRequest {
            request_id: "p-1".into(),
            case_id: case.case_id.clone(),
            version: case.version,
            text: "We will confirm by email".into(),
            due_at: Some(prost_types::Timestamp {
                seconds: chrono::Utc::now().timestamp() + 86_400,
                nanos: 0,
            }),
        })
        .await
        .expect("promise")
        .into_inner();
    assert_eq!((promised.slas.len(), promised.commitments.len()), (2, 1));

    let opened = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: CaseStatus::Open as i32,
            version: promised.version,
        })
        .await
        .expect("opened")
        .into_inner();
    assert_eq!(
        opened,
        get(&mut acme, &case.case_id).await,
        "UpdateCaseStatus"
    );
    let assigned = acme
        .assign_case(AssignCaseRequest {
            case_id: case.case_id.clone(),
            version: opened.version,
            agent_id: "ann".into(),
            force: false,
        })
        .await
        .expect("assigned")
        .into_inner();
    assert_eq!(assigned, get(&mut acme, &case.case_id).await, "AssignCase");
    let with_expert = acme
        .add_expert(AddExpertRequest {
            case_id: case.case_id.clone(),
            version: assigned.version,
            agent_id: "ann".into(),
        })
        .await
        .expect("expert")
        .into_inner();
    assert_eq!(
        with_expert,
        get(&mut acme, &case.case_id).await,
        "AddExpert"
    );
    let other = email_case(&mut acme, "r-2", "").await;
    let merged = acme
        .merge_cases(MergeCasesRequest {
            source_case_id: other.case_id.clone(),
            source_version: other.version,
            target_case_id: case.case_id.clone(),
            target_version: with_expert.version,
        })
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged, get(&mut acme, &case.case_id).await, "MergeCases");
    assert_eq!((merged.slas.len(), merged.commitments.len()), (2, 1));
}

// Row 5: the next-response clock starts after a late first reply, and under a
// policy with no first-response target.
#[tokio::test]
async fn a_reply_is_due_after_the_customer_writes_again_whatever_the_first_response_did() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    put_policy(&mut acme, 3600, 600, 0).await;
    h.deliver(vec![mention_from("m-1", "111", "ana", "t-1", &[])])
        .await;
    let case = case_of_mention(&mut acme, "m-1").await;
    first_response_overdue(&h, &case).await;
    let breached = wait_breached(&acme, &case).await;
    reply(&mut acme, &breached, "late").await;
    h.deliver(vec![mention_from("m-2", "111", "ana", "t-1", &[])])
        .await;
    let again = get(&mut acme, &case.case_id).await;
    let next = clock(&again, SlaTarget::NextResponse).expect("a next-response clock");
    assert_eq!(
        next.state,
        SlaState::Running as i32,
        "after a late first reply"
    );

    // A tenant whose policy has no first-response target.
    let globex = Harness::start().await;
    let mut client = globex.client("acme");
    put_policy(&mut client, 0, 300, 0).await;
    globex
        .deliver(vec![mention_from("m-1", "222", "bo", "t-1", &[])])
        .await;
    let case = case_of_mention(&mut client, "m-1").await;
    assert!(case.slas.is_empty(), "no clock at first: {:?}", case.slas);
    reply(&mut client, &case, "first").await;
    globex
        .deliver(vec![mention_from("m-2", "222", "bo", "t-1", &[])])
        .await;
    let again = get(&mut client, &case.case_id).await;
    let next = clock(&again, SlaTarget::NextResponse).expect("a next-response clock");
    assert_eq!(
        next.state,
        SlaState::Running as i32,
        "with no first-response target"
    );
}

fn seconds(ts: &Option<prost_types::Timestamp>) -> Option<i64> {
    ts.as_ref().map(|t| t.seconds)
}

// Row 6: an answered case no longer keeps its breached due time.
#[tokio::test]
async fn sla_due_at_is_the_next_running_clock_and_unset_when_none_runs() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    put_policy(&mut acme, 3600, 0, 86_400).await;
    let answered = email_case(&mut acme, "r-1", "").await;
    let waiting = email_case(&mut acme, "r-2", "").await;
    first_response_overdue(&h, &answered).await;
    let answered = wait_breached(&acme, &answered).await;
    // The one nobody answered is breached later: it has waited less.
    first_response_overdue(&h, &waiting).await;
    let waiting = wait_breached(&acme, &waiting).await;

    let answered = reply(&mut acme, &answered, "late").await;
    let resolution = clock(&answered, SlaTarget::Resolution).expect("resolution clock");
    assert_eq!(
        seconds(&answered.sla_due_at),
        seconds(&resolution.due_at),
        "the next running clock's due time"
    );
    let queue: Vec<String> = acme
        .list_queue(ListQueueRequest::default())
        .await
        .expect("queue")
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.case_id)
        .collect();
    assert_eq!(
        queue,
        [waiting.case_id.clone(), answered.case_id.clone()],
        "the breached case nobody answered comes first"
    );
    let resolved = acme
        .resolve_case(ResolveCaseRequest {
            case_id: answered.case_id.clone(),
            version: answered.version,
            resolution_code: "refunded".into(),
        })
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(resolved.sla_due_at, None, "no clock runs");
    assert_eq!(get(&mut acme, &resolved.case_id).await.sla_due_at, None);
}

// Row 7: a follow-up on any of a case's topics joins it.
#[tokio::test]
async fn a_follow_up_on_one_of_a_cases_topics_joins_it() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    h.deliver(vec![mention_from(
        "m-1",
        "333",
        "cy",
        "t-1",
        &["billing", "card"],
    )])
    .await;
    let case = case_of_mention(&mut acme, "m-1").await;
    assert_eq!(case.topics, ["billing", "card"]);
    h.deliver(vec![mention_from("m-2", "333", "cy", "t-2", &["card"])])
        .await;
    let cases = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases;
    assert_eq!(cases.len(), 1, "one case: {cases:?}");
    let messages = acme
        .list_case_messages(earshot_proto::case::v1::ListCaseMessagesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        })
        .await
        .expect("messages")
        .into_inner()
        .messages;
    assert_eq!(messages.len(), 2);
}

// Row 8: routing rules can be disabled, and that is audited.
#[tokio::test]
async fn a_disabled_routing_rule_routes_nothing_and_the_trail_says_so() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let rule = vip_rule(&mut acme).await;
    assert_eq!(rule.enabled, Some(true), "enabled unless said otherwise");
    vip_customer(&mut acme, "mara_k").await;
    let disabled = acme
        .update_routing_rule(UpdateRoutingRuleRequest {
            rule: Some(RoutingRule {
                enabled: Some(false),
                ..rule.clone()
            }),
        })
        .await
        .expect("disabled")
        .into_inner();
    assert_eq!(disabled.enabled, Some(false));
    let renamed = acme
        .update_routing_rule(UpdateRoutingRuleRequest {
            rule: Some(RoutingRule {
                name: "VIP (paused)".into(),
                enabled: None,
                ..disabled.clone()
            }),
        })
        .await
        .expect("renamed")
        .into_inner();
    assert_eq!(renamed.enabled, Some(false), "unset keeps it");
    let listed = acme
        .list_routing_rules(ListRoutingRulesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .rules;
    assert_eq!(listed[0].enabled, Some(false));
    h.deliver(vec![mention_from("m-1", "mara_k", "mara_k", "t-1", &[])])
        .await;
    let case = case_of_mention(&mut acme, "m-1").await;
    assert_eq!(case.lane, Lane::Standard as i32, "the rule routed nothing");
    assert_eq!(case.routing_rule_id, "");
    let trail = configuration_trail(&mut acme).await;
    let update = trail
        .iter()
        .find(|e| e.action == "routing_rule.updated")
        .expect("the change is audited");
    let after: serde_json::Value = serde_json::from_str(&update.after).expect("json");
    assert_eq!(after["enabled"], serde_json::json!(false), "{after}");
}

// Row 9a: manual assignment respects capacity unless forced, and the trail says so.
#[tokio::test]
async fn assigning_past_capacity_is_refused_unless_forced() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    acme.put_agent(PutAgentRequest {
        agent: Some(Agent {
            agent_id: "ann".into(),
            queues: vec!["general".into()],
            capacity: 1,
            available: true,
            ..Default::default()
        }),
    })
    .await
    .expect("agent");
    let first = email_case(&mut acme, "r-1", "").await;
    assert_eq!(first.assignee, "ann", "her one slot");
    let second = email_case(&mut acme, "r-2", "").await;
    let assign = |force| AssignCaseRequest {
        case_id: second.case_id.clone(),
        version: second.version,
        agent_id: "ann".into(),
        force,
    };
    assert_code(
        acme.assign_case(assign(false)).await,
        Code::FailedPrecondition,
    );
    let forced = acme
        .assign_case(assign(true))
        .await
        .expect("forced")
        .into_inner();
    assert_eq!(forced.assignee, "ann");
    let entry = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: second.case_id.clone(),
            ..Default::default()
        },
    )
    .await
    .into_iter()
    .find(|e| e.action == "case.assigned")
    .expect("assignment audited");
    let after: serde_json::Value = serde_json::from_str(&entry.after).expect("json");
    assert_eq!(after["forced"], serde_json::json!(true), "{after}");
    // Her own case again is no extra load.
    acme.assign_case(AssignCaseRequest {
        case_id: first.case_id.clone(),
        version: first.version,
        agent_id: "ann".into(),
        force: false,
    })
    .await
    .expect("reassigning her own case");
}

// Row 9b: CSAT is recorded once; a retried survey changes nothing.
#[tokio::test]
async fn satisfaction_is_recorded_once() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let case = email_case(&mut acme, "r-1", "").await;
    let resolved = acme
        .resolve_case(ResolveCaseRequest {
            case_id: case.case_id.clone(),
            version: case.version,
            resolution_code: "answered".into(),
        })
        .await
        .expect("resolved")
        .into_inner();
    let csat = |score| RecordCsatRequest {
        case_id: resolved.case_id.clone(),
        score,
        comment: "quick".into(),
    };
    let rated = acme.record_csat(csat(4)).await.expect("csat").into_inner();
    let retried = acme.record_csat(csat(4)).await.expect("retry").into_inner();
    assert_eq!(retried, rated, "a retried survey changes nothing");
    assert_code(acme.record_csat(csat(2)).await, Code::AlreadyExists);
    let now = get(&mut acme, &case.case_id).await;
    assert_eq!(now.outcome.expect("outcome").csat, 4);
}

// Row 9c: a promise kept late says so on the case.
#[tokio::test]
async fn a_promise_kept_late_says_so() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let case = email_case(&mut acme, "r-1", "").await;
    let tomorrow = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 86_400,
        nanos: 0,
    };
    let promise = |request_id: &str, version| AddCommitmentRequest {
        request_id: request_id.into(),
        case_id: case.case_id.clone(),
        version,
        text: format!("promise {request_id}"),
        due_at: Some(tomorrow),
    };
    let one = acme
        .add_commitment(promise("p-1", case.version))
        .await
        .expect("promise")
        .into_inner();
    let two = acme
        .add_commitment(promise("p-2", one.version))
        .await
        .expect("promise")
        .into_inner();
    let late_id = two.commitments[0].commitment_id.clone();
    let pool = h.db.pool("cases").await;
    sqlx::query("UPDATE commitments SET due_at = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(&late_id)
        .execute(&pool)
        .await
        .expect("due now");
    pool.close().await;
    let overdue = eventually("the promise is overdue", || {
        let mut client = acme.clone();
        let id = case.case_id.clone();
        let late_id = late_id.clone();
        async move {
            let now = get(&mut client, &id).await;
            now.commitments
                .iter()
                .any(|c| c.commitment_id == late_id && c.state == CommitmentState::Overdue as i32)
                .then_some(now)
        }
    })
    .await;
    let keep = |case: &Case, id: &str| KeepCommitmentRequest {
        case_id: case.case_id.clone(),
        version: case.version,
        commitment_id: id.into(),
    };
    let kept = acme
        .keep_commitment(keep(&overdue, &late_id))
        .await
        .expect("kept")
        .into_inner();
    let on_time_id = kept
        .commitments
        .iter()
        .find(|c| c.commitment_id != late_id)
        .expect("the other")
        .commitment_id
        .clone();
    let both = acme
        .keep_commitment(keep(&kept, &on_time_id))
        .await
        .expect("kept")
        .into_inner();
    let late: Vec<(bool, bool)> = both
        .commitments
        .iter()
        .map(|c| (c.commitment_id == late_id, c.late))
        .collect();
    assert!(late.contains(&(true, true)), "{late:?}");
    assert!(late.contains(&(false, false)), "{late:?}");
}
