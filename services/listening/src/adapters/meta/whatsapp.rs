//! WhatsApp Cloud API webhooks (`object: "whatsapp_business_account"`), as
//! Meta sends them: `entry[].changes[]` with `field: "messages"` and a
//! `value` holding `messaging_product`, `metadata` (the business number:
//! `display_phone_number`, `phone_number_id`), `contacts[]` (`wa_id`,
//! `profile.name`), and `messages[]` or `statuses[]`.
//!
//! * Each of `messages[]` with words is a mention. Private, channel
//!   WHATSAPP, source `whatsapp`. `external_id` is the message `id`
//!   (`wamid...`); the author is `from` (the customer's WhatsApp id, their
//!   number) with the name of their `contacts[]` profile; `posted_at` is
//!   `timestamp` (Unix seconds, as a string); `thread_key` is `whatsapp:` +
//!   `phone_number_id` + `:` + `from`: one conversation per customer and
//!   business number.
//! * The words are `text.body` (`type: "text"`), the `caption` of an image,
//!   video or document, the `text` of a quick-reply `button`, the `title` of
//!   an `interactive` button or list reply, or an `order`'s `text`.
//! * Skipped, with the reason: messages with no words (stickers, reactions,
//!   audio, locations, contact cards, media without a caption, unsupported
//!   types, system notices), `statuses[]` (sent, delivered, read, failed:
//!   receipts of the business's own messages), errors WhatsApp reports in
//!   `value.errors[]`, and other fields.
//!
//! `raw` is the message object.

use std::collections::HashMap;

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::each_entry;
use crate::adapters::{AdaptError, Adapted, Batch, Epoch, Field, Outcome, ts};

pub const SOURCE: &str = "whatsapp";

const OBJECT: &str = "whatsapp_business_account";

/// Adapts a WhatsApp Cloud API webhook; see the module docs.
pub fn adapt(payload: &Value) -> Result<Batch, AdaptError> {
    each_entry(payload, &[OBJECT], |batch, entry, _account| {
        match entry.get("changes").opt_items() {
            Ok(changes) => {
                for change in changes {
                    if let Err(error) = adapt_change(batch, &change) {
                        batch.items.push(Err(error));
                    }
                }
            }
            Err(error) => batch.items.push(Err(error)),
        }
    })
}

/// Adapts one change into `batch`; an error of the change itself (not of
/// one of its messages) is returned.
fn adapt_change(batch: &mut Batch, change: &Field<'_>) -> Result<(), AdaptError> {
    change.object()?;
    let field = change.get("field").str()?;
    if field != "messages" {
        batch.skip(
            change.path(),
            format!("field {field:?} is not a customer's message"),
        );
        return Ok(());
    }
    let value = change.get("value");
    value.object()?;
    // Side fields only name the thread and the author: a bad one must not
    // cost the change's messages.
    let business = value
        .get("metadata")
        .get("phone_number_id")
        .opt_id()
        .ok()
        .flatten();
    let mut names = HashMap::new();
    for contact in value.get("contacts").opt_items().unwrap_or_default() {
        // A contact without a name only costs the author's display name.
        if let (Ok(id), Ok(Some(name))) = (
            contact.get("wa_id").id(),
            contact.get("profile").get("name").opt_str(),
        ) {
            names.insert(id, name.trim().to_owned());
        }
    }
    match value.get("messages").opt_items() {
        Ok(messages) => {
            for item in messages {
                let outcome = message(&item, &names, business.as_deref());
                batch.push(item.path(), outcome);
            }
        }
        Err(error) => batch.items.push(Err(error)),
    }
    match value.get("statuses").opt_items() {
        Ok(statuses) => {
            for status in statuses {
                batch.skip(status.path(), status_reason(&status));
            }
        }
        Err(error) => batch.items.push(Err(error)),
    }
    match value.get("errors").opt_items() {
        Ok(errors) => {
            for error in errors {
                let title = error
                    .get("title")
                    .value()
                    .and_then(Value::as_str)
                    .unwrap_or("no title");
                batch.skip(
                    error.path(),
                    format!("an error WhatsApp reports ({title}), not a message"),
                );
            }
        }
        Err(error) => batch.items.push(Err(error)),
    }
    Ok(())
}

/// Why a status is not a mention, naming it.
fn status_reason(status: &Field<'_>) -> String {
    let of = |key: &str| status.get(key).value().and_then(Value::as_str);
    match (of("status"), of("id")) {
        (Some(state), Some(id)) => {
            format!(
                "status {state:?} of message {id}: a receipt of the business's own message, not a mention"
            )
        }
        _ => "a status: a receipt of the business's own message, not a mention".to_owned(),
    }
}

/// The sender's profile name. `from` and the contact's `wa_id` are not
/// always spelled alike (Brazilian numbers gain or lose a 9), so the one
/// contact of a change names its sender either way.
fn display_name(names: &HashMap<String, String>, from: &str) -> String {
    match names.get(from) {
        Some(name) => name.clone(),
        None if names.len() == 1 => names.values().next().cloned().unwrap_or_default(),
        None => String::new(),
    }
}

fn message(
    item: &Field<'_>,
    names: &HashMap<String, String>,
    business: Option<&str>,
) -> Result<Outcome, AdaptError> {
    item.object()?;
    let kind = item.get("type").str()?;
    let Some(text) = words(item, kind)? else {
        return Ok(Outcome::skip(no_words(kind)));
    };
    let id = item.get("id").id()?;
    let from = item.get("from").id()?;
    let posted_at = item.get("timestamp").opt_time(Epoch::Seconds)?;
    let thread_key = match business {
        Some(business) => format!("whatsapp:{business}:{from}"),
        None => format!("whatsapp:{from}"),
    };
    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: id,
            channel: Channel::Whatsapp as i32,
            public: false,
            author: Some(Author {
                display_name: display_name(names, &from),
                external_id: from,
                ..Author::default()
            }),
            text: text.trim().to_owned(),
            language: String::new(),
            thread_key,
            posted_at: ts(posted_at),
            share: false,
        },
        raw: item.raw(),
        rating: None,
        language_text: None,
    }))
}

/// The customer's words in a message of type `kind`, if it has any.
fn words<'a>(item: &Field<'a>, kind: &str) -> Result<Option<&'a str>, AdaptError> {
    Ok(match kind {
        "text" => Some(item.get("text").get("body").str()?),
        "image" | "video" | "document" => item.get(kind).get("caption").opt_str()?,
        "button" => item.get("button").get("text").opt_str()?,
        "interactive" => {
            let interactive = item.get("interactive");
            let reply = interactive.get("type").str()?;
            interactive.get(reply).get("title").opt_str()?
        }
        "order" => item.get("order").get("text").opt_str()?,
        _ => None,
    })
}

/// Why a message of type `kind` without words is skipped.
fn no_words(kind: &str) -> String {
    match kind {
        "reaction" => "a reaction to a message, not a message".to_owned(),
        "system" => {
            "a system notice (such as a changed number), not a customer's message".to_owned()
        }
        "unsupported" | "unknown" => {
            "a message type WhatsApp does not pass on: no text to hear".to_owned()
        }
        "image" | "video" | "document" => format!("{kind} without a caption: no text to hear"),
        "audio" => {
            "a voice message or audio: no text to hear (audio is not transcribed)".to_owned()
        }
        _ => format!("{kind} message: no text to hear"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::adapters::test_support::{at, errors, parse, skipped};

    const WEBHOOK: &str =
        include_str!("../../../tests/fixtures/adapters/whatsapp_cloud_webhook.json");

    #[test]
    fn the_one_contact_names_its_sender_however_the_number_is_spelled() {
        let names: HashMap<String, String> =
            [("5511987654321".to_owned(), "Ana".to_owned())].into();
        assert_eq!(display_name(&names, "551187654321"), "Ana");
        assert_eq!(display_name(&names, "5511987654321"), "Ana");
        let two: HashMap<String, String> = [
            ("1".to_owned(), "A".to_owned()),
            ("2".to_owned(), "B".to_owned()),
        ]
        .into();
        assert_eq!(display_name(&two, "3"), "");
    }

    #[test]
    fn a_text_message_maps_exactly() {
        let payload = parse(WEBHOOK);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        let first = batch.items[0].as_ref().expect("text adapts");
        assert_eq!(
            first.mention,
            MentionInput {
                source: "whatsapp".to_owned(),
                external_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
                    .to_owned(),
                channel: Channel::Whatsapp as i32,
                public: false,
                author: Some(Author {
                    external_id: "447700900123".to_owned(),
                    display_name: "Priya Shah".to_owned(),
                    ..Author::default()
                }),
                text: "Hi, my parcel 4411 says delivered but nothing came. Can you check?"
                    .to_owned(),
                language: String::new(),
                thread_key: "whatsapp:106540352242922:447700900123".to_owned(),
                posted_at: at(1_727_352_000, 0),
                share: false,
            }
        );
        assert_eq!(
            first.raw,
            payload["entry"][0]["changes"][0]["value"]["messages"][0]
        );
        let caption = batch.items[1].as_ref().expect("captioned image adapts");
        assert_eq!(
            caption.mention.text,
            "This is the box they left, it was open"
        );
        assert_eq!(batch.items.len(), 2);
    }

    #[test]
    fn statuses_and_messages_without_words_are_skipped() {
        let batch = adapt(&parse(WEBHOOK)).expect("envelope is fine");
        assert_eq!(
            skipped(&batch),
            [
                (
                    "entry[0].changes[0].value.messages[2]",
                    "sticker message: no text to hear"
                ),
                (
                    "entry[0].changes[0].value.messages[3]",
                    "a reaction to a message, not a message"
                ),
                (
                    "entry[0].changes[1].value.statuses[0]",
                    "status \"delivered\" of message wamid.HBgLMTQ0NzcwMDkwMDEyMxUCABEYEjI3RjQ4QjA2: a receipt of the business's own message, not a mention"
                ),
                (
                    "entry[0].changes[1].value.statuses[1]",
                    "status \"read\" of message wamid.HBgLMTQ0NzcwMDkwMDEyMxUCABEYEjI3RjQ4QjA2: a receipt of the business's own message, not a mention"
                ),
            ]
        );
    }

    #[test]
    fn every_kind_of_words_is_read() {
        let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp",
             "metadata": {"phone_number_id": "55"},
             "messages": [
                {"from": "1", "id": "a", "timestamp": "1", "type": "button",
                 "button": {"payload": "P", "text": "Track my order"}},
                {"from": "1", "id": "b", "timestamp": "1", "type": "interactive",
                 "interactive": {"type": "list_reply", "list_reply": {"id": "x", "title": "Refunds"}}},
                {"from": "1", "id": "c", "timestamp": "1", "type": "document",
                 "document": {"caption": "my invoice", "filename": "i.pdf"}},
                {"from": "1", "id": "d", "timestamp": "1", "type": "image", "image": {"id": "m"}},
                {"from": "1", "id": "e", "timestamp": "1", "type": "audio", "audio": {"id": "m"}},
                {"from": "1", "id": "f", "timestamp": "1", "type": "unsupported",
                 "errors": [{"code": 131051, "title": "Message type unknown"}]},
                {"from": "1", "id": "g", "timestamp": "1", "type": "location",
                 "location": {"latitude": 51.5, "longitude": -0.1}}
             ]}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
            {"field": "messages", "value": {"messaging_product": "whatsapp",
             "errors": [{"code": 130429, "title": "Rate limit hit"}]}}
        ]}]});
        let batch = adapt(&payload).expect("envelope is fine");
        let texts: Vec<&str> = batch.adapted().map(|a| a.mention.text.as_str()).collect();
        assert_eq!(texts, ["Track my order", "Refunds", "my invoice"]);
        // No contact: no name, the id alone.
        let author = batch.items[0]
            .as_ref()
            .ok()
            .and_then(|a| a.mention.author.clone());
        assert_eq!(author.map(|a| a.display_name), Some(String::new()));
        let reasons: Vec<&str> = skipped(&batch).into_iter().map(|(_, r)| r).collect();
        assert_eq!(
            reasons,
            [
                "image without a caption: no text to hear",
                "a voice message or audio: no text to hear (audio is not transcribed)",
                "a message type WhatsApp does not pass on: no text to hear",
                "location message: no text to hear",
                "field \"message_template_status_update\" is not a customer's message",
                "an error WhatsApp reports (Rate limit hit), not a message",
            ]
        );
    }

    #[test]
    fn a_bad_message_fails_with_its_path_and_the_good_ones_adapt() {
        let mut payload = parse(WEBHOOK);
        let messages = payload["entry"][0]["changes"][0]["value"]["messages"]
            .as_array_mut()
            .expect("messages");
        messages[0]
            .as_object_mut()
            .expect("a message")
            .remove("from");
        messages.push(
            json!({"from": "1", "id": "z", "timestamp": "soon", "type": "text",
            "text": {"body": "hi"}}),
        );
        messages.push(json!({"from": "1", "id": "y", "type": "text", "text": {}}));
        messages.push(json!({"id": "x", "from": "1"}));
        payload["entry"][0]["changes"][1]["value"]["statuses"] = json!("none");
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "entry[0].changes[0].value.messages[0].from: missing",
                "entry[0].changes[0].value.messages[4].timestamp: must be an RFC 3339 date-time",
                "entry[0].changes[0].value.messages[5].text.body: missing",
                "entry[0].changes[0].value.messages[6].type: missing",
                "entry[0].changes[1].value.statuses: must be an array",
            ]
        );
        let good: Vec<&str> = batch.adapted().map(|a| a.mention.text.as_str()).collect();
        assert_eq!(good, ["This is the box they left, it was open"]);
    }

    #[test]
    fn envelope_errors() {
        let page = json!({"object": "page", "entry": []});
        assert_eq!(
            adapt(&page).map_err(|e| e.to_string()),
            Err("object: is \"page\", expected \"whatsapp_business_account\"".to_owned())
        );
        let verification = json!({"hub.mode": "subscribe", "hub.challenge": "1158201444",
            "hub.verify_token": "meatyhamhock"});
        let batch = adapt(&verification).expect("a verification is fine");
        assert!(batch.items.is_empty());
        assert_eq!(batch.skipped[0].path, "payload");
        assert!(batch.skipped[0].reason.contains("verification"));
    }
}
