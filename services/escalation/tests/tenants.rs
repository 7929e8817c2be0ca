//! Tenant isolation: a tenant never sees another's guidelines, escalations,
//! incidents, alerts, drills or evaluations, and another tenant's ids in its
//! calls are NOT_FOUND, as ids that never existed are.

mod common;

use chrono::{Duration, DurationRound, Utc};
use common::{
    Client, Harness, Mention, assert_code, default_named, detectors, evaluations, incidents,
    list_guidelines, phrase, spike_alerts,
};
use earshot_proto::common::v1::Urgency;
use earshot_proto::escalation::v1::{self as pb, start_drill_request::Scenario};
use earshot_testkit::eventually;
use tonic::Code;

/// What tenant A made: one of each.
struct Made {
    guideline: pb::Guideline,
    escalation: pb::Escalation,
    incident: pb::Incident,
    alert: pb::SpikeAlert,
    detector: pb::SpikeDetector,
    drill: pb::Drill,
}

async fn make_everything(h: &Harness, a: &mut Client) -> Made {
    let guideline = common::create(
        a,
        common::guideline(
            "A's own",
            phrase(&["refund"]),
            common::actions(pb::Team::Support),
        ),
    )
    .await;
    // An alert at once: the tenant detector alerts on one minute.
    let detector = detectors(a).await.remove(0);
    let detector = a
        .update_spike_detector(pb::UpdateSpikeDetectorRequest {
            detector_id: detector.detector_id,
            expected_version: detector.version,
            settings: Some(pb::SpikeSettings {
                k: 1,
                n: 1,
                ..Default::default()
            }),
            enabled: true,
        })
        .await
        .expect("detector updated")
        .into_inner();
    let minute = Utc::now()
        .duration_trunc(Duration::minutes(1))
        .expect("a minute")
        - Duration::minutes(1);
    let mut burst: Vec<_> = (0..20)
        .map(|i| {
            Mention::new("a", &format!("burst-{i}"))
                .posted_at(minute)
                .event()
        })
        .collect();
    burst.push(
        Mention::new("a", "threat")
            .urgency(Urgency::LegalThreat)
            .posted_at(minute)
            .event(),
    );
    h.deliver(burst).await;
    let escalation = common::escalations(a, false).await.remove(0);
    let alert = spike_alerts(a).await.remove(0);
    let incident = a
        .open_incident(pb::OpenIncidentRequest {
            title: "A's incident".into(),
            escalation_ids: vec![escalation.escalation_id.clone()],
            holding_statement: Some(pb::HoldingStatement {
                template: "On it.".into(),
                first_within_seconds: 300,
                update_every_seconds: 600,
            }),
            request_id: "open-1".into(),
            ..Default::default()
        })
        .await
        .expect("opened")
        .into_inner();
    let legal = default_named(a, "Legal threat").await;
    let drill = a
        .start_drill(pb::StartDrillRequest {
            guideline_id: legal.guideline_id,
            scenario: Some(Scenario::Script(pb::DrillScript {
                mentions: vec![pb::ScriptedMention {
                    text: "see you in court".into(),
                    classification: Some(common::classification(
                        earshot_proto::common::v1::Intent::Complaint,
                        None,
                        &[Urgency::LegalThreat],
                        &[],
                    )),
                    ..Default::default()
                }],
            })),
            time_limit_seconds: 0,
            request_id: "drill-1".into(),
        })
        .await
        .expect("drill started")
        .into_inner();
    Made {
        guideline,
        escalation,
        incident,
        alert,
        detector,
        drill,
    }
}

#[tokio::test]
async fn a_tenant_sees_nothing_of_another() {
    let h = Harness::start().await;
    let mut a = h.client("a");
    let mut b = h.client("b");
    let made = make_everything(&h, &mut a).await;
    eventually("A's drill replays", || {
        let mut a = a.clone();
        let id = made.drill.drill_id.clone();
        async move {
            let d = a
                .get_drill(pb::GetDrillRequest { drill_id: id })
                .await
                .expect("drill")
                .into_inner();
            (d.replayed == 1).then_some(())
        }
    })
    .await;
    assert_eq!(
        common::escalations(&mut a, true).await.len(),
        2,
        "real and drill"
    );

    let guidelines = list_guidelines(&mut b).await;
    assert_eq!(guidelines.len(), 5, "B has its own defaults only");
    assert!(guidelines.iter().all(|g| g.built_in));
    assert!(common::escalations(&mut b, true).await.is_empty());
    assert!(incidents(&mut b, true).await.is_empty());
    assert!(spike_alerts(&mut b).await.is_empty());
    assert!(evaluations(&mut b).await.is_empty());
    let drills = b
        .list_drills(pb::ListDrillsRequest::default())
        .await
        .expect("listed")
        .into_inner()
        .drills;
    assert!(drills.is_empty());
    let b_detectors = detectors(&mut b).await;
    assert!(
        b_detectors
            .iter()
            .all(|d| d.detector_id != made.detector.detector_id)
    );
    assert!(b_detectors.iter().all(|d| d.alerts == 0 && d.version == 1));
    let filtered = b
        .list_drills(pb::ListDrillsRequest {
            guideline_id: made.drill.guideline_id.clone(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .drills;
    assert!(filtered.is_empty());
    let alerts = b
        .list_spike_alerts(pb::ListSpikeAlertsRequest {
            detector_id: made.detector.detector_id.clone(),
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner()
        .alerts;
    assert!(alerts.is_empty());
    // A's stored minutes are not B's.
    let stored = b
        .backtest_spike_detector(pb::BacktestSpikeDetectorRequest {
            settings: None,
            source: Some(pb::backtest_spike_detector_request::Source::Stored(
                pb::StoredHistory {
                    series: "all".into(),
                    from: Some(common::timestamp(Utc::now() - Duration::hours(1))),
                    to: Some(common::timestamp(Utc::now() + Duration::hours(1))),
                },
            )),
        })
        .await
        .expect("backtest")
        .into_inner();
    assert_eq!(stored.buckets, 0);
}

#[tokio::test]
async fn another_tenants_ids_are_not_found() {
    let h = Harness::start().await;
    let mut a = h.client("a");
    let mut b = h.client("b");
    let made = make_everything(&h, &mut a).await;
    let g = made.guideline.guideline_id.clone();
    let e = made.escalation.escalation_id.clone();
    let i = made.incident.incident_id.clone();
    let d = made.drill.drill_id.clone();
    let not_found = Code::NotFound;

    assert_code(
        b.get_guideline(pb::GetGuidelineRequest {
            guideline_id: g.clone(),
            version: 0,
        })
        .await,
        not_found,
    );
    assert_code(
        b.get_guideline(pb::GetGuidelineRequest {
            guideline_id: g.clone(),
            version: 1,
        })
        .await,
        not_found,
    );
    assert_code(
        b.list_guideline_versions(pb::ListGuidelineVersionsRequest {
            guideline_id: g.clone(),
            ..Default::default()
        })
        .await,
        not_found,
    );
    assert_code(
        b.update_guideline(pb::UpdateGuidelineRequest {
            guideline_id: g.clone(),
            expected_version: 1,
            guideline: Some(common::guideline(
                "Taken over",
                phrase(&["x"]),
                common::actions(pb::Team::Legal),
            )),
        })
        .await,
        not_found,
    );
    assert_code(
        b.get_escalation(pb::GetEscalationRequest {
            escalation_id: e.clone(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: e.clone(),
            team: pb::Team::Legal as i32,
        })
        .await,
        not_found,
    );
    assert_code(
        b.resolve_escalation(pb::ResolveEscalationRequest {
            escalation_id: e.clone(),
            note: String::new(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.get_incident(pb::GetIncidentRequest {
            incident_id: i.clone(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.update_incident(pb::UpdateIncidentRequest {
            incident_id: i.clone(),
            expected_version: 1,
            state: pb::IncidentState::Live as i32,
            ..Default::default()
        })
        .await,
        not_found,
    );
    assert_code(
        b.approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: i.clone(),
            text: String::new(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.post_incident_statement(pb::PostIncidentStatementRequest {
            incident_id: i.clone(),
            text: "hi".into(),
        })
        .await,
        not_found,
    );
    // B cannot link A's escalation into an incident of its own.
    assert_code(
        b.open_incident(pb::OpenIncidentRequest {
            title: "B's".into(),
            escalation_ids: vec![e.clone()],
            request_id: "open-1".into(),
            ..Default::default()
        })
        .await,
        not_found,
    );
    let own = b
        .open_incident(pb::OpenIncidentRequest {
            title: "B's".into(),
            request_id: "open-2".into(),
            ..Default::default()
        })
        .await
        .expect("opened")
        .into_inner();
    assert_code(
        b.update_incident(pb::UpdateIncidentRequest {
            incident_id: own.incident_id.clone(),
            expected_version: own.version,
            link_escalation_ids: vec![e.clone()],
            ..Default::default()
        })
        .await,
        not_found,
    );
    assert_code(
        b.update_spike_detector(pb::UpdateSpikeDetectorRequest {
            detector_id: made.detector.detector_id.clone(),
            expected_version: made.detector.version,
            settings: Some(pb::SpikeSettings::default()),
            enabled: false,
        })
        .await,
        not_found,
    );
    assert_code(
        b.mark_spike_alert(pb::MarkSpikeAlertRequest {
            alert_id: made.alert.alert_id.clone(),
            verdict: false,
        })
        .await,
        not_found,
    );
    assert_code(
        b.start_drill(pb::StartDrillRequest {
            guideline_id: g.clone(),
            scenario: Some(Scenario::Script(pb::DrillScript {
                mentions: vec![pb::ScriptedMention {
                    text: "refund now".into(),
                    ..Default::default()
                }],
            })),
            time_limit_seconds: 0,
            request_id: "drill-1".into(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.get_drill(pb::GetDrillRequest {
            drill_id: d.clone(),
        })
        .await,
        not_found,
    );
    assert_code(
        b.end_drill(pb::EndDrillRequest {
            drill_id: d.clone(),
        })
        .await,
        not_found,
    );

    // Nothing of A's changed under B's calls.
    let escalation = common::get_escalation(&mut a, &e).await;
    assert_eq!(escalation.state, pb::EscalationState::Raised as i32);
    let incident = common::get_incident(&mut a, &i).await;
    assert_eq!(incident.version, 1);
    assert_eq!(incident.state, pb::IncidentState::Triage as i32);
    let guideline = a
        .get_guideline(pb::GetGuidelineRequest {
            guideline_id: g,
            version: 0,
        })
        .await
        .expect("A's")
        .into_inner();
    assert_eq!(guideline.version, 1);
    let alert = spike_alerts(&mut a).await.remove(0);
    assert_eq!(alert.verdict, None);
    let detector = detectors(&mut a)
        .await
        .into_iter()
        .find(|x| x.detector_id == made.detector.detector_id)
        .expect("A's detector");
    assert_eq!(detector.version, made.detector.version);
    assert!(detector.enabled);
    // B's mention of the same id is B's alone.
    h.deliver(vec![
        Mention::new("b", "threat")
            .urgency(Urgency::LegalThreat)
            .event(),
    ])
    .await;
    let theirs = common::escalations(&mut b, false).await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(theirs[0].escalation_id, e);
    assert_eq!(common::escalations(&mut a, false).await.len(), 1);
}

#[tokio::test]
async fn one_batch_of_several_tenants_is_evaluated_by_each_ones_guidelines() {
    let h = Harness::start().await;
    let mut a = h.client("a");
    let mut b = h.client("b");
    let refunds = common::create(
        &mut b,
        common::guideline(
            "Refunds",
            phrase(&["refund"]),
            common::actions(pb::Team::Support),
        ),
    )
    .await;
    common::disable_defaults(&mut a).await;
    h.deliver(vec![
        Mention::new("a", "same-id")
            .text("refund me")
            .urgency(Urgency::LegalThreat)
            .event(),
        Mention::new("b", "same-id")
            .text("refund me")
            .urgency(Urgency::LegalThreat)
            .event(),
        Mention::new("c", "same-id")
            .text("refund me")
            .urgency(Urgency::LegalThreat)
            .event(),
    ])
    .await;
    assert!(
        common::escalations(&mut a, false).await.is_empty(),
        "A disabled its defaults and has no refunds guideline"
    );
    let of_b = common::escalations(&mut b, false).await;
    let mut names: Vec<&str> = of_b.iter().map(|e| e.guideline_name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Legal threat", "Refunds"]);
    assert!(of_b.iter().any(|e| e.guideline_id == refunds.guideline_id));
    // C was first heard of in the batch: made with its defaults on the spot.
    let of_c = common::escalations(&mut h.client("c"), false).await;
    assert_eq!(of_c.len(), 1);
    assert_eq!(of_c[0].guideline_name, "Legal threat");
    for (client, n) in [(&mut a, 1), (&mut b, 1)] {
        assert_eq!(evaluations(client).await.len(), n);
    }
}
