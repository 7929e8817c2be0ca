//! The case record: the row every capability changes, how a change is made
//! (lock with the version read, bump, commit with its audit entry and
//! `CaseUpdated`), the case's messages, and its facts. A capability's store
//! sets only its own columns of a case it locked here, bumping the version in
//! the same statement, and commits through [`store::commit_update`], so every
//! change is versioned, audited and told. Every event is enqueued through
//! [`store::enqueue`], which puts on each `CaseOpened` and `CaseUpdated` the
//! case's facts as the change left them.

pub mod facts;
pub mod messages;
pub mod store;

use chrono::{DateTime, Utc};
use earshot_outbox::new_event;
use earshot_proto::events::v1::{CaseOpened, CaseUpdated, Event, event};
use uuid::Uuid;

use crate::vocabulary::{Lane, Priority, Status};

/// The producer named on every event the service enqueues.
pub const PRODUCER: &str = "case";

/// A case as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseRow {
    pub id: Uuid,
    pub status: Status,
    pub channel: i16,
    pub subject: String,
    pub customer_handle: String,
    pub mention_id: Option<String>,
    pub thread_key: String,
    pub priority: Priority,
    pub version: i64,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub customer_id: Option<Uuid>,
    pub topic: String,
    pub merged_into: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub lane: Lane,
    pub queue: String,
    pub assignee: Option<String>,
    pub required_skills: Vec<String>,
    pub experts: Vec<String>,
    pub routing_rule_id: Option<Uuid>,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    pub claim_expires_at: Option<DateTime<Utc>>,
    pub resolution_code: Option<String>,
    pub csat: Option<i16>,
    pub csat_comment: Option<String>,
    /// Every topic the case is about; `topic` is the first.
    pub topics: Vec<String>,
}

impl CaseRow {
    /// Who holds the case for replying at `now`, and until when.
    pub fn claim_at(&self, now: DateTime<Utc>) -> Option<(&str, DateTime<Utc>)> {
        match (&self.claimed_by, self.claim_expires_at) {
            (Some(holder), Some(until)) if until > now => Some((holder.as_str(), until)),
            _ => None,
        }
    }
}

/// A case (or customer) id with the version its caller read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versioned {
    pub id: Uuid,
    pub version: i64,
}

/// A case's status changed from `from` to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChange {
    pub case_id: Uuid,
    pub from: Status,
    pub to: Status,
}

/// A checked merge of two distinct cases (or customers), with both versions read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    pub source: Versioned,
    pub target: Versioned,
}

const SUBJECT_CHARS: usize = 120;

/// The subject of a case opened from a mention: its first words.
pub fn subject_from(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= SUBJECT_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SUBJECT_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `CaseOpened` for a case just opened, for a customer who is a VIP or not;
/// [`store::enqueue`] adds its facts.
pub fn case_opened(tenant_id: &str, row: &CaseRow, vip: bool) -> Event {
    new_event(
        PRODUCER,
        tenant_id,
        row.id.to_string(),
        event::Payload::CaseOpened(CaseOpened {
            case_id: row.id.to_string(),
            channel: i32::from(row.channel),
            mention_id: row.mention_id.clone().unwrap_or_default(),
            customer_handle: row.customer_handle.clone(),
            subject: row.subject.clone(),
            priority: row.priority.to_string(),
            customer_id: row.customer_id.map(|id| id.to_string()).unwrap_or_default(),
            topic: row.topic.clone(),
            vip,
            facts: None,
        }),
    )
}

/// `CaseUpdated` for a case now at `status` and `version`; [`store::enqueue`]
/// adds its facts.
pub fn case_updated(tenant_id: &str, id: Uuid, status: Status, version: i64) -> Event {
    new_event(
        PRODUCER,
        tenant_id,
        id.to_string(),
        event::Payload::CaseUpdated(CaseUpdated {
            case_id: id.to_string(),
            status: status.label().to_owned(),
            version,
            facts: None,
        }),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A new case, for unit tests of what looks at one.
    pub(crate) fn row() -> CaseRow {
        let now = Utc::now();
        CaseRow {
            id: Uuid::now_v7(),
            status: Status::New,
            channel: 1,
            subject: "card not arrived".into(),
            customer_handle: "jane".into(),
            mention_id: None,
            thread_key: String::new(),
            priority: Priority::Normal,
            version: 1,
            opened_at: now,
            updated_at: now,
            customer_id: None,
            topic: String::new(),
            merged_into: None,
            resolved_at: None,
            lane: Lane::Standard,
            queue: crate::vocabulary::DEFAULT_QUEUE.into(),
            assignee: None,
            required_skills: Vec::new(),
            experts: Vec::new(),
            routing_rule_id: None,
            sla_due_at: None,
            claimed_by: None,
            claim_expires_at: None,
            resolution_code: None,
            csat: None,
            csat_comment: None,
            topics: Vec::new(),
        }
    }

    #[test]
    fn subjects_are_the_first_words_in_one_line() {
        assert_eq!(subject_from("  card\n not   arrived "), "card not arrived");
        let long = "word ".repeat(100);
        let subject = subject_from(&long);
        assert!(subject.chars().count() <= SUBJECT_CHARS);
        assert!(subject.ends_with('…'));
    }
}
