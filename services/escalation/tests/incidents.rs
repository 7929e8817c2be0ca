//! Incidents: opened by a guideline's action (its further escalations join
//! the active one) or by hand, moved forward only, holding statements
//! approved and posted, and an overdue statement counted and escalated.

mod common;

use common::{
    Client, Harness, Mention, actions, assert_code, assert_invalid, create, disable_defaults,
    get_incident, guideline, kinds, time, topic,
};
use earshot_proto::escalation::v1::{self as pb, Incident, IncidentState};
use earshot_proto::events::v1::event;
use earshot_testkit::eventually;
use tonic::Code;

fn statement(template: &str) -> pb::HoldingStatement {
    pb::HoldingStatement {
        template: template.into(),
        first_within_seconds: 300,
        update_every_seconds: 1200,
    }
}

async fn open(client: &mut Client, request_id: &str) -> Incident {
    client
        .open_incident(pb::OpenIncidentRequest {
            title: "Checkout is down".into(),
            severity: pb::Severity::Sev2 as i32,
            holding_statement: Some(statement("We know checkout is failing and are on it.")),
            request_id: request_id.into(),
            ..Default::default()
        })
        .await
        .expect("opened")
        .into_inner()
}

fn change(incident: &Incident) -> pb::UpdateIncidentRequest {
    pb::UpdateIncidentRequest {
        incident_id: incident.incident_id.clone(),
        expected_version: incident.version,
        ..Default::default()
    }
}

/// A guideline that opens an incident with a holding statement.
async fn incident_guideline(client: &mut Client) -> pb::Guideline {
    disable_defaults(client).await;
    let mut input = guideline(
        "Billing crisis",
        topic(&["billing"]),
        pb::Actions {
            open_incident: true,
            holding_statement: Some(statement(
                "{guideline} ({severity}): we are looking into {topic}, raised by a {trigger}.",
            )),
            ..actions(pb::Team::Pr)
        },
    );
    input.severity = pb::Severity::Sev2 as i32;
    create(client, input).await
}

#[tokio::test]
async fn a_guideline_opens_an_incident_that_its_next_escalations_join() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let g = incident_guideline(&mut client).await;
    h.deliver(vec![Mention::new("acme", "m-1").topic("billing").event()])
        .await;

    let listed = common::incidents(&mut client, false).await;
    assert_eq!(listed.len(), 1);
    let incident = get_incident(&mut client, &listed[0].incident_id).await;
    assert_eq!(incident.guideline_id, g.guideline_id);
    assert_eq!(incident.guideline_version, 1);
    assert_eq!(incident.state, IncidentState::Triage as i32);
    assert_eq!(incident.severity, pb::Severity::Sev2 as i32);
    assert_eq!(incident.commander, "team:PR");
    assert_eq!(incident.mention_ids, ["m-1"]);
    assert!(!incident.drill);
    let s = incident.statement.as_ref().expect("statement");
    assert_eq!(
        s.proposed,
        "Billing crisis (SEV2): we are looking into billing, raised by a MENTION."
    );
    assert!(s.approved.is_empty());
    assert_eq!(
        (s.first_within_seconds, s.update_every_seconds),
        (300, 1200)
    );
    // Due by the guideline's target after opening (the deadline is taken a
    // moment after the row's opening time).
    let due_after = time(&s.next_due_at) - time(&incident.opened_at);
    assert!(
        due_after >= chrono::Duration::seconds(300) && due_after < chrono::Duration::seconds(301),
        "the first statement is due by the guideline's target: {due_after}"
    );
    assert_eq!(kinds(&incident.timeline), ["opened", "statement_proposed"]);

    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].incident_id, incident.incident_id);
    assert_eq!(incident.escalation_ids, [raised[0].escalation_id.as_str()]);

    let opened: Vec<_> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.event.payload {
            Some(event::Payload::IncidentOpened(o)) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].incident_id, incident.incident_id);
    assert_eq!(opened[0].guideline_id, g.guideline_id);
    assert_eq!(opened[0].severity, "SEV2");
    assert_eq!(opened[0].proposed_statement, s.proposed);

    // A second mention, and two more in one batch, join the same incident.
    h.deliver(vec![Mention::new("acme", "m-2").topic("billing").event()])
        .await;
    h.deliver(vec![
        Mention::new("acme", "m-3").topic("billing").event(),
        Mention::new("acme", "m-4").topic("billing").event(),
    ])
    .await;
    let listed = common::incidents(&mut client, false).await;
    assert_eq!(listed.len(), 1, "one active incident per guideline");
    let joined = get_incident(&mut client, &incident.incident_id).await;
    let mut mentions = joined.mention_ids.clone();
    mentions.sort();
    assert_eq!(mentions, ["m-1", "m-2", "m-3", "m-4"]);
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 4);
    for e in &raised {
        assert_eq!(e.incident_id, incident.incident_id);
        assert!(joined.escalation_ids.contains(&e.escalation_id));
    }
    assert_eq!(joined.escalation_ids.len(), 4);

    // Once it is resolved, the guideline's next escalation opens a new one.
    client
        .update_incident(pb::UpdateIncidentRequest {
            state: IncidentState::Resolved as i32,
            ..change(&joined)
        })
        .await
        .expect("resolved");
    h.deliver(vec![Mention::new("acme", "m-5").topic("billing").event()])
        .await;
    let listed = common::incidents(&mut client, false).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].mention_ids, ["m-5"], "newest first");
}

#[tokio::test]
async fn an_incident_opened_by_hand_is_opened_once_per_request() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let first = open(&mut client, "open-1").await;
    assert_eq!(first.title, "Checkout is down");
    assert_eq!(
        first.commander, "test-user",
        "the caller when none is named"
    );
    assert_eq!(first.state, IncidentState::Triage as i32);
    assert_eq!(first.version, 1);
    assert!(first.guideline_id.is_empty());
    let s = first.statement.as_ref().expect("statement");
    assert_eq!(s.proposed, "We know checkout is failing and are on it.");
    assert_eq!(kinds(&first.timeline), ["opened", "statement_proposed"]);
    assert_eq!(first.timeline[0].actor, "test-user");

    let again = open(&mut client, "open-1").await;
    assert_eq!(again.incident_id, first.incident_id);
    assert_eq!(common::incidents(&mut client, false).await.len(), 1);
    let other = open(&mut client, "open-2").await;
    assert_ne!(other.incident_id, first.incident_id);

    let emitted = h.emitted().await;
    let opened = emitted
        .iter()
        .filter(|e| matches!(e.event.payload, Some(event::Payload::IncidentOpened(_))))
        .count();
    assert_eq!(
        opened, 2,
        "one IncidentOpened per incident, none for the retry"
    );

    // Severity defaults to SEV3; links to escalations must exist.
    let plain = client
        .open_incident(pb::OpenIncidentRequest {
            title: "Plain".into(),
            commander: "maria".into(),
            mention_ids: vec!["m-9".into()],
            request_id: "open-3".into(),
            ..Default::default()
        })
        .await
        .expect("opened")
        .into_inner();
    assert_eq!(plain.severity, pb::Severity::Sev3 as i32);
    assert_eq!(plain.commander, "maria");
    assert_eq!(plain.mention_ids, ["m-9"]);
    assert_eq!(kinds(&plain.timeline), ["opened"]);
    let unknown = client
        .open_incident(pb::OpenIncidentRequest {
            title: "Linked".into(),
            escalation_ids: vec![uuid::Uuid::now_v7().to_string()],
            request_id: "open-4".into(),
            ..Default::default()
        })
        .await;
    assert_code(unknown, Code::NotFound);
    assert_eq!(common::incidents(&mut client, false).await.len(), 3);
}

#[tokio::test]
async fn incidents_move_forward_only_and_close_with_a_learning_note() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let opened = open(&mut client, "open-1").await;
    let live = client
        .update_incident(pb::UpdateIncidentRequest {
            state: IncidentState::Live as i32,
            commander: "maria".into(),
            ..change(&opened)
        })
        .await
        .expect("live")
        .into_inner();
    assert_eq!(live.state, IncidentState::Live as i32);
    assert_eq!(live.commander, "maria");
    assert_eq!(live.version, 2);
    assert!(kinds(&live.timeline).ends_with(&["state", "commander"]));

    // Backwards, or staying put, is refused; the incident is unchanged.
    for state in [IncidentState::Triage, IncidentState::Live] {
        assert_code(
            client
                .update_incident(pb::UpdateIncidentRequest {
                    state: state as i32,
                    ..change(&live)
                })
                .await,
            Code::FailedPrecondition,
        );
    }
    // A change from version 1 is stale.
    assert_code(
        client
            .update_incident(pb::UpdateIncidentRequest {
                state: IncidentState::Resolved as i32,
                ..change(&opened)
            })
            .await,
        Code::Aborted,
    );
    // Closing needs a learning note (skipping steps is allowed).
    assert_code(
        client
            .update_incident(pb::UpdateIncidentRequest {
                state: IncidentState::Closed as i32,
                ..change(&live)
            })
            .await,
        Code::FailedPrecondition,
    );
    let unchanged = get_incident(&mut client, &live.incident_id).await;
    assert_eq!(unchanged.version, 2);
    assert_eq!(unchanged.state, IncidentState::Live as i32);
    assert!(unchanged.learning_note.is_empty());

    // Links: an unknown escalation is refused, real ones are linked once.
    h.deliver(vec![
        Mention::new("acme", "m-1")
            .urgency(earshot_proto::common::v1::Urgency::LegalThreat)
            .event(),
    ])
    .await;
    let escalation = common::escalations(&mut client, false).await.remove(0);
    assert_code(
        client
            .update_incident(pb::UpdateIncidentRequest {
                link_escalation_ids: vec![uuid::Uuid::now_v7().to_string()],
                ..change(&live)
            })
            .await,
        Code::NotFound,
    );
    let case = uuid::Uuid::now_v7().to_string();
    let linked = client
        .update_incident(pb::UpdateIncidentRequest {
            link_escalation_ids: vec![escalation.escalation_id.clone(); 2],
            link_mention_ids: vec!["m-1".into()],
            link_case_ids: vec![case.clone()],
            ..change(&live)
        })
        .await
        .expect("linked")
        .into_inner();
    assert_eq!(linked.escalation_ids, [escalation.escalation_id.as_str()]);
    assert_eq!(linked.mention_ids, ["m-1"]);
    assert_eq!(linked.case_ids, [case]);
    assert_eq!(linked.version, 3);

    let closed = client
        .update_incident(pb::UpdateIncidentRequest {
            state: IncidentState::Closed as i32,
            learning_note: "Pre-approve checkout statements.".into(),
            ..change(&linked)
        })
        .await
        .expect("closed with a note")
        .into_inner();
    assert_eq!(closed.state, IncidentState::Closed as i32);
    assert_eq!(closed.learning_note, "Pre-approve checkout statements.");
    assert!(
        closed
            .statement
            .as_ref()
            .expect("statement")
            .next_due_at
            .is_none(),
        "a closed incident owes no statement"
    );
    let closed_list = client
        .list_incidents(pb::ListIncidentsRequest {
            state: IncidentState::Closed as i32,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .incidents;
    assert_eq!(closed_list.len(), 1);
    let updates: Vec<String> = h
        .emitted()
        .await
        .into_iter()
        .filter_map(|e| match e.event.payload {
            Some(event::Payload::IncidentUpdated(u)) if u.incident_id == closed.incident_id => {
                Some(u.change)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        updates,
        ["state", "commander", "linked", "learning_note", "state"]
    );
}

#[tokio::test]
async fn the_holding_statement_is_approved_then_posted_then_updated() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let incident = open(&mut client, "open-1").await;
    let id = incident.incident_id.clone();
    let post = |text: &str| pb::PostIncidentStatementRequest {
        incident_id: id.clone(),
        text: text.into(),
    };
    assert_code(
        client.post_incident_statement(post("")).await,
        Code::FailedPrecondition,
    );

    let approved = client
        .approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: id.clone(),
            text: String::new(),
        })
        .await
        .expect("approved as proposed")
        .into_inner();
    let s = approved.statement.as_ref().expect("statement");
    assert_eq!(s.approved, s.proposed);
    assert_eq!(s.approved_by, "test-user");
    let edited = client
        .approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: id.clone(),
            text: "Checkout is failing for some of you; we are on it.".into(),
        })
        .await
        .expect("approved as edited")
        .into_inner();
    assert_eq!(
        edited.statement.as_ref().expect("statement").approved,
        "Checkout is failing for some of you; we are on it."
    );

    let first = client
        .post_incident_statement(post(""))
        .await
        .expect("first statement posted")
        .into_inner();
    let s = first.statement.as_ref().expect("statement");
    assert!(s.first_posted_at.is_some());
    assert_eq!(s.updates_posted, 0);
    assert_eq!(s.overdue, 0, "posted in time");
    assert_eq!(
        time(&s.next_due_at) - time(&s.last_posted_at),
        chrono::Duration::seconds(1200),
        "the next update is due by the cadence"
    );
    // An update needs its text.
    assert_invalid(client.post_incident_statement(post("")).await, &["text"]);
    let update = client
        .post_incident_statement(post("Fixed for most; monitoring."))
        .await
        .expect("update posted")
        .into_inner();
    assert_eq!(
        update.statement.as_ref().expect("statement").updates_posted,
        1
    );
    assert_eq!(
        kinds(&update.timeline),
        [
            "opened",
            "statement_proposed",
            "statement_approved",
            "statement_approved",
            "statement_posted",
            "statement_posted"
        ]
    );
    assert_eq!(
        update.timeline[4].detail,
        "Checkout is failing for some of you; we are on it."
    );
    assert_eq!(update.timeline[5].detail, "Fixed for most; monitoring.");

    // An incident with nothing proposed needs the text to approve.
    let bare = client
        .open_incident(pb::OpenIncidentRequest {
            title: "Bare".into(),
            request_id: "open-2".into(),
            ..Default::default()
        })
        .await
        .expect("opened")
        .into_inner();
    assert_code(
        client
            .approve_holding_statement(pb::ApproveHoldingStatementRequest {
                incident_id: bare.incident_id.clone(),
                text: String::new(),
            })
            .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn an_overdue_statement_is_counted_and_a_guidelines_is_escalated() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let g = incident_guideline(&mut client).await;
    h.deliver(vec![Mention::new("acme", "m-1").topic("billing").event()])
        .await;
    let by_guideline = common::incidents(&mut client, false).await.remove(0);
    let by_hand = open(&mut client, "open-1").await;
    let pool = h.pool().await;
    for incident in [&by_guideline, &by_hand] {
        let moved = sqlx::query(
            "UPDATE incidents SET statement_due_at = now() - interval '1 second'
              WHERE id = $1::uuid AND statement_due_at IS NOT NULL",
        )
        .bind(&incident.incident_id)
        .execute(&pool)
        .await
        .expect("due time moved")
        .rows_affected();
        assert_eq!(moved, 1);
    }
    let overdue = |id: String| {
        let client = client.clone();
        async move {
            eventually(
                &format!("incident {id}'s statement is counted overdue"),
                || {
                    let mut client = client.clone();
                    let id = id.clone();
                    async move {
                        let i = get_incident(&mut client, &id).await;
                        (i.statement.as_ref().expect("statement").overdue == 1).then_some(i)
                    }
                },
            )
            .await
        }
    };
    let late_guideline = overdue(by_guideline.incident_id.clone()).await;
    let late_hand = overdue(by_hand.incident_id.clone()).await;
    for late in [&late_guideline, &late_hand] {
        assert!(
            late.statement
                .as_ref()
                .expect("statement")
                .next_due_at
                .is_none(),
            "counted once, not again every round"
        );
        let entry = late
            .timeline
            .iter()
            .find(|t| t.kind == "statement_overdue")
            .expect("on the timeline");
        assert_eq!(entry.actor, "system");
        assert!(
            entry.detail.contains("holding statement"),
            "{}",
            entry.detail
        );
    }

    // The guideline's incident raised an escalation for the missed statement;
    // the one opened by hand has no guideline to escalate by.
    let raised = common::escalations(&mut client, false).await;
    let for_incidents: Vec<_> = raised
        .iter()
        .filter(|e| e.trigger.as_ref().expect("trigger").kind == pb::TriggerKind::Incident as i32)
        .collect();
    assert_eq!(for_incidents.len(), 1, "{raised:#?}");
    let e = for_incidents[0];
    assert_eq!(e.guideline_id, g.guideline_id);
    assert_eq!(e.team, pb::Team::Pr as i32);
    assert_eq!(
        e.trigger.as_ref().expect("trigger").incident_id,
        by_guideline.incident_id
    );
    assert_eq!(
        e.incident_id, by_guideline.incident_id,
        "it joins the incident"
    );

    let emitted = h.emitted().await;
    let overdue_events: Vec<String> = emitted
        .iter()
        .filter_map(|e| match &e.event.payload {
            Some(event::Payload::IncidentUpdated(u)) if u.change == "statement_overdue" => {
                Some(u.incident_id.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(overdue_events.len(), 2);
    assert!(overdue_events.contains(&by_guideline.incident_id));
    assert!(overdue_events.contains(&by_hand.incident_id));
    assert!(
        emitted
            .iter()
            .filter_map(|e| e.raised())
            .any(|r| r.trigger == "INCIDENT" && r.escalation_id == e.escalation_id)
    );

    // Posting the late statement now does not count it a second time.
    client
        .approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: by_hand.incident_id.clone(),
            text: String::new(),
        })
        .await
        .expect("approved");
    let posted = client
        .post_incident_statement(pb::PostIncidentStatementRequest {
            incident_id: by_hand.incident_id.clone(),
            text: String::new(),
        })
        .await
        .expect("posted")
        .into_inner();
    let s = posted.statement.as_ref().expect("statement");
    assert_eq!(s.overdue, 1);
    assert!(s.next_due_at.is_some(), "the cadence starts again");
}

#[tokio::test]
async fn concurrent_escalations_of_a_guideline_share_one_incident() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    incident_guideline(&mut client).await;
    let batches = (0..12).map(|i| {
        let event = Mention::new("acme", &format!("m-{i}"))
            .topic("billing")
            .event();
        let h = &h;
        async move { h.deliver(vec![event]).await }
    });
    let answers = futures_util::future::join_all(batches).await;
    assert!(answers.iter().all(|a| a.handled == 1));
    let listed = common::incidents(&mut client, false).await;
    assert_eq!(
        listed.len(),
        1,
        "one active incident per guideline: {listed:#?}"
    );
    let incident = get_incident(&mut client, &listed[0].incident_id).await;
    let raised = common::escalations(&mut client, false).await;
    assert_eq!(raised.len(), 12);
    assert_eq!(incident.escalation_ids.len(), 12);
    assert_eq!(incident.mention_ids.len(), 12);
    assert!(raised.iter().all(|e| e.incident_id == incident.incident_id));
}
