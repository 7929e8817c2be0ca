//! Web chat transcripts:
//!
//! ```json
//! {"id": "...", "channel": "web_chat", "started_at": "2024-09-26T14:02:11Z",
//!  "visitor": {"id": "...", "name": "...", "email": "..."},
//!  "messages": [{"from": "visitor", "text": "...", "at": "..."},
//!               {"from": "agent", "text": "...", "at": "..."}]}
//! ```
//!
//! * One mention per transcript: the visitor's lines joined with newlines;
//!   agent (and bot or system) lines are left out of the text and kept in
//!   `raw`.
//! * `source` is `channel` (lower-cased; `chat` when absent), `external_id`
//!   is `id`, `thread_key` is `chat:` + id. Private, channel CHAT.
//! * The author is the visitor: `external_id` is `visitor.id` (the e-mail
//!   address when there is no id), `handle` the e-mail address, and
//!   `display_name` the name.
//! * `posted_at` is `started_at`, else the first visitor line's `at`.

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Epoch, join_lines, language, object_root, private_whole, ts};

pub const DEFAULT_SOURCE: &str = "chat";

/// Adapts one chat transcript; see the module docs.
pub fn adapt(payload: &Value) -> Result<Adapted, AdaptError> {
    let root = object_root(payload)?;
    let id = root.get("id").id()?;
    let source = root
        .get("channel")
        .opt_str()?
        .map_or_else(|| DEFAULT_SOURCE.to_owned(), |c| c.trim().to_lowercase());

    let visitor = root.get("visitor");
    visitor.object()?;
    let email = visitor.get("email").opt_str()?.map(str::trim);
    let visitor_id = match (visitor.get("id").opt_id()?, email) {
        (Some(id), _) => id,
        (None, Some(email)) => email.to_owned(),
        (None, None) => return Err(visitor.get("id").missing()),
    };
    let name = visitor.get("name").opt_str()?.unwrap_or_default();

    let mut lines = Vec::new();
    let mut first_at = None;
    let messages = root.get("messages");
    for message in messages.items()? {
        message.object()?;
        if message.get("from").str()? != "visitor" {
            continue;
        }
        lines.push(message.get("text").str()?);
        let at = message.get("at").opt_time(Epoch::Seconds)?;
        first_at = first_at.or(at);
    }
    let text = join_lines(lines);
    if text.is_empty() {
        return Err(messages.invalid("has no visitor message"));
    }
    let posted_at = root
        .get("started_at")
        .opt_time(Epoch::Seconds)?
        .or(first_at);

    Ok(private_whole(
        payload,
        MentionInput {
            source,
            external_id: id.clone(),
            channel: Channel::Chat as i32,
            public: false,
            author: Some(Author {
                external_id: visitor_id,
                handle: email.unwrap_or_default().to_owned(),
                display_name: name.trim().to_owned(),
                ..Author::default()
            }),
            text,
            language: language(&root)?,
            thread_key: format!("chat:{id}"),
            posted_at: ts(posted_at),
            share: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRANSCRIPT: &str = include_str!("../../tests/fixtures/adapters/chat_transcript.json");

    use crate::adapters::test_support::{at, error_of, parse};

    fn error(payload: &Value) -> Option<String> {
        error_of(adapt(payload))
    }

    #[test]
    fn transcript_maps_visitor_lines_only() {
        let payload = parse(TRANSCRIPT);
        let chat = adapt(&payload).expect("adapts");
        assert_eq!(
            chat.mention,
            MentionInput {
                source: "web_chat".to_owned(),
                external_id: "chat_01J8ZK3W5Q".to_owned(),
                channel: Channel::Chat as i32,
                public: false,
                author: Some(Author {
                    external_id: "v_8841".to_owned(),
                    handle: "ana.ruiz@example.com".to_owned(),
                    display_name: "Ana Ruiz".to_owned(),
                    ..Author::default()
                }),
                text: "Hi, I was charged twice for order 5512\nYes, both on Sept 24. Can you refund one?"
                    .to_owned(),
                language: String::new(),
                thread_key: "chat:chat_01J8ZK3W5Q".to_owned(),
                posted_at: at(1_727_359_331, 0),
                share: false,
            }
        );
        assert_eq!(chat.raw, payload);
        assert!(!chat.mention.text.contains("Let me look"));
    }

    #[test]
    fn fallbacks() {
        let payload = json!({"id": 42, "visitor": {"email": "a@example.com"},
            "messages": [{"from": "visitor", "text": "hello", "at": "2024-09-26T14:02:11Z"}]});
        let chat = adapt(&payload).expect("adapts");
        assert_eq!(chat.mention.source, "chat");
        assert_eq!(chat.mention.external_id, "42");
        assert_eq!(
            chat.mention.author.as_ref().map(|a| a.external_id.as_str()),
            Some("a@example.com")
        );
        assert_eq!(
            chat.mention.posted_at.map(|t| t.seconds),
            Some(1_727_359_331)
        );
    }

    #[test]
    fn bad_transcripts_name_the_field() {
        let good = parse(TRANSCRIPT);
        let mut no_id = good.clone();
        no_id["id"] = Value::Null;
        assert_eq!(error(&no_id).as_deref(), Some("id: missing"));

        let mut no_visitor = good.clone();
        no_visitor
            .as_object_mut()
            .expect("object")
            .remove("visitor");
        assert_eq!(error(&no_visitor).as_deref(), Some("visitor: missing"));

        let mut anonymous = good.clone();
        anonymous["visitor"] = json!({"name": "Ana"});
        assert_eq!(error(&anonymous).as_deref(), Some("visitor.id: missing"));

        let mut blank_line = good.clone();
        blank_line["messages"][2]["text"] = Value::Null;
        assert_eq!(
            error(&blank_line).as_deref(),
            Some("messages[2].text: missing")
        );

        let mut no_from = good.clone();
        no_from["messages"][1] = json!({"text": "?"});
        assert_eq!(
            error(&no_from).as_deref(),
            Some("messages[1].from: missing")
        );

        let mut agent_only = good.clone();
        agent_only["messages"] = json!([{"from": "agent", "text": "Hello?"}]);
        assert_eq!(
            error(&agent_only).as_deref(),
            Some("messages: has no visitor message")
        );

        let mut no_messages = good;
        no_messages["messages"] = json!({});
        assert_eq!(
            error(&no_messages).as_deref(),
            Some("messages: must be an array")
        );
    }
}
