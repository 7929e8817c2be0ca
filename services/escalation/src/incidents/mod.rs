//! Incidents: opened by a guideline's action (a guideline's further
//! escalations join its active incident rather than opening more) or by
//! hand; they move forward through triage → live → resolved → learning →
//! closed. A guideline's holding statement is proposed the moment one opens;
//! who approved it and when each statement was posted is recorded, and a
//! statement overdue is escalated like any missed deadline
//! ([`crate::statements`]).

pub mod store;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::events::v1::{IncidentOpened, IncidentUpdated, event};
use earshot_server::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::guidelines::{Compiled, render};
use crate::publish::{Outgoing, publish};
use crate::timeline::{self, Entry};
use crate::vocabulary::{IncidentState, Severity, TriggerKind};
pub use store::{IncidentRow, NewIncident};

/// Whether an incident may move from `from` to `to`: forward only (a step
/// may be skipped, as when a triaged incident turns out resolved), and
/// closing needs a learning note.
pub fn check_transition(
    from: IncidentState,
    to: IncidentState,
    learning_note: &str,
) -> Result<(), String> {
    if to <= from {
        return Err(format!(
            "an incident moves forward only: {from} cannot become {to}"
        ));
    }
    if to == IncidentState::Closed && learning_note.trim().is_empty() {
        return Err("closing needs a learning note: what will stop this happening again".into());
    }
    Ok(())
}

/// When the next statement falls due after one was posted at `posted_at`.
pub fn next_due(row: &IncidentRow, posted_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (row.state.is_active() && row.update_every_seconds > 0)
        .then(|| posted_at + chrono::Duration::seconds(i64::from(row.update_every_seconds)))
}

/// An escalation just raised whose guideline opens an incident.
pub struct Joining<'a> {
    pub escalation_id: Uuid,
    pub tenant_id: &'a str,
    pub drill_id: Option<Uuid>,
    pub guideline: &'a Compiled,
    /// What it is about, for the holding statement ("" when nothing).
    pub topic: &'a str,
    pub why: &'a str,
    pub trigger: TriggerKind,
}

/// Opens the incidents the guidelines of `raised` ask for, or joins their
/// active ones. Answers the incident each escalation joined; the caller
/// records it on the escalation (the link is the escalation's incident_id:
/// a crisis joins thousands of escalations to one incident without
/// rewriting its row each time).
pub async fn join_or_open(
    conn: &mut PgConnection,
    outbox: &Outbox,
    raised: &[Joining<'_>],
) -> Result<HashMap<Uuid, Uuid>, sqlx::Error> {
    let mut linked = HashMap::new();
    let mut events = Vec::new();
    let mut entries = Vec::new();
    for joining in raised {
        let guideline = joining.guideline;
        let incident = match store::active_of_guideline(
            conn,
            joining.tenant_id,
            guideline.id,
            joining.drill_id,
        )
        .await?
        {
            Some(active) => Some(active),
            None => {
                let opened = store::insert(conn, &from_guideline(joining)).await?;
                if let Some(row) = &opened {
                    entries.extend(opening_entries(row));
                    events.push(opened_event(row));
                }
                // Another transaction opened it first: join that one.
                match opened {
                    Some(row) => Some(row),
                    None => {
                        store::active_of_guideline(
                            conn,
                            joining.tenant_id,
                            guideline.id,
                            joining.drill_id,
                        )
                        .await?
                    }
                }
            }
        };
        let Some(incident) = incident else { continue };
        linked.insert(joining.escalation_id, incident.id);
    }
    timeline::append(conn, &entries).await?;
    publish(conn, outbox, events).await?;
    Ok(linked)
}

fn from_guideline(joining: &Joining<'_>) -> NewIncident {
    let guideline = joining.guideline;
    let statement = guideline
        .actions
        .holding_statement
        .clone()
        .unwrap_or_default();
    let topic = if joining.topic.is_empty() {
        "this"
    } else {
        joining.topic
    };
    NewIncident {
        tenant_id: joining.tenant_id.to_owned(),
        title: format!("{}: {}", guideline.name, joining.why),
        severity: guideline.severity,
        commander: format!("team:{}", guideline.team),
        guideline: Some((guideline.id, guideline.version)),
        drill_id: joining.drill_id,
        escalation_ids: Vec::new(),
        mention_ids: Vec::new(),
        case_ids: Vec::new(),
        statement_proposed: if statement.template.is_empty() {
            String::new()
        } else {
            render(
                &statement.template,
                &[
                    ("guideline", guideline.name.as_str()),
                    ("severity", guideline.severity.label()),
                    ("topic", topic),
                    ("trigger", joining.trigger.label()),
                ],
            )
        },
        first_within_seconds: statement.first_within_seconds as i32,
        update_every_seconds: statement.update_every_seconds as i32,
        notify: guideline.actions.notify_webhooks,
        request_id: None,
    }
}

fn opening_entries(row: &IncidentRow) -> Vec<Entry> {
    let mut entries = vec![entry(
        row,
        "opened",
        timeline::SYSTEM,
        format!("{} {}", row.severity, row.title),
    )];
    if !row.statement_proposed.is_empty() {
        entries.push(entry(
            row,
            "statement_proposed",
            timeline::SYSTEM,
            row.statement_proposed.clone(),
        ));
    }
    entries
}

pub(crate) fn entry(row: &IncidentRow, kind: &'static str, actor: &str, detail: String) -> Entry {
    Entry {
        tenant_id: row.tenant_id.clone(),
        subject_id: row.id,
        kind,
        actor: actor.to_owned(),
        detail,
    }
}

fn opened_event(row: &IncidentRow) -> Outgoing {
    Outgoing::new(
        &row.tenant_id,
        row.id.to_string(),
        event::Payload::IncidentOpened(IncidentOpened {
            incident_id: row.id.to_string(),
            title: row.title.clone(),
            severity: row.severity.label().to_owned(),
            guideline_id: row.guideline_id.map(|g| g.to_string()).unwrap_or_default(),
            commander: row.commander.clone(),
            proposed_statement: row.statement_proposed.clone(),
        }),
        row.drill_id.is_some(),
        row.notify,
    )
}

pub(crate) fn updated_event(
    row: &IncidentRow,
    change: &str,
    actor: &str,
    detail: &str,
) -> Outgoing {
    Outgoing::new(
        &row.tenant_id,
        row.id.to_string(),
        event::Payload::IncidentUpdated(IncidentUpdated {
            incident_id: row.id.to_string(),
            state: row.state.label().to_owned(),
            change: change.to_owned(),
            actor: actor.to_owned(),
            detail: detail.to_owned(),
        }),
        row.drill_id.is_some(),
        row.notify,
    )
}

/// Opens an incident by hand; a retried open (same request id) answers the
/// first.
pub async fn open(
    conn: &mut PgConnection,
    outbox: &Outbox,
    actor: &str,
    new: NewIncident,
) -> Result<IncidentRow, ServiceError> {
    let Some(row) = store::insert(conn, &new).await? else {
        let request_id = new.request_id.as_deref().unwrap_or_default();
        return store::by_request(conn, &new.tenant_id, request_id)
            .await?
            .ok_or_else(|| ServiceError::AlreadyExists(format!("request {request_id}")));
    };
    let mut entries = opening_entries(&row);
    entries[0].actor = actor.to_owned();
    timeline::append(conn, &entries).await?;
    publish(conn, outbox, vec![opened_event(&row)]).await?;
    Ok(row)
}

/// A checked change to an incident.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub expected_version: i32,
    pub state: Option<IncidentState>,
    pub commander: Option<String>,
    pub learning_note: Option<String>,
    pub escalation_ids: Vec<Uuid>,
    pub mention_ids: Vec<String>,
    pub case_ids: Vec<Uuid>,
}

pub async fn update(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    change: Change,
) -> Result<IncidentRow, ServiceError> {
    let mut row = store::lock(conn, tenant_id, id).await?;
    if row.version != change.expected_version {
        return Err(ServiceError::Aborted(format!(
            "incident {id} is at version {}, not {}: read it again",
            row.version, change.expected_version
        )));
    }
    let mut changes: Vec<(&'static str, String)> = Vec::new();
    if let Some(note) = change.learning_note {
        row.learning_note = note;
        changes.push(("learning_note", row.learning_note.clone()));
    }
    if let Some(to) = change.state {
        check_transition(row.state, to, &row.learning_note)
            .map_err(ServiceError::FailedPrecondition)?;
        changes.push(("state", format!("{} → {to}", row.state)));
        row.state = to;
        if !to.is_active() {
            row.statement_due_at = None;
        }
    }
    if let Some(commander) = change.commander {
        changes.push(("commander", commander.clone()));
        row.commander = commander;
    }
    if !change.escalation_ids.is_empty()
        || !change.mention_ids.is_empty()
        || !change.case_ids.is_empty()
    {
        merge(&mut row.escalation_ids, change.escalation_ids);
        merge(&mut row.mention_ids, change.mention_ids);
        merge(&mut row.case_ids, change.case_ids);
        changes.push(("linked", String::new()));
    }
    let row = store::save(conn, &row, true).await?;
    let entries: Vec<Entry> = changes
        .iter()
        .map(|(kind, detail)| entry(&row, kind, actor, detail.clone()))
        .collect();
    let events = changes
        .iter()
        .map(|(kind, detail)| updated_event(&row, kind, actor, detail))
        .collect();
    timeline::append(conn, &entries).await?;
    publish(conn, outbox, events).await?;
    Ok(row)
}

fn merge<T: PartialEq>(into: &mut Vec<T>, more: Vec<T>) {
    for item in more {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

/// Approves the proposed holding statement, as proposed or as edited.
pub async fn approve_statement(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    text: Option<String>,
) -> Result<IncidentRow, ServiceError> {
    let mut row = store::lock(conn, tenant_id, id).await?;
    let text = text.unwrap_or_else(|| row.statement_proposed.clone());
    if text.trim().is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "incident {id} has no proposed holding statement: give the text to approve"
        )));
    }
    row.statement_approved = text;
    row.approved_by = Some(actor.to_owned());
    row.approved_at = Some(Utc::now());
    let row = store::save(conn, &row, true).await?;
    timeline::append(
        conn,
        &[entry(
            &row,
            "statement_approved",
            actor,
            row.statement_approved.clone(),
        )],
    )
    .await?;
    publish(
        conn,
        outbox,
        vec![updated_event(
            &row,
            "statement_approved",
            actor,
            &row.statement_approved,
        )],
    )
    .await?;
    Ok(row)
}

/// Records a statement posted: the approved holding statement first, then
/// updates. A statement later than due counts as overdue once (the job may
/// have counted it already).
pub async fn post_statement(
    conn: &mut PgConnection,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    text: Option<String>,
) -> Result<IncidentRow, ServiceError> {
    let mut row = store::lock(conn, tenant_id, id).await?;
    let now = Utc::now();
    let first = row.first_posted_at.is_none();
    let text = match (first, text) {
        (true, None) if row.statement_approved.is_empty() => {
            return Err(ServiceError::FailedPrecondition(format!(
                "incident {id}: approve the holding statement before posting it"
            )));
        }
        (true, None) => row.statement_approved.clone(),
        (false, None) => {
            return Err(earshot_server::invalid("text", "an update needs its text"));
        }
        (_, Some(text)) => text,
    };
    if row.statement_due_at.is_some_and(|due| due < now) {
        row.statements_overdue += 1;
    }
    if first {
        row.first_posted_at = Some(now);
    } else {
        row.updates_posted += 1;
    }
    row.last_posted_at = Some(now);
    row.statement_due_at = next_due(&row, now);
    let row = store::save(conn, &row, true).await?;
    timeline::append(
        conn,
        &[entry(&row, "statement_posted", actor, text.clone())],
    )
    .await?;
    publish(
        conn,
        outbox,
        vec![updated_event(&row, "statement_posted", actor, &text)],
    )
    .await?;
    Ok(row)
}

/// The severity an incident opened by hand gets when none is given.
pub const DEFAULT_SEVERITY: Severity = Severity::Sev3;
