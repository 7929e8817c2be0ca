//! What Meta's networks share: Facebook, Instagram and WhatsApp webhooks
//! come in one envelope (`object`, `entry[]` with `changes[]`, and for
//! Facebook and Instagram `messaging[]`), and Messenger and Instagram Direct
//! messages have one shape. Each network's module adapts its own
//! `changes[]`; `each_entry` and `adapt_entries` do the rest.
//!
//! A webhook verification request forwarded as JSON (`hub.mode`,
//! `hub.challenge`, `hub.verify_token`) is skipped as a whole: it is
//! answered with its challenge, not heard.

pub mod facebook;
pub mod instagram;
pub mod whatsapp;

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Batch, Epoch, Field, Outcome, WHOLE_PAYLOAD, envelopes, ts};

/// Adapts one entry's change: the change, its entry, and the id of the page
/// (or Instagram account, or group) the entry is for.
pub(crate) type ChangeFn = fn(&Field<'_>, &Field<'_>, Option<&str>) -> Result<Outcome, AdaptError>;

/// Calls `each` with every entry (and its id) of every envelope of a Meta
/// webhook, once the envelope's `object` is one of `objects`. An entry that
/// is not an object fails alone.
pub(crate) fn each_entry(
    payload: &Value,
    objects: &[&str],
    mut each: impl FnMut(&mut Batch, &Field<'_>, Option<&str>),
) -> Result<Batch, AdaptError> {
    let mut batch = Batch::default();
    for envelope in envelopes(payload)? {
        if is_verification(&envelope) {
            let path = match envelope.path() {
                "" => WHOLE_PAYLOAD,
                path => path,
            };
            batch.skip(
                path,
                "a webhook verification request (hub.challenge): answer it with the challenge; nothing to hear",
            );
            continue;
        }
        expect_object(&envelope, objects)?;
        for entry in envelope.get("entry").items()? {
            match entry_page_id(&entry) {
                Ok(page_id) => each(&mut batch, &entry, page_id.as_deref()),
                Err(error) => batch.items.push(Err(error)),
            }
        }
    }
    Ok(batch)
}

/// Adapts a Meta webhook for `network`: checks each envelope's `object`,
/// then adapts each entry's `changes[]` with `change` and its `messaging[]`
/// as Messenger-shaped messages.
pub(crate) fn adapt_entries(
    payload: &Value,
    network: Network,
    change: ChangeFn,
) -> Result<Batch, AdaptError> {
    each_entry(payload, network.objects(), |batch, entry, page_id| {
        match entry.get("changes").opt_items() {
            Ok(changes) => {
                for item in changes {
                    let outcome = change(&item, entry, page_id);
                    batch.push(item.path(), outcome);
                }
            }
            Err(error) => batch.items.push(Err(error)),
        }
        messaging_events(batch, entry, page_id, network);
    })
}

/// Whether the envelope is Meta's subscription check (a GET's query,
/// relayed as JSON; some frameworks turn the dots into underscores).
fn is_verification(envelope: &Field<'_>) -> bool {
    ["hub.challenge", "hub_challenge"]
        .iter()
        .any(|key| envelope.get(key).value().is_some())
        || envelope.get("hub").get("challenge").value().is_some()
}

/// `at` (Unix seconds or RFC 3339) when present, else the entry's `time`,
/// which Meta sends in seconds or in milliseconds (`changes[]` and
/// `messaging[]` alike), so read by its size.
pub(crate) fn time_or_entry(
    at: &Field<'_>,
    entry: &Field<'_>,
) -> Result<Option<DateTime<Utc>>, AdaptError> {
    match at.opt_time(Epoch::Seconds)? {
        Some(at) => Ok(Some(at)),
        None => entry.get("time").opt_time(Epoch::SecondsOrMillis),
    }
}

/// Fails unless the webhook's `object` is one of `expected`.
fn expect_object(envelope: &Field<'_>, expected: &[&str]) -> Result<(), AdaptError> {
    let object = envelope.get("object");
    let found = object.str()?;
    if expected.contains(&found) {
        return Ok(());
    }
    let expected = expected
        .iter()
        .map(|e| format!("{e:?}"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(object.invalid(format!("is {found:?}, expected {expected}")))
}

/// The page (or Instagram account) the entry is for.
fn entry_page_id(entry: &Field<'_>) -> Result<Option<String>, AdaptError> {
    entry.object()?;
    entry.get("id").opt_id()
}

/// Where a messaging event came from: Messenger and Instagram Direct share
/// one shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Network {
    Facebook,
    Instagram,
}

impl Network {
    /// The webhooks' `object`s for this network: Facebook sends Pages'
    /// webhooks and groups' (Workplace's Graph API).
    fn objects(self) -> &'static [&'static str] {
        match self {
            Self::Facebook => &["page", "group"],
            Self::Instagram => &["instagram"],
        }
    }

    /// The source name of this network's mentions.
    pub(crate) const fn source(self) -> &'static str {
        match self {
            Self::Facebook => "facebook",
            Self::Instagram => "instagram",
        }
    }

    fn channel(self) -> Channel {
        match self {
            Self::Facebook => Channel::Facebook,
            Self::Instagram => Channel::Instagram,
        }
    }
}

/// Adapts the entry's `messaging[]` events into `batch`.
fn messaging_events(batch: &mut Batch, entry: &Field<'_>, page_id: Option<&str>, network: Network) {
    match entry.get("messaging").opt_items() {
        Ok(events) => {
            for event in events {
                // Facebook delivers comments in the Page's groups (the Page
                // topic's `group_feed` field) among the messaging events,
                // though they are feed items, not messages.
                let outcome = if network == Network::Facebook && facebook::is_group_feed(&event) {
                    facebook::group_feed_event(&event, entry, page_id)
                } else {
                    message(&event, network)
                };
                batch.push(event.path(), outcome);
            }
        }
        Err(error) => batch.items.push(Err(error)),
    }
}

fn message(event: &Field<'_>, network: Network) -> Result<Outcome, AdaptError> {
    let fields = event.object()?;
    let message = event.get("message");
    if message.value().is_none() {
        let kind = fields
            .keys()
            .find(|key| !matches!(key.as_str(), "sender" | "recipient" | "timestamp"))
            .map_or("empty", String::as_str);
        return Ok(Outcome::skip(format!("{kind} event, not a message")));
    }
    message.object()?;
    if message.get("is_echo").opt_bool()? == Some(true) {
        return Ok(Outcome::skip("echo of the page's own message"));
    }
    if message.get("is_deleted").opt_bool()? == Some(true) {
        return Ok(Outcome::skip("message deleted by its sender"));
    }
    let mid = message.get("mid").id()?;
    let sender = event.get("sender").get("id").id()?;
    let recipient = event.get("recipient").get("id").opt_id()?;
    // A photo, sticker or file alone carries no words to hear.
    let Some(text) = message
        .get("text")
        .opt_str()?
        .filter(|t| !t.trim().is_empty())
    else {
        return Ok(Outcome::skip(
            "a message without text (attachments only): no words to hear",
        ));
    };
    let posted_at = event.get("timestamp").opt_time(Epoch::Millis)?;
    let prefix = network.source();
    let thread_key = match recipient {
        Some(recipient) => format!("{prefix}:dm:{recipient}:{sender}"),
        None => format!("{prefix}:dm:{sender}"),
    };

    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: network.source().to_owned(),
            external_id: mid,
            channel: network.channel() as i32,
            public: false,
            author: Some(Author {
                external_id: sender,
                ..Author::default()
            }),
            text: text.trim().to_owned(),
            language: String::new(),
            thread_key,
            posted_at: ts(posted_at),
            share: false,
        },
        raw: event.raw(),
        rating: None,
        language_text: None,
    }))
}
