//! What the case service does with the events it hears: each is read into
//! the domain's own terms here, once, and handed to intake (mentions),
//! routing (escalations) or erasure (the other services' reports).

use chrono::DateTime;
use earshot_outbox::Outbox;
use earshot_proto::common::v1::Channel;
use earshot_proto::events::v1::{EscalationRaised, Event, MentionClassified, event};
use earshot_server::{EventHandler, ServiceError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::customers::{Identity, Speaker, platform_of};
use crate::erasure::{self, Report};
use crate::intake::{self, Mention};
use crate::routing::{self, Escalation};
use crate::vocabulary::valid_topic;

pub struct CaseEvents;

impl EventHandler for CaseEvents {
    const PRODUCERS: &'static [&'static str] = &["listening", "escalation", "insight"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let mut mentions = Vec::new();
        let mut escalations = Vec::new();
        let mut reports = Vec::new();
        for e in events {
            match e.payload {
                Some(event::Payload::MentionClassified(m)) => {
                    mentions.push(mention(e.tenant_id, m))
                }
                // The guideline asked only to record and notify: the case
                // stays as it is.
                Some(event::Payload::EscalationRaised(x)) if x.leave_case => {}
                Some(event::Payload::EscalationRaised(x)) => {
                    escalations.push(escalation(e.tenant_id, x));
                }
                Some(event::Payload::ErasureCompleted(c)) => {
                    // The producer, which the sink checked, says who erased.
                    let Ok(erasure_id) = Uuid::parse_str(&c.erasure_id) else {
                        tracing::warn!(
                            producer = e.producer,
                            "erasure report without a valid erasure id; ignored"
                        );
                        continue;
                    };
                    reports.push(Report {
                        tenant_id: e.tenant_id,
                        erasure_id,
                        service: e.producer,
                        records_erased: i64::try_from(c.records_erased).unwrap_or(i64::MAX),
                    });
                }
                _ => {}
            }
        }
        let threaded = intake::thread_mentions(conn, outbox, &mentions).await?;
        let escalated = routing::escalate(conn, outbox, &escalations).await?;
        let reported = erasure::record_reports(conn, reports).await?;
        tracing::debug!(
            mentions = mentions.len(),
            ?threaded,
            escalations = escalations.len(),
            escalated,
            reported,
            "events handled"
        );
        Ok(())
    }
}

/// A classified mention in intake's terms: its author as a customer (when
/// anyone could recognise them), its valid topics, and what routing needs.
fn mention(tenant_id: String, m: MentionClassified) -> Mention {
    let author = m.author.clone().unwrap_or_default();
    let platform = platform_of(&channel_platform(m.channel), &m.source);
    let id_value = if author.external_id.trim().is_empty() {
        &author.handle
    } else {
        &author.external_id
    };
    // An author nobody can recognise (an anonymous review) has no profile.
    let identity = Identity::parse(&platform, id_value)
        .or_else(|_| Identity::parse(&platform, &author.handle))
        .ok();
    let handle = [&author.handle, &author.external_id, &author.display_name]
        .into_iter()
        .find(|h| !h.trim().is_empty())
        .map_or_else(|| "anonymous".to_owned(), |h| h.trim().to_owned());
    let followers = i64::try_from(author.followers).unwrap_or(i64::MAX);
    // The handle finds a profile that knows them by it (a VIP entered by
    // hand, say) when none knows their user id yet.
    let also_known_as: Vec<Identity> = Identity::parse(&platform, &author.handle)
        .ok()
        .filter(|h| identity.as_ref().is_some_and(|i| i != h))
        .into_iter()
        .collect();
    let speaker = identity.map(|identity| Speaker {
        tenant_id: tenant_id.clone(),
        identity,
        also_known_as,
        display_name: if author.display_name.is_empty() {
            handle.clone()
        } else {
            author.display_name.clone()
        },
        followers,
        language: m.language.chars().take(35).collect(),
    });
    let c = m.classification.unwrap_or_default();
    let topics = c
        .topics
        .iter()
        .map(|t| t.topic.clone())
        .filter(|t| valid_topic(t) && !t.is_empty())
        .collect();
    Mention {
        tenant_id,
        channel: i16::try_from(m.channel).unwrap_or(0),
        public: m.public,
        thread_key: m.thread_key,
        posted_at: m
            .posted_at
            .as_ref()
            .and_then(|t| DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)),
        text: m.text,
        mention_id: m.mention_id,
        handle,
        speaker,
        topics,
        actionable: c.actionable,
        intent: i16::try_from(c.intent).unwrap_or(0),
        urgencies: c
            .urgency
            .iter()
            .filter_map(|u| i16::try_from(u.urgency).ok())
            .collect(),
        sentiment: c.sentiment.as_ref().map(|s| s.compound),
        followers,
    }
}

/// An escalation in routing's terms: the case named, else the mention's.
fn escalation(tenant_id: String, e: EscalationRaised) -> Escalation {
    Escalation {
        tenant_id,
        case_id: Uuid::parse_str(&e.case_id).ok(),
        reason: format!(
            "{} escalation {}: {}",
            e.severity, e.escalation_id, e.reason
        ),
        mention_id: e.mention_id,
    }
}

/// The platform a channel's identities live on, e.g. `web_form`.
pub fn channel_platform(channel: i32) -> String {
    match Channel::try_from(channel).unwrap_or(Channel::Unspecified) {
        Channel::Unspecified => "unknown".to_owned(),
        other => other
            .as_str_name()
            .trim_start_matches("CHANNEL_")
            .to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_named_after_their_channel() {
        assert_eq!(channel_platform(Channel::WebForm as i32), "web_form");
        assert_eq!(channel_platform(Channel::X as i32), "x");
        assert_eq!(channel_platform(0), "unknown");
    }
}
