//! Phone calls, as a transcript or a summary from the telephony system:
//!
//! ```json
//! {"call_id": "...", "from_number": "+14155550123",
//!  "started_at": "2024-09-26T16:20:05Z", "duration_seconds": 312,
//!  "summary": "...",
//!  "transcript": [{"speaker": "customer", "text": "..."},
//!                 {"speaker": "agent", "text": "..."}]}
//! ```
//!
//! * `text` is `summary` when present, else the customer's turns joined with
//!   newlines (agent turns are left out of the text and kept in `raw`).
//! * `source` is `phone`, `external_id` is `call_id`, `thread_key` is
//!   `phone:` + call id, and the author's `external_id` is `from_number`.
//!   Private, channel PHONE. `duration_seconds`, when present, must be a
//!   non-negative integer; it stays in `raw`.

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Epoch, join_lines, language, object_root, private_whole, ts};

pub const SOURCE: &str = "phone";

/// Adapts one call; see the module docs.
pub fn adapt(payload: &Value) -> Result<Adapted, AdaptError> {
    let root = object_root(payload)?;
    let call_id = root.get("call_id").id()?;
    let from_number = root.get("from_number").str()?.trim();
    let posted_at = root.get("started_at").opt_time(Epoch::Seconds)?;
    root.get("duration_seconds").opt_u64()?;

    let transcript = root.get("transcript");
    let mut customer_turns = Vec::new();
    for turn in transcript.opt_items()? {
        turn.object()?;
        if turn.get("speaker").str()? == "customer" {
            customer_turns.push(turn.get("text").str()?);
        }
    }
    let text = match root.get("summary").opt_str()? {
        Some(summary) => summary.trim().to_owned(),
        None if transcript.value().is_none() => return Err(root.get("summary").missing()),
        None => {
            let text = join_lines(customer_turns);
            if text.is_empty() {
                return Err(transcript.invalid("has no customer turn, and there is no summary"));
            }
            text
        }
    };

    Ok(private_whole(
        payload,
        MentionInput {
            source: SOURCE.to_owned(),
            external_id: call_id.clone(),
            channel: Channel::Phone as i32,
            public: false,
            author: Some(Author {
                external_id: from_number.to_owned(),
                ..Author::default()
            }),
            text,
            language: language(&root)?,
            thread_key: format!("phone:{call_id}"),
            posted_at: ts(posted_at),
            share: false,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TRANSCRIPT: &str = include_str!("../../tests/fixtures/adapters/phone_transcript.json");
    const SUMMARY: &str = include_str!("../../tests/fixtures/adapters/phone_summary.json");

    use crate::adapters::test_support::{at, error_of, parse};

    fn error(payload: &Value) -> Option<String> {
        error_of(adapt(payload))
    }

    #[test]
    fn transcript_keeps_customer_turns() {
        let payload = parse(TRANSCRIPT);
        let call = adapt(&payload).expect("adapts");
        assert_eq!(
            call.mention,
            MentionInput {
                source: "phone".to_owned(),
                external_id: "CA9f1c2e7b3d4a5968b7c6d5e4f3a2b1c0".to_owned(),
                channel: Channel::Phone as i32,
                public: false,
                author: Some(Author {
                    external_id: "+14155550123".to_owned(),
                    ..Author::default()
                }),
                text: "Hi, my internet has been down since this morning.\nI already restarted the router twice. I work from home, this is urgent."
                    .to_owned(),
                language: String::new(),
                thread_key: "phone:CA9f1c2e7b3d4a5968b7c6d5e4f3a2b1c0".to_owned(),
                posted_at: at(1_727_367_605, 0),
                share: false,
            }
        );
        assert_eq!(call.raw, payload);
    }

    #[test]
    fn summary_wins_over_transcript() {
        let call = adapt(&parse(SUMMARY)).expect("adapts");
        assert_eq!(
            call.mention.text,
            "Customer reports a double charge on invoice 2291 and asks for a refund before Friday."
        );
        assert_eq!(call.mention.language, "en-GB");
        assert_eq!(call.mention.external_id, "call-7781");
    }

    #[test]
    fn bad_calls_name_the_field() {
        let good = parse(TRANSCRIPT);
        let mut no_id = good.clone();
        no_id.as_object_mut().expect("object").remove("call_id");
        assert_eq!(error(&no_id).as_deref(), Some("call_id: missing"));

        let mut no_number = good.clone();
        no_number["from_number"] = json!("");
        assert_eq!(error(&no_number).as_deref(), Some("from_number: missing"));

        let mut bad_duration = good.clone();
        bad_duration["duration_seconds"] = json!(-3);
        assert_eq!(
            error(&bad_duration).as_deref(),
            Some("duration_seconds: must be a non-negative integer")
        );

        let mut no_text = good.clone();
        no_text["transcript"][2]["text"] = Value::Null;
        assert_eq!(
            error(&no_text).as_deref(),
            Some("transcript[2].text: missing")
        );

        let mut agent_only = good.clone();
        agent_only["transcript"] = json!([{"speaker": "agent", "text": "Hello?"}]);
        assert_eq!(
            error(&agent_only).as_deref(),
            Some("transcript: has no customer turn, and there is no summary")
        );

        let mut nothing = good;
        nothing
            .as_object_mut()
            .expect("object")
            .remove("transcript");
        assert_eq!(error(&nothing).as_deref(), Some("summary: missing"));
    }
}
