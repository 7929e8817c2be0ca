//! Instagram webhooks (`object: "instagram"`), as the Graph API sends them.
//!
//! * `entry[].changes[]` with `field` `comments` or `live_comments`: a comment
//!   on the account's media. Public. `external_id` is the comment `id`, the
//!   author is `from` (`id`, `username` as handle), `thread_key` is
//!   `instagram:` + `media.id`. The webhook carries no creation time, so
//!   `posted_at` is the entry's `time` (Unix seconds).
//! * `field: "mentions"`: Instagram sends only `media_id` and `comment_id`, no
//!   text and no author: nothing to hear, so the item is skipped, saying how
//!   to fetch the comment (`GET /{ig-user-id}?fields=mentioned_comment.comment_id(...)`)
//!   to ingest it. A mention value that does carry `text` and `from` (an
//!   enriched relay) adapts like a comment.
//! * `entry[].messaging[]`: Instagram Direct messages, shaped like Messenger's
//!   (see [`super::facebook`]). Private; `thread_key` is `instagram:dm:` +
//!   account id + `:` + sender id.
//! * Skipped, with the reason: other fields (`story_insights`, ...), comments
//!   by the account itself, and messaging events that are not a customer's
//!   message.
//!
//! `raw` is the change (`{field, value}`) or the messaging event.

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{Network, adapt_entries, time_or_entry};
use crate::adapters::{AdaptError, Adapted, Batch, Field, Outcome, ts};

pub const SOURCE: &str = Network::Instagram.source();

/// Adapts an Instagram webhook; see the module docs.
pub fn adapt(payload: &Value) -> Result<Batch, AdaptError> {
    adapt_entries(payload, Network::Instagram, change_outcome)
}

fn change_outcome(
    change: &Field<'_>,
    entry: &Field<'_>,
    account_id: Option<&str>,
) -> Result<Outcome, AdaptError> {
    change.object()?;
    let field = change.get("field").str()?;
    let value = change.get("value");
    match field {
        "comments" | "live_comments" => comment(change, &value, entry, account_id),
        "mentions" => {
            value.object()?;
            if value.get("text").value().is_some() {
                return comment(change, &value, entry, account_id);
            }
            let comment_id = value.get("comment_id").opt_id()?;
            let media_id = value.get("media_id").opt_id()?;
            let ids = match (&media_id, &comment_id) {
                (Some(media), Some(comment)) => format!("media_id {media}, comment_id {comment}"),
                (Some(media), None) => format!("media_id {media}"),
                (None, Some(comment)) => format!("comment_id {comment}"),
                (None, None) => return Err(value.get("media_id").missing()),
            };
            let what = if comment_id.is_some() {
                "mentioned_comment"
            } else {
                "mentioned_media"
            };
            Ok(Outcome::skip(format!(
                "a mention without text: Instagram sends only ids ({ids}); fetch it through {what} and ingest that"
            )))
        }
        other => Ok(Outcome::skip(format!("field {other:?} is not a mention"))),
    }
}

fn comment(
    change: &Field<'_>,
    value: &Field<'_>,
    entry: &Field<'_>,
    account_id: Option<&str>,
) -> Result<Outcome, AdaptError> {
    value.object()?;
    let id = match value.get("id").opt_id()? {
        Some(id) => id,
        // Mentions name the comment `comment_id`.
        None => value
            .get("comment_id")
            .opt_id()?
            .ok_or_else(|| value.get("id").missing())?,
    };
    let from = value.get("from");
    from.object()?;
    let author_id = from.get("id").id()?;
    if account_id == Some(author_id.as_str()) {
        return Ok(Outcome::skip("comment by the account itself"));
    }
    let text = value.get("text").str()?;
    let media_id = match value.get("media").get("id").opt_id()? {
        Some(media_id) => Some(media_id),
        None => value.get("media_id").opt_id()?,
    };
    let posted_at = time_or_entry(&value.get("timestamp"), entry)?;

    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: id.clone(),
            channel: Channel::Instagram as i32,
            public: true,
            author: Some(Author {
                external_id: author_id,
                handle: from
                    .get("username")
                    .opt_str()?
                    .unwrap_or_default()
                    .to_owned(),
                ..Author::default()
            }),
            text: text.trim().to_owned(),
            language: String::new(),
            thread_key: format!("instagram:{}", media_id.unwrap_or(id)),
            posted_at: ts(posted_at),
            share: false,
        },
        raw: change.raw(),
        rating: None,
        language_text: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::adapters::test_support::{assert_one_message, at, errors, parse};

    const COMMENTS: &str =
        include_str!("../../../tests/fixtures/adapters/instagram_comments_webhook.json");
    const MESSAGING: &str =
        include_str!("../../../tests/fixtures/adapters/instagram_messaging_webhook.json");

    #[test]
    fn comment_maps_exactly() {
        let payload = parse(COMMENTS);
        let batch = adapt(&payload).expect("envelope is fine");
        let comment = batch.items[0].as_ref().expect("comment adapts");
        assert_eq!(
            comment.mention,
            MentionInput {
                source: "instagram".to_owned(),
                external_id: "17865799348089039".to_owned(),
                channel: Channel::Instagram as i32,
                public: true,
                author: Some(Author {
                    external_id: "232323232".to_owned(),
                    handle: "sam.bakes".to_owned(),
                    ..Author::default()
                }),
                text: "Ordered this two weeks ago and still nothing @acmecakes".to_owned(),
                language: String::new(),
                thread_key: "instagram:123123123".to_owned(),
                posted_at: at(1_520_383_571, 0),
                share: false,
            }
        );
        assert!(!comment.mention.share);
        assert_eq!(comment.raw, payload["entry"][0]["changes"][0]);
        let live = batch.items[1].as_ref().expect("live comment adapts");
        assert_eq!(live.mention.external_id, "17865799348089040");
        assert_eq!(live.mention.thread_key, "instagram:456456456");
    }

    #[test]
    fn mentions_without_text_and_others_are_skipped() {
        let batch = adapt(&parse(COMMENTS)).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        assert_eq!(batch.items.len(), 2);
        let skipped: Vec<(&str, &str)> = batch
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("entry[0].changes[2]", "comment by the account itself"),
                (
                    "entry[1].changes[0]",
                    "a mention without text: Instagram sends only ids (media_id 17918195224117851, comment_id 17887498072083520); fetch it through mentioned_comment and ingest that"
                ),
                (
                    "entry[1].changes[1]",
                    "field \"story_insights\" is not a mention"
                ),
            ]
        );
        let no_ids = json!({"object": "instagram", "entry": [{"id": "1",
            "changes": [{"field": "mentions", "value": {}}]}]});
        let batch = adapt(&no_ids).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            ["entry[0].changes[0].value.media_id: missing"]
        );
    }

    #[test]
    fn enriched_mention_adapts_like_a_comment() {
        let payload = json!({"object": "instagram", "entry": [{"id": "1", "time": 1_700_000_000,
            "changes": [{"field": "mentions", "value": {"media_id": "55", "comment_id": "66",
                "text": "@acme help", "from": {"id": "9", "username": "u"}}}]}]});
        let batch = adapt(&payload).expect("envelope is fine");
        let mention = batch.items[0].as_ref().expect("adapts");
        assert_eq!(mention.mention.external_id, "66");
        assert_eq!(mention.mention.thread_key, "instagram:55");
    }

    #[test]
    fn direct_messages_are_private() {
        let payload = parse(MESSAGING);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_one_message(
            &batch,
            &MentionInput {
                source: "instagram".to_owned(),
                external_id: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx".to_owned(),
                channel: Channel::Instagram as i32,
                public: false,
                author: Some(Author {
                    external_id: "1253499092014720".to_owned(),
                    ..Author::default()
                }),
                text: "Where is my order?".to_owned(),
                language: String::new(),
                thread_key: "instagram:dm:17841405309211844:1253499092014720".to_owned(),
                posted_at: at(1_712_134_405, 123_000_000),
                share: false,
            },
            &payload[0]["entry"][0]["messaging"][0],
            &[
                "echo of the page's own message",
                "message deleted by its sender",
                "reaction event, not a message",
            ],
        );
    }

    #[test]
    fn bad_comment_next_to_good_one() {
        let payload = json!({"object": "instagram", "entry": [{"id": "1", "time": 1_700_000_000,
        "changes": [
            {"field": "comments", "value": {"id": "1", "text": "no author", "media": {"id": "5"}}},
            {"field": "comments", "value": {"from": {"id": "9", "username": "u"}, "text": "no id"}},
            {"field": "comments", "value": {"id": "3", "from": {"id": "9"}, "media": {"id": "5"}}},
            {"field": "comments", "value": {"id": "4", "from": {"id": "9"}, "text": "good",
                "media": {"id": "5"}}},
            {"value": {}}
        ]}]});
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "entry[0].changes[0].value.from: missing",
                "entry[0].changes[1].value.id: missing",
                "entry[0].changes[2].value.text: missing",
                "entry[0].changes[4].field: missing",
            ]
        );
        let good: Vec<&str> = batch
            .adapted()
            .map(|a| a.mention.external_id.as_str())
            .collect();
        assert_eq!(good, ["4"]);
    }

    #[test]
    fn a_page_webhook_is_not_instagram() {
        let page = json!({"object": "page", "entry": []});
        assert_eq!(
            adapt(&page).map_err(|e| e.to_string()),
            Err("object: is \"page\", expected \"instagram\"".to_owned())
        );
    }
}
