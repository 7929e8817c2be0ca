//! Bad input on every RPC: refused whole with INVALID_ARGUMENT naming each
//! field at fault, before anything is written.

mod common;

use common::{
    Client, Harness, Mention, actions, assert_invalid, create, guideline, list_guidelines, phrase,
    timestamp,
};
use earshot_proto::escalation::v1::{
    self as pb, backtest_spike_detector_request::Source, start_drill_request::Scenario,
};
use earshot_proto::events::v1::Event;

const BAD_ID: &str = "not-a-uuid";
const BAD_TOKEN: &str = "bm90IG91cnM";

fn too_long(chars: usize) -> String {
    "x".repeat(chars)
}

#[tokio::test]
async fn list_rpcs_refuse_bad_pages() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    assert_invalid(
        c.list_evaluations(pb::ListEvaluationsRequest {
            page_size: 501,
            page_token: String::new(),
        })
        .await,
        &["page_size"],
    );
    assert_invalid(
        c.list_evaluations(pb::ListEvaluationsRequest {
            page_size: 0,
            page_token: BAD_TOKEN.into(),
        })
        .await,
        &["page_token"],
    );
    assert_invalid(
        c.list_guidelines(pb::ListGuidelinesRequest {
            page_size: 501,
            page_token: String::new(),
        })
        .await,
        &["page_size"],
    );
    assert_invalid(
        c.list_guidelines(pb::ListGuidelinesRequest {
            page_size: 10,
            page_token: "%%%".into(),
        })
        .await,
        &["page_token"],
    );
    assert_invalid(
        c.list_escalations(pb::ListEscalationsRequest {
            state: 99,
            ..Default::default()
        })
        .await,
        &["state"],
    );
    assert_invalid(
        c.list_escalations(pb::ListEscalationsRequest {
            page_token: BAD_TOKEN.into(),
            ..Default::default()
        })
        .await,
        &["page_token"],
    );
    assert_invalid(
        c.list_incidents(pb::ListIncidentsRequest {
            state: 6,
            ..Default::default()
        })
        .await,
        &["state"],
    );
    assert_invalid(
        c.list_incidents(pb::ListIncidentsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await,
        &["page_size"],
    );
    assert_invalid(
        c.list_spike_alerts(pb::ListSpikeAlertsRequest {
            detector_id: BAD_ID.into(),
            ..Default::default()
        })
        .await,
        &["detector_id"],
    );
    assert_invalid(
        c.list_spike_alerts(pb::ListSpikeAlertsRequest {
            page_size: 501,
            ..Default::default()
        })
        .await,
        &["page_size"],
    );
    assert_invalid(
        c.list_drills(pb::ListDrillsRequest {
            guideline_id: BAD_ID.into(),
            ..Default::default()
        })
        .await,
        &["guideline_id"],
    );
    assert_invalid(
        c.list_drills(pb::ListDrillsRequest {
            page_token: BAD_TOKEN.into(),
            ..Default::default()
        })
        .await,
        &["page_token"],
    );
    // ListSpikeDetectors takes nothing, so nothing in it can be wrong.
    c.list_spike_detectors(pb::ListSpikeDetectorsRequest {})
        .await
        .expect("listed");
}

#[tokio::test]
async fn guideline_rpcs_name_every_field_at_fault() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    let before = list_guidelines(&mut c).await;

    assert_invalid(
        c.get_guideline(pb::GetGuidelineRequest {
            guideline_id: String::new(),
            version: 0,
        })
        .await,
        &["guideline_id"],
    );
    let real = before[0].guideline_id.clone();
    assert_invalid(
        c.get_guideline(pb::GetGuidelineRequest {
            guideline_id: real.clone(),
            version: u32::MAX,
        })
        .await,
        &["version"],
    );
    assert_invalid(
        c.list_guideline_versions(pb::ListGuidelineVersionsRequest {
            guideline_id: BAD_ID.into(),
            ..Default::default()
        })
        .await,
        &["guideline_id"],
    );
    assert_invalid(
        c.list_guideline_versions(pb::ListGuidelineVersionsRequest {
            guideline_id: real.clone(),
            page_size: 501,
            page_token: String::new(),
        })
        .await,
        &["page_size"],
    );

    assert_invalid(
        c.create_guideline(pb::CreateGuidelineRequest {
            guideline: None,
            request_id: String::new(),
        })
        .await,
        &["guideline", "request_id"],
    );
    // Every fault of a guideline is named, a few per request (a refusal
    // carries at most 768 bytes of violations).
    for (input, expected) in faulty_guidelines() {
        assert_invalid(
            c.create_guideline(pb::CreateGuidelineRequest {
                guideline: Some(input),
                request_id: "create-1".into(),
            })
            .await,
            &expected,
        );
    }
    let mut no_condition = guideline("Empty", phrase(&["x"]), actions(pb::Team::Support));
    no_condition.condition = None;
    no_condition.actions = None;
    assert_invalid(
        c.create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(no_condition),
            request_id: "create-2".into(),
        })
        .await,
        &["guideline.condition", "guideline.actions"],
    );
    let mut deep = common::vip();
    for _ in 0..7 {
        deep = common::all(vec![deep]);
    }
    let status = c
        .create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(guideline("Deep", deep, actions(pb::Team::Support))),
            request_id: "create-3".into(),
        })
        .await
        .expect_err("too deep");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("6 deep"), "{}", status.message());
    assert_invalid(
        c.create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(guideline(
                &too_long(121),
                phrase(&[&too_long(201)]),
                actions(pb::Team::Support),
            )),
            request_id: too_long(129),
        })
        .await,
        &[
            "guideline.name",
            "guideline.condition.phrase.any_of[0]",
            "request_id",
        ],
    );
    // Nothing of the refused creates was written, not even under their
    // request ids.
    let after = list_guidelines(&mut c).await;
    assert_eq!(after, before);
    let made = c
        .create_guideline(pb::CreateGuidelineRequest {
            guideline: Some(guideline(
                "Fine",
                phrase(&["x"]),
                actions(pb::Team::Support),
            )),
            request_id: "create-1".into(),
        })
        .await
        .expect("the request id is free")
        .into_inner();
    assert_eq!(made.name, "Fine");

    assert_invalid(
        c.update_guideline(pb::UpdateGuidelineRequest {
            guideline_id: String::new(),
            expected_version: 0,
            guideline: None,
        })
        .await,
        &["guideline_id", "expected_version", "guideline"],
    );
    for (input, expected) in faulty_guidelines() {
        assert_invalid(
            c.update_guideline(pb::UpdateGuidelineRequest {
                guideline_id: made.guideline_id.clone(),
                expected_version: 1,
                guideline: Some(input),
            })
            .await,
            &expected,
        );
    }
    let still = c
        .get_guideline(pb::GetGuidelineRequest {
            guideline_id: made.guideline_id,
            version: 0,
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!((still.version, still.name.as_str()), (1, "Fine"));
}

/// Guidelines with faults, and the fields each refusal must name.
fn faulty_guidelines() -> Vec<(pb::GuidelineInput, Vec<&'static str>)> {
    let fine = || guideline("Fine", phrase(&["x"]), actions(pb::Team::Support));
    let with_condition = |condition: pb::Condition| pb::GuidelineInput {
        condition: Some(condition),
        ..fine()
    };
    let with_actions = |actions: pb::Actions| pb::GuidelineInput {
        actions: Some(actions),
        ..fine()
    };
    vec![
        (
            pb::GuidelineInput {
                name: "   ".into(),
                severity: 9,
                condition: Some(common::all(vec![
                    common::sentiment(-3.0),
                    pb::Condition { kind: None },
                ])),
                ..fine()
            },
            vec![
                "guideline.name",
                "guideline.severity",
                "guideline.condition.all.conditions[0].sentiment.at_or_below",
                "guideline.condition.all.conditions[1]",
            ],
        ),
        (
            with_condition(common::any(vec![
                common::topic(&["Bad Key"]),
                common::urgency(&[]),
                common::influencer(0, false),
                common::sla_breach("SOMETIME", "SLOW"),
                common::all(vec![]),
            ])),
            vec![
                "guideline.condition.any.conditions[0].topic.any_of[0]",
                "guideline.condition.any.conditions[1].urgency.any_of",
                "guideline.condition.any.conditions[2].influencer",
                "guideline.condition.any.conditions[3].sla_breach.target",
                "guideline.condition.any.conditions[3].sla_breach.lane",
                "guideline.condition.any.conditions[4].all.conditions",
            ],
        ),
        (
            with_condition(common::all(vec![
                common::intent(&[earshot_proto::common::v1::Intent::Unspecified]),
                common::rule(&[" "]),
                common::phrase(&[]),
                common::leaf(pb::condition::Kind::Spike(pb::SpikeCondition {
                    detector_id: "nope".into(),
                    series: "everything".into(),
                    min_negative_share: 2.0,
                })),
            ])),
            vec![
                "guideline.condition.all.conditions[0].intent.any_of[0]",
                "guideline.condition.all.conditions[1].rule.rule_ids[0]",
                "guideline.condition.all.conditions[2].phrase.any_of",
                "guideline.condition.all.conditions[3].spike.detector_id",
                "guideline.condition.all.conditions[3].spike.series",
                "guideline.condition.all.conditions[3].spike.min_negative_share",
            ],
        ),
        (
            with_actions(pb::Actions {
                team: 0,
                ack_within_seconds: 5,
                ladder: vec![pb::LadderLevel {
                    team: 42,
                    ack_within_seconds: 0,
                }],
                ladder_repeats: 9,
                ..Default::default()
            }),
            vec![
                "guideline.actions.team",
                "guideline.actions.ack_within_seconds",
                "guideline.actions.ladder[0].team",
                "guideline.actions.ladder[0].ack_within_seconds",
                "guideline.actions.ladder_repeats",
            ],
        ),
        (
            with_actions(pb::Actions {
                ladder_repeats: 1,
                holding_statement: Some(pb::HoldingStatement {
                    template: "About {brand}".into(),
                    first_within_seconds: 10,
                    update_every_seconds: 100_000,
                }),
                ..actions(pb::Team::Pr)
            }),
            vec![
                "guideline.actions.ladder_repeats",
                "guideline.actions.holding_statement.template",
                "guideline.actions.holding_statement.first_within_seconds",
                "guideline.actions.holding_statement.update_every_seconds",
            ],
        ),
    ]
}

async fn an_escalation(h: &Harness, c: &mut Client) -> pb::Escalation {
    h.deliver(vec![
        Mention::new("acme", "m-1")
            .urgency(earshot_proto::common::v1::Urgency::LegalThreat)
            .event(),
    ])
    .await;
    common::escalations(c, false).await.remove(0)
}

#[tokio::test]
async fn escalation_rpcs_refuse_bad_ids_teams_and_notes() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    let e = an_escalation(&h, &mut c).await;
    assert_invalid(
        c.get_escalation(pb::GetEscalationRequest {
            escalation_id: BAD_ID.into(),
        })
        .await,
        &["escalation_id"],
    );
    assert_invalid(
        c.acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: String::new(),
            team: 0,
        })
        .await,
        &["escalation_id", "team"],
    );
    assert_invalid(
        c.acknowledge_escalation(pb::AcknowledgeEscalationRequest {
            escalation_id: e.escalation_id.clone(),
            team: 77,
        })
        .await,
        &["team"],
    );
    assert_invalid(
        c.resolve_escalation(pb::ResolveEscalationRequest {
            escalation_id: BAD_ID.into(),
            note: too_long(4001),
        })
        .await,
        &["escalation_id", "note"],
    );
    let unchanged = common::get_escalation(&mut c, &e.escalation_id).await;
    assert_eq!(unchanged.state, pb::EscalationState::Raised as i32);
    assert_eq!(common::kinds(&unchanged.timeline), ["raised"]);
}

#[tokio::test]
async fn incident_rpcs_name_every_field_at_fault() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    assert_invalid(
        c.open_incident(pb::OpenIncidentRequest {
            title: " ".into(),
            severity: 12,
            commander: too_long(201),
            escalation_ids: vec![BAD_ID.into()],
            mention_ids: vec![String::new()],
            case_ids: vec!["case-1".into()],
            holding_statement: Some(pb::HoldingStatement {
                template: String::new(),
                first_within_seconds: 0,
                update_every_seconds: 60,
            }),
            request_id: String::new(),
        })
        .await,
        &[
            "title",
            "severity",
            "commander",
            "escalation_ids[0]",
            "case_ids[0]",
            "mention_ids[0]",
            "holding_statement.template",
            "holding_statement.first_within_seconds",
            "request_id",
        ],
    );
    assert_invalid(
        c.open_incident(pb::OpenIncidentRequest {
            title: too_long(301),
            escalation_ids: vec![uuid::Uuid::now_v7().to_string(); 501],
            request_id: "open-1".into(),
            ..Default::default()
        })
        .await,
        &["title", "escalation_ids"],
    );
    assert!(
        common::incidents(&mut c, true).await.is_empty(),
        "nothing opened"
    );

    let incident = c
        .open_incident(pb::OpenIncidentRequest {
            title: "Real".into(),
            request_id: "open-1".into(),
            ..Default::default()
        })
        .await
        .expect("the request id is free")
        .into_inner();
    assert_invalid(
        c.get_incident(pb::GetIncidentRequest {
            incident_id: BAD_ID.into(),
        })
        .await,
        &["incident_id"],
    );
    assert_invalid(
        c.update_incident(pb::UpdateIncidentRequest {
            incident_id: String::new(),
            expected_version: 0,
            state: 9,
            commander: too_long(201),
            learning_note: too_long(4001),
            link_escalation_ids: vec![BAD_ID.into()],
            link_mention_ids: vec![too_long(129)],
            link_case_ids: vec![BAD_ID.into()],
        })
        .await,
        &[
            "incident_id",
            "expected_version",
            "state",
            "commander",
            "learning_note",
            "link_escalation_ids[0]",
            "link_mention_ids[0]",
            "link_case_ids[0]",
        ],
    );
    assert_invalid(
        c.approve_holding_statement(pb::ApproveHoldingStatementRequest {
            incident_id: BAD_ID.into(),
            text: too_long(4001),
        })
        .await,
        &["incident_id", "text"],
    );
    assert_invalid(
        c.post_incident_statement(pb::PostIncidentStatementRequest {
            incident_id: String::new(),
            text: too_long(4001),
        })
        .await,
        &["incident_id", "text"],
    );
    let unchanged = common::get_incident(&mut c, &incident.incident_id).await;
    assert_eq!(unchanged.version, 1);
    assert_eq!(common::kinds(&unchanged.timeline), ["opened"]);
}

#[tokio::test]
async fn spike_rpcs_name_every_field_at_fault() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    let detector = common::detectors(&mut c).await.remove(0);
    assert_invalid(
        c.update_spike_detector(pb::UpdateSpikeDetectorRequest {
            detector_id: BAD_ID.into(),
            expected_version: 0,
            settings: None,
            enabled: true,
        })
        .await,
        &["detector_id", "expected_version", "settings"],
    );
    assert_invalid(
        c.update_spike_detector(pb::UpdateSpikeDetectorRequest {
            detector_id: detector.detector_id.clone(),
            expected_version: 1,
            settings: Some(pb::SpikeSettings {
                half_life_weeks: -1.0,
                ..Default::default()
            }),
            enabled: true,
        })
        .await,
        &["settings.half_life_weeks"],
    );
    assert_invalid(
        c.mark_spike_alert(pb::MarkSpikeAlertRequest {
            alert_id: String::new(),
            verdict: true,
        })
        .await,
        &["alert_id"],
    );

    let backtest = |settings: Option<pb::SpikeSettings>, source: Option<Source>| {
        pb::BacktestSpikeDetectorRequest { settings, source }
    };
    assert_invalid(
        c.backtest_spike_detector(backtest(None, None)).await,
        &["source"],
    );
    assert_invalid(
        c.backtest_spike_detector(backtest(
            Some(pb::SpikeSettings {
                k: 5,
                n: 3,
                ..Default::default()
            }),
            None,
        ))
        .await,
        &["settings.k", "source"],
    );
    let now = chrono::Utc::now();
    assert_invalid(
        c.backtest_spike_detector(backtest(
            None,
            Some(Source::Stored(pb::StoredHistory {
                series: "everything".into(),
                from: None,
                to: Some(prost_types::Timestamp {
                    seconds: 0,
                    nanos: -1,
                }),
            })),
        ))
        .await,
        &["stored.series", "stored.from", "stored.to"],
    );
    assert_invalid(
        c.backtest_spike_detector(backtest(
            None,
            Some(Source::Stored(pb::StoredHistory {
                series: "topic:delivery".into(),
                from: Some(timestamp(now)),
                to: Some(timestamp(now - chrono::Duration::hours(1))),
            })),
        ))
        .await,
        &["stored.to"],
    );
    assert_invalid(
        c.backtest_spike_detector(backtest(
            None,
            Some(Source::Supplied(pb::SuppliedSeries { buckets: vec![] })),
        ))
        .await,
        &["supplied.buckets"],
    );
    assert_invalid(
        c.backtest_spike_detector(backtest(
            None,
            Some(Source::Supplied(pb::SuppliedSeries {
                buckets: vec![
                    pb::SpikeBucket {
                        minute: Some(timestamp(now)),
                        count: 3,
                        negative: 0,
                    },
                    pb::SpikeBucket {
                        minute: None,
                        count: 3,
                        negative: 0,
                    },
                ],
            })),
        ))
        .await,
        &["supplied.buckets[1].minute"],
    );
    let ten_weeks_and_a_minute = (0..100_801)
        .map(|i| pb::SpikeBucket {
            minute: Some(prost_types::Timestamp {
                seconds: 1_704_067_200 + 60 * i,
                nanos: 0,
            }),
            count: 1,
            negative: 0,
        })
        .collect();
    assert_invalid(
        c.backtest_spike_detector(backtest(
            None,
            Some(Source::Supplied(pb::SuppliedSeries {
                buckets: ten_weeks_and_a_minute,
            })),
        ))
        .await,
        &["supplied.buckets"],
    );
    let read = common::detectors(&mut c).await.remove(0);
    assert_eq!(read.version, 1, "no refused change was written");
}

fn script(mentions: Vec<pb::ScriptedMention>) -> Option<Scenario> {
    Some(Scenario::Script(pb::DrillScript { mentions }))
}

fn line(offset_seconds: u32, text: &str) -> pb::ScriptedMention {
    pb::ScriptedMention {
        offset_seconds,
        text: text.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn drill_rpcs_name_every_field_at_fault() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    let g = create(
        &mut c,
        guideline("Drilled", phrase(&["court"]), actions(pb::Team::Legal)),
    )
    .await;
    let start = |guideline_id: &str, scenario: Option<Scenario>, limit: u32, request_id: &str| {
        pb::StartDrillRequest {
            guideline_id: guideline_id.into(),
            scenario,
            time_limit_seconds: limit,
            request_id: request_id.into(),
        }
    };
    assert_invalid(
        c.start_drill(start("", None, 0, "")).await,
        &["guideline_id", "request_id", "scenario"],
    );
    assert_invalid(
        c.start_drill(start(&g.guideline_id, script(vec![]), 30, "drill-1"))
            .await,
        &["time_limit_seconds", "script.mentions"],
    );
    assert_invalid(
        c.start_drill(start(
            &g.guideline_id,
            script(vec![
                line(0, "see you in court"),
                line(0, "  "),
                line(120, "late"),
                line(1, &too_long(10_001)),
            ]),
            60,
            "drill-1",
        ))
        .await,
        &[
            "script.mentions[1]",
            "script.mentions[2].offset_seconds",
            "script.mentions[3].text",
        ],
    );
    assert_invalid(
        c.start_drill(start(
            &g.guideline_id,
            script(vec![line(0, "x"); 1001]),
            0,
            "drill-1",
        ))
        .await,
        &["script.mentions"],
    );
    let now = chrono::Utc::now();
    let recorded = |from: Option<prost_types::Timestamp>, to: Option<prost_types::Timestamp>| {
        Some(Scenario::Recorded(pb::RecordedWindow { from, to }))
    };
    assert_invalid(
        c.start_drill(start(&g.guideline_id, recorded(None, None), 0, "drill-1"))
            .await,
        &["recorded.from", "recorded.to"],
    );
    assert_invalid(
        c.start_drill(start(
            &g.guideline_id,
            recorded(Some(timestamp(now)), Some(timestamp(now))),
            0,
            "drill-1",
        ))
        .await,
        &["recorded.to"],
    );
    assert_invalid(
        c.start_drill(start(
            &g.guideline_id,
            recorded(
                Some(timestamp(now - chrono::Duration::days(2))),
                Some(timestamp(now)),
            ),
            0,
            "drill-1",
        ))
        .await,
        &["recorded.to"],
    );
    assert_invalid(
        c.start_drill(start(
            &g.guideline_id,
            script(vec![line(0, "x")]),
            90_000,
            "drill-1",
        ))
        .await,
        &["time_limit_seconds"],
    );
    let drills = c
        .list_drills(pb::ListDrillsRequest::default())
        .await
        .expect("listed")
        .into_inner()
        .drills;
    assert!(drills.is_empty(), "no refused drill was started");

    assert_invalid(
        c.end_drill(pb::EndDrillRequest {
            drill_id: BAD_ID.into(),
        })
        .await,
        &["drill_id"],
    );
    assert_invalid(
        c.get_drill(pb::GetDrillRequest {
            drill_id: String::new(),
        })
        .await,
        &["drill_id"],
    );
}

#[tokio::test]
async fn the_event_sink_refuses_malformed_events_whole() {
    let h = Harness::start().await;
    let mut c = h.client("acme");
    let good = Mention::new("acme", "m-1").event();
    let bad = Event {
        event_id: "nope".into(),
        tenant_id: " ".into(),
        producer: "insight".into(),
        payload: None,
        ..Default::default()
    };
    let refused = h.try_deliver(vec![good.clone(), bad]).await;
    assert_invalid(
        refused,
        &[
            "events[1].producer",
            "events[1].event_id",
            "events[1].tenant_id",
            "events[1].payload",
        ],
    );
    assert!(
        common::evaluations(&mut c).await.is_empty(),
        "the good event of a refused batch was not handled"
    );
    let answer = h.deliver(vec![good]).await;
    assert_eq!(answer.handled, 1, "and is handled when sent again");
}
