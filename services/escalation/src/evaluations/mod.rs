//! Evaluations: every mention and case event heard is evaluated against its
//! tenant's guidelines in force, after the spike detector has counted the
//! mentions (its alerts are evaluated too). What fired is raised (once per
//! guideline and subject), and each evaluation is recorded with its outcome,
//! the versions in force and what it raised. One batch, one transaction.

pub mod store;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::events::v1::{CaseOpened, MentionClassified, SlaBreached, SpikeDetected, event};
use earshot_server::convert::timestamp;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::escalations::{NewEscalation, Trigger};
use crate::guidelines::{Compiled, SpikeFacts, Subject};
use crate::publish::{Outgoing, publish};
use crate::rules::{Rules, RulesCache};
use crate::spikes::store::StateCache;
use crate::spikes::{self, Detector};
use crate::vocabulary::TriggerKind;
pub use store::{NO_GUIDELINE_MATCHED, NewEvaluation};

/// Outcome when a guideline fired and raised an escalation.
pub const ESCALATED: &str = "escalated";
/// Outcome when guidelines fired but had already raised for this subject
/// (a redelivered or replayed event).
pub const ALREADY_ESCALATED: &str = "already_escalated";

/// A mention heard, with the tenant and the id of the event that carried it.
pub struct Heard {
    pub tenant_id: String,
    pub event_id: Uuid,
    pub mention: MentionClassified,
}

/// A case event heard.
pub struct CaseHeard {
    pub tenant_id: String,
    pub event_id: Uuid,
    pub event: CaseEvent,
}

pub enum CaseEvent {
    // Boxed: CaseOpened carries the case's whole facts.
    Opened(Box<CaseOpened>),
    SlaBreached(SlaBreached),
}

impl CaseHeard {
    fn case_id(&self) -> Option<Uuid> {
        let raw = match &self.event {
            CaseEvent::Opened(c) => &c.case_id,
            CaseEvent::SlaBreached(b) => &b.case_id,
        };
        Uuid::parse_str(raw).ok()
    }

    fn subject(&self) -> Subject<'_> {
        match &self.event {
            CaseEvent::Opened(c) => Subject::CaseOpened {
                vip: c.vip,
                topic: &c.topic,
            },
            CaseEvent::SlaBreached(b) => Subject::SlaBreach(b),
        }
    }

    fn trigger(&self, case_id: Uuid) -> Trigger {
        match &self.event {
            CaseEvent::Opened(c) => Trigger::case(
                case_id,
                self.event_id,
                &c.topic,
                format!("case {case_id} opened"),
            ),
            CaseEvent::SlaBreached(b) => Trigger::case(
                case_id,
                self.event_id,
                "",
                format!(
                    "{} SLA of case {case_id} breached in the {} lane",
                    b.target, b.lane
                ),
            ),
        }
    }
}

/// The minute a mention counts in: when it was posted, but never later
/// than now (a clock ahead must not open minutes in the future).
pub fn minute_of(mention: &MentionClassified, now: DateTime<Utc>) -> i64 {
    let posted = mention
        .posted_at
        .as_ref()
        .and_then(|t| DateTime::from_timestamp(t.seconds, 0))
        .unwrap_or(now);
    spikes::unix_minute(posted.min(now))
}

/// The guidelines of `rules` that fire on `subject`.
fn firing<'r>(rules: &'r Rules, subject: Subject<'_>) -> impl Iterator<Item = &'r Arc<Compiled>> {
    let spike = matches!(subject, Subject::Spike(_));
    rules
        .guidelines
        .iter()
        .filter(move |g| (!spike || g.watches_spikes) && g.fires_on(subject))
}

pub async fn evaluate(
    conn: &mut PgConnection,
    outbox: &Outbox,
    cache: &RulesCache,
    states: &StateCache,
    mentions: Vec<Heard>,
    cases: Vec<CaseHeard>,
) -> Result<(), sqlx::Error> {
    if mentions.is_empty() && cases.is_empty() {
        return Ok(());
    }
    let mut tenants: Vec<&str> = mentions
        .iter()
        .map(|h| h.tenant_id.as_str())
        .chain(cases.iter().map(|c| c.tenant_id.as_str()))
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    let rules = cache.load(conn, &tenants).await?;
    let now = Utc::now();

    let detectors: HashMap<Uuid, &Detector> = rules
        .values()
        .flat_map(|r| r.detectors.iter())
        .map(|d| (d.id, d))
        .collect();
    let mut tally = spikes::Tally::new();
    for heard in &mentions {
        if let Some(r) = rules.get(&heard.tenant_id) {
            spikes::tally(
                &mut tally,
                &r.detectors,
                &heard.mention,
                minute_of(&heard.mention, now),
            );
        }
    }
    let detected = spikes::detect(conn, &detectors, tally, states, now).await?;
    states.put(detected.written);
    let alerts = detected.alerts;

    let mut news = Vec::new();
    let mut fired: Vec<usize> = Vec::with_capacity(mentions.len() + cases.len());
    for heard in &mentions {
        let r = &rules[&heard.tenant_id];
        let before = news.len();
        for g in firing(r, Subject::Mention(&heard.mention)) {
            news.push(NewEscalation {
                tenant_id: heard.tenant_id.clone(),
                guideline: g.clone(),
                trigger: Trigger::mention(&heard.mention, Some(heard.event_id)),
                drill_id: None,
            });
        }
        fired.push(news.len() - before);
    }
    for heard in &cases {
        let before = news.len();
        if let Some(case_id) = heard.case_id() {
            let r = &rules[&heard.tenant_id];
            for g in firing(r, heard.subject()) {
                news.push(NewEscalation {
                    tenant_id: heard.tenant_id.clone(),
                    guideline: g.clone(),
                    trigger: heard.trigger(case_id),
                    drill_id: None,
                });
            }
        }
        fired.push(news.len() - before);
    }
    let mut spike_events = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        let facts = SpikeFacts {
            detector_id: alert.detector_id,
            series: alert.series.clone(),
            negative_share: alert.negative_share,
        };
        let r = &rules[&alert.tenant_id];
        for g in firing(r, Subject::Spike(&facts)) {
            news.push(NewEscalation {
                tenant_id: alert.tenant_id.clone(),
                guideline: g.clone(),
                trigger: Trigger {
                    kind: TriggerKind::Spike,
                    key: alert.id.to_string(),
                    mention_id: String::new(),
                    case_id: None,
                    spike_alert_id: Some(alert.id),
                    incident_id: None,
                    event_id: None,
                    topic: alert.series.strip_prefix("topic:").unwrap_or("").to_owned(),
                    why: format!(
                        "{} spike in {}: {} mentions in a minute, {:.1} expected",
                        alert.kind, alert.series, alert.count, alert.expected
                    ),
                },
                drill_id: None,
            });
        }
        spike_events.push(Outgoing::new(
            &alert.tenant_id,
            alert.id.to_string(),
            event::Payload::SpikeDetected(SpikeDetected {
                alert_id: alert.id.to_string(),
                detector_id: alert.detector_id.to_string(),
                series: alert.series.clone(),
                kind: alert.kind.clone(),
                minute: Some(timestamp(alert.minute)),
                count: u32::try_from(alert.count).unwrap_or(0),
                expected: alert.expected,
                p_value: alert.p_value,
                negative_share: alert.negative_share,
            }),
            false,
            true,
        ));
    }

    let raised = crate::raise::raise(conn, outbox, news).await?;
    let mut raised_for: HashMap<(TriggerKind, &str), Vec<Uuid>> = HashMap::new();
    for e in &raised {
        raised_for
            .entry((e.trigger_kind, e.trigger_key.as_str()))
            .or_default()
            .push(e.id);
    }
    let mut rows = Vec::with_capacity(fired.len());
    let outcome = |fired: usize, made: &[Uuid]| match (fired, made.is_empty()) {
        (0, _) => NO_GUIDELINE_MATCHED,
        (_, false) => ESCALATED,
        (_, true) => ALREADY_ESCALATED,
    };
    for (heard, &n) in mentions.iter().zip(&fired) {
        let made = raised_for
            .get(&(TriggerKind::Mention, heard.mention.mention_id.as_str()))
            .cloned()
            .unwrap_or_default();
        rows.push(NewEvaluation {
            tenant_id: &heard.tenant_id,
            event_id: heard.event_id,
            mention_id: &heard.mention.mention_id,
            case_id: None,
            outcome: outcome(n, &made),
            revision: rules[&heard.tenant_id].revision,
            escalation_ids: made,
            mention: Some(prost::Message::encode_to_vec(&heard.mention)),
        });
    }
    for (heard, &n) in cases.iter().zip(&fired[mentions.len()..]) {
        let case_id = heard.case_id();
        let key = case_id.map(|c| c.to_string()).unwrap_or_default();
        let made = raised_for
            .get(&(TriggerKind::Case, key.as_str()))
            .cloned()
            .unwrap_or_default();
        let mention_id = match &heard.event {
            CaseEvent::Opened(c) => c.mention_id.as_str(),
            CaseEvent::SlaBreached(_) => "",
        };
        rows.push(NewEvaluation {
            tenant_id: &heard.tenant_id,
            event_id: heard.event_id,
            mention_id,
            case_id,
            outcome: outcome(n, &made),
            revision: rules[&heard.tenant_id].revision,
            escalation_ids: made,
            mention: None,
        });
    }
    store::insert(conn, &rows).await?;
    publish(conn, outbox, spike_events).await?;
    Ok(())
}
