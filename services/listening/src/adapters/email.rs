//! E-mail: one RFC 5322 message, parsed with `mail-parser` (folded and
//! encoded headers, quoted-printable and base64 bodies, charsets, MIME
//! multipart; `multipart/alternative` yields its `text/plain` part, or the
//! HTML part converted to text when there is none).
//!
//! * `source` is `email`, `external_id` is the `Message-ID` (without angle
//!   brackets). Private, channel EMAIL. A message without one (mailing-list
//!   replies, some relays) gets a derived id, `derived-` + the first 128 bits
//!   of a SHA-256 of its From address, Date, Subject and body, in hex: the
//!   same message sent again is a duplicate (two messages alike in all four
//!   are one).
//! * `thread_key` is `email:` + the first id of `References`, else of
//!   `In-Reply-To`, else the message's own id: the root of the conversation.
//! * The author is `From`: `external_id` is the address (lower-cased),
//!   `display_name` the name.
//! * `text` is the `Subject` + `"\n"` + the plain-text body without the
//!   quoted history (lines starting with `>`, the line that introduces them,
//!   "On ... wrote:" in any language, "Le ... a écrit :"; everything after an
//!   Outlook "-----Original Message-----" line or a `____` line over quoted
//!   headers) and without the signature (after a `-- ` line).
//! * `posted_at` is the `Date` header; a missing or unreadable date is left
//!   unset (ingestion then takes the time of receipt). `language` is the
//!   first `Content-Language` tag. Without one, the language is detected on
//!   the author's new words only: for a reply (`In-Reply-To`, `References`
//!   or a `Re:`-like subject) the subject is the quoted conversation's, so
//!   detection reads the body alone ([`Adapted::language_text`]).
//! * `raw` is the whole message as a JSON string (lossy UTF-8).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AdaptError, Adapted, ts};

pub const SOURCE: &str = "email";

/// Adapts one RFC 5322 message; see the module docs.
pub fn adapt(message: &[u8]) -> Result<Adapted, AdaptError> {
    let parsed = MessageParser::default()
        .parse(message)
        .filter(|parsed| !parsed.headers().is_empty())
        .ok_or_else(|| AdaptError::invalid("message", "is not an RFC 5322 message"))?;

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
    let full_body = parsed.body_text(0).unwrap_or_default();
    let body = strip_history(&full_body);
    let message_id = match parsed
        .message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty())
    {
        Some(id) => id,
        None => derived_id(
            &address,
            parsed.header_raw(HeaderName::Date).unwrap_or_default(),
            subject,
            &full_body,
        ),
    };
    // The root of the conversation this message answers, if it answers one.
    let replied_to = first_id(parsed.references()).or_else(|| first_id(parsed.in_reply_to()));
    let language_text = (!body.is_empty() && (replied_to.is_some() || is_reply_subject(subject)))
        .then(|| body.clone());
    let text = match (subject.is_empty(), body.is_empty()) {
        (false, false) => format!("{subject}\n{body}"),
        (false, true) => subject.to_owned(),
        (true, false) => body,
        (true, true) => return Err(AdaptError::missing("body")),
    };

    let root = replied_to.unwrap_or_else(|| message_id.clone());

    Ok(Adapted {
        path: String::new(),
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
        language_text,
    })
}

/// The id of a message that has no `Message-ID`: a hash of what makes it
/// that message, so that it is the same each time the message is sent. Each
/// part is length-prefixed, so that no two splits of the same bytes agree;
/// the body's line endings are normalised (relays change them).
fn derived_id(address: &str, date: &str, subject: &str, body: &str) -> String {
    let body = body
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n");
    // A relay may refold the Date header (CRLF or LF, other white space).
    let date = date.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut hash = Sha256::new();
    for part in [address, date.as_str(), subject, body.trim()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("derived-{hex}")
}

/// Whether a subject is a reply's or a forward's ("Re:", "AW:", "Fwd:", ...,
/// in the languages mail clients write them), and so not the author's words.
fn is_reply_subject(subject: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "re", "aw", "sv", "vs", "antw", "odp", "fwd", "fw", "tr", "wg", "rv", "enc", "r",
    ];
    subject.split_once(':').is_some_and(|(prefix, _)| {
        let prefix = prefix.trim().to_lowercase();
        // "Re[2]:" and "RE :" are replies too.
        let prefix = prefix.split('[').next().unwrap_or_default().trim();
        PREFIXES.contains(&prefix)
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
    let next_text = |i: usize| {
        lines[i + 1..]
            .iter()
            .find(|next| !next.trim().is_empty())
            .copied()
    };
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Outlook's "-----Original Message-----" heads the quoted headers;
        // a dashed line before anything else ("----- Order -----") is text.
        if *line == "-- "
            || *line == "--"
            || (is_original_message(line) && next_text(i).is_some_and(is_header_line))
        {
            break;
        }
        // Outlook's reply separator: a rule over the quoted headers.
        let trimmed = line.trim();
        if trimmed.len() >= 8
            && trimmed.bytes().all(|b| b == b'_')
            && next_text(i).is_some_and(is_header_line)
        {
            break;
        }
        if is_quote(line) {
            continue;
        }
        // "On ... wrote:", "Le ... a écrit :", "Am ... schrieb ...:": in
        // every language, the line that ends with a colon before a quote.
        if trimmed.ends_with(':') && next_text(i).is_some_and(is_quote) {
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

/// Outlook's "-----Original Message-----" (or "-----Message d'origine-----",
/// "-----Ursprüngliche Nachricht-----", ...): everything after it is quoted.
fn is_original_message(line: &str) -> bool {
    let line = line.trim();
    line.len() > 10
        && line.starts_with("-----")
        && line.ends_with("-----")
        && line.trim_matches('-').chars().any(char::is_alphabetic)
}

/// A quoted header line, "From: ..." or "De : ...".
fn is_header_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(name, _)| {
        let name = name.trim();
        !name.is_empty() && name.len() <= 20 && name.chars().all(char::is_alphabetic)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::test_support::at;

    const PLAIN_QP: &str = include_str!("../../tests/fixtures/adapters/email_plain_qp.eml");
    const ALTERNATIVE: &str =
        include_str!("../../tests/fixtures/adapters/email_multipart_alternative.eml");
    const NO_MESSAGE_ID: &str =
        include_str!("../../tests/fixtures/adapters/email_list_reply_no_message_id.eml");
    const QUOTING_FRENCH: &str =
        include_str!("../../tests/fixtures/adapters/email_reply_quoting_french.eml");

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
    fn a_message_without_message_id_gets_a_stable_derived_id() {
        let email = adapt(NO_MESSAGE_ID.as_bytes()).expect("adapts");
        let id = email.mention.external_id.clone();
        assert!(
            id.starts_with("derived-") && id.len() == "derived-".len() + 32,
            "{id}"
        );
        // No References: In-Reply-To is the thread root.
        assert_eq!(
            email.mention.thread_key,
            "email:list.4411.1@lists.acme.example"
        );
        // The same message relayed again (other Received lines, CRLF line ends).
        let relayed = format!(
            "Received: from relay2.example.net\r\n{}",
            NO_MESSAGE_ID.replace('\n', "\r\n")
        );
        let again = adapt(relayed.as_bytes()).expect("adapts");
        assert_eq!(again.mention.external_id, id);
        // A refolded Date header is the same date.
        assert_eq!(
            derived_id("a@x", "Mon, 23 Sep 2024\r\n 09:15:00 +0000", "s", "b"),
            derived_id("a@x", "Mon, 23 Sep 2024 09:15:00 +0000", "s", "b")
        );
        // Another body is another message.
        let other = NO_MESSAGE_ID.replace("Still no refund", "Refund received");
        let other = adapt(other.as_bytes()).expect("adapts");
        assert_ne!(other.mention.external_id, id);
        assert_ne!(
            derived_id("a@x", "d", "s", "b"),
            derived_id("a@x", "d", "sb", "")
        );
    }

    #[test]
    fn a_replys_language_is_read_from_its_new_words_only() {
        let email = adapt(QUOTING_FRENCH.as_bytes()).expect("adapts");
        assert_eq!(
            email.mention.text,
            "Re: Votre commande n°4411 a été expédiée\nIt still has not arrived. Where is my parcel?"
        );
        assert_eq!(email.mention.language, "");
        assert_eq!(
            email.language_text.as_deref(),
            Some("It still has not arrived. Where is my parcel?")
        );
        // The pipeline's own detector, on the new words and on the whole text.
        let detect = |text: &str| crate::pipeline::normalise::normalise(text, "").language;
        assert_eq!(
            detect(email.language_text.as_deref().unwrap_or_default()),
            "en"
        );
        // What was heard before the attribution line was stripped: French.
        let attribution =
            "Le lun. 23 sept. 2024 à 09:15, Service client Acme <service@acme.example> a écrit :";
        assert_eq!(
            detect(&format!("{}\n\n{attribution}", email.mention.text)),
            "fr"
        );
        // A new conversation's subject is the author's own: all of the text.
        let new =
            "From: a@example.com\r\nMessage-ID: <n@x>\r\nSubject: Parcel\r\n\r\nWhere is it?\r\n";
        assert_eq!(adapt(new.as_bytes()).map(|e| e.language_text), Ok(None));
        assert!(is_reply_subject("RE : commande"));
        assert!(is_reply_subject("AW: Bestellung"));
        assert!(is_reply_subject("Re[2]: order"));
        assert!(!is_reply_subject("Order 4411: missing"));
    }

    #[test]
    fn strips_quotes_in_other_languages_and_outlooks() {
        let french = "Toujours rien.\n\nLe lun. 23 sept. 2024 à 09:15, Acme <a@acme.example> a écrit :\n> Bonjour";
        assert_eq!(strip_history(french), "Toujours rien.");
        let outlook = "Any news?\n\n-----Original Message-----\nFrom: Acme\nSent: Monday\n\nYour order shipped.";
        assert_eq!(strip_history(outlook), "Any news?");
        let rule = "Any news?\n\n________________________________\nDe : Acme <a@acme.example>\nEnvoyé : lundi\nVotre commande";
        assert_eq!(strip_history(rule), "Any news?");
        // A customer's own rule, or a colon before their own words, stays.
        let own = "Steps:\n1. order\n________\nthanks";
        assert_eq!(strip_history(own), own);
        let order = "My order:\n----- Order details -----\nOrder 4411, paid twice";
        assert_eq!(strip_history(order), order);
    }

    #[test]
    fn strips_history_and_signature() {
        let body = "Thanks, that worked.\n\nOn Tue, 24 Sep 2024, Acme <help@acme.example> wrote:\n> Have you tried\n> turning it off?\n\n-- \nSent from my phone";
        assert_eq!(strip_history(body), "Thanks, that worked.");
        assert_eq!(strip_history("a\n\n\nb\n"), "a\n\nb");
    }
}
