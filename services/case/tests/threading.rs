//! Threading, redelivery, the lifecycle with its audit trail, and merging
//! cases, against a real case service and Postgres.

mod common;

use common::{Harness, Mention, assert_code, assert_invalid, audit};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    Case, CaseStatus, CreateCaseRequest, GetCaseRequest, ListAuditEntriesRequest,
    ListCaseMessagesRequest, ListCasesRequest, MergeCasesRequest, MessageDirection,
    UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_testkit::AuthedChannel;
use tonic::Code;

async fn cases(client: &mut CaseServiceClient<AuthedChannel>) -> Vec<Case> {
    client
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
}

async fn message_mentions(
    client: &mut CaseServiceClient<AuthedChannel>,
    case_id: &str,
) -> Vec<String> {
    client
        .list_case_messages(ListCaseMessagesRequest {
            case_id: case_id.into(),
            ..Default::default()
        })
        .await
        .expect("messages")
        .into_inner()
        .messages
        .into_iter()
        .map(|m| m.mention_id)
        .collect()
}

async fn move_to(
    client: &mut CaseServiceClient<AuthedChannel>,
    case: &Case,
    status: CaseStatus,
) -> Case {
    client
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: status as i32,
            version: case.version,
        })
        .await
        .unwrap_or_else(|e| panic!("move to {status:?}: {e:?}"))
        .into_inner()
}

#[tokio::test]
async fn a_thread_and_a_customers_topic_join_one_case_and_redelivery_adds_nothing() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let first = Mention {
        mention_id: "m-1",
        thread: "conv-1",
        topic: "card_delivery",
        ..Default::default()
    };
    let response = h
        .deliver(vec![
            first.event(),
            // A reply in the same thread by someone else, not a cry for help.
            Mention {
                mention_id: "m-2",
                thread: "conv-1",
                author: "99",
                actionable: false,
                text: "same here",
                ..Default::default()
            }
            .event(),
        ])
        .await;
    assert_eq!(response.handled, 2);
    // Later, the same customer on the same topic in a new thread.
    h.deliver(vec![
        Mention {
            mention_id: "m-3",
            thread: "conv-2",
            topic: "card_delivery",
            text: "still nothing, any news?",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    // The same mention again under a new event id, and the same event again.
    let again = first.event();
    h.deliver(vec![again.clone(), again]).await;

    let all = cases(&mut acme).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].mention_id, "m-1");
    assert_eq!(all[0].topic, "card_delivery");
    assert_eq!(
        message_mentions(&mut acme, &all[0].case_id).await,
        ["m-1", "m-2", "m-3"]
    );
    let messages = acme
        .list_case_messages(ListCaseMessagesRequest {
            case_id: all[0].case_id.clone(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .expect("page")
        .into_inner();
    assert_eq!(messages.messages.len(), 2);
    assert!(!messages.next_page_token.is_empty());
    assert_eq!(
        messages.messages[0].direction,
        MessageDirection::Inbound as i32
    );

    // Another topic, or a non-actionable mention out of any thread: no join.
    h.deliver(vec![
        Mention {
            mention_id: "m-4",
            thread: "conv-3",
            topic: "fees",
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "m-5",
            thread: "conv-4",
            actionable: false,
            text: "love the app",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let all = cases(&mut acme).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].mention_id, "m-4");

    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: all[1].case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["case.opened", "case.message_added", "case.message_added"]
    );
    assert_eq!(trail[0].actor, "system");
}

#[tokio::test]
async fn every_transition_is_checked_audited_and_a_customer_message_reopens() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    use CaseStatus::*;
    let all = [
        New,
        Open,
        PendingCustomer,
        PendingInternal,
        Resolved,
        Closed,
    ];

    // Every (from, to) pair: reach `from` by a legal path, then try `to`.
    let path_to = |s: CaseStatus| -> &'static [CaseStatus] {
        match s {
            New => &[],
            Open => &[Open],
            PendingCustomer => &[Open, PendingCustomer],
            PendingInternal => &[Open, PendingInternal],
            Resolved => &[Resolved],
            Closed => &[Resolved, Closed],
            Unspecified => &[],
        }
    };
    let legal = [
        (New, Open),
        (New, Resolved),
        (Open, PendingCustomer),
        (Open, PendingInternal),
        (Open, Resolved),
        (PendingCustomer, Open),
        (PendingCustomer, PendingInternal),
        (PendingCustomer, Resolved),
        (PendingInternal, Open),
        (PendingInternal, PendingCustomer),
        (PendingInternal, Resolved),
        (Resolved, Open),
        (Resolved, Closed),
    ];
    let mut n = 0;
    for from in all {
        for to in all {
            n += 1;
            let mut case = acme
                .create_case(CreateCaseRequest {
                    request_id: format!("r-{n}"),
                    channel: Channel::Chat as i32,
                    subject: "Help".into(),
                    customer_handle: "visitor-1".into(),
                    ..Default::default()
                })
                .await
                .expect("created")
                .into_inner();
            for step in path_to(from) {
                case = move_to(&mut acme, &case, *step).await;
            }
            let result = acme
                .update_case_status(UpdateCaseStatusRequest {
                    case_id: case.case_id.clone(),
                    status: to as i32,
                    version: case.version,
                })
                .await;
            if legal.contains(&(from, to)) {
                let moved = result.expect("legal move").into_inner();
                assert_eq!(moved.status, to as i32);
                assert_eq!(moved.version, case.version + 1);
                assert_eq!(moved.resolved_at.is_some(), matches!(to, Resolved | Closed));
            } else {
                assert_code(result, Code::FailedPrecondition);
                let unchanged = acme
                    .get_case(GetCaseRequest {
                        case_id: case.case_id.clone(),
                    })
                    .await
                    .expect("get")
                    .into_inner();
                assert_eq!(unchanged.version, case.version, "{from:?} -> {to:?}");
            }
        }
    }

    // The trail of one case: who did what, before and after.
    let mut case = acme
        .create_case(CreateCaseRequest {
            request_id: "trail".into(),
            channel: Channel::Chat as i32,
            subject: "Help".into(),
            customer_handle: "visitor-2".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner();
    case = move_to(&mut acme, &case, Open).await;
    case = move_to(&mut acme, &case, Resolved).await;
    let stale = acme
        .update_case_status(UpdateCaseStatusRequest {
            case_id: case.case_id.clone(),
            status: Closed as i32,
            version: case.version - 1,
        })
        .await;
    assert_code(stale, Code::Aborted);
    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: case.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let steps: Vec<_> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("case.opened", "test-user"),
            ("case.status_changed", "test-user"),
            ("case.status_changed", "test-user")
        ]
    );
    assert!(trail[2].before.contains("OPEN") && trail[2].after.contains("RESOLVED"));

    // A mention in a resolved case's thread reopens it; one in a closed
    // case's thread opens a new case.
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "conv-9",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let social = cases(&mut acme)
        .await
        .into_iter()
        .find(|c| c.mention_id == "m-1")
        .expect("opened");
    let resolved = move_to(&mut acme, &social, Resolved).await;
    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "conv-9",
            actionable: false,
            text: "actually it broke again",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let reopened = acme
        .get_case(GetCaseRequest {
            case_id: social.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(reopened.status, Open as i32);
    assert_eq!(reopened.version, resolved.version + 1);
    assert!(reopened.resolved_at.is_none());
    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: social.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        trail
            .iter()
            .any(|e| e.action == "case.reopened" && e.actor == "system")
    );

    move_to(&mut acme, &reopened, PendingCustomer).await;
    h.deliver(vec![
        Mention {
            mention_id: "m-3",
            thread: "conv-9",
            actionable: false,
            text: "here is the screenshot",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let woken = acme
        .get_case(GetCaseRequest {
            case_id: social.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(woken.status, Open as i32, "the customer answered");
    let resolved = move_to(&mut acme, &woken, Resolved).await;
    move_to(&mut acme, &resolved, Closed).await;
    h.deliver(vec![
        Mention {
            mention_id: "m-4",
            thread: "conv-9",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let in_thread: Vec<_> = cases(&mut acme)
        .await
        .into_iter()
        .filter(|c| c.thread_key == "conv-9")
        .collect();
    assert_eq!(in_thread.len(), 2, "a closed case stays closed");
}

#[tokio::test]
async fn two_cases_merge_into_one_with_their_messages() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "a",
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "m-2",
            thread: "b",
            author: "77",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let all = cases(&mut acme).await;
    let (target, source) = (&all[0], &all[1]);
    let request = MergeCasesRequest {
        source_case_id: source.case_id.clone(),
        source_version: source.version,
        target_case_id: target.case_id.clone(),
        target_version: target.version,
    };
    assert_code(
        acme.merge_cases(MergeCasesRequest {
            source_version: source.version + 5,
            ..request.clone()
        })
        .await,
        Code::Aborted,
    );
    let merged = acme
        .merge_cases(request.clone())
        .await
        .expect("merged")
        .into_inner();
    assert_eq!(merged.version, target.version + 1);
    let mut mentions = message_mentions(&mut acme, &target.case_id).await;
    mentions.sort();
    assert_eq!(mentions, ["m-1", "m-2"]);
    let closed = acme
        .get_case(GetCaseRequest {
            case_id: source.case_id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(closed.status, CaseStatus::Closed as i32);
    assert_eq!(closed.merged_into_case_id, target.case_id);
    for (case, action) in [(source, "case.merged_into"), (target, "case.merged_from")] {
        let trail = audit(
            &mut acme,
            ListAuditEntriesRequest {
                case_id: case.case_id.clone(),
                ..Default::default()
            },
        )
        .await;
        assert!(trail.iter().any(|e| e.action == action), "{trail:?}");
    }
    // The source is gone: merging it again is refused, whatever the version.
    assert_code(
        acme.merge_cases(MergeCasesRequest {
            source_version: closed.version,
            target_version: merged.version,
            ..request
        })
        .await,
        Code::FailedPrecondition,
    );
    // A later message in the source's thread does not go to the merged-away case.
    h.deliver(vec![
        Mention {
            mention_id: "m-3",
            thread: "b",
            author: "77",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    assert_eq!(message_mentions(&mut acme, &source.case_id).await.len(), 0);
}

#[tokio::test]
async fn bad_input_on_every_case_call_names_the_field() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    assert_invalid(
        acme.create_case(CreateCaseRequest {
            request_id: "r".into(),
            channel: Channel::Email as i32,
            subject: "s".into(),
            customer_handle: "not-an-address".into(),
            topic: "Bad Topic".into(),
            ..Default::default()
        })
        .await,
        &["customer_handle", "topic"],
    );
    assert_invalid(
        acme.get_case(GetCaseRequest {
            case_id: String::new(),
        })
        .await,
        &["case_id"],
    );
    assert_invalid(
        acme.list_cases(ListCasesRequest {
            status: 99,
            ..Default::default()
        })
        .await,
        &["status"],
    );
    assert_invalid(
        acme.update_case_status(UpdateCaseStatusRequest {
            case_id: uuid::Uuid::now_v7().to_string(),
            status: CaseStatus::Open as i32,
            version: 0,
        })
        .await,
        &["version"],
    );
    assert_invalid(
        acme.merge_cases(MergeCasesRequest::default()).await,
        &[
            "source_case_id",
            "target_case_id",
            "source_version",
            "target_version",
        ],
    );
    assert_invalid(
        acme.list_case_messages(ListCaseMessagesRequest {
            case_id: uuid::Uuid::now_v7().to_string(),
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await,
        &["page_token"],
    );
    assert_invalid(
        acme.list_audit_entries(ListAuditEntriesRequest {
            case_id: "x".into(),
            ..Default::default()
        })
        .await,
        &["case_id"],
    );
    assert!(cases(&mut acme).await.is_empty());
}

#[tokio::test]
async fn tenants_never_share_threads_messages_trails_or_merges() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let mut globex = h.client("globex");
    // Same thread key, same author id, two tenants: two cases.
    h.deliver(vec![
        Mention {
            tenant: "acme",
            mention_id: "m-1",
            thread: "t",
            ..Default::default()
        }
        .event(),
        Mention {
            tenant: "globex",
            mention_id: "m-1",
            thread: "t",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let mine = cases(&mut acme).await.remove(0);
    let theirs = cases(&mut globex).await.remove(0);
    assert_ne!(mine.case_id, theirs.case_id);
    assert_ne!(mine.customer_id, theirs.customer_id);
    assert_code(
        acme.list_case_messages(ListCaseMessagesRequest {
            case_id: theirs.case_id.clone(),
            ..Default::default()
        })
        .await,
        Code::NotFound,
    );
    assert!(
        audit(
            &mut acme,
            ListAuditEntriesRequest {
                case_id: theirs.case_id.clone(),
                ..Default::default()
            },
        )
        .await
        .is_empty()
    );
    assert_code(
        acme.merge_cases(MergeCasesRequest {
            source_case_id: theirs.case_id.clone(),
            source_version: theirs.version,
            target_case_id: mine.case_id.clone(),
            target_version: mine.version,
        })
        .await,
        Code::NotFound,
    );
    assert_eq!(
        message_mentions(&mut globex, &theirs.case_id).await,
        ["m-1"]
    );
}

#[tokio::test]
async fn threads_survive_a_restart() {
    let mut h = Harness::start().await;
    let mut acme = h.client("acme");
    h.deliver(vec![
        Mention {
            mention_id: "m-1",
            thread: "t",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    h.service.restart().await;
    h.deliver(vec![
        Mention {
            mention_id: "m-2",
            thread: "t",
            actionable: false,
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "m-1",
            thread: "t",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let all = cases(&mut acme).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        message_mentions(&mut acme, &all[0].case_id).await,
        ["m-1", "m-2"]
    );
}
