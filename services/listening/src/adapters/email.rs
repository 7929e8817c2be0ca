//! E-mail: one RFC 5322 message, parsed with `mail-parser` (folded and
//! encoded headers, quoted-printable and base64 bodies, charsets, MIME
//! multipart; `multipart/alternative` yields its `text/plain` part, or the
//! HTML part converted to text when there is none).
//!
//! * `source` is `email`, `external_id` is the `Message-ID` (without angle
//!   brackets). Private, channel EMAIL.
//! * `thread_key` is `email:` + the first id of `References`, else of
//!   `In-Reply-To`, else the message's own id: the root of the conversation.
//! * The author is `From`: `external_id` is the address (lower-cased),
//!   `display_name` the name.
//! * `text` is the `Subject` + `"\n"` + the plain-text body without the
//!   quoted history (lines starting with `>`, and the "On ... wrote:" line
//!   that introduces them) and without the signature (after a `-- ` line).
//! * `posted_at` is the `Date` header; a missing or unreadable date is left
//!   unset (ingestion then takes the time of receipt). `language` is the
//!   first `Content-Language` tag.
//! * `raw` is the whole message as a JSON string (lossy UTF-8).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};
use serde_json::Value;

use super::{AdaptError, Adapted, ts};

pub const SOURCE: &str = "email";

/// Adapts one RFC 5322 message; see the module docs.
pub fn adapt(message: &[u8]) -> Result<Adapted, AdaptError> {
    let parsed = MessageParser::default()
        .parse(message)
        .filter(|parsed| !parsed.headers().is_empty())
        .ok_or_else(|| AdaptError::invalid("message", "is not an RFC 5322 message"))?;

    let message_id = parsed
        .message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| AdaptError::missing("Message-ID"))?;
    let from = parsed
        .from()
        .and_then(|from| from.first())
        .ok_or_else(|| AdaptError::missing("From"))?;
    let address = from
        .address()
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| AdaptError::invalid("From", "has no address"))?;
    let display_name = from.name().map(str::trim).unwrap_or_default().to_owned();

    let subject = parsed.subject().map(str::trim).unwrap_or_default();
    let body = parsed
        .body_text(0)
        .map(|body| strip_history(&body))
        .unwrap_or_default();
    let text = match (subject.is_empty(), body.is_empty()) {
        (false, false) => format!("{subject}\n{body}"),
        (false, true) => subject.to_owned(),
        (true, false) => body,
        (true, true) => return Err(AdaptError::missing("body")),
    };

    let root = first_id(parsed.references())
        .or_else(|| first_id(parsed.in_reply_to()))
        .unwrap_or_else(|| message_id.clone());

    Ok(Adapted {
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: message_id,
            channel: Channel::Email as i32,
            public: false,
            author: Some(Author {
                external_id: address,
                display_name,
                ..Author::default()
            }),
            text,
            language: language(&parsed),
            thread_key: format!("email:{root}"),
            posted_at: ts(date(&parsed)),
            share: false,
        },
        raw: Value::String(String::from_utf8_lossy(message).into_owned()),
        rating: None,
    })
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// The first message id of `References` or `In-Reply-To`.
fn first_id(value: &HeaderValue<'_>) -> Option<String> {
    let first: Option<&Cow<'_, str>> = match value {
        HeaderValue::Text(id) => Some(id),
        HeaderValue::TextList(ids) => ids.first(),
        _ => None,
    };
    first.map(|id| clean_id(id)).filter(|id| !id.is_empty())
}

fn date(parsed: &Message<'_>) -> Option<DateTime<Utc>> {
    if let Some(date) = parsed.date().filter(|date| date.is_valid()) {
        return DateTime::from_timestamp(date.to_timestamp(), 0);
    }
    // mail-parser is lenient already; chrono gets a second look at odd forms.
    parsed
        .header_raw(HeaderName::Date)
        .and_then(|raw| DateTime::parse_from_rfc2822(raw.trim()).ok())
        .map(|at| at.with_timezone(&Utc))
}

fn language(parsed: &Message<'_>) -> String {
    let tag = match parsed.header(HeaderName::ContentLanguage) {
        Some(HeaderValue::Text(tag)) => Some(tag.as_ref()),
        Some(HeaderValue::TextList(tags)) => tags.first().map(AsRef::as_ref),
        _ => None,
    };
    tag.and_then(|tag| tag.split(',').next())
        .map(|tag| tag.trim().to_owned())
        .unwrap_or_default()
}

/// The body without quoted history and signature.
fn strip_history(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let is_quote = |line: &str| line.trim_start().starts_with('>');
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line == "-- " || *line == "--" {
            break;
        }
        if is_quote(line) {
            continue;
        }
        let introduces_quote = line.trim_end().ends_with("wrote:")
            && lines[i + 1..]
                .iter()
                .find(|next| !next.trim().is_empty())
                .is_some_and(|next| is_quote(next));
        if introduces_quote {
            continue;
        }
        kept.push(line.trim_end());
    }
    // Collapse the blank runs the removals leave behind.
    let mut text = String::new();
    let mut blank = false;
    for line in kept {
        if line.trim().is_empty() {
            blank = !text.is_empty();
            continue;
        }
        if blank {
            text.push('\n');
            blank = false;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::test_support::at;

    const PLAIN_QP: &str = include_str!("../../tests/fixtures/adapters/email_plain_qp.eml");
    const ALTERNATIVE: &str =
        include_str!("../../tests/fixtures/adapters/email_multipart_alternative.eml");

    #[test]
    fn plain_quoted_printable_reply_maps_exactly() {
        let email = adapt(PLAIN_QP.as_bytes()).expect("adapts");
        assert_eq!(
            email.mention,
            MentionInput {
                source: "email".to_owned(),
                external_id: "CAF3x9pQ2+refund.4411@mail.example.com".to_owned(),
                channel: Channel::Email as i32,
                public: false,
                author: Some(Author {
                    external_id: "jose.garcia@example.com".to_owned(),
                    display_name: "José García".to_owned(),
                    ..Author::default()
                }),
                text: "Re: Refund for order #4411 – still waiting\n\
                       Hello,\n\n\
                       It has been three weeks since you promised a refund for order #4411 and I still haven't received it. Could you tell me when it will arrive?\n\n\
                       Thanks,\nJosé"
                    .to_owned(),
                language: "en".to_owned(),
                thread_key: "email:original.4411@support.acme.example".to_owned(),
                posted_at: at(1_727_348_530, 0),
                share: false,
            }
        );
        assert_eq!(email.raw, Value::String(PLAIN_QP.to_owned()));
        assert!(!email.mention.share);
    }

    #[test]
    fn multipart_alternative_picks_text_plain() {
        let email = adapt(ALTERNATIVE.as_bytes()).expect("adapts");
        assert_eq!(
            email.mention.external_id,
            "20240926.1842.77@shop.example.org"
        );
        assert_eq!(
            email.mention.text,
            "Wrong size delivered\nI ordered a medium jacket and received a small one. How do I exchange it?"
        );
        assert_eq!(
            email.mention.author,
            Some(Author {
                external_id: "priya@example.org".to_owned(),
                display_name: "Priya N".to_owned(),
                ..Author::default()
            })
        );
        // No References: In-Reply-To is the thread root.
        assert_eq!(email.mention.thread_key, "email:welcome.991@acme.example");
        // Date: Thu, 26 Sep 2024 18:42:10 -0400
        assert_eq!(
            email.mention.posted_at.map(|t| t.seconds),
            Some(1_727_390_530)
        );
        assert_eq!(email.mention.language, "");
    }

    #[test]
    fn new_conversation_threads_on_its_own_id() {
        let raw = "From: a@example.com\r\nMessage-ID: <first@x.example>\r\nSubject: Hi\r\n\r\nHello there\r\n";
        let email = adapt(raw.as_bytes()).expect("adapts");
        assert_eq!(email.mention.thread_key, "email:first@x.example");
        assert_eq!(email.mention.text, "Hi\nHello there");
        assert_eq!(email.mention.posted_at, None);
    }

    #[test]
    fn bad_messages_name_the_header() {
        let error = |raw: &str| adapt(raw.as_bytes()).map_err(|e| e.to_string()).err();
        assert_eq!(
            error("From: a@example.com\r\nSubject: Hi\r\n\r\nHello\r\n").as_deref(),
            Some("Message-ID: missing")
        );
        assert_eq!(
            error("Message-ID: <1@x>\r\nSubject: Hi\r\n\r\nHello\r\n").as_deref(),
            Some("From: missing")
        );
        assert_eq!(
            error("From: a@example.com\r\nMessage-ID: <1@x>\r\n\r\n> only quoted\r\n").as_deref(),
            Some("body: missing")
        );
        assert_eq!(
            error("").as_deref(),
            Some("message: is not an RFC 5322 message")
        );
    }

    #[test]
    fn strips_history_and_signature() {
        let body = "Thanks, that worked.\n\nOn Tue, 24 Sep 2024, Acme <help@acme.example> wrote:\n> Have you tried\n> turning it off?\n\n-- \nSent from my phone";
        assert_eq!(strip_history(body), "Thanks, that worked.");
        assert_eq!(strip_history("a\n\n\nb\n"), "a\n\nb");
    }
}
