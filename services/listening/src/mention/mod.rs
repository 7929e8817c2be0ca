//! The mention model: what a source's item becomes once it is checked
//! ([`ValidMention`]) and once the pipeline has been through it
//! ([`NewMention`]), and how a mention is matched against rules. Its
//! [`store`] keeps mentions in the `listening` schema.

pub mod partitions;
pub mod store;

use chrono::{DateTime, Utc};
use earshot_proto::codec::nul_field;
use earshot_proto::common::v1::{Author, Channel, Classification, RuleMatch};
use earshot_proto::listening::v1::{Entities, MentionInput};
use earshot_server::convert::from_timestamp;
use earshot_server::error::FieldViolation;
use prost::Message;
use uuid::Uuid;

use crate::pipeline::noise::Dropped;
use crate::query::{Document, DocumentMeta};

/// Longest `text`, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest `external_id`, `thread_key`, `author.external_id` and
/// `author.handle`, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest `author.display_name`, in bytes.
pub const MAX_NAME_BYTES: usize = 512;

/// A mention that passed validation, before the pipeline looked at it.
#[derive(Debug, Clone)]
pub struct ValidMention {
    pub source: String,
    pub external_id: String,
    pub channel: Channel,
    pub public: bool,
    pub author: Author,
    pub text: String,
    pub language: String,
    pub thread_key: String,
    pub posted_at: DateTime<Utc>,
    pub share: bool,
}

/// A mention through the whole pipeline (normalised, judged for noise,
/// classified, matched against the tenant's rules), ready to store.
#[derive(Debug, Clone)]
pub struct NewMention {
    pub id: Uuid,
    pub source: String,
    pub external_id: String,
    pub channel: Channel,
    pub public: bool,
    pub author: Author,
    /// NFC-normalised.
    pub text: String,
    pub language: String,
    pub language_detected: bool,
    pub thread_key: String,
    pub posted_at: DateTime<Utc>,
    pub share: bool,
    pub classification: Classification,
    pub entities: Entities,
    pub matched_rules: Vec<RuleMatch>,
    /// Set when the mention is noise: stored and listable, but not announced.
    pub dropped: Option<Dropped>,
    /// The source's own item as JSON, when it came through an adapter.
    pub raw: Option<String>,
}

fn violation(index: usize, field: &str, description: &str) -> FieldViolation {
    FieldViolation {
        field: format!("mentions[{index}].{field}"),
        description: description.to_owned(),
    }
}

/// How far ahead of our clock a source's `posted_at` may be.
pub const MAX_CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// What a caller is told about a NUL in a text field.
pub const NUL: &str = "must not contain NUL (U+0000) characters";

/// The path of the first string of `input` holding a NUL. PostgreSQL refuses
/// NUL in text, so one would fail the whole batch's insert; the codec leaves
/// ingest requests to be checked item by item, here. Strings are encoded
/// verbatim, so an item whose encoding has no zero byte (nearly all) holds
/// no NUL and skips the walk over its fields.
fn nul_in(input: &MentionInput) -> Option<String> {
    if !input.encode_to_vec().contains(&0) {
        return None;
    }
    nul_field(input)
}

/// Checks one item of a batch; the error names the field at fault.
pub fn validate(
    index: usize,
    input: MentionInput,
    now: DateTime<Utc>,
) -> Result<ValidMention, FieldViolation> {
    if let Some(field) = nul_in(&input) {
        return Err(violation(index, &field, NUL));
    }
    let source = input.source.trim();
    if source.is_empty() {
        return Err(violation(index, "source", "is required"));
    }
    if source.len() > 64
        || !source
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(violation(
            index,
            "source",
            "must be 1-64 of a-z, 0-9, '-', '_', '.'",
        ));
    }
    let external_id = input.external_id.trim();
    if external_id.is_empty() {
        return Err(violation(index, "external_id", "is required"));
    }
    if external_id.len() > MAX_ID_BYTES {
        return Err(violation(index, "external_id", "must be at most 256 bytes"));
    }
    let channel = match Channel::try_from(input.channel) {
        Ok(Channel::Unspecified) | Err(_) => {
            return Err(violation(index, "channel", "must be a known channel"));
        }
        Ok(channel) => channel,
    };
    let Some(author) = input.author else {
        return Err(violation(index, "author", "is required"));
    };
    if author.external_id.trim().is_empty() && author.handle.trim().is_empty() {
        return Err(violation(
            index,
            "author.external_id",
            "or author.handle is required",
        ));
    }
    for (field, value) in [
        ("author.external_id", &author.external_id),
        ("author.handle", &author.handle),
    ] {
        if value.len() > MAX_ID_BYTES {
            return Err(violation(index, field, "must be at most 256 bytes"));
        }
    }
    if author.display_name.len() > MAX_NAME_BYTES {
        return Err(violation(
            index,
            "author.display_name",
            "must be at most 512 bytes",
        ));
    }
    let text = input.text.trim();
    if text.is_empty() {
        return Err(violation(index, "text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(violation(index, "text", "must be at most 20000 characters"));
    }
    if input.language.len() > 35 {
        return Err(violation(index, "language", "must be a BCP 47 tag"));
    }
    if input.thread_key.len() > MAX_ID_BYTES {
        return Err(violation(index, "thread_key", "must be at most 256 bytes"));
    }
    let posted_at = match &input.posted_at {
        None => now,
        Some(ts) => from_timestamp(ts, "posted_at").map_err(|_| {
            violation(
                index,
                "posted_at",
                "must be a valid time from 1970-01-01 to 9999-12-31",
            )
        })?,
    };
    // A mention from the future would be the newest thing in its tenant's
    // duplicate window and push everything real out of it; a day covers any
    // source's clock skew.
    if posted_at > now + MAX_CLOCK_SKEW {
        return Err(violation(
            index,
            "posted_at",
            "must not be more than a day after the time it is received",
        ));
    }
    Ok(ValidMention {
        source: source.to_owned(),
        external_id: external_id.to_owned(),
        channel,
        public: input.public,
        author,
        text: text.to_owned(),
        language: input.language.trim().to_owned(),
        thread_key: input.thread_key.trim().to_owned(),
        posted_at,
        share: input.share,
    })
}

/// How the noise window tells mentions and their authors apart.
pub struct NoiseKeys {
    /// Source and external id: the mention itself.
    pub identity: String,
    /// Source and the author's id (its handle when the source gives no id):
    /// who wrote it, across handle changes.
    pub author_key: String,
    /// Lowercase, without `@`.
    pub author_handle: String,
}

impl NoiseKeys {
    /// The keys of a mention as sent, or as stored: the same either way, so
    /// a window rebuilt from stored mentions knows them as judging did.
    pub fn of(source: &str, external_id: &str, author: &Author) -> Self {
        let author_handle = author.handle.trim_start_matches('@').to_lowercase();
        let author_id = if author.external_id.is_empty() {
            &author_handle
        } else {
            &author.external_id
        };
        Self {
            identity: format!("{source}:{external_id}"),
            author_key: format!("{source}:{author_id}"),
            author_handle,
        }
    }
}

/// The matching input of a mention. `@handle` in a rule also matches the
/// author, so that a rule can follow a person as well as what is said to them.
pub fn rebuild_document(
    document: &mut Document,
    text: &str,
    language: &str,
    source: &str,
    author: &Author,
) {
    let handle = author.handle.trim_start_matches('@');
    let handles = [handle];
    document.rebuild(
        text,
        &DocumentMeta {
            lang: language,
            source,
            followers: author.followers,
            verified: author.verified,
            hashtags: &[],
            handles: if handle.is_empty() { &[] } else { &handles },
        },
    );
}

/// A valid item as X sends it, for the tests of this module and of ingest.
#[cfg(test)]
pub(crate) fn valid() -> MentionInput {
    MentionInput {
        source: "x".into(),
        external_id: "1460323737035677698".into(),
        channel: Channel::X as i32,
        public: true,
        author: Some(Author {
            external_id: "2244994945".into(),
            handle: "jane".into(),
            ..Default::default()
        }),
        text: "My card hasn't arrived yet, can you help?".into(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_mention_keeps_its_fields() {
        let m = validate(0, valid(), Utc::now()).expect("valid");
        assert_eq!(m.source, "x");
        assert_eq!(m.text, "My card hasn't arrived yet, can you help?");
    }

    #[test]
    fn each_bad_field_is_named_with_its_index() {
        type Mutation = fn(&mut MentionInput);
        let cases: Vec<(Mutation, &str)> = vec![
            (|m| m.source.clear(), "mentions[3].source"),
            (|m| m.source = "X Corp".into(), "mentions[3].source"),
            (|m| m.external_id = " ".into(), "mentions[3].external_id"),
            (|m| m.channel = 0, "mentions[3].channel"),
            (|m| m.channel = 99, "mentions[3].channel"),
            (|m| m.author = None, "mentions[3].author"),
            (
                |m| m.author = Some(Author::default()),
                "mentions[3].author.external_id",
            ),
            (|m| m.text = "   ".into(), "mentions[3].text"),
            (|m| m.text = "a\u{0}b".into(), "mentions[3].text"),
            (
                |m| {
                    if let Some(a) = m.author.as_mut() {
                        a.handle = "h".repeat(MAX_ID_BYTES + 1);
                    }
                },
                "mentions[3].author.handle",
            ),
            (
                |m| m.external_id = "1\u{0}".into(),
                "mentions[3].external_id",
            ),
            (
                |m| m.thread_key = "x:\u{0}".into(),
                "mentions[3].thread_key",
            ),
            (|m| m.language = "e\u{0}n".into(), "mentions[3].language"),
            (
                |m| {
                    if let Some(a) = m.author.as_mut() {
                        a.handle = "ja\u{0}ne".into();
                    }
                },
                "mentions[3].author.handle",
            ),
            (
                |m| {
                    if let Some(a) = m.author.as_mut() {
                        a.display_name = "\u{0}".into();
                    }
                },
                "mentions[3].author.display_name",
            ),
            (
                // Built by hand: the one conversion never makes an invalid time.
                |m| {
                    m.posted_at = Some(prost_types::Timestamp {
                        seconds: 1,
                        nanos: -5,
                    })
                },
                "mentions[3].posted_at",
            ),
            (
                // Year 9000: inside the time range, but no source posts from the future.
                |m| {
                    m.posted_at = Some(earshot_server::convert::timestamp(
                        chrono::DateTime::from_timestamp(221_845_392_000, 0).expect("year 9000"),
                    ))
                },
                "mentions[3].posted_at",
            ),
        ];
        for (mutate, field) in cases {
            let mut input = valid();
            mutate(&mut input);
            let err = validate(3, input, Utc::now()).expect_err(field);
            assert_eq!(err.field, field);
        }
    }
}
