//! Escalations and overdue commitments: facts kept from the escalation
//! service's and the case service's events, shown beside the service
//! metrics (who owns the escalations, how fast they are acknowledged, which
//! agents' promises fall due unkept).

pub mod store;

use chrono::{DateTime, Utc};
use earshot_proto::events::v1::{Event, event};
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use crate::range::Days;

/// What one event says about an escalation or a commitment.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Raised {
        escalation_id: String,
        at: DateTime<Utc>,
        severity: String,
        team: String,
        trigger: String,
    },
    Acknowledged {
        escalation_id: String,
        at: DateTime<Utc>,
    },
    Reescalated {
        escalation_id: String,
    },
    Resolved {
        escalation_id: String,
        at: DateTime<Utc>,
    },
    Overdue {
        commitment_id: String,
        case_id: String,
        made_by: String,
        due_at: DateTime<Utc>,
    },
    IncidentOpened {
        incident_id: String,
        at: DateTime<Utc>,
        severity: String,
    },
    /// An incident's state as of `at` (the dashboard counts the open ones).
    IncidentState {
        incident_id: String,
        at: DateTime<Utc>,
        state: String,
    },
}

fn at(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

/// The fact an event tells, if it tells one; its time is when it happened.
pub fn fact(e: &Event) -> Option<Fact> {
    let when = at(e.occurred_at.as_ref());
    let fact = match e.payload.as_ref()? {
        event::Payload::EscalationRaised(r) => Fact::Raised {
            escalation_id: r.escalation_id.clone(),
            at: when?,
            severity: r.severity.clone(),
            team: r.team.clone(),
            trigger: r.trigger.clone(),
        },
        event::Payload::EscalationAcknowledged(a) => Fact::Acknowledged {
            escalation_id: a.escalation_id.clone(),
            at: when?,
        },
        event::Payload::EscalationReescalated(r) => Fact::Reescalated {
            escalation_id: r.escalation_id.clone(),
        },
        event::Payload::EscalationResolved(r) => Fact::Resolved {
            escalation_id: r.escalation_id.clone(),
            at: when?,
        },
        event::Payload::CommitmentOverdue(c) => Fact::Overdue {
            commitment_id: c.commitment_id.clone(),
            case_id: c.case_id.clone(),
            made_by: c.made_by.clone(),
            due_at: at(c.due_at.as_ref()).or(when)?,
        },
        event::Payload::IncidentOpened(o) => Fact::IncidentOpened {
            incident_id: o.incident_id.clone(),
            at: when?,
            severity: o.severity.clone(),
        },
        event::Payload::IncidentUpdated(u) if !u.state.is_empty() => Fact::IncidentState {
            incident_id: u.incident_id.clone(),
            at: when?,
            state: u.state.clone(),
        },
        _ => return None,
    };
    let id = match &fact {
        Fact::Raised { escalation_id, .. }
        | Fact::Acknowledged { escalation_id, .. }
        | Fact::Reescalated { escalation_id }
        | Fact::Resolved { escalation_id, .. } => escalation_id,
        Fact::Overdue { commitment_id, .. } => commitment_id,
        Fact::IncidentOpened { incident_id, .. } | Fact::IncidentState { incident_id, .. } => {
            incident_id
        }
    };
    (!id.is_empty() && id.len() <= 100).then_some(fact)
}

/// Escalations by team and overdue commitments by agent over the range.
pub async fn summary(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<(Vec<pb::EscalationsByTeam>, Vec<pb::OverdueCommitments>), sqlx::Error> {
    Ok((
        store::escalations_by_team(pool, tenant_id, days).await?,
        store::overdue_by_agent(pool, tenant_id, days).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::events::v1::{EscalationAcknowledged, EscalationRaised};

    fn ev(payload: event::Payload) -> Event {
        Event {
            occurred_at: Some(prost_types::Timestamp {
                seconds: 1_772_445_600,
                nanos: 0,
            }),
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn escalation_events_tell_their_own_part_and_nameless_ones_nothing() {
        let raised = fact(&ev(event::Payload::EscalationRaised(EscalationRaised {
            escalation_id: "e1".into(),
            severity: "SEV2".into(),
            team: "LEGAL".into(),
            trigger: "MENTION".into(),
            ..Default::default()
        })));
        assert!(matches!(raised, Some(Fact::Raised { ref team, .. }) if team == "LEGAL"));
        let acked = fact(&ev(event::Payload::EscalationAcknowledged(
            EscalationAcknowledged {
                escalation_id: "e1".into(),
                ..Default::default()
            },
        )));
        assert!(matches!(acked, Some(Fact::Acknowledged { .. })));
        let nameless = fact(&ev(event::Payload::EscalationAcknowledged(
            EscalationAcknowledged::default(),
        )));
        assert_eq!(nameless, None);
    }
}
