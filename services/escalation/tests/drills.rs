//! Drills: a guideline rehearsed through a script or a recorded window,
//! scored when it ends, and leaving no trace in what is real: the real
//! escalations, incidents, evaluations and spike detectors, and every event
//! other services hear.

mod common;

use common::{
    Client, Emitted, Harness, Mention, assert_code, default_named, evaluations, get_escalation,
    incidents, kinds, local_subscribers, spike_alerts, time, timestamp,
};
use earshot_proto::common::v1::{Author, Channel, Intent, Urgency};
use earshot_proto::escalation::v1::{self as pb, Drill, DrillState, start_drill_request::Scenario};
use earshot_testkit::eventually;
use tonic::Code;

fn scripted(offset_seconds: u32, urgency: Urgency, sentiment: Option<f64>) -> pb::ScriptedMention {
    pb::ScriptedMention {
        offset_seconds,
        text: "We are talking to our lawyers about this".into(),
        channel: Channel::X as i32,
        author: Some(Author {
            handle: "drill-author".into(),
            followers: 50,
            ..Default::default()
        }),
        classification: Some(common::classification(
            Intent::Complaint,
            sentiment,
            &[urgency],
            &["checkout".to_owned()],
        )),
        matched_rules: vec![],
    }
}

async fn start(
    client: &mut Client,
    guideline_id: &str,
    scenario: Scenario,
    request_id: &str,
) -> Drill {
    client
        .start_drill(pb::StartDrillRequest {
            guideline_id: guideline_id.into(),
            scenario: Some(scenario),
            time_limit_seconds: 0,
            request_id: request_id.into(),
        })
        .await
        .expect("drill started")
        .into_inner()
}

async fn get_drill(client: &mut Client, id: &str) -> Drill {
    client
        .get_drill(pb::GetDrillRequest {
            drill_id: id.into(),
        })
        .await
        .expect("drill read")
        .into_inner()
}

/// Waits until the drill replayed its whole scenario.
async fn replayed(client: &Client, drill: &Drill) -> Drill {
    eventually(
        &format!("drill {} replays its scenario", drill.drill_id),
        || {
            let mut client = client.clone();
            let id = drill.drill_id.clone();
            async move {
                let d = get_drill(&mut client, &id).await;
                (d.replayed == d.scenario_size).then_some(d)
            }
        },
    )
    .await
}

async fn drill_escalations(client: &mut Client, drill_id: &str) -> Vec<pb::Escalation> {
    let mut found: Vec<_> = common::escalations(client, true)
        .await
        .into_iter()
        .filter(|e| e.drill_id == drill_id)
        .collect();
    found.sort_by(|a, b| {
        let key = |e: &pb::Escalation| e.trigger.as_ref().expect("trigger").mention_id.clone();
        key(a).cmp(&key(b))
    });
    found
}

/// What is real, to compare before and after a drill.
#[derive(Debug, PartialEq)]
struct Real {
    escalations: Vec<String>,
    incidents: Vec<String>,
    evaluations: Vec<String>,
    alerts: usize,
    detectors: Vec<(String, u64)>,
    series: i64,
    buckets: i64,
}

async fn real(h: &Harness, client: &mut Client, tenant: &str) -> Real {
    let pool = h.pool().await;
    let count = |table: &'static str| {
        let pool = pool.clone();
        let tenant = tenant.to_owned();
        async move {
            sqlx::query_scalar::<_, i64>(&format!(
                "SELECT count(*) FROM {table} WHERE tenant_id = $1"
            ))
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .expect("counted")
        }
    };
    let answer = Real {
        escalations: common::escalations(client, false)
            .await
            .into_iter()
            .map(|e| format!("{}:{}:{}", e.escalation_id, e.state, e.level))
            .collect(),
        incidents: incidents(client, false)
            .await
            .into_iter()
            .map(|mut i| {
                i.escalation_ids.sort();
                i.mention_ids.sort();
                format!(
                    "{}:{}:{}:{:?}:{:?}",
                    i.incident_id, i.version, i.state, i.escalation_ids, i.mention_ids
                )
            })
            .collect(),
        evaluations: evaluations(client)
            .await
            .into_iter()
            .map(|e| e.evaluation_id)
            .collect(),
        alerts: spike_alerts(client).await.len(),
        detectors: common::detectors(client)
            .await
            .into_iter()
            .map(|d| (d.detector_id, d.alerts))
            .collect(),
        series: count("spike_series").await,
        buckets: count("spike_buckets").await,
    };
    pool.close().await;
    answer
}

/// No event of a drill is in a batch for another service; only the
/// service's own local consumers (webhooks) may hear them.
fn assert_no_drill_event_leaves(emitted: &[Emitted]) {
    for e in emitted.iter().filter(|e| e.event.drill) {
        for subscriber in &e.subscribers {
            assert!(
                local_subscribers().contains(&subscriber.as_str()),
                "a drill event is queued for {subscriber}: {e:?}"
            );
        }
    }
    for e in emitted
        .iter()
        .filter(|e| e.subscribers.contains(&common::PROBE.to_owned()))
    {
        assert!(
            !e.event.drill,
            "a drill event goes to another service: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_scripted_drill_rehearses_a_guideline_and_is_scored() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let legal = default_named(&mut client, "Legal threat").await;
    // Something real first, which the drill must leave alone.
    h.deliver(vec![
        Mention::new("acme", "real-1")
            .urgency(Urgency::LegalThreat)
            .topic("checkout")
            .event(),
        Mention::new("acme", "real-2").topic("checkout").event(),
    ])
    .await;
    let before = real(&h, &mut client, "acme").await;
    assert_eq!(before.escalations.len(), 1);
    let emitted_before = h.emitted().await.len();

    let drill = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![
                scripted(0, Urgency::LegalThreat, None),
                scripted(2, Urgency::LegalThreat, None),
                // Not what the guideline looks for.
                scripted(1, Urgency::ChurnThreat, None),
            ],
        }),
        "drill-1",
    )
    .await;
    assert_eq!(drill.state, DrillState::Running as i32);
    assert_eq!(drill.guideline_id, legal.guideline_id);
    assert_eq!(drill.guideline_version, 1);
    assert_eq!(drill.scenario_size, 3);
    assert_eq!(drill.started_by, "test-user");
    // A retried start answers the same drill.
    let retried = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::LegalThreat, None)],
        }),
        "drill-1",
    )
    .await;
    assert_eq!(retried.drill_id, drill.drill_id);

    let running = replayed(&client, &drill).await;
    assert_eq!(running.state, DrillState::Running as i32);
    let raised = drill_escalations(&mut client, &drill.drill_id).await;
    assert_eq!(raised.len(), 2, "the two legal threats: {raised:#?}");
    for e in &raised {
        assert!(e.drill);
        assert_eq!(e.guideline_id, legal.guideline_id);
        assert_eq!(e.team, pb::Team::Legal as i32);
        assert_eq!(e.state, pb::EscalationState::Raised as i32);
        assert!(e.trigger.as_ref().expect("trigger").event_id.is_empty());
    }
    let mut running_ids = running.escalation_ids.clone();
    running_ids.sort();
    let mut raised_ids: Vec<_> = raised.iter().map(|e| e.escalation_id.clone()).collect();
    raised_ids.sort();
    assert_eq!(running_ids, raised_ids);
    // The default list shows only what is real.
    assert_eq!(real(&h, &mut client, "acme").await, before);

    // Acknowledged in time by the right team, then resolved.
    let first = &raised[0];
    client
        .acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: first.escalation_id.clone(),
            team: pb::Team::Legal as i32,
        })
        .await
        .expect("acknowledged");
    client
        .resolve_escalation(pb::ResolveEscalationRequest {
            escalation_id: first.escalation_id.clone(),
            note: "drill".into(),
        })
        .await
        .expect("resolved");
    let live = get_drill(&mut client, &drill.drill_id).await;
    assert_eq!(live.state, DrillState::Running as i32);
    assert!(live.score > 99.9, "scored as it stands: {live:?}");

    let ended = client
        .end_drill(pb::EndDrillRequest {
            drill_id: drill.drill_id.clone(),
        })
        .await
        .expect("ended")
        .into_inner();
    assert_eq!(ended.state, DrillState::Ended as i32);
    assert!(ended.ended_at.is_some());
    let check = |name: &str| {
        ended
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("a {name} check in {:?}", ended.checks))
    };
    assert!(check("fired").passed);
    assert!(check("acknowledged_in_time").passed);
    assert!(check("right_team").passed);
    assert!(
        ended.checks.iter().all(|c| c.passed),
        "no incident to score: {:?}",
        ended.checks
    );
    assert!((ended.score - 100.0).abs() < 1e-9, "{}", ended.score);
    assert_code(
        client
            .end_drill(pb::EndDrillRequest {
                drill_id: drill.drill_id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    // The score is kept, and an ended drill pages nobody.
    let read = get_drill(&mut client, &drill.drill_id).await;
    assert_eq!(read.score, ended.score);
    assert_eq!(read.checks, ended.checks);
    let second = get_escalation(&mut client, &raised[1].escalation_id).await;
    assert!(second.ack_due_at.is_none());

    // Nothing real moved, and nothing of the drill left the service.
    assert_eq!(real(&h, &mut client, "acme").await, before);
    let emitted = h.emitted().await;
    assert_no_drill_event_leaves(&emitted);
    if local_subscribers().is_empty() {
        assert_eq!(emitted.len(), emitted_before, "a drill enqueues nothing");
    }
}

#[tokio::test]
async fn a_wrong_team_that_never_acknowledges_scores_low() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let legal = default_named(&mut client, "Legal threat").await;
    let drill = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::LegalThreat, None)],
        }),
        "drill-1",
    )
    .await;
    replayed(&client, &drill).await;
    let e = drill_escalations(&mut client, &drill.drill_id)
        .await
        .remove(0);
    client
        .acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: e.escalation_id,
            team: pb::Team::Support as i32,
        })
        .await
        .expect("acknowledged");
    let ended = client
        .end_drill(pb::EndDrillRequest {
            drill_id: drill.drill_id.clone(),
        })
        .await
        .expect("ended")
        .into_inner();
    let right_team = ended
        .checks
        .iter()
        .find(|c| c.name == "right_team")
        .expect("right_team");
    assert!(!right_team.passed, "{right_team:?}");
    assert!(
        right_team.detail.contains("SUPPORT"),
        "{}",
        right_team.detail
    );
    assert!(ended.score < 100.0 && ended.score > 0.0, "{}", ended.score);

    // A drill of a scenario the guideline ignores never fires and scores 0.
    let quiet = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::Outage, None)],
        }),
        "drill-2",
    )
    .await;
    replayed(&client, &quiet).await;
    let ended = client
        .end_drill(pb::EndDrillRequest {
            drill_id: quiet.drill_id.clone(),
        })
        .await
        .expect("ended")
        .into_inner();
    assert_eq!(ended.score, 0.0);
    assert_eq!(ended.checks.len(), 1);
    assert!(!ended.checks[0].passed);

    // Its history, newest first, by guideline.
    let history = client
        .list_drills(pb::ListDrillsRequest {
            guideline_id: legal.guideline_id.clone(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .drills;
    let ids: Vec<&str> = history.iter().map(|d| d.drill_id.as_str()).collect();
    assert_eq!(ids, [quiet.drill_id.as_str(), drill.drill_id.as_str()]);
    assert!(history.iter().all(|d| d.state == DrillState::Ended as i32));
    assert_eq!(history[0].score, 0.0);
    let safety = default_named(&mut client, "Safety").await;
    let none = client
        .list_drills(pb::ListDrillsRequest {
            guideline_id: safety.guideline_id,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .drills;
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_drill_of_an_incident_guideline_is_run_by_the_book_and_ends_itself() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let media = default_named(&mut client, "Media or influencer, negative").await;
    // A real incident of the guideline is active: the drill must not join it.
    h.deliver(vec![
        Mention::new("acme", "real-press")
            .urgency(Urgency::MediaAttention)
            .sentiment(-0.8)
            .event(),
    ])
    .await;
    let before = real(&h, &mut client, "acme").await;
    assert_eq!(before.incidents.len(), 1);
    assert_eq!(before.escalations.len(), 1);
    let drill = start(
        &mut client,
        &media.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::MediaAttention, Some(-0.7))],
        }),
        "drill-1",
    )
    .await;
    replayed(&client, &drill).await;
    let e = drill_escalations(&mut client, &drill.drill_id)
        .await
        .remove(0);
    assert_eq!(e.team, pb::Team::Pr as i32);
    assert!(!e.incident_id.is_empty(), "the guideline opens an incident");
    assert_eq!(
        incidents(&mut client, false).await.len(),
        1,
        "the real one only"
    );
    let drilled: Vec<_> = incidents(&mut client, true)
        .await
        .into_iter()
        .filter(|i| i.drill)
        .collect();
    assert_eq!(drilled.len(), 1);
    let incident = &drilled[0];
    assert_eq!(incident.mention_ids, ["drill-mention-0"]);
    assert!(incident.drill);
    assert_eq!(incident.drill_id, drill.drill_id);
    assert_eq!(incident.incident_id, e.incident_id);
    let proposed = &incident.statement.as_ref().expect("statement").proposed;
    assert!(proposed.contains("checkout"), "{proposed}");

    client
        .acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: e.escalation_id.clone(),
            team: pb::Team::Pr as i32,
        })
        .await
        .expect("acknowledged");
    client
        .approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: incident.incident_id.clone(),
            text: String::new(),
        })
        .await
        .expect("approved");
    let posted = client
        .post_incident_statement(pb::PostIncidentStatementRequest {
            incident_id: incident.incident_id.clone(),
            text: String::new(),
        })
        .await
        .expect("posted")
        .into_inner();
    client
        .resolve_escalation(pb::ResolveEscalationRequest {
            escalation_id: e.escalation_id.clone(),
            note: String::new(),
        })
        .await
        .expect("resolved");
    client
        .update_incident(pb::UpdateIncidentRequest {
            incident_id: incident.incident_id.clone(),
            expected_version: posted.version,
            state: pb::IncidentState::Closed as i32,
            learning_note: "Statements for checkout are pre-approved now.".into(),
            ..Default::default()
        })
        .await
        .expect("closed");

    // Every step replayed, every escalation resolved, the incident closed:
    // the drill ends on its own.
    let ended = eventually("the drill ends on its own", || {
        let mut client = client.clone();
        let id = drill.drill_id.clone();
        async move {
            let d = get_drill(&mut client, &id).await;
            (d.state == DrillState::Ended as i32).then_some(d)
        }
    })
    .await;
    let names: Vec<&str> = ended.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fired",
            "acknowledged_in_time",
            "right_team",
            "statement_in_time",
            "cadence_kept",
            "closed_with_learning"
        ]
    );
    assert!(ended.checks.iter().all(|c| c.passed), "{:?}", ended.checks);
    assert!((ended.score - 100.0).abs() < 1e-9);
    assert_eq!(ended.incident_ids, [incident.incident_id.as_str()]);

    assert_eq!(real(&h, &mut client, "acme").await, before);
    assert_no_drill_event_leaves(&h.emitted().await);
    let timeline = get_incident_timeline(&mut client, &incident.incident_id).await;
    assert!(
        timeline.contains(&"statement_posted".to_owned()),
        "{timeline:?}"
    );
}

async fn get_incident_timeline(client: &mut Client, id: &str) -> Vec<String> {
    let incident = common::get_incident(client, id).await;
    kinds(&incident.timeline)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_recorded_window_replays_the_tenants_own_mentions() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let legal = default_named(&mut client, "Legal threat").await;
    h.deliver(vec![
        Mention::new("acme", "real-threat")
            .urgency(Urgency::LegalThreat)
            .event(),
        Mention::new("acme", "real-calm").event(),
    ])
    .await;
    h.deliver(vec![
        Mention::new("globex", "their-threat")
            .urgency(Urgency::LegalThreat)
            .event(),
    ])
    .await;
    let evaluated = evaluations(&mut client).await;
    assert_eq!(evaluated.len(), 2);
    let at: Vec<_> = evaluated.iter().map(|e| time(&e.evaluated_at)).collect();
    let from = *at.iter().min().expect("two") - chrono::Duration::seconds(1);
    let to = *at.iter().max().expect("two") + chrono::Duration::seconds(1);
    let before = real(&h, &mut client, "acme").await;

    let drill = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Recorded(pb::RecordedWindow {
            from: Some(timestamp(from)),
            to: Some(timestamp(to)),
        }),
        "drill-1",
    )
    .await;
    assert_eq!(
        drill.scenario_size, 2,
        "the tenant's two mentions, not globex's"
    );
    replayed(&client, &drill).await;
    let raised = drill_escalations(&mut client, &drill.drill_id).await;
    assert_eq!(raised.len(), 1, "{raised:#?}");
    assert_eq!(
        raised[0].trigger.as_ref().expect("trigger").mention_id,
        "real-threat"
    );
    // The real escalation of that mention is still the only real one.
    assert_eq!(real(&h, &mut client, "acme").await, before);
    assert_no_drill_event_leaves(&h.emitted().await);

    // A window with nothing in it has nothing to replay.
    let empty = client
        .start_drill(pb::StartDrillRequest {
            guideline_id: legal.guideline_id.clone(),
            scenario: Some(Scenario::Recorded(pb::RecordedWindow {
                from: Some(timestamp(from - chrono::Duration::hours(3))),
                to: Some(timestamp(from - chrono::Duration::hours(2))),
            })),
            time_limit_seconds: 0,
            request_id: "drill-2".into(),
        })
        .await;
    assert_code(empty, Code::FailedPrecondition);
}

#[tokio::test]
async fn a_drill_ends_when_its_time_runs_out_and_its_ladder_stays_inside() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    let legal = default_named(&mut client, "Legal threat").await;
    let drill = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::LegalThreat, None)],
        }),
        "drill-1",
    )
    .await;
    replayed(&client, &drill).await;
    let e = drill_escalations(&mut client, &drill.drill_id)
        .await
        .remove(0);
    let pool = h.pool().await;

    // Nobody acknowledges: the drill's escalation climbs the ladder like the
    // real thing.
    sqlx::query(
        "UPDATE escalations SET ack_due_at = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind(&e.escalation_id)
    .execute(&pool)
    .await
    .expect("made due");
    let stepped = eventually("the drill's escalation goes up the ladder", || {
        let mut client = client.clone();
        let id = e.escalation_id.clone();
        async move {
            let e = get_escalation(&mut client, &id).await;
            (e.level == 1).then_some(e)
        }
    })
    .await;
    assert_eq!(stepped.state, pb::EscalationState::Reescalated as i32);
    assert_eq!(
        stepped.team,
        pb::Team::Legal as i32,
        "the first rung is legal's"
    );

    // Its time runs out.
    sqlx::query("UPDATE drills SET ends_at = now() - interval '1 second' WHERE id = $1::uuid")
        .bind(&drill.drill_id)
        .execute(&pool)
        .await
        .expect("time ran out");
    let ended = eventually("the drill ends when its time runs out", || {
        let mut client = client.clone();
        let id = drill.drill_id.clone();
        async move {
            let d = get_drill(&mut client, &id).await;
            (d.state == DrillState::Ended as i32).then_some(d)
        }
    })
    .await;
    let ack = ended
        .checks
        .iter()
        .find(|c| c.name == "acknowledged_in_time")
        .expect("ack check");
    assert_eq!(ack.earned, 0.0);
    assert!(ack.detail.contains("level 1"), "{}", ack.detail);
    assert!(ended.score > 0.0 && ended.score < 50.0, "{}", ended.score);
    let after = get_escalation(&mut client, &e.escalation_id).await;
    assert!(after.ack_due_at.is_none(), "an ended drill pages nobody");
    assert!(kinds(&after.timeline).contains(&"reescalated"));

    let emitted = h.emitted().await;
    assert_no_drill_event_leaves(&emitted);
    assert!(common::escalations(&mut client, false).await.is_empty());
}

#[tokio::test]
async fn a_disabled_guideline_is_rehearsed_all_the_same() {
    let h = Harness::start().await;
    let mut client = h.client("acme");
    common::disable_defaults(&mut client).await;
    let legal = default_named(&mut client, "Legal threat").await;
    assert!(!legal.enabled);
    let drill = start(
        &mut client,
        &legal.guideline_id,
        Scenario::Script(pb::DrillScript {
            mentions: vec![scripted(0, Urgency::LegalThreat, None)],
        }),
        "drill-1",
    )
    .await;
    assert_eq!(drill.guideline_version, 2, "the version in force: disabled");
    replayed(&client, &drill).await;
    let raised = drill_escalations(&mut client, &drill.drill_id).await;
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].guideline_version, 2);
}
