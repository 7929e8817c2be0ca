//! Escalations: a guideline that fired, with an owner, a deadline and a
//! ladder. [`crate::raise`] is the one way one is made (by evaluations,
//! overdue statements and drills alike); the ladder ([`ladder`]) moves those
//! nobody acknowledged; [`acknowledge`] and [`resolve`] are the people's part.

pub mod ladder;
pub mod store;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::events::v1::{
    EscalationAcknowledged, EscalationResolved, MentionClassified, event,
};
use earshot_server::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::guidelines::Compiled;
use crate::publish::{Outgoing, publish};
use crate::timeline::{self, Entry};
use crate::vocabulary::{EscalationState, Team, TriggerKind};
use store::EscalationRow;

/// What raised an escalation. `key` is what dedupes: one guideline fires
/// once per mention, case, alert or overdue statement.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub key: String,
    pub mention_id: String,
    pub case_id: Option<Uuid>,
    pub spike_alert_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    pub event_id: Option<Uuid>,
    /// The topic it is about, for holding statements ("" when none).
    pub topic: String,
    /// Why, in words, for the reason line.
    pub why: String,
}

impl Trigger {
    /// A mention that fired a guideline: who said what, in a line.
    pub fn mention(mention: &MentionClassified, event_id: Option<Uuid>) -> Self {
        let topic = mention
            .classification
            .as_ref()
            .and_then(|c| c.topics.first())
            .map_or("", |t| t.topic.as_str());
        let who = mention
            .author
            .as_ref()
            .map(|a| a.handle.trim_start_matches('@'))
            .filter(|h| !h.is_empty())
            .map_or_else(String::new, |h| format!(" by {h}"));
        Self {
            kind: TriggerKind::Mention,
            key: mention.mention_id.clone(),
            mention_id: mention.mention_id.clone(),
            case_id: None,
            spike_alert_id: None,
            incident_id: None,
            event_id,
            topic: topic.to_owned(),
            why: format!("mention{who}: \"{}\"", snippet(&mention.text, 80)),
        }
    }

    pub fn case(case_id: Uuid, event_id: Uuid, topic: &str, why: String) -> Self {
        Self {
            kind: TriggerKind::Case,
            key: case_id.to_string(),
            mention_id: String::new(),
            case_id: Some(case_id),
            spike_alert_id: None,
            incident_id: None,
            event_id: Some(event_id),
            topic: topic.to_owned(),
            why,
        }
    }
}

/// The first `chars` characters of `text` on one line, with an ellipsis
/// when cut.
fn snippet(text: &str, chars: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= chars {
        return line;
    }
    let cut: String = line.chars().take(chars - 1).collect();
    format!("{}…", cut.trim_end())
}

/// An escalation to raise.
#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub tenant_id: String,
    pub guideline: Arc<Compiled>,
    pub trigger: Trigger,
    pub drill_id: Option<Uuid>,
}

impl NewEscalation {
    pub fn reason(&self) -> String {
        format!("{}: {}", self.guideline.name, self.trigger.why)
    }

    pub(crate) fn key(&self) -> Key<'_> {
        (
            self.guideline.id,
            self.trigger.kind,
            self.trigger.key.as_str(),
            self.drill_id,
        )
    }
}

/// What makes an escalation unique (the table's unique key, tenant aside:
/// guideline ids are the tenant's own).
pub(crate) type Key<'a> = (Uuid, TriggerKind, &'a str, Option<Uuid>);

impl EscalationRow {
    pub(crate) fn key(&self) -> Key<'_> {
        (
            self.guideline_id,
            self.trigger_kind,
            self.trigger_key.as_str(),
            self.drill_id,
        )
    }
}

/// Stops the ladder: the caller acknowledges for `team`.
pub async fn acknowledge(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant_id: &str,
    id: Uuid,
    actor: &str,
    team: Team,
) -> Result<EscalationRow, ServiceError> {
    let row = store::lock(conn, tenant_id, id).await?;
    if !row.state.awaits_acknowledgement() {
        return Err(ServiceError::FailedPrecondition(format!(
            "escalation {id} is {}: only a raised or re-escalated one can be acknowledged",
            row.state
        )));
    }
    let row = store::acknowledge(conn, id, actor, team).await?;
    let notify = row.notify;
    timeline::append(
        conn,
        &[Entry {
            tenant_id: tenant_id.to_owned(),
            subject_id: id,
            kind: "acknowledged",
            actor: actor.to_owned(),
            detail: format!("for {team} at level {}", row.level),
        }],
    )
    .await?;
    publish(
        conn,
        outbox,
        vec![Outgoing::new(
            tenant_id,
            id.to_string(),
            event::Payload::EscalationAcknowledged(EscalationAcknowledged {
                escalation_id: id.to_string(),
                acknowledged_by: actor.to_owned(),
                team: team.label().to_owned(),
                level: u32::try_from(row.level).unwrap_or(0),
            }),
            row.drill_id.is_some(),
            notify,
        )],
    )
    .await?;
    Ok(row)
}

pub async fn resolve(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant_id: &str,
    id: Uuid,
    actor: &str,
    note: &str,
) -> Result<EscalationRow, ServiceError> {
    let row = store::lock(conn, tenant_id, id).await?;
    if row.state == EscalationState::Resolved {
        return Err(ServiceError::FailedPrecondition(format!(
            "escalation {id} is already resolved"
        )));
    }
    let row = store::resolve(conn, id, actor).await?;
    let notify = row.notify;
    timeline::append(
        conn,
        &[Entry {
            tenant_id: tenant_id.to_owned(),
            subject_id: id,
            kind: "resolved",
            actor: actor.to_owned(),
            detail: note.to_owned(),
        }],
    )
    .await?;
    publish(
        conn,
        outbox,
        vec![Outgoing::new(
            tenant_id,
            id.to_string(),
            event::Payload::EscalationResolved(EscalationResolved {
                escalation_id: id.to_string(),
                resolved_by: actor.to_owned(),
                note: note.to_owned(),
            }),
            row.drill_id.is_some(),
            notify,
        )],
    )
    .await?;
    Ok(row)
}

/// When an escalation raised `now` under `guideline` must be acknowledged.
pub fn first_deadline(guideline: &Compiled, now: DateTime<Utc>) -> DateTime<Utc> {
    now + chrono::Duration::from_std(guideline.ack_within()).unwrap_or(chrono::Duration::MAX)
}
