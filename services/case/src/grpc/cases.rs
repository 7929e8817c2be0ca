//! Case requests checked into what the domain takes, and cases, messages and
//! audit entries as the API shows them.

use chrono::Utc;
use earshot_proto::case::v1::{
    AuditEntry, Case, CaseMessage, CaseOutcome, Commitment, CreateCaseRequest, GetCaseRequest,
    ListAuditEntriesRequest, ListCaseMessagesRequest, ListCasesRequest, MergeCasesRequest,
    ResolveCaseRequest, SlaTimer, UpdateCaseStatusRequest,
};
use earshot_proto::common::v1::Channel;
use earshot_server::convert::{Cursor, page_size, parse_id, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};
use uuid::Uuid;

use super::convert::{
    commitment_state_to, direction_to, lane_to, sla_state_to, sla_target_to, status_from, status_to,
};
use super::{Check, Paged};
use crate::audit::Subject;
use crate::audit::store::EntryRow;
use crate::commitments::store::CommitmentRow;
use crate::customers::Identity;
use crate::events::channel_platform;
use crate::intake::NewCase;
use crate::lifecycle::StatusUpdate;
use crate::record::messages::MessageRow;
use crate::record::{Merge, Versioned, subject_from};
use crate::sla::store::TimerRow;
use crate::view::CaseView;
use crate::vocabulary::{KEY_RULE, Status, valid_key, valid_topic};
use crate::{outcomes, replies};

/// Channels whose contacts are opened by API rather than from mentions.
fn is_traditional(channel: Channel) -> bool {
    matches!(
        channel,
        Channel::Email | Channel::Chat | Channel::Phone | Channel::WebForm
    )
}

impl Check for CreateCaseRequest {
    type Input = NewCase;

    fn check(&self) -> Result<NewCase, ServiceError> {
        let mut v = FieldViolations::new();
        v.request_id(&self.request_id);
        let channel = Channel::try_from(self.channel).unwrap_or(Channel::Unspecified);
        v.check(
            !is_traditional(channel),
            "channel",
            "must be email, chat, phone or web form; social mentions open cases by themselves",
        );
        // Without a subject, the description's first words are one.
        v.check(
            self.subject.trim().is_empty() && self.description.trim().is_empty(),
            "subject",
            "is required",
        );
        v.check(
            self.subject.chars().count() > 200,
            "subject",
            "must be at most 200 characters",
        );
        // A known customer needs no handle.
        let known_customer = Uuid::parse_str(&self.customer_id).is_ok();
        let identity = if self.customer_handle.trim().is_empty() {
            v.check(!known_customer, "customer_handle", "is required");
            None
        } else if is_traditional(channel) {
            match Identity::parse(&channel_platform(self.channel), &self.customer_handle) {
                Ok(identity) => Some(identity),
                Err(e) => {
                    v.add(
                        "customer_handle",
                        e.message()
                            .replace("value", "the customer's address on this channel"),
                    );
                    None
                }
            }
        } else {
            None
        };
        v.check(
            self.description.chars().count() > 20_000,
            "description",
            "must be at most 20000 characters",
        );
        let customer_id = if self.customer_id.is_empty() {
            None
        } else {
            v.id(&self.customer_id, "customer_id")
        };
        let topic = self.topic.trim();
        v.check(
            !valid_topic(topic),
            "topic",
            "must be a topic key: at most 64 lower-case letters, digits, _ or -",
        );
        v.into_result()?;
        Ok(NewCase {
            request_id: self.request_id.trim().to_owned(),
            channel: self.channel as i16,
            subject: if self.subject.trim().is_empty() {
                subject_from(&self.description)
            } else {
                self.subject.trim().to_owned()
            },
            description: self.description.trim().to_owned(),
            handle: self.customer_handle.trim().to_owned(),
            identity,
            customer_id,
            topic: topic.to_owned(),
        })
    }
}

impl Check for GetCaseRequest {
    type Input = Uuid;

    fn check(&self) -> Result<Uuid, ServiceError> {
        parse_id(&self.case_id, "case_id")
    }
}

/// A status a request requires.
fn required_status(raw: i32) -> Result<Status, ServiceError> {
    status_from(raw).ok_or_else(|| invalid("status", "must be a known case status"))
}

impl Check for ListCasesRequest {
    type Input = Paged<Option<Status>>;

    fn check(&self) -> Result<Self::Input, ServiceError> {
        let limit = page_size(self.page_size)?;
        let after = Cursor::decode(&self.page_token)?;
        // Unspecified means any status.
        let status = match self.status {
            0 => None,
            raw => Some(required_status(raw)?),
        };
        Ok(Paged {
            filter: status,
            limit,
            after,
        })
    }
}

impl Check for UpdateCaseStatusRequest {
    type Input = StatusUpdate;

    fn check(&self) -> Result<StatusUpdate, ServiceError> {
        let id = parse_id(&self.case_id, "case_id")?;
        let to = required_status(self.status)?;
        if self.version < 1 {
            return Err(invalid(
                "version",
                "must be the version last read (1 or more)",
            ));
        }
        Ok(StatusUpdate {
            case: Versioned {
                id,
                version: self.version,
            },
            to,
            resolution_code: None,
        })
    }
}

impl Check for ResolveCaseRequest {
    type Input = StatusUpdate;

    fn check(&self) -> Result<StatusUpdate, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.case_id, "case_id");
        v.version(self.version, "version");
        let code = self.resolution_code.trim();
        v.check(!valid_key(code), "resolution_code", KEY_RULE);
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
        Ok(StatusUpdate {
            case: Versioned {
                id,
                version: self.version,
            },
            to: Status::Resolved,
            resolution_code: Some(code.to_owned()),
        })
    }
}

/// The two sides of a merge of cases or customers (`noun`): distinct ids and
/// their versions.
pub fn merge_sides(
    (source, source_version): (&str, i64),
    (target, target_version): (&str, i64),
    noun: &str,
) -> Result<Merge, ServiceError> {
    let mut v = FieldViolations::new();
    let s = v.id(source, &format!("source_{noun}_id"));
    let t = v.id(target, &format!("target_{noun}_id"));
    v.version(source_version, "source_version");
    v.version(target_version, "target_version");
    if let (Some(s), Some(t)) = (s, t) {
        v.check(
            s == t,
            format!("target_{noun}_id"),
            "must differ from the source",
        );
    }
    v.into_result()?;
    match (s, t) {
        (Some(s), Some(t)) => Ok(Merge {
            source: Versioned {
                id: s,
                version: source_version,
            },
            target: Versioned {
                id: t,
                version: target_version,
            },
        }),
        _ => Err(invalid(format!("source_{noun}_id"), "is required")),
    }
}

impl Check for MergeCasesRequest {
    type Input = Merge;

    fn check(&self) -> Result<Merge, ServiceError> {
        merge_sides(
            (&self.source_case_id, self.source_version),
            (&self.target_case_id, self.target_version),
            "case",
        )
    }
}

impl Check for ListCaseMessagesRequest {
    type Input = Paged<Uuid>;

    fn check(&self) -> Result<Self::Input, ServiceError> {
        let id = parse_id(&self.case_id, "case_id")?;
        Ok(Paged {
            filter: id,
            limit: page_size(self.page_size)?,
            after: Cursor::decode(&self.page_token)?,
        })
    }
}

impl Check for ListAuditEntriesRequest {
    type Input = Paged<Subject>;

    fn check(&self) -> Result<Self::Input, ServiceError> {
        let subject = match (
            self.case_id.is_empty(),
            self.customer_id.is_empty(),
            self.configuration,
        ) {
            (false, true, false) => Subject::Case(parse_id(&self.case_id, "case_id")?),
            (true, false, false) => Subject::Customer(parse_id(&self.customer_id, "customer_id")?),
            (true, true, true) => Subject::Configuration,
            _ => {
                return Err(invalid(
                    "case_id",
                    "give exactly one of case_id, customer_id and configuration",
                ));
            }
        };
        Ok(Paged {
            filter: subject,
            limit: page_size(self.page_size)?,
            after: Cursor::decode(&self.page_token)?,
        })
    }
}

fn timer(row: &TimerRow) -> SlaTimer {
    SlaTimer {
        target: sla_target_to(row.target) as i32,
        state: sla_state_to(row.state) as i32,
        due_at: row.due_at.map(timestamp),
        breached_at: row.breached_at.map(timestamp),
        remaining_seconds: row
            .remaining_secs
            .map_or(0, |s| s.clamp(0.0, f64::from(u32::MAX)) as u32),
    }
}

fn commitment(row: &CommitmentRow) -> Commitment {
    Commitment {
        commitment_id: row.id.to_string(),
        text: row.text.clone(),
        due_at: Some(timestamp(row.due_at)),
        state: commitment_state_to(row.state) as i32,
        made_by: row.made_by.clone(),
        kept_at: row.kept_at.map(timestamp),
        late: row.late,
    }
}

/// A case as every answer shows it.
pub fn case(view: CaseView) -> Case {
    let CaseView {
        case: row,
        clocks,
        goodwill,
        commitments,
    } = view;
    // Others see who holds the case, while the claim lasts.
    let claim = row.claim_at(Utc::now());
    Case {
        case_id: row.id.to_string(),
        status: status_to(row.status) as i32,
        channel: i32::from(row.channel),
        subject: row.subject.clone(),
        customer_handle: row.customer_handle.clone(),
        mention_id: row.mention_id.clone().unwrap_or_default(),
        thread_key: row.thread_key.clone(),
        priority: row.priority.to_string(),
        version: row.version,
        opened_at: Some(timestamp(row.opened_at)),
        updated_at: Some(timestamp(row.updated_at)),
        customer_id: row.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        topic: row.topic.clone(),
        merged_into_case_id: row.merged_into.map(|id| id.to_string()).unwrap_or_default(),
        resolved_at: row.resolved_at.map(timestamp),
        lane: lane_to(row.lane) as i32,
        queue: row.queue.clone(),
        assignee: row.assignee.clone().unwrap_or_default(),
        required_skills: row.required_skills.clone(),
        experts: row.experts.clone(),
        routing_rule_id: row
            .routing_rule_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        slas: clocks.iter().map(timer).collect(),
        sla_due_at: row.sla_due_at.map(timestamp),
        claimed_by: claim
            .map(|(holder, _)| holder.to_owned())
            .unwrap_or_default(),
        claim_expires_at: claim.map(|(_, until)| timestamp(until)),
        outcome: Some(CaseOutcome {
            resolution_code: row.resolution_code.clone().unwrap_or_default(),
            goodwill: goodwill.iter().map(outcomes::gesture_event).collect(),
            csat: row.csat.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            csat_comment: row.csat_comment.clone().unwrap_or_default(),
        }),
        commitments: commitments.iter().map(commitment).collect(),
        topics: row.topics.clone(),
    }
}

pub fn message(row: MessageRow) -> CaseMessage {
    CaseMessage {
        message_id: row.id.to_string(),
        case_id: row.case_id.to_string(),
        direction: direction_to(row.direction) as i32,
        channel: i32::from(row.channel),
        findings: replies::findings_of(&row),
        author: row.author,
        body: row.body,
        mention_id: row.mention_id.unwrap_or_default(),
        posted_at: Some(timestamp(row.posted_at)),
        public: row.public,
        kb_article_id: row
            .kb_article_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        kb_article_version: row
            .kb_article_version
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0),
    }
}

pub fn audit_entry(row: EntryRow) -> AuditEntry {
    AuditEntry {
        entry_id: row.id.to_string(),
        case_id: row.case_id.map(|id| id.to_string()).unwrap_or_default(),
        customer_id: row.customer_id.map(|id| id.to_string()).unwrap_or_default(),
        actor: row.actor,
        action: row.action,
        before: row.before,
        after: row.after,
        at: Some(timestamp(row.at)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_names_every_bad_field() {
        let err = CreateCaseRequest {
            channel: Channel::X as i32,
            customer_id: "nope".into(),
            topic: "Not A Topic".into(),
            ..Default::default()
        }
        .check()
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "request_id",
            "channel",
            "subject",
            "customer_handle",
            "customer_id",
            "topic",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        let email = CreateCaseRequest {
            request_id: "r1".into(),
            channel: Channel::Email as i32,
            subject: "Refund".into(),
            customer_handle: "Jane@Example.com".into(),
            ..Default::default()
        };
        let ok = email.check().expect("valid");
        assert_eq!(ok.identity.expect("an identity").value, "jane@example.com");
        let err = CreateCaseRequest {
            customer_handle: "jane".into(),
            ..email
        }
        .check()
        .expect_err("not an address");
        assert!(err.to_string().contains("customer_handle"));
    }
}
