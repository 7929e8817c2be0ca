//! Drills: a guideline rehearsed the way a fire drill rehearses an
//! evacuation. A scenario (a script of mentions at relative times, or a
//! recorded window of the tenant's own mentions) is replayed through the
//! guideline in dry-run by the scheduler ([`ReplayJob`]): what it raises and
//! opens is marked as the drill's, climbs the ladder like the real thing and
//! goes only to webhook endpoints that accept drills, never to the case
//! queues, the real metrics or customers. When it ends ([`EndJob`], or by
//! hand) the drill is scored against the guideline ([`score`]).
//!
//! Spike conditions do not fire in drills: a scenario's few mentions are no
//! volume, and the real detector's state must not see them.

pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::escalation::v1::{Actions, DrillCheck, GuidelineInput};
use earshot_proto::events::v1::MentionClassified;
use earshot_server::ServiceError;
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use prost::Message;
use sqlx::{PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::escalations::store::EscalationRow;
use crate::escalations::{self, NewEscalation, Trigger};
use crate::guidelines::{self, Compiled, Subject};
use crate::incidents::IncidentRow;
use crate::timeline::{self, Entry};
use crate::vocabulary::{EscalationState, IncidentState};
pub use store::DrillRow;

/// Most mentions one scenario replays.
pub const MAX_SCENARIO: usize = 1000;
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(3600);

/// A scenario as checked: each mention and when, after the start, it comes.
pub type Scenario = Vec<(Duration, MentionClassified)>;

/// Starts a drill of the guideline's newest version; a retried start (same
/// request id) answers the first.
pub async fn start(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    guideline_id: Uuid,
    scenario: Scenario,
    time_limit: Duration,
    request_id: &str,
) -> Result<DrillRow, ServiceError> {
    if let Some(existing) = store::by_request(conn, tenant_id, request_id).await? {
        return Ok(existing);
    }
    let guideline = guidelines::store::get(conn, tenant_id, guideline_id, None).await?;
    if scenario.is_empty() {
        return Err(ServiceError::FailedPrecondition(
            "the scenario holds no mention to replay (a recorded window with no mentions?)".into(),
        ));
    }
    let drill = store::insert(
        conn, tenant_id, actor, &guideline, &scenario, time_limit, request_id,
    )
    .await?;
    timeline::append(
        conn,
        &[Entry {
            tenant_id: tenant_id.to_owned(),
            subject_id: drill.id,
            kind: "started",
            actor: actor.to_owned(),
            detail: format!(
                "rehearsing {}@{} with {} mentions",
                guideline_id, guideline.version, drill.scenario_size
            ),
        }],
    )
    .await?;
    Ok(drill)
}

/// Ends a running drill and scores it.
pub async fn end(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
) -> Result<DrillRow, ServiceError> {
    let drill = store::lock(conn, tenant_id, id).await?;
    if drill.ended_at.is_some() {
        return Err(ServiceError::FailedPrecondition(format!(
            "drill {id} has ended"
        )));
    }
    Ok(finish(conn, drill, actor).await?)
}

async fn finish(
    conn: &mut PgConnection,
    drill: DrillRow,
    actor: &str,
) -> Result<DrillRow, sqlx::Error> {
    let facts = facts(conn, &drill).await?;
    let checks = score(&facts);
    let total = total(&checks);
    store::stop_ladders(conn, drill.id).await?;
    let drill = store::finish(conn, drill.id, total, &checks).await?;
    timeline::append(
        conn,
        &[Entry {
            tenant_id: drill.tenant_id.clone(),
            subject_id: drill.id,
            kind: "ended",
            actor: actor.to_owned(),
            detail: format!("scored {total:.0}"),
        }],
    )
    .await?;
    Ok(drill)
}

/// What a drill is scored on.
pub struct Facts {
    pub actions: Actions,
    pub escalations: Vec<EscalationRow>,
    pub incidents: Vec<IncidentRow>,
}

pub async fn facts(conn: &mut PgConnection, drill: &DrillRow) -> Result<Facts, sqlx::Error> {
    let definition = store::definition(conn, drill).await?;
    Ok(Facts {
        actions: GuidelineInput::decode(definition.as_slice())
            .unwrap_or_default()
            .actions
            .unwrap_or_default(),
        escalations: escalations::store::of_drill(conn, &drill.tenant_id, drill.id).await?,
        incidents: crate::incidents::store::of_drill(conn, &drill.tenant_id, drill.id).await?,
    })
}

fn check(name: &str, weight: f64, earned: f64, detail: String) -> DrillCheck {
    DrillCheck {
        name: name.to_owned(),
        passed: earned >= 1.0,
        earned,
        weight,
        detail,
    }
}

fn minutes(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    format!("{}m{:02}s", s / 60, s % 60)
}

/// Scores a drill against its guideline: did it fire, how fast and at which
/// level of the ladder was it acknowledged, by the right team, was the
/// holding statement out in time and the cadence kept, and was the incident
/// closed with a learning note.
pub fn score(facts: &Facts) -> Vec<DrillCheck> {
    let mut checks = Vec::new();
    let first = facts.escalations.first();
    checks.push(check(
        "fired",
        1.0,
        f64::from(u8::from(first.is_some())),
        match first {
            Some(e) => format!(
                "{} escalation(s); first for {} as {}",
                facts.escalations.len(),
                e.team,
                e.severity
            ),
            None => "the guideline never fired on the scenario".to_owned(),
        },
    ));
    let Some(first) = first else {
        return checks;
    };
    let ack_window = chrono::Duration::seconds(i64::from(facts.actions.ack_within_seconds));
    let (earned, detail) = match (first.acknowledged_at, first.acknowledged_level) {
        (Some(at), Some(level)) => {
            let took = at - first.raised_at;
            let earned = if level == 0 && took <= ack_window {
                1.0
            } else {
                1.0 / f64::from(level.max(0) + 2)
            };
            (
                earned,
                format!(
                    "acknowledged after {} at level {level} (first level's window {})",
                    minutes(took),
                    minutes(ack_window)
                ),
            )
        }
        _ => (
            0.0,
            format!(
                "never acknowledged; the ladder reached level {} (repeat {})",
                first.level, first.repeat
            ),
        ),
    };
    checks.push(check("acknowledged_in_time", 2.0, earned, detail));
    let right = first
        .acknowledged_for
        .is_some_and(|team| team == first.team);
    checks.push(check(
        "right_team",
        1.0,
        f64::from(u8::from(right)),
        match first.acknowledged_for {
            Some(team) => format!("{team} acknowledged; {} owned it", first.team),
            None => format!("nobody acknowledged for {}", first.team),
        },
    ));
    if facts.actions.open_incident {
        let incident = facts.incidents.first();
        if facts.actions.holding_statement.is_some() {
            let (earned, detail) = match incident {
                Some(i) => match i.first_posted_at {
                    Some(posted) => {
                        let took = posted - i.opened_at;
                        let target = chrono::Duration::seconds(i64::from(i.first_within_seconds));
                        (
                            f64::from(u8::from(took <= target)),
                            format!(
                                "posted after {} (target {})",
                                minutes(took),
                                minutes(target)
                            ),
                        )
                    }
                    None => (0.0, "the holding statement was never posted".to_owned()),
                },
                None => (0.0, "no incident was opened".to_owned()),
            };
            checks.push(check("statement_in_time", 1.0, earned, detail));
            let (earned, detail) = match incident {
                Some(i) if i.first_posted_at.is_some() => (
                    f64::from(u8::from(i.statements_overdue == 0)),
                    format!(
                        "{} update(s) posted, {} statement(s) late",
                        i.updates_posted, i.statements_overdue
                    ),
                ),
                _ => (0.0, "no statement, no cadence".to_owned()),
            };
            checks.push(check("cadence_kept", 1.0, earned, detail));
        }
        let closed = incident.is_some_and(|i| {
            i.state == IncidentState::Closed && !i.learning_note.trim().is_empty()
        });
        checks.push(check(
            "closed_with_learning",
            1.0,
            f64::from(u8::from(closed)),
            match incident {
                Some(i) if closed => format!("closed: {}", i.learning_note),
                Some(i) => format!("left {}", i.state),
                None => "no incident was opened".to_owned(),
            },
        ));
    }
    checks
}

/// 0..100: the weighted share of the checks earned.
pub fn total(checks: &[DrillCheck]) -> f64 {
    let weight: f64 = checks.iter().map(|c| c.weight).sum();
    if weight == 0.0 {
        return 0.0;
    }
    100.0 * checks.iter().map(|c| c.earned * c.weight).sum::<f64>() / weight
}

/// Replays the scenario steps that fell due through their drill's guideline.
pub struct ReplayJob;

impl Job for ReplayJob {
    fn name(&self) -> &'static str {
        "drill replay"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let due = store::claim_due_steps(tx, limit).await?;
            if due.is_empty() {
                return Ok(0);
            }
            let mut compiled: HashMap<Uuid, Arc<Compiled>> = HashMap::new();
            let mut news = Vec::new();
            for step in &due {
                let guideline = compiled
                    .entry(step.drill_id)
                    .or_insert_with(|| {
                        let input =
                            GuidelineInput::decode(step.definition.as_slice()).unwrap_or_default();
                        Arc::new(Compiled::new(
                            step.guideline_id,
                            step.guideline_version,
                            &input,
                        ))
                    })
                    .clone();
                let Ok(mention) = MentionClassified::decode(step.mention.as_slice()) else {
                    continue;
                };
                // Dry-run: a disabled guideline is rehearsed all the same.
                if guideline.condition.matches(Subject::Mention(&mention)) {
                    news.push(NewEscalation {
                        tenant_id: step.tenant_id.clone(),
                        guideline,
                        trigger: Trigger::mention(&mention, None),
                        drill_id: Some(step.drill_id),
                    });
                }
            }
            store::replayed(tx, &due).await?;
            crate::raise::raise(tx, outbox, news).await?;
            Ok(due.len() as u64)
        })
    }
}

/// Ends drills whose time ran out, or that are over: every step replayed,
/// every escalation resolved and every incident closed.
pub struct EndJob;

impl Job for EndJob {
    fn name(&self) -> &'static str {
        "drill end"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let over =
                store::claim_over(tx, limit, EscalationState::Resolved, IncidentState::Closed)
                    .await?;
            let n = over.len() as u64;
            for drill in over {
                finish(tx, drill, timeline::SYSTEM).await?;
            }
            Ok(n)
        })
    }
}

/// When a step of a scenario that starts at `started_at` falls due.
pub fn due_at(started_at: DateTime<Utc>, offset: Duration) -> DateTime<Utc> {
    started_at + chrono::Duration::from_std(offset).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::{Severity, Team, TriggerKind};
    use earshot_proto::escalation::v1::HoldingStatement;

    fn escalation(raised: DateTime<Utc>) -> EscalationRow {
        EscalationRow {
            id: Uuid::now_v7(),
            tenant_id: "t".into(),
            guideline_id: Uuid::now_v7(),
            guideline_version: 1,
            guideline_name: "g".into(),
            trigger_kind: TriggerKind::Mention,
            trigger_key: "m".into(),
            mention_id: "m".into(),
            case_id: None,
            spike_alert_id: None,
            incident_id: None,
            event_id: None,
            severity: Severity::Sev2,
            team: Team::Pr,
            state: EscalationState::Raised,
            level: 0,
            repeat: 0,
            reason: String::new(),
            notify: true,
            raised_at: raised,
            ack_due_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
            acknowledged_for: None,
            acknowledged_level: None,
            resolved_at: None,
            resolved_by: None,
            drill_id: None,
        }
    }

    fn incident(opened: DateTime<Utc>) -> IncidentRow {
        IncidentRow {
            id: Uuid::now_v7(),
            tenant_id: "t".into(),
            title: "x".into(),
            severity: Severity::Sev2,
            commander: "c".into(),
            state: IncidentState::Live,
            guideline_id: None,
            guideline_version: None,
            drill_id: None,
            escalation_ids: vec![],
            mention_ids: vec![],
            case_ids: vec![],
            statement_proposed: "p".into(),
            statement_approved: String::new(),
            approved_by: None,
            approved_at: None,
            first_posted_at: None,
            last_posted_at: None,
            updates_posted: 0,
            statement_due_at: None,
            statements_overdue: 0,
            first_within_seconds: 300,
            update_every_seconds: 1200,
            learning_note: String::new(),
            notify: true,
            opened_at: opened,
            updated_at: opened,
            version: 1,
        }
    }

    fn actions() -> Actions {
        Actions {
            team: Team::Pr as i32,
            ack_within_seconds: 600,
            open_incident: true,
            holding_statement: Some(HoldingStatement {
                template: "t".into(),
                first_within_seconds: 300,
                update_every_seconds: 1200,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_drill_run_by_the_book_scores_100() {
        let t0 = Utc::now();
        let mut e = escalation(t0);
        e.acknowledged_at = Some(t0 + chrono::Duration::minutes(3));
        e.acknowledged_level = Some(0);
        e.acknowledged_for = Some(Team::Pr);
        let mut i = incident(t0);
        i.first_posted_at = Some(t0 + chrono::Duration::minutes(4));
        i.updates_posted = 2;
        i.state = IncidentState::Closed;
        i.learning_note = "pre-approve delivery statements".into();
        let checks = score(&Facts {
            actions: actions(),
            escalations: vec![e],
            incidents: vec![i],
        });
        assert!(checks.iter().all(|c| c.passed), "{checks:?}");
        assert!((total(&checks) - 100.0).abs() < 1e-9);
    }

    #[test]
    fn a_slow_wrong_team_drill_scores_low_and_says_why() {
        let t0 = Utc::now();
        let mut e = escalation(t0);
        e.acknowledged_at = Some(t0 + chrono::Duration::minutes(25));
        e.acknowledged_level = Some(1);
        e.acknowledged_for = Some(Team::Support);
        let mut i = incident(t0);
        i.first_posted_at = Some(t0 + chrono::Duration::minutes(9));
        i.statements_overdue = 1;
        let checks = score(&Facts {
            actions: actions(),
            escalations: vec![e],
            incidents: vec![i],
        });
        let by = |n: &str| checks.iter().find(|c| c.name == n).expect("check present");
        assert!(by("fired").passed);
        assert!(!by("acknowledged_in_time").passed);
        assert!(by("acknowledged_in_time").detail.contains("level 1"));
        assert!(!by("right_team").passed);
        assert!(!by("statement_in_time").passed);
        assert!(!by("cadence_kept").passed);
        assert!(!by("closed_with_learning").passed);
        let t = total(&checks);
        assert!(t > 0.0 && t < 40.0, "{t}");
    }

    #[test]
    fn a_drill_that_never_fired_scores_zero() {
        let checks = score(&Facts {
            actions: actions(),
            escalations: vec![],
            incidents: vec![],
        });
        assert_eq!(checks.len(), 1);
        assert_eq!(total(&checks), 0.0);
    }
}
