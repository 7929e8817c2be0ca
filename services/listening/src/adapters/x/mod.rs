//! X: API v2 tweets (below) and Account Activity API deliveries (a payload
//! with `for_user_id`, see [`activity`]).
//!
//! API v2 tweets: the response of a tweet lookup (`GET /2/tweets/:id`,
//! `data` is one object) or a search / timeline (`GET /2/tweets/search/recent`,
//! `data` is an array), requested with `expansions=author_id` so that the
//! authors are in `includes.users`.
//!
//! * `external_id` is the tweet id; `thread_key` is `x:` + `conversation_id`
//!   (the tweet's own id when the field was not requested).
//! * The text is `note_tweet.text` for long posts (where `text` is truncated),
//!   else `text`.
//! * The author comes from `includes.users` (`username`, `name`,
//!   `public_metrics.followers_count`, `verified`); an author missing there
//!   (X omits suspended or protected accounts) still adapts with its id only.
//! * A retweet (`referenced_tweets[].type == "retweeted"`) adapts with
//!   `MentionInput::share` set. Quotes and replies are the author's own words.
//! * X's pseudo-languages (`und`, `qme`, `qht`, `zxx`, ...) become no language;
//!   its legacy codes `in` and `iw` become `id` and `he`.
//! * A response with no `data` (a search with no results) is skipped as a
//!   whole, unless it holds only `errors`, which is an error.
//! * An Account Activity CRC check forwarded as JSON (`crc_token`) is skipped
//!   as a whole: it is answered, not heard.

pub mod activity;

use std::collections::HashMap;

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Batch, Epoch, Field, Outcome, WHOLE_PAYLOAD, object_root, ts};

pub const SOURCE: &str = "x";

/// Adapts an X API v2 tweets response or an Account Activity delivery; see
/// the module docs.
pub fn adapt(payload: &Value) -> Result<Batch, AdaptError> {
    let root = object_root(payload)?;
    if root.get("for_user_id").value().is_some() {
        return activity::adapt(&root);
    }
    if root.get("crc_token").value().is_some() {
        let mut batch = Batch::default();
        batch.skip(
            WHOLE_PAYLOAD,
            "an Account Activity CRC check (crc_token): answer it with a response_token; nothing to hear",
        );
        return Ok(batch);
    }
    let data = root.get("data");
    if data.value().is_none() {
        let errors = root.get("errors");
        if let Some(first) = errors.opt_items()?.first() {
            let detail = first
                .get("detail")
                .opt_str()?
                .or(first.get("title").opt_str()?)
                .unwrap_or("no detail");
            return Err(errors.invalid(format!("the response holds only errors: {detail}")));
        }
        let mut batch = Batch::default();
        batch.skip(
            WHOLE_PAYLOAD,
            "no data (a search or lookup with no results): nothing to hear",
        );
        return Ok(batch);
    }

    let mut users = HashMap::new();
    for user in root.get("includes").get("users").opt_items()? {
        if let Ok(id) = user.get("id").id() {
            users.entry(id).or_insert(user);
        }
    }

    let mut batch = Batch::default();
    for item in data.one_or_many()? {
        batch.push(item.path(), tweet(&item, &users).map(Outcome::mention));
    }
    Ok(batch)
}

fn tweet(item: &Field<'_>, users: &HashMap<String, Field<'_>>) -> Result<Adapted, AdaptError> {
    item.object()?;
    let id = item.get("id").id()?;
    let text = match item.get("note_tweet").get("text").opt_str()? {
        Some(long) => long,
        None => item.get("text").str()?,
    };
    let author_id = item.get("author_id").id()?;
    let author = match users.get(&author_id) {
        Some(user) => author(&author_id, user)?,
        None => Author {
            external_id: author_id,
            ..Author::default()
        },
    };
    let posted_at = item.get("created_at").opt_time(Epoch::Seconds)?;
    let language = item
        .get("lang")
        .opt_str()?
        .map(language)
        .unwrap_or_default();
    let conversation = item
        .get("conversation_id")
        .opt_id()?
        .unwrap_or_else(|| id.clone());

    let mut is_share = false;
    for reference in item.get("referenced_tweets").opt_items()? {
        if reference.get("type").str()? == "retweeted" {
            is_share = true;
        }
    }

    Ok(Adapted {
        path: String::new(),
        mention: MentionInput {
            source: SOURCE.to_owned(),
            external_id: id,
            channel: Channel::X as i32,
            public: true,
            author: Some(author),
            text: text.trim().to_owned(),
            language,
            thread_key: format!("x:{conversation}"),
            posted_at: ts(posted_at),
            share: is_share,
        },
        raw: item.raw(),
        rating: None,
        language_text: None,
    })
}

fn author(id: &str, user: &Field<'_>) -> Result<Author, AdaptError> {
    Ok(Author {
        external_id: id.to_owned(),
        handle: user
            .get("username")
            .opt_str()?
            .unwrap_or_default()
            .to_owned(),
        display_name: user.get("name").opt_str()?.unwrap_or_default().to_owned(),
        followers: user
            .get("public_metrics")
            .get("followers_count")
            .opt_u64()?
            .unwrap_or(0),
        verified: user.get("verified").opt_bool()?.unwrap_or(false),
    })
}

/// X's `lang` as a BCP 47 tag, or empty when X could not tell.
pub(crate) fn language(lang: &str) -> String {
    let lang = lang.trim();
    match lang {
        "und" | "zxx" => String::new(),
        "in" => "id".to_owned(),
        "iw" => "he".to_owned(),
        _ if lang.len() == 3 && lang.starts_with('q') => String::new(),
        _ => lang.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::test_support::parse;
    use crate::adapters::{SourceKind, adapt as adapt_bytes};
    use serde_json::json;

    const SEARCH: &str = include_str!("../../../tests/fixtures/adapters/x_search_recent.json");
    const LOOKUP: &str = include_str!("../../../tests/fixtures/adapters/x_tweet_lookup.json");

    #[test]
    fn search_response_maps_every_field() {
        let payload = parse(SEARCH);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(batch.items.len(), 3);
        assert!(batch.skipped.is_empty());
        let first = batch.items[0].as_ref().expect("first tweet adapts");
        let m = &first.mention;
        assert_eq!(m.source, "x");
        assert_eq!(m.external_id, "1839021234567890123");
        assert_eq!(m.channel, Channel::X as i32);
        assert!(m.public);
        assert_eq!(
            m.text,
            "@AcmeSupport my order #4411 never arrived and nobody answers. Can you help?"
        );
        assert_eq!(m.language, "en");
        assert_eq!(m.thread_key, "x:1839015550000000000");
        let posted = m.posted_at.expect("created_at is set");
        assert_eq!(posted.seconds, 1_727_350_938); // 2024-09-26T11:42:18Z
        assert_eq!(posted.nanos, 0);
        assert_eq!(
            m.author,
            Some(Author {
                external_id: "1463345678".to_owned(),
                handle: "dana_k".to_owned(),
                display_name: "Dana K".to_owned(),
                followers: 1_284,
                verified: false,
            })
        );
        assert!(!first.mention.share);
        assert_eq!(first.rating, None);
        assert_eq!(first.raw, payload["data"][0]);
    }

    #[test]
    fn retweet_adapts_as_a_share_and_quote_does_not() {
        let batch = adapt(&parse(SEARCH)).expect("envelope is fine");
        let retweet = batch.items[1].as_ref().expect("retweet adapts");
        assert!(retweet.mention.share);
        assert!(retweet.mention.text.starts_with("RT @dana_k:"));
        assert_eq!(
            retweet.mention.author.as_ref().map(|a| a.verified),
            Some(true)
        );
        let quote = batch.items[2].as_ref().expect("quote adapts");
        assert!(!quote.mention.share);
        // "qme" (media only) is no language.
        assert_eq!(quote.mention.language, "");
    }

    #[test]
    fn single_tweet_lookup_uses_note_tweet_text() {
        let payload = parse(LOOKUP);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(batch.items.len(), 1);
        let tweet = batch.items[0].as_ref().expect("tweet adapts");
        assert_eq!(tweet.mention.external_id, "1839100000000000001");
        assert!(tweet.mention.text.ends_with("third time this month."));
        assert!(tweet.mention.text.len() > 280);
        assert_eq!(tweet.mention.thread_key, "x:1839100000000000001");
        assert_eq!(tweet.raw, payload["data"]);
    }

    #[test]
    fn bad_tweet_does_not_lose_the_good_ones() {
        let mut payload = parse(SEARCH);
        let data = payload["data"].as_array_mut().expect("data is an array");
        data[0]
            .as_object_mut()
            .expect("tweet is an object")
            .remove("author_id");
        data[2]
            .as_object_mut()
            .expect("tweet is an object")
            .remove("text");
        let batch = adapt(&payload).expect("envelope is fine");
        let errors: Vec<String> = batch.errors().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            ["data[0].author_id: missing", "data[2].text: missing"]
        );
        assert_eq!(batch.adapted().count(), 1);
        assert_eq!(batch.items[1].as_ref().map(|a| a.mention.share), Ok(true));
    }

    #[test]
    fn missing_id_and_wrong_types_name_the_field() {
        let payload = json!({
            "data": [
                {"text": "hello", "author_id": "1"},
                {"id": "2", "text": "hi", "author_id": "1", "created_at": "yesterday"},
                {"id": "3", "text": 42, "author_id": "1"},
                {"id": "4", "text": "ok", "author_id": "9"}
            ],
            "includes": {"users": [{"id": "1", "username": "a"}]}
        });
        let batch = adapt(&payload).expect("envelope is fine");
        let errors: Vec<String> = batch.errors().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "data[0].id: missing",
                "data[1].created_at: must be an RFC 3339 date-time",
                "data[2].text: must be a string",
            ]
        );
        // An author absent from includes.users keeps its id.
        let unknown = batch.items[3].as_ref().expect("tweet 4 adapts");
        assert_eq!(
            unknown
                .mention
                .author
                .as_ref()
                .map(|a| a.external_id.as_str()),
            Some("9")
        );
    }

    #[test]
    fn author_field_errors_point_into_includes() {
        let payload = json!({
            "data": {"id": "2", "text": "hi", "author_id": "1"},
            "includes": {"users": [{"id": "1", "username": "a", "public_metrics": {"followers_count": "many"}}]}
        });
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            batch.items[0].as_ref().map_err(ToString::to_string).err(),
            Some(
                "includes.users[0].public_metrics.followers_count: must be a non-negative integer"
                    .to_owned()
            )
        );
    }

    #[test]
    fn empty_and_error_only_responses() {
        let empty = adapt(&json!({"meta": {"result_count": 0}})).expect("no results is fine");
        assert!(empty.items.is_empty());
        assert_eq!(empty.skipped.len(), 1);
        assert_eq!(empty.skipped[0].path, "payload");
        assert!(empty.skipped[0].reason.contains("no results"));

        let crc = adapt(&json!({"crc_token": "abc"})).expect("a CRC check is fine");
        assert!(crc.items.is_empty());
        assert!(crc.skipped[0].reason.contains("CRC"), "{:?}", crc.skipped);

        let errors = json!({"errors": [{
            "value": "1", "detail": "Could not find tweet with ids: [1].",
            "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
            "resource_id": "1", "type": "https://api.twitter.com/2/problems/resource-not-found"
        }]});
        let error = adapt(&errors).expect_err("only errors");
        assert_eq!(error.path(), "errors");
        assert!(error.to_string().contains("Could not find tweet"));

        let not_object = json!(["data"]);
        assert_eq!(
            adapt(&not_object).map_err(|e| e.to_string()),
            Err("payload: must be a JSON object".to_owned())
        );
        let bad_data = json!({"data": "nope"});
        assert_eq!(
            adapt(&bad_data).map_err(|e| e.to_string()),
            Err("data: must be an object or an array".to_owned())
        );
    }

    #[test]
    fn adapts_from_bytes() {
        let batch = adapt_bytes(SourceKind::X, SEARCH.as_bytes()).expect("fine");
        assert_eq!(batch.adapted().count(), 3);
        let error = adapt_bytes(SourceKind::X, b"{not json").expect_err("not JSON");
        assert!(matches!(error, AdaptError::NotJson { .. }));
        assert_eq!(error.path(), "");
    }

    #[test]
    fn languages() {
        assert_eq!(language("en"), "en");
        assert_eq!(language("pt"), "pt");
        assert_eq!(language("und"), "");
        assert_eq!(language("qht"), "");
        assert_eq!(language("in"), "id");
        assert_eq!(language("iw"), "he");
    }
}
