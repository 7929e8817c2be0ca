//! A case's facts (`CaseFacts`): the case as it stands at one version, told
//! on every `CaseOpened` and `CaseUpdated`, so that a service reporting on
//! cases never reads this schema. [`super::store::facts`] reads them in the
//! transaction of the change; here they are shaped and put on the events.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_proto::events::v1::{CaseFacts, Event, SlaOutcome, event};
use earshot_server::convert::timestamp;
use uuid::Uuid;

use crate::vocabulary::{Lane, Priority, SlaState, SlaTarget, Status};

/// One case's facts as [`super::store::facts`] reads them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FactsRow {
    pub id: Uuid,
    pub version: i64,
    pub status: Status,
    pub channel: i16,
    pub public: bool,
    pub topic: String,
    pub intent: i16,
    pub priority: Priority,
    pub lane: Lane,
    pub queue: String,
    pub assignee: Option<String>,
    /// Who sent the first reply.
    pub first_responder: Option<String>,
    pub customer_id: Option<Uuid>,
    pub followers: i64,
    pub vip: bool,
    pub mention_id: Option<String>,
    pub opened_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub first_response_business_secs: Option<f64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_business_secs: Option<f64>,
    pub reopens: i32,
    pub replies: i64,
    pub inbound_messages: i64,
    pub channel_switches: i64,
    /// Some reply went out in private.
    pub answered_privately: bool,
    /// The case's SLA clocks, by target.
    pub sla_targets: Vec<SlaTarget>,
    pub sla_states: Vec<SlaState>,
    pub sla_due: Vec<Option<DateTime<Utc>>>,
    pub goodwill_gestures: i64,
    pub goodwill_minor: i64,
    pub csat: Option<i16>,
    pub consent_granted: bool,
    pub merged_into: Option<Uuid>,
}

fn count(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

impl From<FactsRow> for CaseFacts {
    fn from(r: FactsRow) -> Self {
        // A reopened case keeps no resolution time, whatever a row from
        // before the clearing says.
        let resolved_at = r.resolved_at.filter(|_| !r.status.is_active());
        CaseFacts {
            version: r.version,
            status: r.status.label().to_owned(),
            channel: i32::from(r.channel),
            public: r.public,
            topic: r.topic,
            intent: i32::from(r.intent),
            priority: r.priority.to_string(),
            lane: r.lane.label().to_owned(),
            queue: r.queue,
            agent: r.assignee.or(r.first_responder).unwrap_or_default(),
            customer_id: r.customer_id.map(|id| id.to_string()).unwrap_or_default(),
            followers: u64::try_from(r.followers).unwrap_or(0),
            vip: r.vip,
            mention_id: r.mention_id.unwrap_or_default(),
            opened_at: Some(timestamp(r.opened_at)),
            first_response_at: r.first_response_at.map(timestamp),
            first_response_business_secs: r
                .first_response_at
                .and(r.first_response_business_secs)
                .unwrap_or(0.0),
            resolution_business_secs: resolved_at.and(r.resolution_business_secs).unwrap_or(0.0),
            resolved_at: resolved_at.map(timestamp),
            reopens: count(r.reopens),
            replies: count(r.replies),
            inbound_messages: count(r.inbound_messages),
            channel_switches: count(r.channel_switches),
            sla: r
                .sla_targets
                .iter()
                .zip(&r.sla_states)
                .zip(r.sla_due.iter().chain(std::iter::repeat(&None)))
                .map(|((target, state), due)| SlaOutcome {
                    target: target.label().to_owned(),
                    state: state.label().to_owned(),
                    due_at: due.filter(|_| *state == SlaState::Running).map(timestamp),
                })
                .collect(),
            goodwill_gestures: count(r.goodwill_gestures),
            goodwill_minor: r.goodwill_minor,
            csat: r.csat.map_or(0, |c| count(c.max(0))),
            moved_private: r.public && r.answered_privately,
            consent_granted: r.consent_granted,
            merged_into: r.merged_into.map(|id| id.to_string()).unwrap_or_default(),
        }
    }
}

/// The case a `CaseOpened` or `CaseUpdated` tells, with its facts' slot and
/// the version the event names (`None` for an opening, which names none).
fn facts_slot(e: &mut Event) -> Option<(&str, &mut Option<CaseFacts>, Option<i64>)> {
    match e.payload.as_mut()? {
        event::Payload::CaseOpened(o) => Some((o.case_id.as_str(), &mut o.facts, None)),
        event::Payload::CaseUpdated(u) => Some((u.case_id.as_str(), &mut u.facts, Some(u.version))),
        _ => None,
    }
}

/// The case a `CaseOpened` or `CaseUpdated` tells.
fn case_of(e: &Event) -> Option<&str> {
    match e.payload.as_ref()? {
        event::Payload::CaseOpened(o) => Some(&o.case_id),
        event::Payload::CaseUpdated(u) => Some(&u.case_id),
        _ => None,
    }
}

/// The (tenant, case) of every event of `events` that tells a case's facts.
pub fn told(events: &[Event]) -> Vec<(String, Uuid)> {
    let mut out: Vec<(String, Uuid)> = events
        .iter()
        .filter_map(|e| Some((e.tenant_id.clone(), Uuid::parse_str(case_of(e)?).ok()?)))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Puts its case's facts on each event that tells them. A case changes once
/// per transaction, so the facts read after it are those of the version its
/// event names; one that does not match (or a case not found) is logged,
/// and the facts still say which version they are.
pub fn attach(events: &mut [Event], facts: &HashMap<Uuid, CaseFacts>) {
    for e in events.iter_mut() {
        let Some((case_id, slot, version)) = facts_slot(e) else {
            continue;
        };
        let found = Uuid::parse_str(case_id).ok().and_then(|id| facts.get(&id));
        match (found, version) {
            (None, _) => tracing::warn!(case_id, "no facts found for a case event"),
            (Some(f), Some(v)) if f.version != v => tracing::warn!(
                case_id,
                event_version = v,
                facts_version = f.version,
                "a case event's facts are of another version"
            ),
            _ => {}
        }
        *slot = found.cloned();
    }
}

#[cfg(test)]
mod tests {
    use earshot_outbox::new_event;
    use earshot_proto::events::v1::{CaseUpdated, ReplySent};

    use super::*;
    use crate::vocabulary::DEFAULT_QUEUE;

    fn row() -> FactsRow {
        FactsRow {
            id: Uuid::now_v7(),
            version: 3,
            status: Status::Open,
            channel: 1,
            public: true,
            topic: "card".into(),
            intent: 2,
            priority: Priority::High,
            lane: Lane::Fast,
            queue: DEFAULT_QUEUE.into(),
            assignee: None,
            first_responder: Some("agent-ana".into()),
            customer_id: None,
            followers: 812,
            vip: false,
            mention_id: Some("m-1".into()),
            opened_at: Utc::now(),
            first_response_at: Some(Utc::now()),
            first_response_business_secs: Some(42.5),
            resolved_at: None,
            resolution_business_secs: None,
            reopens: 1,
            replies: 2,
            inbound_messages: 3,
            channel_switches: 1,
            answered_privately: true,
            sla_targets: vec![SlaTarget::FirstResponse, SlaTarget::Resolution],
            sla_states: vec![SlaState::Met, SlaState::Running],
            sla_due: vec![Some(Utc::now()), DateTime::from_timestamp(1_800_000_000, 0)],
            goodwill_gestures: 2,
            goodwill_minor: 2500,
            csat: None,
            consent_granted: true,
            merged_into: None,
        }
    }

    #[test]
    fn facts_speak_the_vocabulary_and_fall_back_to_the_first_responder() {
        let f = CaseFacts::from(row());
        assert_eq!(
            (f.status.as_str(), f.priority.as_str(), f.lane.as_str()),
            ("OPEN", "high", "FAST")
        );
        assert_eq!(f.agent, "agent-ana", "unassigned: who replied first");
        assert_eq!(f.first_response_business_secs, 42.5);
        assert!(f.moved_private, "public, answered in private");
        assert_eq!(
            f.sla
                .iter()
                .map(|s| (s.target.as_str(), s.state.as_str()))
                .collect::<Vec<_>>(),
            [("FIRST_RESPONSE", "MET"), ("RESOLUTION", "RUNNING")]
        );
        let due: Vec<_> = f.sla.iter().map(|s| s.due_at.map(|t| t.seconds)).collect();
        assert_eq!(
            due,
            [None, Some(1_800_000_000)],
            "only a running clock is due"
        );
        assert_eq!((f.csat, f.customer_id.as_str()), (0, ""));

        let assigned = CaseFacts::from(FactsRow {
            assignee: Some("agent-ben".into()),
            public: false,
            ..row()
        });
        assert_eq!(assigned.agent, "agent-ben", "the assignee first");
        assert!(
            !assigned.moved_private,
            "a private case cannot move private"
        );
    }

    #[test]
    fn only_a_resolved_or_closed_case_has_a_resolution_time() {
        let at = Utc::now();
        let stale = CaseFacts::from(FactsRow {
            resolved_at: Some(at),
            resolution_business_secs: Some(60.0),
            ..row()
        });
        assert!(stale.resolved_at.is_none());
        assert_eq!(stale.resolution_business_secs, 0.0);
        let closed = CaseFacts::from(FactsRow {
            status: Status::Closed,
            resolved_at: Some(at),
            resolution_business_secs: Some(60.0),
            ..row()
        });
        assert_eq!(closed.resolved_at, Some(timestamp(at)));
        assert_eq!(closed.resolution_business_secs, 60.0);
        let unanswered = CaseFacts::from(FactsRow {
            first_response_at: None,
            first_responder: None,
            ..row()
        });
        assert_eq!(unanswered.first_response_business_secs, 0.0);
        assert_eq!(unanswered.agent, "");
    }

    #[test]
    fn facts_go_on_the_case_events_of_a_batch_and_nowhere_else() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let updated = |tenant: &str, id: Uuid, version: i64| {
            new_event(
                "case",
                tenant,
                id.to_string(),
                event::Payload::CaseUpdated(CaseUpdated {
                    case_id: id.to_string(),
                    status: "OPEN".into(),
                    version,
                    facts: None,
                }),
            )
        };
        let reply = new_event(
            "case",
            "acme",
            a.to_string(),
            event::Payload::ReplySent(ReplySent {
                case_id: a.to_string(),
                ..Default::default()
            }),
        );
        let mut events = vec![updated("acme", a, 3), reply, updated("globex", b, 7)];
        assert_eq!(
            told(&events),
            [("acme".to_owned(), a), ("globex".to_owned(), b)]
        );
        let facts: HashMap<Uuid, CaseFacts> = [
            (a, CaseFacts::from(FactsRow { id: a, ..row() })),
            (
                b,
                CaseFacts::from(FactsRow {
                    id: b,
                    version: 7,
                    ..row()
                }),
            ),
        ]
        .into();
        attach(&mut events, &facts);
        let versions: Vec<Option<i64>> = events
            .iter()
            .map(|e| match &e.payload {
                Some(event::Payload::CaseUpdated(u)) => u.facts.as_ref().map(|f| f.version),
                _ => None,
            })
            .collect();
        assert_eq!(versions, [Some(3), None, Some(7)]);
    }
}
