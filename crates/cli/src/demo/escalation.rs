//! The demo's escalation part: what the run's mentions raised under the
//! tenant's default guidelines, an escalation acknowledged, the incident a
//! guideline opened with its holding statement approved and posted, the
//! spike detector backtested on a series with a known burst, and a drill of
//! the legal-threat guideline, scored.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use earshot_proto::common::v1::{
    Author, Channel, Classification, Sentiment, Urgency, UrgencySignal,
};
use earshot_proto::escalation::v1::escalation_service_client::EscalationServiceClient;
use earshot_proto::escalation::v1::{
    AcknowledgeEscalationRequest, ApproveHoldingStatementRequest, BacktestSpikeDetectorRequest,
    DrillScript, EndDrillRequest, Escalation, GetDrillRequest, GetIncidentRequest,
    ListEscalationsRequest, ListEvaluationsRequest, ListGuidelinesRequest,
    PostIncidentStatementRequest, ResolveEscalationRequest, ScriptedMention, SpikeBucket,
    SpikeSettings, StartDrillRequest, SuppliedSeries, Team, backtest_spike_detector_request,
    start_drill_request,
};

use super::{Authed, clip, until};

type Client = EscalationServiceClient<Authed>;

fn label(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_owned()
}

fn team(n: i32) -> String {
    label(
        Team::try_from(n).unwrap_or(Team::Unspecified).as_str_name(),
        "TEAM_",
    )
}

async fn escalations(client: &mut Client, drills: bool) -> anyhow::Result<Vec<Escalation>> {
    Ok(client
        .list_escalations(ListEscalationsRequest {
            include_drills: drills,
            page_size: 500,
            ..Default::default()
        })
        .await?
        .into_inner()
        .escalations)
}

/// A series of `minutes` at about two mentions a minute, with a burst of 60
/// a minute for five minutes starting at `burst`.
fn synthetic_series(minutes: i64, burst: i64) -> Vec<SpikeBucket> {
    let start = SystemTime::now() - Duration::from_secs(60 * minutes as u64);
    (0..minutes)
        .map(|m| {
            let count = if (burst..burst + 5).contains(&m) {
                60
            } else {
                // A fixed, uneven pattern around 2 a minute.
                [1, 3, 2, 0, 2, 4, 1, 2, 3, 2][(m % 10) as usize]
            };
            SpikeBucket {
                minute: Some((start + Duration::from_secs(60 * m as u64)).into()),
                count,
                negative: count / 2,
            }
        })
        .collect()
}

pub async fn show(client: &mut Client, ids: &HashSet<String>, run_id: &str) -> anyhow::Result<()> {
    let guidelines = client
        .list_guidelines(ListGuidelinesRequest::default())
        .await?
        .into_inner()
        .guidelines;
    let evaluated = until(
        "evaluations of this run",
        || {
            let mut c = client.clone();
            async move {
                Ok(c.list_evaluations(ListEvaluationsRequest {
                    page_size: 500,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .evaluations)
            }
        },
        |list| list.iter().filter(|e| ids.contains(&e.mention_id)).count() >= ids.len(),
    )
    .await?;
    let ours: Vec<Escalation> = escalations(client, false)
        .await?
        .into_iter()
        .filter(|e| {
            e.trigger
                .as_ref()
                .is_some_and(|t| ids.contains(&t.mention_id))
        })
        .collect();
    let (cases, mentions): (Vec<_>, Vec<_>) = evaluated
        .iter()
        .filter(|e| ids.contains(&e.mention_id))
        .partition(|e| !e.case_id.is_empty());
    println!(
        "escalation  evaluated {} mentions and {} case openings against {} guidelines (the defaults); {} fired:",
        mentions.len(),
        cases.len(),
        guidelines.len(),
        ours.len()
    );
    for e in &ours {
        println!(
            "  {:<30} {:<4} {:<12} acknowledge within {} min  {}",
            clip(&e.guideline_name, 30),
            label(
                earshot_proto::escalation::v1::Severity::try_from(e.severity)
                    .unwrap_or_default()
                    .as_str_name(),
                "SEVERITY_"
            ),
            team(e.team),
            e.ack_due_at
                .as_ref()
                .zip(e.raised_at.as_ref())
                .map_or(0, |(due, raised)| (due.seconds - raised.seconds) / 60),
            clip(&e.reason, 70)
        );
    }
    if let Some(first) = ours.first() {
        let acked = client
            .acknowledge_escalation(AcknowledgeEscalationRequest {
                escalation_id: first.escalation_id.clone(),
                team: first.team,
            })
            .await?
            .into_inner();
        println!(
            "            {} acknowledged for {}: the ladder stops",
            acked.acknowledged_by,
            team(acked.acknowledged_for)
        );
    }
    if let Some(incident_id) = ours.iter().map(|e| &e.incident_id).find(|i| !i.is_empty()) {
        let incident = client
            .get_incident(GetIncidentRequest {
                incident_id: incident_id.clone(),
            })
            .await?
            .into_inner();
        let statement = incident.statement.clone().unwrap_or_default();
        println!(
            "            incident opened: {}\n              holding statement proposed: \"{}\"",
            clip(&incident.title, 70),
            statement.proposed
        );
        client
            .approve_holding_statement(ApproveHoldingStatementRequest {
                incident_id: incident_id.clone(),
                text: String::new(),
            })
            .await?;
        let posted = client
            .post_incident_statement(PostIncidentStatementRequest {
                incident_id: incident_id.clone(),
                text: String::new(),
            })
            .await?
            .into_inner()
            .statement
            .unwrap_or_default();
        println!(
            "              approved by {} and posted; next update due in {} min",
            posted.approved_by,
            posted
                .next_due_at
                .zip(posted.last_posted_at)
                .map_or(0, |(due, at)| (due.seconds - at.seconds) / 60)
        );
    }

    // The detector on three days of a quiet series with one known burst.
    let burst_at = 3 * 24 * 60 - 120;
    let backtest = client
        .backtest_spike_detector(BacktestSpikeDetectorRequest {
            settings: Some(SpikeSettings::default()),
            source: Some(backtest_spike_detector_request::Source::Supplied(
                SuppliedSeries {
                    buckets: synthetic_series(3 * 24 * 60, burst_at),
                },
            )),
        })
        .await?
        .into_inner();
    let burst_start = SystemTime::now() - Duration::from_secs(60 * (3 * 24 * 60 - burst_at) as u64);
    let burst_start = chrono::DateTime::<chrono::Utc>::from(burst_start).timestamp() / 60;
    let alerts: Vec<String> = backtest
        .alerts
        .iter()
        .map(|a| {
            let minute = a.minute.as_ref().map_or(0, |m| m.seconds / 60);
            format!(
                "{} at minute {:+} of the burst ({} mentions, {:.1} expected, p={:.1e})",
                a.kind,
                minute - burst_start,
                a.count,
                a.expected,
                a.p_value
            )
        })
        .collect();
    println!(
        "            spike backtest over {} minutes (about 2 a minute, one burst of 60 a minute): {}",
        backtest.buckets,
        if alerts.is_empty() {
            "NO alert".to_owned()
        } else {
            alerts.join("; ")
        }
    );

    // A drill of the legal-threat guideline: one scripted mention, acknowledged
    // for the right team and resolved, then scored.
    let Some(legal) = guidelines.iter().find(|g| g.name == "Legal threat") else {
        return Ok(());
    };
    let drill = client
        .start_drill(StartDrillRequest {
            guideline_id: legal.guideline_id.clone(),
            scenario: Some(start_drill_request::Scenario::Script(DrillScript {
                mentions: vec![ScriptedMention {
                    offset_seconds: 0,
                    text: "My lawyer will hear about this. I am going to sue.".into(),
                    channel: Channel::X as i32,
                    author: Some(Author {
                        handle: "drill_customer".into(),
                        followers: 120,
                        ..Default::default()
                    }),
                    classification: Some(Classification {
                        urgency: vec![UrgencySignal {
                            urgency: Urgency::LegalThreat as i32,
                            cues: vec!["sue".into()],
                        }],
                        sentiment: Some(Sentiment {
                            compound: -0.6,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    matched_rules: vec![],
                }],
            })),
            time_limit_seconds: 600,
            request_id: format!("demo-drill-{run_id}"),
        })
        .await?
        .into_inner();
    let rehearsed = until(
        "the drill's escalation",
        || {
            let mut c = client.clone();
            async move { escalations(&mut c, true).await }
        },
        |list| list.iter().any(|e| e.drill_id == drill.drill_id),
    )
    .await?
    .into_iter()
    .find(|e| e.drill_id == drill.drill_id)
    .expect("seen");
    client
        .acknowledge_escalation(AcknowledgeEscalationRequest {
            escalation_id: rehearsed.escalation_id.clone(),
            team: rehearsed.team,
        })
        .await?;
    client
        .resolve_escalation(ResolveEscalationRequest {
            escalation_id: rehearsed.escalation_id.clone(),
            note: "drill: legal reviewed the thread".into(),
        })
        .await?;
    let ended = match client
        .end_drill(EndDrillRequest {
            drill_id: drill.drill_id.clone(),
        })
        .await
    {
        Ok(ended) => ended.into_inner(),
        // It ended on its own once everything it raised was resolved.
        Err(_) => client
            .get_drill(GetDrillRequest {
                drill_id: drill.drill_id.clone(),
            })
            .await?
            .into_inner(),
    };
    println!(
        "            drill of \"{}\": score {:.0}/100 — {}",
        legal.name,
        ended.score,
        ended
            .checks
            .iter()
            .map(|c| format!("{} {}", if c.passed { "✓" } else { "✗" }, c.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let real = escalations(client, false).await?.len();
    println!(
        "            the drill left the real escalations as they were ({real}); nothing reached the case queues"
    );
    Ok(())
}
