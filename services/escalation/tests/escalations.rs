//! What a guideline does when it fires, once per guideline and subject
//! whatever the redeliveries, and what people do with an escalation.

mod common;

use common::{
    Harness, Mention, actions, assert_code, assert_invalid, create, disable_defaults,
    evaluation_of, get_escalation, guideline, kinds, replayed, time, topic,
};
use earshot_proto::common::v1::Urgency;
use earshot_proto::escalation::v1 as pb;
use earshot_proto::events::v1::event;
use tonic::Code;

#[tokio::test]
async fn an_escalation_carries_the_guidelines_team_severity_and_deadline() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    disable_defaults(&mut client).await;
    let mut input = guideline(
        "Billing outage",
        topic(&["billing"]),
        pb::Actions {
            ack_within_seconds: 900,
            ..actions(pb::Team::Legal)
        },
    );
    input.severity = pb::Severity::Sev1 as i32;
    let g = create(&mut client, input).await;
    let hit = Mention::new("acme", "m-1").topic("billing").event();
    h.deliver(vec![hit.clone()]).await;

    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 1);
    let e = &raised[0];
    assert_eq!(e.guideline_id, g.guideline_id);
    assert_eq!(e.guideline_name, "Billing outage");
    assert_eq!(e.team, pb::Team::Legal as i32);
    assert_eq!(e.severity, pb::Severity::Sev1 as i32);
    assert_eq!(e.state, pb::EscalationState::Raised as i32);
    assert_eq!((e.level, e.repeat), (0, 0));
    assert!(!e.drill);
    assert_eq!(
        time(&e.ack_due_at) - time(&e.raised_at),
        chrono::Duration::seconds(900)
    );
    assert!(e.reason.contains("Billing outage"), "{}", e.reason);
    // Who said what, in a line; the mention's id is the trigger's.
    assert!(
        e.reason.starts_with("Billing outage: mention"),
        "{}",
        e.reason
    );
    assert!(e.incident_id.is_empty(), "the guideline opens no incident");
    let trigger = e.trigger.as_ref().expect("trigger");
    assert_eq!(trigger.kind, pb::TriggerKind::Mention as i32);
    assert_eq!(trigger.mention_id, "m-1");
    assert_eq!(trigger.event_id, hit.event_id);

    // The event the case service and webhooks hear.
    let emitted = h.emitted().await;
    let raised_events: Vec<_> = emitted.iter().filter_map(|e| e.raised()).collect();
    assert_eq!(raised_events.len(), 1);
    let r = raised_events[0];
    assert_eq!(r.escalation_id, e.escalation_id);
    assert_eq!(r.mention_id, "m-1");
    assert_eq!(r.guideline_id, g.guideline_id);
    assert_eq!(r.guideline_version, 1);
    assert_eq!(r.severity, "SEV1");
    assert_eq!(r.team, "LEGAL");
    assert_eq!(r.trigger, "MENTION");
    assert!(!r.leave_case);
    assert_eq!(r.ack_due_at, e.ack_due_at);
    let batch = emitted
        .iter()
        .find(|x| x.raised().is_some())
        .expect("raised");
    assert!(
        batch.subscribers.contains(&common::PROBE.to_owned()),
        "{batch:?}"
    );
    assert!(!batch.event.drill);
}

#[tokio::test]
async fn a_guideline_that_does_not_raise_the_case_says_leave_case() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    disable_defaults(&mut client).await;
    let raising = create(
        &mut client,
        guideline("Raises", topic(&["billing"]), actions(pb::Team::Support)),
    )
    .await;
    let leaving = create(
        &mut client,
        guideline(
            "Leaves",
            topic(&["billing"]),
            pb::Actions {
                raise_case_priority: false,
                ..actions(pb::Team::Pr)
            },
        ),
    )
    .await;
    h.deliver(vec![Mention::new("acme", "m-1").topic("billing").event()])
        .await;
    let emitted = h.emitted().await;
    let leave_case = |g: &pb::Guideline| {
        let raised: Vec<_> = emitted
            .iter()
            .filter_map(|e| e.raised())
            .filter(|r| r.guideline_id == g.guideline_id)
            .collect();
        assert_eq!(raised.len(), 1, "one EscalationRaised under {}", g.name);
        raised[0].leave_case
    };
    assert!(!leave_case(&raising));
    assert!(leave_case(&leaving));
}

#[tokio::test]
async fn a_redelivered_or_replayed_mention_raises_once_per_guideline() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    disable_defaults(&mut client).await;
    for name in ["One", "Two"] {
        create(
            &mut client,
            guideline(name, topic(&["billing"]), actions(pb::Team::Support)),
        )
        .await;
    }
    let first = Mention::new("acme", "m-1").topic("billing").event();
    let answer = h.deliver(vec![first.clone()]).await;
    assert_eq!((answer.handled, answer.skipped), (1, 0));
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 2, "one per guideline");

    // The same event again (the relay retried): skipped by the inbox.
    let answer = h.deliver(vec![first.clone()]).await;
    assert_eq!((answer.handled, answer.skipped), (0, 1));
    // The same mention under a new event id (listening replayed it): handled,
    // but nothing raised twice.
    let replay = replayed(&first);
    let answer = h.deliver(vec![replay.clone()]).await;
    assert_eq!((answer.handled, answer.skipped), (1, 0));
    // And twice in one batch.
    let (a, b) = (replayed(&first), replayed(&first));
    let answer = h.deliver(vec![a.clone(), b.clone()]).await;
    assert_eq!((answer.handled, answer.skipped), (2, 0));

    let after = common::escalations(&mut client, false).await;
    let mut before_ids: Vec<_> = raised.iter().map(|e| &e.escalation_id).collect();
    let mut after_ids: Vec<_> = after.iter().map(|e| &e.escalation_id).collect();
    before_ids.sort();
    after_ids.sort();
    assert_eq!(after_ids, before_ids);
    let events = h.emitted().await;
    assert_eq!(events.iter().filter(|e| e.raised().is_some()).count(), 2);

    let original = evaluation_of(&mut client, &first.event_id).await;
    assert_eq!(original.outcome, "escalated");
    assert_eq!(original.escalation_ids.len(), 2);
    for again in [&replay, &a, &b] {
        let evaluation = evaluation_of(&mut client, &again.event_id).await;
        assert_eq!(evaluation.outcome, "already_escalated", "{evaluation:?}");
        assert!(evaluation.escalation_ids.is_empty(), "{evaluation:?}");
    }
    assert_eq!(common::evaluations(&mut client).await.len(), 4);
}

#[tokio::test]
async fn a_new_mention_of_the_same_author_is_a_new_escalation() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let m1 = Mention::new("acme", "m-1").urgency(Urgency::LegalThreat);
    let m2 = Mention::new("acme", "m-2").urgency(Urgency::LegalThreat);
    h.deliver(vec![m1.event(), m2.event()]).await;
    let raised = common::escalations(&mut client, false).await;
    let mut mentions: Vec<_> = raised
        .iter()
        .map(|e| e.trigger.as_ref().expect("trigger").mention_id.as_str())
        .collect();
    mentions.sort_unstable();
    assert_eq!(mentions, ["m-1", "m-2"]);
}

#[tokio::test]
async fn acknowledge_then_resolve_with_a_timeline() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    h.deliver(vec![
        Mention::new("acme", "m-1")
            .urgency(Urgency::LegalThreat)
            .event(),
    ])
    .await;
    let e = common::escalations(&mut client, false).await.remove(0);
    assert_eq!(e.team, pb::Team::Legal as i32);
    let id = e.escalation_id.clone();

    let ack = |team: pb::Team| pb::AcknowledgeEscalationRequest {
        escalation_id: id.clone(),
        team: team as i32,
    };
    assert_invalid(
        client
            .acknowledge_escalation(ack(pb::Team::Unspecified))
            .await,
        &["team"],
    );
    let acked = client
        .acknowledge_escalation(ack(pb::Team::Legal))
        .await
        .expect("acknowledged")
        .into_inner();
    assert_eq!(acked.state, pb::EscalationState::Acknowledged as i32);
    assert_eq!(acked.acknowledged_by, "test-user");
    assert_eq!(acked.acknowledged_for, pb::Team::Legal as i32);
    assert!(acked.acknowledged_at.is_some());
    assert!(acked.ack_due_at.is_none(), "the ladder stops");
    assert_code(
        client.acknowledge_escalation(ack(pb::Team::Legal)).await,
        Code::FailedPrecondition,
    );

    let resolve = pb::ResolveEscalationRequest {
        escalation_id: id.clone(),
        note: "  the customer was called back  ".into(),
    };
    let resolved = client
        .resolve_escalation(resolve.clone())
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(resolved.state, pb::EscalationState::Resolved as i32);
    assert_eq!(resolved.resolved_by, "test-user");
    assert!(resolved.resolved_at.is_some());
    assert_code(
        client.resolve_escalation(resolve).await,
        Code::FailedPrecondition,
    );
    // A resolved escalation cannot be acknowledged any more either.
    assert_code(
        client.acknowledge_escalation(ack(pb::Team::Legal)).await,
        Code::FailedPrecondition,
    );

    let read = get_escalation(&mut client, &id).await;
    assert_eq!(
        kinds(&read.timeline),
        ["raised", "acknowledged", "resolved"]
    );
    assert_eq!(read.timeline[0].actor, "system");
    assert_eq!(read.timeline[1].actor, "test-user");
    assert_eq!(read.timeline[2].detail, "the customer was called back");
    assert_eq!(read.acknowledged_for, pb::Team::Legal as i32);

    // Lists by state.
    let by_state = |state: pb::EscalationState| pb::ListEscalationsRequest {
        state: state as i32,
        ..Default::default()
    };
    let resolved_list = client
        .list_escalations(by_state(pb::EscalationState::Resolved))
        .await
        .expect("listed")
        .into_inner()
        .escalations;
    assert_eq!(resolved_list.len(), 1);
    let raised_list = client
        .list_escalations(by_state(pb::EscalationState::Raised))
        .await
        .expect("listed")
        .into_inner()
        .escalations;
    assert!(raised_list.is_empty());

    let emitted = h.emitted().await;
    let acknowledged = emitted.iter().find_map(|e| match &e.event.payload {
        Some(event::Payload::EscalationAcknowledged(a)) => Some(a.clone()),
        _ => None,
    });
    let acknowledged = acknowledged.expect("EscalationAcknowledged enqueued");
    assert_eq!(acknowledged.escalation_id, id);
    assert_eq!(acknowledged.team, "LEGAL");
    assert_eq!(acknowledged.acknowledged_by, "test-user");
    let resolved_event = emitted.iter().find_map(|e| match &e.event.payload {
        Some(event::Payload::EscalationResolved(r)) => Some(r.clone()),
        _ => None,
    });
    assert_eq!(
        resolved_event.expect("EscalationResolved enqueued").note,
        "the customer was called back"
    );
}

#[tokio::test]
async fn a_raised_escalation_can_be_resolved_without_acknowledgement() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    h.deliver(vec![
        Mention::new("acme", "m-1").urgency(Urgency::Safety).event(),
    ])
    .await;
    let e = common::escalations(&mut client, false).await.remove(0);
    let resolved = client
        .resolve_escalation(pb::ResolveEscalationRequest {
            escalation_id: e.escalation_id.clone(),
            note: String::new(),
        })
        .await
        .expect("resolved")
        .into_inner();
    assert_eq!(resolved.state, pb::EscalationState::Resolved as i32);
    assert!(resolved.ack_due_at.is_none());
    assert_code(
        client
            .acknowledge_escalation(pb::AcknowledgeEscalationRequest {
                escalation_id: e.escalation_id,
                team: pb::Team::ServiceLead as i32,
            })
            .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn escalations_page_newest_first() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    for i in 0..5 {
        h.deliver(vec![
            Mention::new("acme", &format!("m-{i}"))
                .urgency(Urgency::LegalThreat)
                .event(),
        ])
        .await;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_escalations(pb::ListEscalationsRequest {
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert!(page.escalations.len() <= 2);
        seen.extend(
            page.escalations
                .iter()
                .map(|e| e.trigger.as_ref().expect("trigger").mention_id.clone()),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["m-4", "m-3", "m-2", "m-1", "m-0"]);
}

#[tokio::test]
async fn an_event_marked_drill_is_never_handled_as_real() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let mut rehearsed = Mention::new("acme", "m-1")
        .urgency(Urgency::LegalThreat)
        .event();
    rehearsed.drill = true;
    let answer = h.deliver(vec![rehearsed]).await;
    assert_eq!((answer.handled, answer.skipped), (0, 1));
    assert!(common::escalations(&mut client, true).await.is_empty());
    assert!(common::evaluations(&mut client).await.is_empty());
}

#[tokio::test]
async fn concurrent_replays_of_a_mention_raise_once() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let first = Mention::new("acme", "m-1")
        .urgency(Urgency::LegalThreat)
        .event();
    let batches = (0..10).map(|_| {
        let event = replayed(&first);
        let h = &h;
        async move { h.deliver(vec![event]).await }
    });
    let answers = futures_util::future::join_all(batches).await;
    assert!(answers.iter().all(|a| a.handled == 1));
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 1, "{raised:#?}");
    let outcomes: Vec<String> = common::evaluations(&mut client)
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(outcomes.len(), 10);
    assert_eq!(
        outcomes.iter().filter(|o| *o == "escalated").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        h.emitted()
            .await
            .iter()
            .filter(|e| e.raised().is_some())
            .count(),
        1
    );
}
