//! The case service's vocabulary: the states and kinds it stores, and the
//! keys tenants name things with (queues, skills, topics, tiers, resolution
//! codes, agent ids), checked here and nowhere else.
//!
//! The enums are stored as the numbers of the proto enums they mirror (rows
//! written before this module existed read the same) and priorities as their
//! words; SQL binds them and never spells a number. The gRPC layer maps them
//! to and from the protos; a test there pins that the numbers agree.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use earshot_server::FieldViolations;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgHasArrayType, PgTypeInfo, PgValueRef};
use sqlx::{Decode, Encode, Postgres, Type};

/// Where a case is in its life. Ordered: every status before `Resolved` is
/// one an agent still works on (the partial indexes of the migrations rely
/// on `status < RESOLVED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type)]
#[repr(i16)]
pub enum Status {
    New = 1,
    Open = 2,
    PendingCustomer = 3,
    PendingInternal = 4,
    Resolved = 5,
    Closed = 6,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::New,
        Status::Open,
        Status::PendingCustomer,
        Status::PendingInternal,
        Status::Resolved,
        Status::Closed,
    ];

    /// As the audit trail and `CaseUpdated` write it.
    pub fn label(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::Open => "OPEN",
            Status::PendingCustomer => "PENDING_CUSTOMER",
            Status::PendingInternal => "PENDING_INTERNAL",
            Status::Resolved => "RESOLVED",
            Status::Closed => "CLOSED",
        }
    }

    /// Still being worked on: counts toward its assignee's load and sits in the queue.
    pub fn is_active(self) -> bool {
        self < Status::Resolved
    }
}

/// How fast a case must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum Lane {
    Standard = 1,
    /// Cases that must not wait: answered first, on tighter SLAs.
    Fast = 2,
}

/// In the configuration trail as a number, as lanes were written before they were enums.
impl serde::Serialize for Lane {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i16(*self as i16)
    }
}

impl Lane {
    pub fn label(self) -> &'static str {
        match self {
            Lane::Standard => "STANDARD",
            Lane::Fast => "FAST",
        }
    }
}

/// A case's priority, stored as its word.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// One step up, urgent at most: what an escalation does.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

impl serde::Serialize for Priority {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The words a priority may be written as.
pub const PRIORITY_WORDS: &str = "low, normal, high or urgent";

impl FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("must be {PRIORITY_WORDS}"))
    }
}

impl Type<Postgres> for Priority {
    fn type_info() -> PgTypeInfo {
        <&str as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <&str as Type<Postgres>>::compatible(ty)
    }
}

impl PgHasArrayType for Priority {
    fn array_type_info() -> PgTypeInfo {
        <&str as PgHasArrayType>::array_type_info()
    }
}

impl Encode<'_, Postgres> for Priority {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <&str as Encode<Postgres>>::encode(self.as_str(), buf)
    }
}

impl Decode<'_, Postgres> for Priority {
    fn decode(value: PgValueRef<'_>) -> Result<Self, BoxDynError> {
        let word = <&str as Decode<Postgres>>::decode(value)?;
        word.parse()
            .map_err(|_| format!("unknown priority {word:?}").into())
    }
}

/// What an SLA clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum SlaTarget {
    /// The first reply to the customer.
    FirstResponse = 1,
    /// A reply after the customer wrote again.
    NextResponse = 2,
    Resolution = 3,
}

impl SlaTarget {
    pub fn label(self) -> &'static str {
        match self {
            SlaTarget::FirstResponse => "FIRST_RESPONSE",
            SlaTarget::NextResponse => "NEXT_RESPONSE",
            SlaTarget::Resolution => "RESOLUTION",
        }
    }
}

/// Where an SLA clock is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum SlaState {
    Running = 1,
    /// Stopped while the case waits on the customer.
    Paused = 2,
    Met = 3,
    Breached = 4,
}

impl SlaState {
    pub fn label(self) -> &'static str {
        match self {
            SlaState::Running => "RUNNING",
            SlaState::Paused => "PAUSED",
            SlaState::Met => "MET",
            SlaState::Breached => "BREACHED",
        }
    }
}

/// Where a promise to a customer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum CommitmentState {
    Open = 1,
    Kept = 2,
    /// Past its due date unkept (it can still be kept, late).
    Overdue = 3,
}

impl CommitmentState {
    pub fn label(self) -> &'static str {
        match self {
            CommitmentState::Open => "OPEN",
            CommitmentState::Kept => "KEPT",
            CommitmentState::Overdue => "OVERDUE",
        }
    }
}

/// Who wrote a case message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum Direction {
    /// From the customer.
    Inbound = 1,
    /// From the team.
    Outbound = 2,
}

/// Something given to a customer to make things right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sqlx::Type)]
#[repr(i16)]
pub enum GoodwillKind {
    Refund = 1,
    Credit = 2,
    Replacement = 3,
    Other = 4,
}

impl GoodwillKind {
    pub fn label(self) -> &'static str {
        match self {
            GoodwillKind::Refund => "KIND_REFUND",
            GoodwillKind::Credit => "KIND_CREDIT",
            GoodwillKind::Replacement => "KIND_REPLACEMENT",
            GoodwillKind::Other => "KIND_OTHER",
        }
    }
}

/// Queue of cases no rule routed.
pub const DEFAULT_QUEUE: &str = "general";
/// Most entries a list of keys may hold.
pub const MAX_KEYS: usize = 50;
/// What a bad key is told.
pub const KEY_RULE: &str = "must be 1 to 64 lower-case letters, digits, _ or -";
/// What a bad agent id is told.
pub const AGENT_ID_RULE: &str = "must be 1 to 128 letters, digits or ._@:+-";

/// A key of the tenant's vocabulary (queue, skill, topic, tier, resolution code).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A topic of the tenant's taxonomy, or none.
pub fn valid_topic(topic: &str) -> bool {
    topic.is_empty() || valid_key(topic)
}

/// An agent id: the tenant's own, e.g. a token subject or an email address.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@:+-".contains(&b))
}

/// A list of keys, trimmed and without repeats; bad ones are named `field[i]`.
pub fn keys(raw: &[String], field: &str, v: &mut FieldViolations) -> Vec<String> {
    let Some(raw) = at_most(raw, MAX_KEYS, field, v) else {
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for (i, k) in raw.iter().enumerate() {
        let k = k.trim();
        if !valid_key(k) {
            v.add(format!("{field}[{i}]"), KEY_RULE);
        } else if seen.insert(k) {
            out.push(k.to_owned());
        }
    }
    out
}

/// `raw` when it holds at most `max` items; otherwise `None` with the
/// violation added, before any item is read, so that an oversized list
/// costs one comparison however long it is.
pub fn at_most<'a, T>(
    raw: &'a [T],
    max: usize,
    field: &str,
    v: &mut FieldViolations,
) -> Option<&'a [T]> {
    if raw.len() > max {
        v.add(field, format!("must hold at most {max} entries"));
        None
    } else {
        Some(raw)
    }
}

/// An optional key (a filter): `None` when empty.
pub fn optional_key(raw: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    v.check(!valid_key(raw), field, KEY_RULE);
    Some(raw.to_owned())
}

/// A priority word; a bad one is named `field`.
pub fn priority(raw: &str, field: &str, v: &mut FieldViolations) -> Priority {
    raw.trim().parse().unwrap_or_else(|e: String| {
        v.add(field, e);
        Priority::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_before_resolved_are_active() {
        let active: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_active()).collect();
        assert_eq!(
            active,
            [
                Status::New,
                Status::Open,
                Status::PendingCustomer,
                Status::PendingInternal
            ]
        );
    }

    #[test]
    fn priorities_read_their_words_and_rise_to_urgent() {
        for p in Priority::ALL {
            assert_eq!(p.as_str().parse::<Priority>(), Ok(p));
        }
        assert!("asap".parse::<Priority>().is_err());
        assert_eq!(Priority::Low.raised(), Priority::Normal);
        assert_eq!(Priority::Urgent.raised(), Priority::Urgent);
    }

    #[test]
    fn keys_are_checked_trimmed_and_deduplicated() {
        let mut v = FieldViolations::new();
        let raw = vec![" fr ".to_owned(), "fr".to_owned(), "Not OK".to_owned()];
        assert_eq!(keys(&raw, "skills", &mut v), ["fr"]);
        assert_eq!(v.to_string(), format!("skills[2]: {KEY_RULE}"));
        assert!(valid_agent_id("ana@example.com"));
        assert!(!valid_agent_id("ana smith"));
        assert!(valid_topic(""));
    }
}
