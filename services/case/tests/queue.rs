//! The work queue by SLA due time with its filters, and escalations raising
//! cases into the fast lane, against a real case service and Postgres.

mod common;

use common::{Harness, Mention, assert_code, assert_invalid, audit};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    Agent, AssignCaseRequest, Case, CaseStatus, CreateCaseRequest, CreateRoutingRuleRequest,
    GetCaseRequest, Lane, ListAuditEntriesRequest, ListCasesRequest, ListQueueRequest,
    PutAgentRequest, PutSlaPolicyRequest, RoutingConditions, RoutingRule, SlaPolicy, SlaTarget,
    UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::{EscalationRaised, Event, event};
use earshot_testkit::AuthedChannel;
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

async fn set_up(client: &mut Client) {
    for (name, channel, priority, lane) in [
        ("phone", Channel::Phone, "urgent", Lane::Fast),
        ("email", Channel::Email, "high", Lane::Fast),
        ("forms", Channel::WebForm, "low", Lane::Standard),
    ] {
        client
            .create_routing_rule(CreateRoutingRuleRequest {
                request_id: name.into(),
                rule: Some(RoutingRule {
                    name: name.into(),
                    when: Some(RoutingConditions {
                        channels: vec![channel as i32],
                        ..Default::default()
                    }),
                    lane: lane as i32,
                    priority: priority.into(),
                    queue: name.into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("rule");
    }
    for (priority, lane, first) in [
        ("urgent", Lane::Fast, 60),
        ("high", Lane::Fast, 600),
        ("normal", Lane::Standard, 3600),
    ] {
        client
            .put_sla_policy(PutSlaPolicyRequest {
                policy: Some(SlaPolicy {
                    priority: priority.into(),
                    lane: lane as i32,
                    first_response_seconds: first,
                    next_response_seconds: 0,
                    resolution_seconds: 0,
                    version: 0,
                    business_hours: false,
                }),
            })
            .await
            .expect("policy");
    }
}

async fn open(client: &mut Client, request_id: &str, channel: Channel, handle: &str) -> Case {
    client
        .create_case(CreateCaseRequest {
            request_id: request_id.into(),
            channel: channel as i32,
            subject: request_id.into(),
            customer_handle: handle.into(),
            topic: if channel == Channel::Chat {
                "fees".into()
            } else {
                String::new()
            },
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
}

async fn queue(client: &mut Client, request: ListQueueRequest) -> Vec<String> {
    client
        .list_queue(request)
        .await
        .expect("queue")
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.subject)
        .collect()
}

#[tokio::test]
async fn the_queue_runs_by_sla_due_time_with_filters_and_pages() {
    let mut h = Harness::start().await;
    let mut acme = h.client("acme");
    set_up(&mut acme).await;
    let chat = open(&mut acme, "chat", Channel::Chat, "visitor-1").await;
    let email = open(&mut acme, "email", Channel::Email, "jane@example.com").await;
    let phone = open(&mut acme, "phone", Channel::Phone, "+44 20 7946 0000").await;
    let form = open(&mut acme, "form", Channel::WebForm, "form-7").await;
    assert!(form.sla_due_at.is_none(), "no policy for low priority");
    assert_eq!(chat.priority, "normal");

    let all = queue(&mut acme, ListQueueRequest::default()).await;
    assert_eq!(all, ["phone", "email", "chat", "form"]);
    // One per page, through the cases without a clock, to the end.
    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = acme
            .list_queue(ListQueueRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        paged.extend(page.cases.into_iter().map(|c| c.subject));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, all);

    let fast = ListQueueRequest {
        lane: Lane::Fast as i32,
        ..Default::default()
    };
    assert_eq!(queue(&mut acme, fast).await, ["phone", "email"]);
    for (request, expected) in [
        (
            ListQueueRequest {
                priority: "high".into(),
                ..Default::default()
            },
            vec!["email"],
        ),
        (
            ListQueueRequest {
                queue: "forms".into(),
                ..Default::default()
            },
            vec!["form"],
        ),
        (
            ListQueueRequest {
                channel: Channel::Chat as i32,
                ..Default::default()
            },
            vec!["chat"],
        ),
        (
            ListQueueRequest {
                topic: "fees".into(),
                ..Default::default()
            },
            vec!["chat"],
        ),
        (
            ListQueueRequest {
                customer_id: email.customer_id.clone(),
                ..Default::default()
            },
            vec!["email"],
        ),
    ] {
        assert_eq!(queue(&mut acme, request).await, expected);
    }

    // Assignment and status narrow it too; resolved cases leave the queue.
    acme.put_agent(PutAgentRequest {
        agent: Some(Agent {
            agent_id: "ann".into(),
            queues: vec!["phone".into()],
            capacity: 5,
            available: true,
            ..Default::default()
        }),
    })
    .await
    .expect("agent");
    acme.assign_case(AssignCaseRequest {
        case_id: phone.case_id.clone(),
        version: phone.version,
        agent_id: "ann".into(),
        force: false,
    })
    .await
    .expect("assigned");
    let mine = ListQueueRequest {
        assignee: "ann".into(),
        ..Default::default()
    };
    assert_eq!(queue(&mut acme, mine).await, ["phone"]);
    let unassigned = ListQueueRequest {
        unassigned: true,
        ..Default::default()
    };
    assert_eq!(
        queue(&mut acme, unassigned).await,
        ["email", "chat", "form"]
    );
    let resolved = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: email.case_id.clone(),
            status: CaseStatus::Resolved as i32,
            version: email.version,
        })
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(
        queue(&mut acme, ListQueueRequest::default()).await,
        ["phone", "chat", "form"]
    );
    let done = ListQueueRequest {
        statuses: vec![CaseStatus::Resolved as i32],
        ..Default::default()
    };
    assert_eq!(queue(&mut acme, done).await, ["email"]);
    assert_eq!(resolved.status, CaseStatus::Resolved as i32);

    // Another tenant's queue is its own; the order survives a restart.
    let mut globex = h.client("globex");
    assert!(
        queue(&mut globex, ListQueueRequest::default())
            .await
            .is_empty()
    );
    h.service.restart().await;
    assert_eq!(
        queue(&mut acme, ListQueueRequest::default()).await,
        ["phone", "chat", "form"]
    );
    assert_invalid(
        acme.list_queue(ListQueueRequest {
            priority: "soon".into(),
            page_token: "x".into(),
            ..Default::default()
        })
        .await,
        &["priority", "page_token"],
    );
}

fn escalation(tenant: &str, case_id: &str, mention_id: &str) -> Event {
    escalation_of(tenant, case_id, mention_id, false)
}

fn escalation_of(tenant: &str, case_id: &str, mention_id: &str, leave_case: bool) -> Event {
    Event {
        event_id: uuid::Uuid::now_v7().to_string(),
        tenant_id: tenant.into(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        aggregate_key: "esc".into(),
        producer: "escalation".into(),
        drill: false,
        payload: Some(event::Payload::EscalationRaised(EscalationRaised {
            escalation_id: "esc-1".into(),
            mention_id: mention_id.into(),
            case_id: case_id.into(),
            guideline_id: "g-1".into(),
            severity: "high".into(),
            reason: "legal threat".into(),
            leave_case,
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn an_escalation_whose_guideline_leaves_the_case_changes_nothing() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    set_up(&mut acme).await;
    let chat = open(&mut acme, "chat", Channel::Chat, "visitor-1").await;
    let mut noted = escalation_of("acme", &chat.case_id, "", true);
    let response = h.deliver(vec![noted.clone()]).await;
    assert_eq!(response.handled, 1);
    // A drill's escalation never reaches the case either.
    noted.event_id = uuid::Uuid::now_v7().to_string();
    noted.drill = true;
    if let Some(event::Payload::EscalationRaised(e)) = noted.payload.as_mut() {
        e.leave_case = false;
    }
    let response = h.deliver(vec![noted]).await;
    assert_eq!((response.handled, response.skipped), (0, 1));
    let after = acme
        .get_case(GetCaseRequest {
            case_id: chat.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (after.priority.as_str(), after.lane, after.version),
        (chat.priority.as_str(), chat.lane, chat.version)
    );
}

#[tokio::test]
async fn an_escalation_raises_the_case_into_the_fast_lane_once() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    set_up(&mut acme).await;
    let chat = open(&mut acme, "chat", Channel::Chat, "visitor-1").await;
    let due_before = chat.sla_due_at.expect("due").seconds;

    let raised = escalation("acme", &chat.case_id, "");
    let response = h.deliver(vec![raised.clone()]).await;
    assert_eq!(response.handled, 1);
    let after = acme
        .get_case(GetCaseRequest {
            case_id: chat.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (after.priority.as_str(), after.lane, after.version),
        ("high", Lane::Fast as i32, chat.version + 1)
    );
    let first = after
        .slas
        .iter()
        .find(|t| t.target == SlaTarget::FirstResponse as i32)
        .expect("clock");
    let due_after = first.due_at.expect("running").seconds;
    assert_eq!(due_after - chat.opened_at.expect("opened").seconds, 600);
    assert!(due_after < due_before);
    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: chat.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let escalated: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "case.escalated")
        .collect();
    assert_eq!(escalated.len(), 1);
    assert!(escalated[0].after.contains("legal threat"));

    // Redelivered: nothing more. Another tenant's event: nothing at all.
    h.deliver(vec![raised, escalation("globex", &chat.case_id, "")])
        .await;
    let same = acme
        .get_case(GetCaseRequest {
            case_id: chat.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (same.priority.as_str(), same.version),
        ("high", after.version)
    );

    // By mention: the case holding it is raised.
    h.deliver(vec![
        Mention {
            mention_id: "m-9",
            thread: "t-9",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    h.deliver(vec![escalation("acme", "", "m-9")]).await;
    let social = acme
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .into_iter()
        .find(|c| c.mention_id == "m-9")
        .expect("case");
    assert_eq!(
        (social.priority.as_str(), social.lane),
        ("high", Lane::Fast as i32)
    );
    // Twice more: urgent is the ceiling.
    h.deliver(vec![escalation("acme", &social.case_id, "")])
        .await;
    h.deliver(vec![escalation("acme", &social.case_id, "")])
        .await;
    let top = acme
        .get_case(GetCaseRequest {
            case_id: social.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(top.priority, "urgent");
    assert_code(
        acme.get_case(GetCaseRequest {
            case_id: "nope".into(),
        })
        .await,
        Code::InvalidArgument,
    );
}
