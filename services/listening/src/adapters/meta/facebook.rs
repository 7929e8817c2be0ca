//! Facebook webhooks, as the Graph API sends them: a Page's
//! (`object: "page"`) and a group's (`object: "group"`, Workplace's Graph API).
//!
//! * Page `entry[].changes[]` with `field: "feed"` and `verb: "add"`: new
//!   posts (`item` `post`, `status`, `photo`, `video`, `share`) and comments
//!   (`item: "comment"`). Public. `external_id` is the `comment_id` for
//!   comments, else the `post_id`; `thread_key` is `facebook:` + `post_id`, so
//!   a post and its comments share a thread. The author is `from`;
//!   `created_time` is Unix seconds or RFC 3339 (the entry's `time` when
//!   absent). A share sets `MentionInput::share`; one without a message takes
//!   its `link` as text.
//! * Comments in the Page's groups (the Page topic's `group_feed` field:
//!   a person commenting on a post the Page published in its group), with
//!   the feed's fields plus `group_id`, adapted like feed comments. Meta
//!   documents them inside `entry[].messaging[]` (with the entry's `time` in
//!   milliseconds, `message` a string); as `changes[]` with
//!   `field: "group_feed"` they adapt the same.
//! * Group `entry[].changes[]` with `field` `posts` or `comments` and
//!   `verb: "add"`: the group's new posts and comments, adapted like the
//!   Page's (`item` is implied by the field).
//! * `entry[].messaging[]`: Messenger messages. Private. `external_id` is
//!   `message.mid`, the author is the `sender` (a page-scoped id, no name),
//!   `thread_key` is `facebook:dm:` + page id + `:` + sender id, and
//!   `timestamp` is Unix milliseconds. A message without text (attachments
//!   only) is an error at `message.text`.
//! * Skipped, with the reason: other fields (`membership`, `ratings`, ...),
//!   other verbs (`edited`, `edit`, `remove`, `delete`, `hide`, ...), other
//!   items (`reaction`, `like`, `rating`, ...), posts and comments by the
//!   page itself (`from.id` equal to the entry's page id), and messaging
//!   events that are not a customer's message (echoes of the page's own
//!   messages, deliveries, reads, postbacks, reactions, deletions).
//!
//! `raw` is the change (`{field, value}`) or the messaging event.

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{Network, adapt_entries, time_or_entry};
use crate::adapters::{AdaptError, Adapted, Batch, Field, Outcome, ts};

pub const SOURCE: &str = Network::Facebook.source();

const POST_ITEMS: &[&str] = &["post", "status", "photo", "video", "share"];

/// The `field` of comments in a Page's groups.
const GROUP_FEED: &str = "group_feed";

/// Adapts a Facebook Page or group webhook; see the module docs.
pub fn adapt(payload: &Value) -> Result<Batch, AdaptError> {
    adapt_entries(payload, Network::Facebook, feed_change)
}

fn feed_change(
    change: &Field<'_>,
    entry: &Field<'_>,
    page_id: Option<&str>,
) -> Result<Outcome, AdaptError> {
    change.object()?;
    let field = change.get("field").str()?;
    let value = change.get("value");
    match field {
        "feed" | GROUP_FEED => feed_item(change, &value, page_id, entry),
        "posts" | "comments" => {
            value.object()?;
            let verb = value.get("verb").str()?;
            if verb != "add" {
                return Ok(Outcome::skip(format!(
                    "verb {verb:?}: only new posts and comments are mentions"
                )));
            }
            let item = if field == "comments" {
                "comment"
            } else {
                "post"
            };
            post_or_comment(change, &value, item, page_id, entry)
        }
        _ => Ok(Outcome::skip(format!("field {field:?} is not a mention"))),
    }
}

/// Whether a messaging event is a comment in a Page's group rather than a
/// Messenger message: so marked, or shaped like one (a `comment_id`, and a
/// `message` that is the comment's text).
pub(crate) fn is_group_feed(event: &Field<'_>) -> bool {
    event.get("field").value().and_then(Value::as_str) == Some(GROUP_FEED)
        || (event.get("comment_id").value().is_some()
            && event.get("message").value().is_some_and(Value::is_string))
}

/// A `group_feed` comment delivered among the messaging events: the event
/// is the value.
pub(crate) fn group_feed_event(
    event: &Field<'_>,
    entry: &Field<'_>,
    page_id: Option<&str>,
) -> Result<Outcome, AdaptError> {
    feed_item(event, event, page_id, entry)
}

/// A feed value (`item`, `verb`, ...) of a Page's feed or group feed.
fn feed_item(
    raw: &Field<'_>,
    value: &Field<'_>,
    page_id: Option<&str>,
    entry: &Field<'_>,
) -> Result<Outcome, AdaptError> {
    value.object()?;
    let item = value.get("item").str()?;
    let verb = value.get("verb").str()?;
    if verb != "add" {
        return Ok(Outcome::skip(format!(
            "verb {verb:?}: only new posts and comments are mentions"
        )));
    }
    if item != "comment" && !POST_ITEMS.contains(&item) {
        return Ok(Outcome::skip(format!("item {item:?} is not a mention")));
    }
    post_or_comment(raw, value, item, page_id, entry)
}

/// A new post (of `item` kind) or comment; `raw` is what is kept for audit.
fn post_or_comment(
    raw: &Field<'_>,
    value: &Field<'_>,
    item: &str,
    page_id: Option<&str>,
    entry: &Field<'_>,
) -> Result<Outcome, AdaptError> {
    let is_comment = item == "comment";
    let is_share = item == "share";

    let from = value.get("from");
    from.object()?;
    let author_id = from.get("id").id()?;
    if page_id == Some(author_id.as_str()) {
        return Ok(Outcome::skip(format!("{item} by the page itself")));
    }

    let (external_id, post_id) = if is_comment {
        let comment_id = value.get("comment_id").id()?;
        let post_id = value.get("post_id").opt_id()?;
        (comment_id.clone(), post_id.unwrap_or(comment_id))
    } else if is_share {
        let post_id = match value.get("post_id").opt_id()? {
            Some(post_id) => post_id,
            None => value.get("share_id").id()?,
        };
        (post_id.clone(), post_id)
    } else {
        let post_id = value.get("post_id").id()?;
        (post_id.clone(), post_id)
    };

    let text = match value.get("message").opt_str()? {
        Some(message) => message,
        None if is_share => value
            .get("link")
            .opt_str()?
            .ok_or_else(|| value.get("message").missing())?,
        None => return Err(value.get("message").missing()),
    };
    let posted_at = time_or_entry(&value.get("created_time"), entry)?;

    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id,
            channel: Channel::Facebook as i32,
            public: true,
            author: Some(Author {
                external_id: author_id,
                display_name: from.get("name").opt_str()?.unwrap_or_default().to_owned(),
                ..Author::default()
            }),
            text: text.trim().to_owned(),
            language: String::new(),
            thread_key: format!("facebook:{post_id}"),
            posted_at: ts(posted_at),
            share: is_share,
        },
        raw: raw.raw(),
        rating: None,
        language_text: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::adapters::test_support::{assert_one_message, at, errors, parse, skipped};

    const FEED: &str = include_str!("../../../tests/fixtures/adapters/facebook_feed_webhook.json");
    const MESSENGER: &str =
        include_str!("../../../tests/fixtures/adapters/facebook_messenger_webhook.json");
    const GROUP_FEED: &str =
        include_str!("../../../tests/fixtures/adapters/facebook_group_feed_webhook.json");
    const GROUP: &str =
        include_str!("../../../tests/fixtures/adapters/facebook_group_webhook.json");

    #[test]
    fn a_comment_in_the_pages_group_is_a_public_comment() {
        let payload = parse(GROUP_FEED);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        assert_eq!(batch.items.len(), 1);
        let comment = batch.items[0].as_ref().expect("comment adapts");
        assert_eq!(
            comment.mention,
            MentionInput {
                source: "facebook".to_owned(),
                external_id: "1520544814777_2236409990".to_owned(),
                channel: Channel::Facebook as i32,
                public: true,
                author: Some(Author {
                    external_id: "7423871239999".to_owned(),
                    display_name: "Cinderella Hoover".to_owned(),
                    ..Author::default()
                }),
                text: "Is the spring sale still on? The code at checkout doesn't work for me."
                    .to_owned(),
                language: String::new(),
                thread_key: "facebook:2333220550043074_1520544814777".to_owned(),
                posted_at: at(1_727_353_298, 0),
                share: false,
            }
        );
        assert_eq!(comment.raw, payload[0]["entry"][0]["messaging"][0]);
        assert_eq!(
            skipped(&batch),
            [
                ("[0].entry[0].messaging[1]", "comment by the page itself"),
                (
                    "[0].entry[0].messaging[2]",
                    "verb \"remove\": only new posts and comments are mentions"
                ),
            ]
        );
    }

    #[test]
    fn group_feed_as_a_change_and_without_its_own_time() {
        let payload = json!({"object": "page", "entry": [{"id": "1", "time": 1_727_353_300,
            "changes": [{"field": "group_feed", "value": {"from": {"id": "9", "name": "N"},
                "group_id": "5", "comment_id": "2_3", "post_id": "5_2", "item": "comment",
                "verb": "add", "message": "still broken"}}],
            "messaging": [{"from": {"id": "9"}, "group_id": "5", "comment_id": "2_4",
                "post_id": "5_2", "item": "comment", "verb": "add", "message": "hello?"}]}]});
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        let times: Vec<_> = batch.adapted().map(|a| a.mention.posted_at).collect();
        // The entry's time, read by its size: here seconds, for both.
        assert_eq!(times, [at(1_727_353_300, 0), at(1_727_353_300, 0)]);
        let mut in_millis = payload.clone();
        in_millis["entry"][0]["time"] = json!(1_727_353_300_250_i64);
        let batch = adapt(&in_millis).expect("envelope is fine");
        let times: Vec<_> = batch.adapted().map(|a| a.mention.posted_at).collect();
        assert_eq!(
            times,
            [
                at(1_727_353_300, 250_000_000),
                at(1_727_353_300, 250_000_000)
            ]
        );
    }

    #[test]
    fn a_groups_posts_and_comments_adapt_and_the_rest_is_skipped() {
        let payload = parse(GROUP);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        let adapted: Vec<(&str, &str, Option<i64>)> = batch
            .adapted()
            .map(|a| {
                (
                    a.mention.external_id.as_str(),
                    a.mention.thread_key.as_str(),
                    a.mention.posted_at.map(|t| t.seconds),
                )
            })
            .collect();
        assert_eq!(
            adapted,
            [
                (
                    "1791234567890123_1791234567899999",
                    "facebook:1791234567890123_1791234567899999",
                    Some(1_727_353_000),
                ),
                (
                    "1791234567899999_1791234567900001",
                    "facebook:1791234567890123_1791234567899999",
                    Some(1_727_353_200),
                ),
            ]
        );
        let post = batch.items[0].as_ref().expect("post adapts");
        assert!(post.mention.public);
        assert_eq!(
            post.mention
                .author
                .as_ref()
                .map(|a| a.display_name.as_str()),
            Some("Tom Becker")
        );
        assert_eq!(
            skipped(&batch),
            [
                (
                    "entry[0].changes[2]",
                    "verb \"edit\": only new posts and comments are mentions"
                ),
                (
                    "entry[0].changes[3]",
                    "field \"membership\" is not a mention"
                ),
            ]
        );
    }

    #[test]
    fn a_bad_group_item_fails_with_its_path_and_the_good_ones_adapt() {
        let mut payload = parse(GROUP);
        payload["entry"][0]["changes"][0]["value"]
            .as_object_mut()
            .expect("a value")
            .remove("message");
        payload["entry"][0]["changes"][1]["value"]["created_time"] = json!("yesterday");
        let mut feed = parse(GROUP_FEED);
        feed[0]["entry"][0]["messaging"][0]
            .as_object_mut()
            .expect("an event")
            .remove("from");
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "entry[0].changes[0].value.message: missing",
                "entry[0].changes[1].value.created_time: must be an RFC 3339 date-time",
            ]
        );
        let batch = adapt(&feed).expect("envelope is fine");
        // The comment fails where it is wrong, not as a malformed Messenger message.
        assert_eq!(errors(&batch), ["[0].entry[0].messaging[0].from: missing"]);
    }

    #[test]
    fn feed_post_and_comment_map_exactly() {
        let payload = parse(FEED);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        assert_eq!(batch.items.len(), 3);

        let post = batch.items[0].as_ref().expect("post adapts");
        assert_eq!(
            post.mention,
            MentionInput {
                source: "facebook".to_owned(),
                external_id: "106236952123456_1520544814123".to_owned(),
                channel: Channel::Facebook as i32,
                public: true,
                author: Some(Author {
                    external_id: "7423871234567".to_owned(),
                    display_name: "Cinderella Hoover".to_owned(),
                    ..Author::default()
                }),
                text: "It's Thursday and my cake order still hasn't shipped.".to_owned(),
                language: String::new(),
                thread_key: "facebook:106236952123456_1520544814123".to_owned(),
                posted_at: at(1_520_544_814, 0),
                share: false,
            }
        );
        assert!(!post.mention.share);
        assert_eq!(post.raw, payload["entry"][0]["changes"][0]);

        let comment = batch.items[1].as_ref().expect("comment adapts");
        assert_eq!(comment.mention.external_id, "1520544814123_2236401234");
        assert_eq!(
            comment.mention.thread_key,
            "facebook:106236952123456_1520544814123"
        );
        assert_eq!(comment.mention.text, "Same here, ordered on Monday.");
        assert!(comment.mention.public);
        assert_eq!(
            comment.mention.posted_at.map(|t| t.seconds),
            Some(1_520_544_816)
        );

        let share = batch.items[2].as_ref().expect("share adapts");
        assert!(share.mention.share);
        assert_eq!(share.mention.external_id, "5550001112_9998887776");
        assert_eq!(
            share.mention.text,
            "https://www.facebook.com/acme/posts/1520544814123"
        );
        // No created_time: the entry's time.
        assert_eq!(
            share.mention.posted_at.map(|t| t.seconds),
            Some(1_520_544_900)
        );
    }

    #[test]
    fn feed_skips_what_is_not_a_mention() {
        let batch = adapt(&parse(FEED)).expect("envelope is fine");
        let skipped: Vec<(&str, &str)> = batch
            .skipped
            .iter()
            .map(|s| (s.path.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("entry[0].changes[3]", "item \"reaction\" is not a mention"),
                (
                    "entry[0].changes[4]",
                    "verb \"edited\": only new posts and comments are mentions"
                ),
                ("entry[0].changes[5]", "comment by the page itself"),
                ("entry[1].changes[0]", "field \"ratings\" is not a mention"),
            ]
        );
    }

    #[test]
    fn messenger_messages_are_private() {
        let payload = parse(MESSENGER);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_one_message(
            &batch,
            &MentionInput {
                source: "facebook".to_owned(),
                external_id: "m_1457764197618:41d102a3e1ae206a38".to_owned(),
                channel: Channel::Facebook as i32,
                public: false,
                author: Some(Author {
                    external_id: "6812345678901234".to_owned(),
                    ..Author::default()
                }),
                text: "hello, is anyone there? my refund never came".to_owned(),
                language: String::new(),
                thread_key: "facebook:dm:106236952123456:6812345678901234".to_owned(),
                posted_at: at(1_458_692_752, 478_000_000),
                share: false,
            },
            &payload["entry"][0]["messaging"][0],
            &[
                "echo of the page's own message",
                "delivery event, not a message",
                "read event, not a message",
            ],
        );
    }

    #[test]
    fn bad_change_next_to_good_ones() {
        let payload = json!({
            "object": "page",
            "entry": [{
                "id": "1", "time": 1_700_000_000,
                "changes": [
                    {"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "1_2",
                        "comment_id": "2_3", "message": "hi"}},
                    {"field": "feed", "value": {"item": "post", "verb": "add", "post_id": "1_4",
                        "from": {"id": "9", "name": "N"}, "message": "fine"}},
                    {"field": "feed", "value": {"item": "comment", "verb": "add", "post_id": "1_2",
                        "from": {"id": "9"}, "message": "no id"}},
                    {"field": "feed", "value": {"item": "post", "verb": "add", "post_id": "1_5",
                        "from": {"id": "9"}}},
                    {"field": "feed", "value": {"item": "post", "verb": "add", "post_id": "1_6",
                        "from": {"id": "9"}, "message": "x", "created_time": "soon"}}
                ],
                "messaging": [
                    {"sender": {"id": "7"}, "recipient": {"id": "1"}, "timestamp": 1,
                     "message": {"mid": "m_1", "attachments": [{"type": "image"}]}},
                    {"recipient": {"id": "1"}, "timestamp": 1, "message": {"mid": "m_2", "text": "hey"}}
                ]
            }]
        });
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "entry[0].changes[0].value.from: missing",
                "entry[0].changes[2].value.comment_id: missing",
                "entry[0].changes[3].value.message: missing",
                "entry[0].changes[4].value.created_time: must be an RFC 3339 date-time",
                "entry[0].messaging[1].sender.id: missing",
            ]
        );
        let good: Vec<&str> = batch
            .adapted()
            .map(|a| a.mention.external_id.as_str())
            .collect();
        assert_eq!(good, ["1_4"]);
        // A photo alone is no failure: nothing to hear, said so.
        assert!(skipped(&batch).contains(&(
            "entry[0].messaging[0]",
            "a message without text (attachments only): no words to hear"
        )));
    }

    #[test]
    fn envelope_errors() {
        let instagram = json!({"object": "instagram", "entry": []});
        assert_eq!(
            adapt(&instagram).map_err(|e| e.to_string()),
            Err("object: is \"instagram\", expected \"page\" or \"group\"".to_owned())
        );
        let no_entry = json!({"object": "page"});
        assert_eq!(
            adapt(&no_entry).map_err(|e| e.to_string()),
            Err("entry: missing".to_owned())
        );
        let bad_entry = json!({"object": "page", "entry": [7, {"id": "1", "changes": {}}]});
        let batch = adapt(&bad_entry).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "entry[0]: must be an object",
                "entry[1].changes: must be an array"
            ]
        );
        let array = json!([{"object": "page", "entry": [{"id": "1", "messaging": [
            {"sender": {"id": "7"}, "recipient": {"id": "1"}, "timestamp": 1_700_000_000_000_i64,
             "message": {"mid": "m_9", "text": "yo"}}]}]}]);
        let batch = adapt(&array).expect("an array of envelopes is fine");
        assert_eq!(batch.adapted().count(), 1);
    }
}
