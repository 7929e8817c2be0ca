//! Source adapters: turn what each source really sends (API responses,
//! webhooks, e-mail, transcripts) into Earshot's one mention model,
//! [`MentionInput`], keeping the item's own payload for audit.
//!
//! Pure functions: no I/O, no clock, no database.
//!
//! # Results
//!
//! Sources that deliver one mention per payload (reviews, chats, calls,
//! e-mail) return `Result<Adapted, AdaptError>`.
//!
//! Sources that deliver several items per payload (an X search response, a
//! Meta webhook with several entries and changes) return
//! `Result<Batch, AdaptError>`:
//!
//! * the outer `Err` means the envelope itself is unusable (not JSON, wrong
//!   `object`, no `data`/`entry`), so nothing could be read;
//! * otherwise [`Batch::items`] holds one `Result` per item that is meant to be
//!   a mention, in payload order, so a bad item never loses the good ones;
//! * and [`Batch::skipped`] lists items that are not mentions at all
//!   (reactions, edits, removals, delivery receipts, the page's own posts and
//!   message echoes, ids-only notifications with no text to hear), each with
//!   its path and why, so nothing vanishes silently. A valid payload with no
//!   items at all (a ping, an empty delivery) is one skipped item, `payload`.
//!
//! Every error names the JSON path (or, for e-mail, the header) at fault, e.g.
//! `data[2].author_id: missing`.
//!
//! Adapters map and normalise; they do not judge. Noise such as retweets is
//! still adapted (see `MentionInput::share`) and filtered later, and the
//! limits on text length and source names are enforced by
//! [`crate::mention::validate`] at ingestion.

pub mod chat;
pub mod email;
pub mod meta;
pub mod phone;
pub mod review;
pub mod x;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use earshot_proto::listening::v1::MentionInput;
use earshot_server::convert::timestamp;
use serde_json::{Map, Value};

/// One mention adapted from a source, with the payload it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Adapted {
    /// Where the item is in the payload (`entry[0].changes[1].value`), set
    /// by [`Batch`]; empty when the item is the whole payload.
    pub path: String,
    pub mention: MentionInput,
    /// The item's own payload, unchanged, for audit: the tweet object, the
    /// webhook change or messaging event, the review, chat or call JSON. For
    /// e-mail, the raw RFC 5322 message as a JSON string.
    pub raw: Value,
    /// Star rating, 1 to 5, for reviews.
    pub rating: Option<u8>,
    /// The author's own new words, when the mention's text holds more than
    /// them (an e-mail reply's subject is the quoted conversation's): the
    /// text the language is detected on. `None`: all of the text.
    pub language_text: Option<String>,
}

/// Why a payload, or one item of it, could not be adapted. Each variant names
/// where: a JSON path from the payload root (`entry[0].changes[1].value.from`)
/// or an e-mail header (`Message-ID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdaptError {
    /// The payload is not JSON at all.
    #[error("payload: not valid JSON: {reason}")]
    NotJson { reason: String },
    /// A required field is absent or null.
    #[error("{path}: missing")]
    Missing { path: String },
    /// A field is present but unusable.
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

impl AdaptError {
    /// The JSON path or header at fault; empty for the whole payload.
    pub fn path(&self) -> &str {
        match self {
            Self::NotJson { .. } => "",
            Self::Missing { path } | Self::Invalid { path, .. } => path,
        }
    }

    /// What is wrong, without the path (for a field violation that names
    /// the field itself).
    pub fn description(&self) -> String {
        match self {
            Self::NotJson { reason } => format!("not valid JSON: {reason}"),
            Self::Missing { .. } => "missing".to_owned(),
            Self::Invalid { reason, .. } => reason.clone(),
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(path: impl Into<String>) -> Self {
        Self::Missing { path: path.into() }
    }
}

/// An item of a payload that is not a mention, and so was left out on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What a multi-item payload yielded: see the module docs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// One result per mention-like item, in payload order.
    pub items: Vec<Result<Adapted, AdaptError>>,
    /// Items that are not mentions.
    pub skipped: Vec<Skipped>,
}

impl Batch {
    /// The items that adapted.
    pub fn adapted(&self) -> impl Iterator<Item = &Adapted> {
        self.items.iter().filter_map(|item| item.as_ref().ok())
    }

    /// The items that did not.
    pub fn errors(&self) -> impl Iterator<Item = &AdaptError> {
        self.items.iter().filter_map(|item| item.as_ref().err())
    }

    /// The mentions that adapted, ready for `IngestMentions`.
    pub fn into_mentions(self) -> Vec<MentionInput> {
        self.items
            .into_iter()
            .filter_map(Result::ok)
            .map(|adapted| adapted.mention)
            .collect()
    }

    pub(crate) fn skip(&mut self, path: impl Into<String>, reason: impl Into<String>) {
        self.skipped.push(Skipped {
            path: path.into(),
            reason: reason.into(),
        });
    }

    /// Records what became of one item.
    pub(crate) fn push(&mut self, path: &str, outcome: Result<Outcome, AdaptError>) {
        match outcome {
            Ok(Outcome::Mention(mut adapted)) => {
                adapted.path = path.to_owned();
                self.items.push(Ok(*adapted));
            }
            Ok(Outcome::Skip(reason)) => self.skip(path, reason),
            Err(error) => self.items.push(Err(error)),
        }
    }

    fn single(item: Result<Adapted, AdaptError>) -> Self {
        Self {
            items: vec![item],
            skipped: Vec::new(),
        }
    }

    /// Whether the payload held no item at all, mention or not.
    fn is_empty(&self) -> bool {
        self.items.is_empty() && self.skipped.is_empty()
    }
}

/// The path of a skipped or failed payload as a whole.
pub const WHOLE_PAYLOAD: &str = "payload";

/// What an item of a multi-item payload turned out to be.
pub(crate) enum Outcome {
    Mention(Box<Adapted>),
    /// Not a mention, and why.
    Skip(String),
}

impl Outcome {
    pub(crate) fn mention(adapted: Adapted) -> Self {
        Self::Mention(Box::new(adapted))
    }

    pub(crate) fn skip(reason: impl Into<String>) -> Self {
        Self::Skip(reason.into())
    }
}

/// The kinds of payload Earshot can adapt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// X API v2 tweet lookup or search response.
    X,
    /// Facebook Page webhook (`object: "page"`): feed changes and Messenger.
    Facebook,
    /// Instagram webhook (`object: "instagram"`): comments, mentions, messages.
    Instagram,
    /// A review: Earshot's review JSON, a Trustpilot webhook or a Yelp
    /// Fusion reviews response.
    Review,
    /// RFC 5322 message.
    Email,
    /// Web chat transcript JSON.
    Chat,
    /// Phone call transcript or summary JSON.
    Phone,
    /// WhatsApp Cloud API webhook (`object: "whatsapp_business_account"`).
    WhatsApp,
}

impl SourceKind {
    pub const ALL: [Self; 8] = [
        Self::X,
        Self::Facebook,
        Self::Instagram,
        Self::Review,
        Self::Email,
        Self::Chat,
        Self::Phone,
        Self::WhatsApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::X => "x",
            Self::Facebook => "facebook",
            Self::Instagram => "instagram",
            Self::Review => "review",
            Self::Email => "email",
            Self::Chat => "chat",
            Self::Phone => "phone",
            Self::WhatsApp => "whatsapp",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown [`SourceKind`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown source kind {0:?} (expected x, facebook, instagram, review, email, chat, phone or whatsapp)"
)]
pub struct UnknownSourceKind(pub String);

impl FromStr for SourceKind {
    type Err = UnknownSourceKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownSourceKind(s.to_owned()))
    }
}

/// Adapts a payload as received (bytes of JSON, or of an RFC 5322 message for
/// e-mail). Single-mention sources yield a batch of one item. A payload that
/// holds no item at all is reported as one skipped item, never as nothing.
pub fn adapt(kind: SourceKind, body: &[u8]) -> Result<Batch, AdaptError> {
    let json = || {
        serde_json::from_slice::<Value>(body).map_err(|e| AdaptError::NotJson {
            reason: e.to_string(),
        })
    };
    let mut batch = match kind {
        SourceKind::Email => Batch::single(email::adapt(body)),
        SourceKind::X => x::adapt(&json()?)?,
        SourceKind::Facebook => meta::facebook::adapt(&json()?)?,
        SourceKind::Instagram => meta::instagram::adapt(&json()?)?,
        SourceKind::WhatsApp => meta::whatsapp::adapt(&json()?)?,
        SourceKind::Review => review::adapt(&json()?)?,
        SourceKind::Chat => Batch::single(chat::adapt(&json()?)),
        SourceKind::Phone => Batch::single(phone::adapt(&json()?)),
    };
    if batch.is_empty() {
        batch.skip(
            WHOLE_PAYLOAD,
            "nothing to hear: the payload holds no items (a ping or an empty delivery)",
        );
    }
    Ok(batch)
}

/// Units of a numeric time.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Epoch {
    Seconds,
    Millis,
    /// Either, told apart by size: Meta's entry `time` is seconds in some
    /// deliveries and milliseconds in others. A value of 10^11 or more is
    /// milliseconds (as seconds it would be past the year 5000).
    SecondsOrMillis,
}

/// A place in a JSON payload: the value there, if any, and its path from the
/// root, so that every error can say where it happened.
#[derive(Debug, Clone)]
pub(crate) struct Field<'a> {
    value: Option<&'a Value>,
    path: String,
}

impl<'a> Field<'a> {
    pub(crate) fn root(value: &'a Value) -> Self {
        Self {
            value: Some(value),
            path: String::new(),
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The value, unless absent or null.
    pub(crate) fn value(&self) -> Option<&'a Value> {
        self.value.filter(|v| !v.is_null())
    }

    /// The value, or `Value::Null` when absent, for `Adapted::raw`.
    pub(crate) fn raw(&self) -> Value {
        self.value.cloned().unwrap_or(Value::Null)
    }

    pub(crate) fn get(&self, key: &str) -> Field<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Field {
            value: self.value.and_then(|v| v.get(key)),
            path,
        }
    }

    pub(crate) fn missing(&self) -> AdaptError {
        AdaptError::missing(self.path.clone())
    }

    pub(crate) fn invalid(&self, reason: impl Into<String>) -> AdaptError {
        AdaptError::invalid(self.path.clone(), reason)
    }

    pub(crate) fn required(&self) -> Result<&'a Value, AdaptError> {
        self.value().ok_or_else(|| self.missing())
    }

    pub(crate) fn object(&self) -> Result<&'a Map<String, Value>, AdaptError> {
        self.required()?
            .as_object()
            .ok_or_else(|| self.invalid("must be an object"))
    }

    fn elements(&self, array: &'a [Value]) -> Vec<Field<'a>> {
        array
            .iter()
            .enumerate()
            .map(|(i, value)| Field {
                value: Some(value),
                path: format!("{}[{i}]", self.path),
            })
            .collect()
    }

    /// The elements of a required array.
    pub(crate) fn items(&self) -> Result<Vec<Field<'a>>, AdaptError> {
        let array = self
            .required()?
            .as_array()
            .ok_or_else(|| self.invalid("must be an array"))?;
        Ok(self.elements(array))
    }

    /// The elements of an optional array; none when absent.
    pub(crate) fn opt_items(&self) -> Result<Vec<Field<'a>>, AdaptError> {
        if self.value().is_none() {
            return Ok(Vec::new());
        }
        self.items()
    }

    /// A required object, or each element of a required array of objects.
    pub(crate) fn one_or_many(&self) -> Result<Vec<Field<'a>>, AdaptError> {
        match self.required()? {
            Value::Array(array) => Ok(self.elements(array)),
            Value::Object(_) => Ok(vec![self.clone()]),
            _ => Err(self.invalid("must be an object or an array")),
        }
    }

    /// A required, non-blank string.
    pub(crate) fn str(&self) -> Result<&'a str, AdaptError> {
        self.opt_str()?.ok_or_else(|| self.missing())
    }

    /// An optional string; absent, null or blank is `None`.
    pub(crate) fn opt_str(&self) -> Result<Option<&'a str>, AdaptError> {
        match self.value() {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.invalid("must be a string")),
        }
    }

    /// A required id: a non-blank string, or an integer (some webhooks send
    /// numeric ids).
    pub(crate) fn id(&self) -> Result<String, AdaptError> {
        self.opt_id()?.ok_or_else(|| self.missing())
    }

    pub(crate) fn opt_id(&self) -> Result<Option<String>, AdaptError> {
        match self.value() {
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
            Some(Value::Number(_)) => Err(self.invalid("must be a string or an integer")),
            _ => Ok(self.opt_str()?.map(|s| s.trim().to_owned())),
        }
    }

    pub(crate) fn opt_u64(&self) -> Result<Option<u64>, AdaptError> {
        match self.value() {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.invalid("must be a non-negative integer")),
        }
    }

    pub(crate) fn opt_bool(&self) -> Result<Option<bool>, AdaptError> {
        match self.value() {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.invalid("must be true or false")),
        }
    }

    /// An optional time: an RFC 3339 string (also Graph API's `+0000` form),
    /// or a number of `epoch` units since 1970, also written as a string of
    /// digits (X's Account Activity and WhatsApp send them so).
    pub(crate) fn opt_time(&self, epoch: Epoch) -> Result<Option<DateTime<Utc>>, AdaptError> {
        let units = |n: i64| match epoch {
            Epoch::Seconds => DateTime::from_timestamp(n, 0),
            Epoch::Millis => DateTime::from_timestamp_millis(n),
            Epoch::SecondsOrMillis if n.unsigned_abs() >= 100_000_000_000 => {
                DateTime::from_timestamp_millis(n)
            }
            Epoch::SecondsOrMillis => DateTime::from_timestamp(n, 0),
        };
        let not_units = || {
            self.invalid(match epoch {
                Epoch::Seconds => "must be a Unix time in seconds",
                Epoch::Millis => "must be a Unix time in milliseconds",
                Epoch::SecondsOrMillis => "must be a Unix time in seconds or milliseconds",
            })
        };
        match self.value() {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) if s.trim().bytes().all(|b| b.is_ascii_digit()) => s
                .trim()
                .parse()
                .ok()
                .and_then(units)
                .map(Some)
                .ok_or_else(not_units),
            Some(Value::String(s)) => parse_time(s.trim())
                .map(Some)
                .ok_or_else(|| self.invalid("must be an RFC 3339 date-time")),
            Some(Value::Number(n)) => n.as_i64().and_then(units).map(Some).ok_or_else(not_units),
            Some(_) => Err(self.invalid("must be a date-time")),
        }
    }

    /// The keys of an object (none for anything else), sorted.
    pub(crate) fn keys(&self) -> Vec<&'a str> {
        self.value()
            .and_then(Value::as_object)
            .map(|map| map.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

pub(crate) fn ts(at: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    at.map(timestamp)
}

/// Meta webhooks are documented both as one object and as an array of them.
pub(crate) fn envelopes<'a>(root: &'a Value) -> Result<Vec<Field<'a>>, AdaptError> {
    let root = Field::root(root);
    match root.value() {
        Some(Value::Array(_)) => root.items(),
        Some(Value::Object(_)) => Ok(vec![root]),
        _ => Err(AdaptError::invalid(
            "payload",
            "must be a JSON object (or an array of them)",
        )),
    }
}

/// Joins non-blank lines with newlines.
pub(crate) fn join_lines<'s>(lines: impl IntoIterator<Item = &'s str>) -> String {
    lines
        .into_iter()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The root of a payload that must be one JSON object.
pub(crate) fn object_root(payload: &Value) -> Result<Field<'_>, AdaptError> {
    if !payload.is_object() {
        return Err(AdaptError::invalid("payload", "must be a JSON object"));
    }
    Ok(Field::root(payload))
}

/// The trimmed `language` of `root`; empty when absent.
pub(crate) fn language(root: &Field<'_>) -> Result<String, AdaptError> {
    Ok(root
        .get("language")
        .opt_str()?
        .unwrap_or_default()
        .trim()
        .to_owned())
}

/// A private mention adapted from the whole of `payload`, as chats and calls
/// are: never a share, never rated.
pub(crate) fn private_whole(payload: &Value, mention: MentionInput) -> Adapted {
    Adapted {
        path: String::new(),
        mention,
        raw: payload.clone(),
        rating: None,
        language_text: None,
    }
}

/// Helpers shared by the adapters' tests.
#[cfg(test)]
pub(crate) mod test_support {
    use earshot_proto::listening::v1::MentionInput;
    use serde_json::Value;

    use super::{AdaptError, Batch};

    /// A time as an adapter reads it, through the one conversion.
    pub(crate) fn at(seconds: i64, nanos: u32) -> Option<prost_types::Timestamp> {
        let at = chrono::DateTime::from_timestamp(seconds, nanos).expect("a valid time");
        Some(earshot_server::convert::timestamp(at))
    }

    pub(crate) fn parse(s: &str) -> Value {
        serde_json::from_str(s).expect("fixture is JSON")
    }

    pub(crate) fn errors(batch: &Batch) -> Vec<String> {
        batch.errors().map(ToString::to_string).collect()
    }

    /// The skipped items of `batch`: their paths and reasons.
    pub(crate) fn skipped(batch: &Batch) -> Vec<(&str, &str)> {
        batch
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect()
    }

    /// Asserts that `batch` holds no error and exactly one mention,
    /// `expected`, adapted from `raw`, and that it skipped items for
    /// `reasons`, in order.
    pub(crate) fn assert_one_message(
        batch: &Batch,
        expected: &MentionInput,
        raw: &Value,
        reasons: &[&str],
    ) {
        assert_eq!(errors(batch), Vec::<String>::new());
        assert_eq!(batch.items.len(), 1);
        let message = batch.items[0].as_ref().expect("message adapts");
        assert_eq!(&message.mention, expected);
        assert_eq!(&message.raw, raw);
        let skipped: Vec<&str> = batch.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(skipped, reasons);
    }

    /// The message of `result`'s error, if it failed.
    pub(crate) fn error_of<T>(result: Result<T, AdaptError>) -> Option<String> {
        result.map_err(|e| e.to_string()).err()
    }
}
