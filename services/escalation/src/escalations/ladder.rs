//! The ladder: an escalation nobody acknowledged by its deadline goes to the
//! next level of its guideline's ladder, and the whole ladder again as many
//! times as the guideline repeats it. Its state is the escalation's row
//! (`level`, `repeat`, `ack_due_at`), moved by the shared scheduler in the
//! transaction that claims it: a restart neither loses nor repeats a step,
//! and two replicas never both take one.

use std::time::Duration;

use chrono::Utc;
use earshot_outbox::Outbox;
use earshot_proto::escalation::v1::{Actions, GuidelineInput};
use earshot_proto::events::v1::{EscalationReescalated, event};
use earshot_server::convert::timestamp;
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use prost::Message;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::store::{COLUMNS, EscalationRow};
use crate::guidelines::MIN_ACK_SECONDS;
use crate::publish::{Outgoing, publish};
use crate::sql::prefixed;
use crate::timeline::{self, Entry};
use crate::vocabulary::{EscalationState, Team};

/// The ladder's next step for an escalation at `level` (0: as raised) and
/// `repeat`, or `None` at the top of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub level: u32,
    pub repeat: u32,
    pub team: Team,
    pub ack_within: Duration,
}

pub fn next_step(actions: &Actions, level: u32, repeat: u32) -> Option<Step> {
    let levels = actions.ladder.len() as u32;
    let (level, repeat) = if level < levels {
        (level + 1, repeat)
    } else if levels > 0 && repeat < actions.ladder_repeats {
        (1, repeat + 1)
    } else {
        return None;
    };
    let rung = &actions.ladder[(level - 1) as usize];
    Some(Step {
        level,
        repeat,
        team: Team::from_proto(rung.team).unwrap_or(Team::ServiceLead),
        ack_within: Duration::from_secs(u64::from(rung.ack_within_seconds.max(MIN_ACK_SECONDS))),
    })
}

/// The ladder as a scheduler job.
pub struct LadderJob;

#[derive(sqlx::FromRow)]
struct Due {
    #[sqlx(flatten)]
    escalation: EscalationRow,
    definition: Vec<u8>,
}

impl Job for LadderJob {
    fn name(&self) -> &'static str {
        "escalation ladder"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let due: Vec<Due> = sqlx::query_as(&format!(
                "SELECT {cols}, v.definition
                   FROM escalations e
                   JOIN guideline_versions v
                     ON v.guideline_id = e.guideline_id AND v.version = e.guideline_version
                  WHERE e.ack_due_at IS NOT NULL AND e.ack_due_at <= now()
                  ORDER BY e.ack_due_at
                  LIMIT $1
                    FOR UPDATE OF e SKIP LOCKED",
                cols = prefixed(COLUMNS, "e.")
            ))
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
            if due.is_empty() {
                return Ok(0);
            }
            let now = Utc::now();
            let mut ids = Vec::new();
            let mut levels = Vec::new();
            let mut repeats = Vec::new();
            let mut teams = Vec::new();
            let mut deadlines = Vec::new();
            let mut entries = Vec::new();
            let mut events = Vec::new();
            for Due {
                escalation: e,
                definition,
            } in &due
            {
                let actions = GuidelineInput::decode(definition.as_slice())
                    .unwrap_or_default()
                    .actions
                    .unwrap_or_default();
                let step = next_step(
                    &actions,
                    u32::try_from(e.level).unwrap_or(0),
                    u32::try_from(e.repeat).unwrap_or(0),
                );
                let subject = |kind, detail: String| Entry {
                    tenant_id: e.tenant_id.clone(),
                    subject_id: e.id,
                    kind,
                    actor: timeline::SYSTEM.to_owned(),
                    detail,
                };
                ids.push(e.id);
                let Some(step) = step else {
                    levels.push(e.level);
                    repeats.push(e.repeat);
                    teams.push(e.team);
                    deadlines.push(None);
                    entries.push(subject(
                        "ladder_exhausted",
                        format!("nobody acknowledged; {} still owns it", e.team),
                    ));
                    continue;
                };
                let deadline =
                    now + chrono::Duration::from_std(step.ack_within).unwrap_or_default();
                levels.push(step.level as i32);
                repeats.push(step.repeat as i32);
                teams.push(step.team);
                deadlines.push(Some(deadline));
                entries.push(subject(
                    "reescalated",
                    format!(
                        "not acknowledged in time: level {} (repeat {}) to {}, acknowledge by {}",
                        step.level,
                        step.repeat,
                        step.team,
                        deadline.to_rfc3339()
                    ),
                ));
                events.push(Outgoing::new(
                    &e.tenant_id,
                    e.id.to_string(),
                    event::Payload::EscalationReescalated(EscalationReescalated {
                        escalation_id: e.id.to_string(),
                        level: step.level,
                        repeat: step.repeat,
                        team: step.team.label().to_owned(),
                        ack_due_at: Some(timestamp(deadline)),
                        severity: e.severity.label().to_owned(),
                    }),
                    e.drill_id.is_some(),
                    e.notify,
                ));
            }
            step_all(tx, &ids, &levels, &repeats, &teams, &deadlines).await?;
            timeline::append(tx, &entries).await?;
            publish(tx, outbox, events).await?;
            Ok(due.len() as u64)
        })
    }
}

async fn step_all(
    tx: &mut Transaction<'static, Postgres>,
    ids: &[Uuid],
    levels: &[i32],
    repeats: &[i32],
    teams: &[Team],
    deadlines: &[Option<chrono::DateTime<Utc>>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE escalations e
            SET level = u.level, repeat = u.repeat, team = u.team, ack_due_at = u.due,
                state = CASE WHEN u.due IS NULL THEN e.state ELSE $6 END
           FROM unnest($1::uuid[], $2::int[], $3::int[], $4::smallint[], $5::timestamptz[])
             AS u(id, level, repeat, team, due)
          WHERE e.id = u.id",
    )
    .bind(ids)
    .bind(levels)
    .bind(repeats)
    .bind(teams)
    .bind(deadlines)
    .bind(EscalationState::Reescalated)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::escalation::v1::LadderLevel;

    fn actions(levels: &[(Team, u32)], repeats: u32) -> Actions {
        Actions {
            team: Team::Support as i32,
            ack_within_seconds: 600,
            ladder: levels
                .iter()
                .map(|(t, s)| LadderLevel {
                    team: *t as i32,
                    ack_within_seconds: *s,
                })
                .collect(),
            ladder_repeats: repeats,
            ..Default::default()
        }
    }

    #[test]
    fn the_ladder_climbs_its_levels_then_repeats_then_stops() {
        let a = actions(&[(Team::ServiceLead, 300), (Team::Executive, 900)], 1);
        let one = next_step(&a, 0, 0).expect("first level");
        assert_eq!((one.level, one.repeat, one.team), (1, 0, Team::ServiceLead));
        assert_eq!(one.ack_within, Duration::from_secs(300));
        let two = next_step(&a, 1, 0).expect("second level");
        assert_eq!((two.level, two.repeat, two.team), (2, 0, Team::Executive));
        let again = next_step(&a, 2, 0).expect("a repeat");
        assert_eq!(
            (again.level, again.repeat, again.team),
            (1, 1, Team::ServiceLead)
        );
        let last = next_step(&a, 1, 1).expect("the repeat's second level");
        assert_eq!(
            (last.level, last.repeat, last.team),
            (2, 1, Team::Executive)
        );
        // After the last level of the last repeat there is nothing more.
        assert_eq!(next_step(&a, 2, 1), None);
    }

    #[test]
    fn no_ladder_means_no_step() {
        assert_eq!(next_step(&actions(&[], 0), 0, 0), None);
    }
}
