//! Facts: each case, mention and reply as its producer told it, read out of
//! the events once, here, into insight's own terms.

pub mod store;

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_proto::events::v1::{CaseFacts, MentionClassified, ReplySent};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// VADER's usual cut-offs: a compound score at or past ±0.05 is polar.
pub const NEGATIVE_BELOW: f64 = -0.05;
pub const POSITIVE_FROM: f64 = 0.05;
/// Longest praise kept for success stories, in characters.
const PRAISE_CHARS: usize = 1_000;
/// Characters of a reply kept to show which words were reused.
const EXCERPT_CHARS: usize = 120;

/// earshot.case.v1.SlaState as stored per target.
pub const SLA_MET: i16 = 3;
pub const SLA_BREACHED: i16 = 4;

/// A case at one version.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CaseFact {
    pub tenant_id: String,
    pub case_id: Uuid,
    pub version: i64,
    pub status: String,
    pub channel: i16,
    pub public: bool,
    pub topic: String,
    pub intent: i16,
    pub priority: String,
    pub lane: String,
    pub queue: String,
    pub agent: String,
    pub customer_id: Option<Uuid>,
    pub followers: i64,
    pub vip: bool,
    pub mention_id: Option<Uuid>,
    pub opened_at: DateTime<Utc>,
    pub first_response_secs: Option<f64>,
    pub first_response_business_secs: Option<f64>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_secs: Option<f64>,
    pub resolution_business_secs: Option<f64>,
    pub reopens: i32,
    pub replies: i32,
    pub inbound_messages: i32,
    pub channel_switches: i32,
    pub sla_first_response: i16,
    pub sla_next_response: i16,
    pub sla_resolution: i16,
    pub goodwill_gestures: i32,
    pub goodwill_minor: i64,
    pub csat: i16,
    pub moved_private: bool,
    pub consent_granted: bool,
    pub merged: bool,
    /// When its earliest running SLA clock falls due; `None` when none runs.
    pub sla_due_at: Option<DateTime<Utc>>,
}

impl CaseFact {
    /// A merged case counts in the case it was merged into, not again.
    pub fn counts(&self) -> bool {
        !self.merged
    }

    pub fn is_resolved(&self) -> bool {
        self.resolved_at.is_some()
    }

    /// The channel is a social network or a review site, where others see.
    pub fn social(&self) -> bool {
        is_social(self.channel)
    }

    /// The case's SLA states by target: first response, next response, resolution.
    pub fn sla_states(&self) -> [i16; 3] {
        [
            self.sla_first_response,
            self.sla_next_response,
            self.sla_resolution,
        ]
    }
}

/// X, Facebook, Instagram, WhatsApp and reviews are social (their
/// conversations come through listening); e-mail, chat, phone and web forms
/// are the traditional channels.
pub fn is_social(channel: i16) -> bool {
    matches!(
        Channel::try_from(i32::from(channel)),
        Ok(Channel::X
            | Channel::Facebook
            | Channel::Instagram
            | Channel::Whatsapp
            | Channel::Review)
    )
}

/// A channel's word as reports show it ("X", "EMAIL").
pub fn channel_word(channel: i16) -> String {
    Channel::try_from(i32::from(channel))
        .unwrap_or(Channel::Unspecified)
        .as_str_name()
        .trim_start_matches("CHANNEL_")
        .to_owned()
}

/// An intent's word as reports show it ("COMPLAINT").
pub fn intent_word(intent: i16) -> String {
    Intent::try_from(i32::from(intent))
        .unwrap_or(Intent::Unspecified)
        .as_str_name()
        .trim_start_matches("INTENT_")
        .to_owned()
}

fn at(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    let ts = ts?;
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

fn secs_between(from: DateTime<Utc>, to: Option<DateTime<Utc>>) -> Option<f64> {
    to.map(|to| ((to - from).num_milliseconds() as f64 / 1000.0).max(0.0))
}

fn sla_state(word: &str) -> i16 {
    match word {
        "RUNNING" => 1,
        "PAUSED" => 2,
        "MET" => SLA_MET,
        "BREACHED" => SLA_BREACHED,
        _ => 0,
    }
}

fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A case's facts as the case service told them; `None` when the event is
/// not one insight can count (no case id, no opening time, no version).
pub fn case_fact(tenant_id: &str, case_id: &str, f: &CaseFacts) -> Option<CaseFact> {
    let case_id = Uuid::parse_str(case_id).ok()?;
    let opened_at = at(f.opened_at.as_ref())?;
    if f.version < 1 || tenant_id.is_empty() {
        return None;
    }
    let first_response_at = at(f.first_response_at.as_ref());
    let resolved_at = at(f.resolved_at.as_ref());
    let mut sla = [0i16; 3];
    for outcome in &f.sla {
        let slot = match outcome.target.as_str() {
            "FIRST_RESPONSE" => 0,
            "NEXT_RESPONSE" => 1,
            "RESOLUTION" => 2,
            _ => continue,
        };
        sla[slot] = sla_state(&outcome.state);
    }
    let sla_due_at = f
        .sla
        .iter()
        .filter(|o| o.state == "RUNNING")
        .filter_map(|o| at(o.due_at.as_ref()))
        .min();
    Some(CaseFact {
        tenant_id: tenant_id.to_owned(),
        case_id,
        version: f.version,
        status: f.status.clone(),
        channel: i16::try_from(f.channel).unwrap_or(0),
        public: f.public,
        topic: f.topic.clone(),
        intent: i16::try_from(f.intent).unwrap_or(0),
        priority: f.priority.clone(),
        lane: f.lane.clone(),
        queue: f.queue.clone(),
        agent: f.agent.clone(),
        customer_id: Uuid::parse_str(&f.customer_id).ok(),
        followers: i64::try_from(f.followers).unwrap_or(i64::MAX),
        vip: f.vip,
        mention_id: Uuid::parse_str(&f.mention_id).ok(),
        opened_at,
        first_response_secs: secs_between(opened_at, first_response_at),
        first_response_business_secs: first_response_at
            .map(|_| f.first_response_business_secs.max(0.0)),
        resolved_at,
        resolution_secs: secs_between(opened_at, resolved_at),
        resolution_business_secs: resolved_at.map(|_| f.resolution_business_secs.max(0.0)),
        reopens: small(f.reopens),
        replies: small(f.replies),
        inbound_messages: small(f.inbound_messages),
        channel_switches: small(f.channel_switches),
        sla_first_response: sla[0],
        sla_next_response: sla[1],
        sla_resolution: sla[2],
        goodwill_gestures: small(f.goodwill_gestures),
        goodwill_minor: f.goodwill_minor.max(0),
        csat: i16::try_from(f.csat.min(5)).unwrap_or(0),
        moved_private: f.moved_private,
        consent_granted: f.consent_granted,
        merged: !f.merged_into.is_empty(),
        sla_due_at,
    })
}

/// An SLA clock the case service saw breached, before the case's next
/// version says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub tenant_id: String,
    pub case_id: Uuid,
    /// 0 first response, 1 next response, 2 resolution.
    pub target: usize,
}

pub fn breach(tenant_id: &str, b: &earshot_proto::events::v1::SlaBreached) -> Option<Breach> {
    let target = match b.target.as_str() {
        "FIRST_RESPONSE" => 0,
        "NEXT_RESPONSE" => 1,
        "RESOLUTION" => 2,
        _ => return None,
    };
    Some(Breach {
        tenant_id: tenant_id.to_owned(),
        case_id: Uuid::parse_str(&b.case_id).ok()?,
        target,
    })
}

impl CaseFact {
    /// The facts with a running (or paused, or unknown) clock marked
    /// breached; a clock already met or breached stays as its version says.
    pub fn breached(&self, target: usize) -> CaseFact {
        let mut out = self.clone();
        let slot = match target {
            0 => &mut out.sla_first_response,
            1 => &mut out.sla_next_response,
            _ => &mut out.sla_resolution,
        };
        if *slot != SLA_MET && *slot != SLA_BREACHED {
            *slot = SLA_BREACHED;
        }
        out
    }
}

/// A mention as insight keeps it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MentionFact {
    pub tenant_id: String,
    pub mention_id: Uuid,
    pub posted_at: DateTime<Utc>,
    pub channel: i16,
    pub public: bool,
    pub topic: String,
    pub intent: i16,
    pub rule_id: String,
    pub author: String,
    pub handle: String,
    pub followers: i64,
    pub thread_key: String,
    pub sentiment: Option<f64>,
    pub praise: Option<String>,
    pub recurrent: bool,
}

impl MentionFact {
    pub fn negative(&self) -> bool {
        self.sentiment.is_some_and(|s| s <= NEGATIVE_BELOW)
    }

    pub fn positive(&self) -> bool {
        self.sentiment.is_some_and(|s| s >= POSITIVE_FROM)
    }
}

/// Who wrote a mention, as one key per channel ("x:12345"); empty when the
/// source names nobody.
pub fn author_key(channel: i16, external_id: &str, handle: &str) -> String {
    let id = [external_id, handle]
        .into_iter()
        .map(|s| s.trim().trim_start_matches('@'))
        .find(|s| !s.is_empty());
    match id {
        Some(id) => format!(
            "{}:{}",
            channel_word(channel).to_lowercase(),
            id.to_lowercase()
        ),
        None => String::new(),
    }
}

/// A classified mention's facts; `None` without a valid id.
pub fn mention_fact(
    tenant_id: &str,
    occurred_at: Option<&prost_types::Timestamp>,
    m: &MentionClassified,
) -> Option<MentionFact> {
    let mention_id = Uuid::parse_str(&m.mention_id).ok()?;
    let posted_at = at(m.posted_at.as_ref()).or_else(|| at(occurred_at))?;
    let c = m.classification.clone().unwrap_or_default();
    let author = m.author.clone().unwrap_or_default();
    let channel = i16::try_from(m.channel).unwrap_or(0);
    let praise = c.intent == Intent::Praise as i32
        || c.actionability == earshot_proto::common::v1::Actionability::HighFive as i32;
    Some(MentionFact {
        tenant_id: tenant_id.to_owned(),
        mention_id,
        posted_at,
        channel,
        public: m.public,
        topic: c
            .topics
            .first()
            .map(|t| t.topic.clone())
            .unwrap_or_default(),
        intent: i16::try_from(c.intent).unwrap_or(0),
        rule_id: m
            .matched_rules
            .first()
            .map(|r| r.rule_id.clone())
            .unwrap_or_default(),
        author: author_key(channel, &author.external_id, &author.handle),
        handle: author.handle.trim().chars().take(100).collect(),
        followers: i64::try_from(author.followers).unwrap_or(i64::MAX),
        thread_key: m.thread_key.clone(),
        sentiment: c.sentiment.as_ref().map(|s| s.compound),
        praise: praise.then(|| m.text.chars().take(PRAISE_CHARS).collect()),
        recurrent: false,
    })
}

/// A reply as insight keeps it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ReplyFact {
    pub tenant_id: String,
    pub reply_id: Uuid,
    pub case_id: Uuid,
    pub sent_at: DateTime<Utc>,
    pub agent: String,
    pub queue: String,
    pub channel: i16,
    pub public: bool,
    pub findings: Vec<i16>,
    pub body_hash: i64,
    pub excerpt: String,
    pub kb_article_id: String,
    pub kb_article_version: i32,
}

/// The same words, whatever their case and spacing, hash the same.
pub fn body_hash(body: &str) -> i64 {
    let words = body
        .split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ");
    let digest = Sha256::digest(words.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// A reply's facts; `None` without valid ids or a time.
pub fn reply_fact(
    tenant_id: &str,
    occurred_at: Option<&prost_types::Timestamp>,
    r: &ReplySent,
) -> Option<ReplyFact> {
    let mut findings: Vec<i16> = r
        .findings
        .iter()
        .filter_map(|f| i16::try_from(f.kind).ok())
        .filter(|k| *k > 0)
        .collect();
    findings.sort_unstable();
    findings.dedup();
    let excerpt: String = r
        .body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS)
        .collect();
    Some(ReplyFact {
        tenant_id: tenant_id.to_owned(),
        reply_id: Uuid::parse_str(&r.reply_id).ok()?,
        case_id: Uuid::parse_str(&r.case_id).ok()?,
        sent_at: at(occurred_at)?,
        agent: r.author.clone(),
        queue: r.queue.clone(),
        channel: i16::try_from(r.channel).unwrap_or(0),
        public: r.public,
        findings,
        body_hash: body_hash(&r.body),
        excerpt,
        kb_article_id: r.kb_article_id.clone(),
        kb_article_version: i32::try_from(r.kb_article_version).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::events::v1::SlaOutcome;

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    #[test]
    fn case_facts_read_times_as_seconds_from_opening() {
        let f = CaseFacts {
            version: 3,
            status: "RESOLVED".into(),
            channel: Channel::X as i32,
            opened_at: ts(1_000),
            first_response_at: ts(1_600),
            first_response_business_secs: 300.0,
            resolved_at: ts(4_600),
            resolution_business_secs: 1_200.0,
            sla: vec![
                SlaOutcome {
                    target: "FIRST_RESPONSE".into(),
                    state: "MET".into(),
                    due_at: ts(1_500),
                },
                SlaOutcome {
                    target: "RESOLUTION".into(),
                    state: "BREACHED".into(),
                    due_at: None,
                },
                SlaOutcome {
                    target: "NEXT_RESPONSE".into(),
                    state: "RUNNING".into(),
                    due_at: ts(9_000),
                },
            ],
            merged_into: String::new(),
            ..Default::default()
        };
        let id = Uuid::now_v7().to_string();
        let fact = case_fact("t", &id, &f).expect("fact");
        assert_eq!(fact.first_response_secs, Some(600.0));
        assert_eq!(fact.first_response_business_secs, Some(300.0));
        assert_eq!(fact.resolution_secs, Some(3_600.0));
        assert_eq!(fact.sla_states(), [SLA_MET, 1, SLA_BREACHED]);
        assert_eq!(
            fact.sla_due_at.map(|t| t.timestamp()),
            Some(9_000),
            "only a running clock's due time counts"
        );
        assert!(fact.social() && fact.counts());
        assert!(case_fact("t", "not-a-uuid", &f).is_none());
        let unopened = CaseFacts {
            opened_at: None,
            ..f
        };
        assert!(case_fact("t", &id, &unopened).is_none());
    }

    #[test]
    fn authors_are_one_key_per_channel_and_replies_hash_their_words() {
        assert_eq!(author_key(Channel::X as i16, "", "@Jane"), "x:jane");
        assert_eq!(
            author_key(Channel::Email as i16, "J@x.org", "jane"),
            "email:j@x.org"
        );
        assert_eq!(author_key(Channel::Review as i16, " ", ""), "");
        assert_eq!(
            body_hash("Sorry  about\nthat"),
            body_hash("sorry about that")
        );
        assert_ne!(body_hash("sorry about that"), body_hash("sorry about this"));
        assert!(is_social(Channel::Instagram as i16) && !is_social(Channel::Phone as i16));
        assert!(is_social(Channel::Whatsapp as i16));
    }
}
