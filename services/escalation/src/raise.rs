//! Raising: the one way an escalation is made, by evaluations, overdue
//! statements and drills alike. Each is raised at most once (a redelivered
//! event, a replay or two replicas find the first one and raise nothing),
//! joins or opens the incident its guideline asks for, and is published.

use std::collections::HashMap;

use chrono::Utc;
use earshot_outbox::Outbox;
use earshot_proto::events::v1::{EscalationRaised, event};
use earshot_server::convert::timestamp;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::escalations::store::EscalationRow;
use crate::escalations::{self, Key, NewEscalation};
use crate::incidents::{self, Joining};
use crate::publish::{Outgoing, publish};
use crate::timeline::{self, Entry};

/// Raises `news`, each at most once (a redelivered event, a replay or two
/// replicas find the first one and raise nothing), opens or joins the
/// incidents their guidelines ask for, and publishes what was raised.
/// Answers the escalations made now.
pub async fn raise(
    conn: &mut PgConnection,
    outbox: &Outbox,
    news: Vec<NewEscalation>,
) -> Result<Vec<EscalationRow>, sqlx::Error> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let made = escalations::store::insert(conn, &news, now).await?;
    if made.is_empty() {
        return Ok(made);
    }
    let by_key: HashMap<Key<'_>, &NewEscalation> = news.iter().map(|n| (n.key(), n)).collect();
    let by_id: HashMap<Uuid, &NewEscalation> = made
        .iter()
        .filter_map(|e| by_key.get(&e.key()).map(|n| (e.id, *n)))
        .collect();
    let entries: Vec<Entry> = made
        .iter()
        .map(|e| Entry {
            tenant_id: e.tenant_id.clone(),
            subject_id: e.id,
            kind: "raised",
            actor: timeline::SYSTEM.to_owned(),
            detail: format!(
                "{} for {}, acknowledge by {}",
                e.severity,
                e.team,
                e.ack_due_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
        })
        .collect();
    timeline::append(conn, &entries).await?;
    let opening: Vec<Joining<'_>> = made
        .iter()
        .filter_map(|e| by_id.get(&e.id).map(|n| (e, *n)))
        .filter(|(_, n)| n.guideline.actions.open_incident)
        .map(|(e, n)| Joining {
            escalation_id: e.id,
            tenant_id: &e.tenant_id,
            drill_id: e.drill_id,
            guideline: &n.guideline,
            topic: &n.trigger.topic,
            why: &n.trigger.why,
            trigger: n.trigger.kind,
        })
        .collect();
    let joined = incidents::join_or_open(conn, outbox, &opening).await?;
    if !joined.is_empty() {
        let (ids, incidents): (Vec<Uuid>, Vec<Uuid>) = joined.iter().map(|(e, i)| (*e, *i)).unzip();
        escalations::store::set_incident(conn, &ids, &incidents).await?;
    }
    let events = made
        .iter()
        .filter_map(|e| {
            let new = by_id.get(&e.id)?;
            Some(Outgoing::new(
                &e.tenant_id,
                e.id.to_string(),
                event::Payload::EscalationRaised(EscalationRaised {
                    escalation_id: e.id.to_string(),
                    mention_id: e.mention_id.clone(),
                    case_id: e.case_id.map(|c| c.to_string()).unwrap_or_default(),
                    guideline_id: e.guideline_id.to_string(),
                    severity: e.severity.label().to_owned(),
                    reason: e.reason.clone(),
                    team: e.team.label().to_owned(),
                    leave_case: !new.guideline.actions.raise_case_priority,
                    trigger: e.trigger_kind.label().to_owned(),
                    ack_due_at: e.ack_due_at.map(timestamp),
                    guideline_version: u32::try_from(e.guideline_version).unwrap_or(0),
                    spike_alert_id: e.spike_alert_id.map(|a| a.to_string()).unwrap_or_default(),
                }),
                e.drill_id.is_some(),
                new.guideline.actions.notify_webhooks,
            ))
        })
        .collect();
    publish(conn, outbox, events).await?;
    Ok(made
        .into_iter()
        .map(|mut e| {
            if let Some(incident) = joined.get(&e.id) {
                e.incident_id = Some(*incident);
            }
            e
        })
        .collect())
}
