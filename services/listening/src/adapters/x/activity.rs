//! X Account Activity API deliveries: what X posts to a webhook for one
//! subscribed account, `for_user_id` (the brand). Each delivery holds one or
//! more arrays of events, by kind; the mentions are adapted kind by kind (in
//! the order of their keys), the rest skipped.
//!
//! * `direct_message_events[]` with `type: "message_create"`: a private
//!   message. `external_id` is the event `id`; the author is
//!   `users[message_create.sender_id]` (`screen_name` as handle, `name`,
//!   `followers_count`, `verified`; the id alone when the delivery left the
//!   user out); the text is `message_create.message_data.text`; `posted_at`
//!   is `created_timestamp` (Unix milliseconds, as a string); `thread_key` is
//!   `x:dm:` + for_user_id + `:` + the sender. A message sent by the account
//!   itself is the brand's own and is skipped.
//! * `tweet_create_events[]`: v1.1 tweets that mention, reply to, quote or
//!   retweet the account. Public. `external_id` is `id_str`; the text is
//!   `extended_tweet.full_text` (long tweets), else `full_text`, else `text`;
//!   the author is `user` (as above, with `id_str`); `posted_at` is
//!   `timestamp_ms`, else `created_at`; `lang` as in API v2. v1.1 has no
//!   conversation id, so `thread_key` is `x:` + `in_reply_to_status_id_str`
//!   (the tweet answered), else the tweet's own id. A retweet
//!   (`retweeted_status`) sets `share`. The account's own tweets are skipped.
//! * Every other kind (`favorite_events`, `follow_events`, `block_events`,
//!   `mute_events`, `direct_message_indicate_typing_events`,
//!   `direct_message_mark_read_events`, `tweet_delete_events`, `user_event`,
//!   and any kind X adds) is skipped, each event with what it is.
//!
//! `raw` is the event or the tweet object.

use chrono::{DateTime, Utc};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;

use super::{SOURCE, language};
use crate::adapters::{AdaptError, Adapted, Batch, Epoch, Field, Outcome, ts};

/// Keys of a delivery that describe it rather than hold events.
const ENVELOPE: &[&str] = &[
    "for_user_id",
    "users",
    "apps",
    "user_has_blocked",
    "is_blocked_by",
    "source",
];

/// Adapts one event of a kind that holds mentions: the event, the delivery,
/// the account's id.
type EventFn = fn(&Field<'_>, &Field<'_>, &str) -> Result<Outcome, AdaptError>;

/// v1.1's `created_at`, e.g. `Wed Oct 10 20:19:24 +0000 2018`.
const V1_TIME: &str = "%a %b %d %H:%M:%S %z %Y";

/// Adapts an Account Activity delivery (`root` holds `for_user_id`); see
/// the module docs.
pub(crate) fn adapt(root: &Field<'_>) -> Result<Batch, AdaptError> {
    let account = root.get("for_user_id").id()?;
    let mut batch = Batch::default();
    for key in root.keys() {
        if ENVELOPE.contains(&key) {
            continue;
        }
        let events = root.get(key);
        let adapt_event: Option<EventFn> = match key {
            "direct_message_events" => Some(direct_message),
            "tweet_create_events" => Some(tweet),
            _ => None,
        };
        match (adapt_event, events.value()) {
            (Some(adapt_event), _) => match events.items() {
                Ok(items) => {
                    for event in items {
                        batch.push(event.path(), adapt_event(&event, root, &account));
                    }
                }
                Err(error) => batch.items.push(Err(error)),
            },
            // One skipped item per event, so that the count is the events'.
            (None, Some(serde_json::Value::Array(_))) => {
                for event in events.opt_items()? {
                    batch.skip(event.path(), not_heard(key));
                }
            }
            (None, _) => batch.skip(events.path(), not_heard(key)),
        }
    }
    Ok(batch)
}

/// Why an event of `kind` is not a mention.
fn not_heard(kind: &str) -> String {
    let what = match kind {
        "favorite_events" => "a like",
        "follow_events" => "a follow or unfollow",
        "block_events" => "a block or unblock",
        "mute_events" => "a mute or unmute",
        "direct_message_indicate_typing_events" => "a typing indicator",
        "direct_message_mark_read_events" => "a read receipt",
        "tweet_delete_events" => "a deleted tweet",
        "user_event" => "an app authorisation revoked",
        _ => return format!("{kind}: an Account Activity event that is not a mention"),
    };
    format!("{kind}: {what}, not a mention")
}

fn direct_message(
    event: &Field<'_>,
    root: &Field<'_>,
    account: &str,
) -> Result<Outcome, AdaptError> {
    event.object()?;
    let kind = event.get("type").str()?;
    if kind != "message_create" {
        return Ok(Outcome::skip(format!("{kind} event, not a message")));
    }
    let id = event.get("id").id()?;
    let create = event.get("message_create");
    create.object()?;
    let sender = create.get("sender_id").id()?;
    if sender == account {
        return Ok(Outcome::skip("message sent by the account itself"));
    }
    let text = create.get("message_data").get("text").str()?;
    let posted_at = event.get("created_timestamp").opt_time(Epoch::Millis)?;
    let user = root.get("users").get(&sender);
    let author = match user.value() {
        Some(_) => v1_author(&sender, &user)?,
        None => Author {
            external_id: sender.clone(),
            ..Author::default()
        },
    };
    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: id,
            channel: Channel::X as i32,
            public: false,
            author: Some(author),
            text: text.trim().to_owned(),
            language: String::new(),
            thread_key: format!("x:dm:{account}:{sender}"),
            posted_at: ts(posted_at),
            share: false,
        },
        raw: event.raw(),
        rating: None,
        language_text: None,
    }))
}

fn tweet(item: &Field<'_>, _root: &Field<'_>, account: &str) -> Result<Outcome, AdaptError> {
    item.object()?;
    let id = item.get("id_str").id()?;
    let user = item.get("user");
    user.object()?;
    let author_id = user.get("id_str").id()?;
    if author_id == account {
        return Ok(Outcome::skip("tweet by the account itself"));
    }
    let text = match item.get("extended_tweet").get("full_text").opt_str()? {
        Some(long) => long,
        None => match item.get("full_text").opt_str()? {
            Some(full) => full,
            None => item.get("text").str()?,
        },
    };
    let posted_at = match item.get("timestamp_ms").opt_time(Epoch::Millis)? {
        Some(at) => Some(at),
        None => created_at(&item.get("created_at"))?,
    };
    let language = item
        .get("lang")
        .opt_str()?
        .map(language)
        .unwrap_or_default();
    let answered = item.get("in_reply_to_status_id_str").opt_id()?;
    Ok(Outcome::mention(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: id.clone(),
            channel: Channel::X as i32,
            public: true,
            author: Some(v1_author(&author_id, &user)?),
            text: text.trim().to_owned(),
            language,
            thread_key: format!("x:{}", answered.unwrap_or(id)),
            posted_at: ts(posted_at),
            share: item.get("retweeted_status").value().is_some(),
        },
        raw: item.raw(),
        rating: None,
        language_text: None,
    }))
}

/// A v1.1 user object (a tweet's `user`, a delivery's `users[id]`).
fn v1_author(id: &str, user: &Field<'_>) -> Result<Author, AdaptError> {
    Ok(Author {
        external_id: id.to_owned(),
        handle: user
            .get("screen_name")
            .opt_str()?
            .unwrap_or_default()
            .to_owned(),
        display_name: user.get("name").opt_str()?.unwrap_or_default().to_owned(),
        followers: user.get("followers_count").opt_u64()?.unwrap_or(0),
        verified: user.get("verified").opt_bool()?.unwrap_or(false),
    })
}

fn created_at(field: &Field<'_>) -> Result<Option<DateTime<Utc>>, AdaptError> {
    let Some(at) = field.opt_str()? else {
        return Ok(None);
    };
    DateTime::parse_from_str(at.trim(), V1_TIME)
        .map(|at| Some(at.with_timezone(&Utc)))
        .map_err(|_| field.invalid("must be a date-time like \"Wed Oct 10 20:19:24 +0000 2018\""))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::adapters::test_support::{assert_one_message, at, errors, parse, skipped};
    use crate::adapters::x::adapt;

    use super::*;

    const DMS: &str = include_str!("../../../tests/fixtures/adapters/x_account_activity_dm.json");

    #[test]
    fn a_direct_message_is_a_private_x_message_by_its_sender() {
        let payload = parse(DMS);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_one_message(
            &batch,
            &MentionInput {
                source: "x".to_owned(),
                external_id: "1839210000000000001".to_owned(),
                channel: Channel::X as i32,
                public: false,
                author: Some(Author {
                    external_id: "3001969357".to_owned(),
                    handle: "dana_k".to_owned(),
                    display_name: "Dana K".to_owned(),
                    followers: 1_284,
                    verified: false,
                }),
                text: "Hi, my order #4411 never arrived. Who can help me?".to_owned(),
                language: String::new(),
                thread_key: "x:dm:4337869213:3001969357".to_owned(),
                posted_at: at(1_727_351_160, 557_000_000),
                share: false,
            },
            &payload["direct_message_events"][0],
            &["message sent by the account itself"],
        );
        assert_eq!(batch.skipped[0].path, "direct_message_events[1]");
    }

    #[test]
    fn other_event_kinds_are_skipped_each_with_what_it_is() {
        let payload = json!({
            "for_user_id": "42",
            "favorite_events": [{"id": "f1"}, {"id": "f2"}],
            "follow_events": [{"type": "follow"}],
            "direct_message_indicate_typing_events": [{"sender_id": "7"}],
            "tweet_delete_events": [{"status": {"id": "1", "user_id": "7"}}],
            "user_event": {"revoke": {"source": {"user_id": "42"}}},
            "spaces_events": [{"id": "s"}],
            "users": {"7": {"id": "7"}}
        });
        let batch = adapt(&payload).expect("envelope is fine");
        assert!(batch.items.is_empty());
        assert_eq!(
            skipped(&batch),
            [
                (
                    "direct_message_indicate_typing_events[0]",
                    "direct_message_indicate_typing_events: a typing indicator, not a mention"
                ),
                (
                    "favorite_events[0]",
                    "favorite_events: a like, not a mention"
                ),
                (
                    "favorite_events[1]",
                    "favorite_events: a like, not a mention"
                ),
                (
                    "follow_events[0]",
                    "follow_events: a follow or unfollow, not a mention"
                ),
                (
                    "spaces_events[0]",
                    "spaces_events: an Account Activity event that is not a mention"
                ),
                (
                    "tweet_delete_events[0]",
                    "tweet_delete_events: a deleted tweet, not a mention"
                ),
                (
                    "user_event",
                    "user_event: an app authorisation revoked, not a mention"
                ),
            ]
        );
    }

    #[test]
    fn tweets_mentioning_the_account_are_public_and_its_own_skipped() {
        let payload = json!({
            "for_user_id": "42",
            "tweet_create_events": [
                {"created_at": "Thu Sep 26 11:42:18 +0000 2024", "id": 1_839_021_234_567_890_123_u64,
                 "id_str": "1839021234567890123", "text": "@acme where is my parcel?",
                 "in_reply_to_status_id_str": "1839015550000000000", "lang": "en",
                 "user": {"id": 7, "id_str": "7", "screen_name": "dana_k", "name": "Dana K",
                          "followers_count": 12, "verified": true}},
                {"id_str": "2", "timestamp_ms": "1727351000000", "text": "RT @acme: we are hiring",
                 "retweeted_status": {"id_str": "1"}, "lang": "und",
                 "user": {"id_str": "8", "screen_name": "sam"},
                 "extended_tweet": {"full_text": "RT @acme: we are hiring, the whole text"}},
                {"id_str": "3", "text": "Thanks for reaching out!", "user": {"id_str": "42"}}
            ]
        });
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        let tweets: Vec<&MentionInput> = batch.adapted().map(|a| &a.mention).collect();
        assert_eq!(tweets.len(), 2);
        assert_eq!(
            *tweets[0],
            MentionInput {
                source: "x".to_owned(),
                external_id: "1839021234567890123".to_owned(),
                channel: Channel::X as i32,
                public: true,
                author: Some(Author {
                    external_id: "7".to_owned(),
                    handle: "dana_k".to_owned(),
                    display_name: "Dana K".to_owned(),
                    followers: 12,
                    verified: true,
                }),
                text: "@acme where is my parcel?".to_owned(),
                language: "en".to_owned(),
                thread_key: "x:1839015550000000000".to_owned(),
                posted_at: at(1_727_350_938, 0),
                share: false,
            }
        );
        assert!(tweets[1].share);
        assert_eq!(tweets[1].text, "RT @acme: we are hiring, the whole text");
        assert_eq!(tweets[1].thread_key, "x:2");
        assert_eq!(tweets[1].language, "");
        assert_eq!(tweets[1].posted_at, at(1_727_351_000, 0));
        assert_eq!(
            skipped(&batch),
            [("tweet_create_events[2]", "tweet by the account itself")]
        );
    }

    #[test]
    fn a_bad_event_fails_with_its_path_and_the_good_ones_adapt() {
        let mut payload = parse(DMS);
        let events = payload["direct_message_events"]
            .as_array_mut()
            .expect("events");
        let mut no_text = events[0].clone();
        no_text["id"] = json!("9");
        no_text["message_create"]["message_data"]
            .as_object_mut()
            .expect("message data")
            .remove("text");
        let mut bad_time = events[0].clone();
        bad_time["id"] = json!("10");
        bad_time["created_timestamp"] = json!("yesterday");
        let mut unknown_sender = events[0].clone();
        unknown_sender["id"] = json!("11");
        unknown_sender["message_create"]["sender_id"] = json!("555");
        events.extend([
            no_text,
            bad_time,
            json!({"type": "message_create", "id": "12"}),
            unknown_sender,
        ]);
        payload["tweet_create_events"] = json!({"not": "an array"});
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "direct_message_events[2].message_create.message_data.text: missing",
                "direct_message_events[3].created_timestamp: must be an RFC 3339 date-time",
                "direct_message_events[4].message_create: missing",
                "tweet_create_events: must be an array",
            ]
        );
        let good: Vec<(&str, &str)> = batch
            .adapted()
            .map(|a| {
                let author = a.mention.author.as_ref().expect("an author");
                (a.mention.external_id.as_str(), author.external_id.as_str())
            })
            .collect();
        // A sender missing from `users` keeps its id.
        assert_eq!(good, [("1839210000000000001", "3001969357"), ("11", "555")]);
    }

    #[test]
    fn the_account_is_required_and_times_are_read() {
        let no_account = json!({"for_user_id": null, "favorite_events": []});
        // A null for_user_id is no Account Activity delivery: an empty v2 response.
        assert!(adapt(&no_account).is_ok());
        let blank = json!({"for_user_id": " ", "favorite_events": []});
        assert_eq!(
            adapt(&blank).map_err(|e| e.to_string()).err().as_deref(),
            Some("for_user_id: missing")
        );
        let tweet = json!({"created_at": "26/09/2024"});
        let bad = Field::root(&tweet).get("created_at");
        assert_eq!(
            created_at(&bad).map_err(|e| e.to_string()).err().as_deref(),
            Some("created_at: must be a date-time like \"Wed Oct 10 20:19:24 +0000 2018\"")
        );
    }
}
