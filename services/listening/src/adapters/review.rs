//! Reviews, in Earshot's generic review JSON (what the review connectors
//! relay from Trustpilot, Google and the like):
//!
//! ```json
//! {"id": "...", "platform": "trustpilot", "rating": 1, "title": "...",
//!  "text": "...", "author": {"id": "...", "name": "..."},
//!  "created_at": "2024-09-26T09:12:44Z", "url": "https://...", "language": "en"}
//! ```
//!
//! * `source` is the platform, lower-cased; `external_id` is `id`;
//!   `thread_key` is `review:` + platform + `:` + id.
//! * `text` is `title` + `"\n"` + `text` (either alone when the other is
//!   absent: a rating-only review with a title still adapts).
//! * `rating` must be a whole number from 1 to 5 when present, and is exposed
//!   as [`Adapted::rating`].
//! * Public, channel REVIEW. `language` is optional; `url` stays in `raw`.

use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Epoch, Field, object_root, ts};

/// Adapts one review; see the module docs.
pub fn adapt(payload: &Value) -> Result<Adapted, AdaptError> {
    let root = object_root(payload)?;
    let id = root.get("id").id()?;
    let platform_field = root.get("platform");
    let platform = platform_field.str()?.trim().to_lowercase();
    if !platform
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
    {
        return Err(platform_field.invalid("must be a-z, 0-9, '-', '_' or '.'"));
    }
    let rating = rating(&root.get("rating"))?;
    let title = root.get("title").opt_str()?.map(str::trim);
    let body = root.get("text").opt_str()?.map(str::trim);
    let text = match (title, body) {
        (Some(title), Some(body)) => format!("{title}\n{body}"),
        (Some(only), None) | (None, Some(only)) => only.to_owned(),
        (None, None) => return Err(root.get("text").missing()),
    };
    let author = root.get("author");
    author.object()?;
    let author_id = author.get("id").id()?;
    let display_name = author.get("name").opt_str()?.unwrap_or_default();
    let posted_at = root.get("created_at").opt_time(Epoch::Seconds)?;
    let language = root.get("language").opt_str()?.unwrap_or_default();

    Ok(Adapted {
        mention: MentionInput {
            source: platform.clone(),
            external_id: id.clone(),
            channel: Channel::Review as i32,
            public: true,
            author: Some(Author {
                external_id: author_id,
                display_name: display_name.trim().to_owned(),
                ..Author::default()
            }),
            text,
            language: language.trim().to_owned(),
            thread_key: format!("review:{platform}:{id}"),
            posted_at: ts(posted_at),
            share: false,
        },
        raw: payload.clone(),
        rating,
    })
}

fn rating(field: &Field<'_>) -> Result<Option<u8>, AdaptError> {
    let Some(value) = field.value() else {
        return Ok(None);
    };
    let whole = value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as u64)
    });
    match whole {
        Some(stars @ 1..=5) => Ok(u8::try_from(stars).ok()),
        _ => Err(field.invalid("must be a whole number from 1 to 5")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::test_support::{at, parse};
    use serde_json::json;

    const TRUSTPILOT: &str = include_str!("../../tests/fixtures/adapters/review_trustpilot.json");
    const GOOGLE: &str = include_str!("../../tests/fixtures/adapters/review_google.json");

    #[test]
    fn trustpilot_review_maps_exactly() {
        let payload = parse(TRUSTPILOT);
        let review = adapt(&payload).expect("adapts");
        assert_eq!(
            review.mention,
            MentionInput {
                source: "trustpilot".to_owned(),
                external_id: "66f52c0a9e1d4b2f8a7c3e10".to_owned(),
                channel: Channel::Review as i32,
                public: true,
                author: Some(Author {
                    external_id: "5f3a1b2c4d5e6f7a8b9c0d1e".to_owned(),
                    display_name: "Maria Jensen".to_owned(),
                    ..Author::default()
                }),
                text: "Never again\nPaid for next-day delivery, waited 12 days and support never answered my emails.".to_owned(),
                language: "en".to_owned(),
                thread_key: "review:trustpilot:66f52c0a9e1d4b2f8a7c3e10".to_owned(),
                posted_at: at(1_727_341_964, 0),
                share: false,
            }
        );
        assert_eq!(review.rating, Some(1));
        assert!(!review.mention.share);
        assert_eq!(review.raw, payload);
    }

    #[test]
    fn google_review_without_title() {
        let review = adapt(&parse(GOOGLE)).expect("adapts");
        assert_eq!(review.mention.source, "google");
        assert_eq!(review.rating, Some(4));
        assert_eq!(
            review.mention.text,
            "Great cakes, but the shop was out of the vegan ones again."
        );
        assert_eq!(
            review.mention.thread_key,
            "review:google:ChZDSUhNMG9nS0VJQ0FnSUQ3M2JiVkNnEAE"
        );
        // +02:00 offset normalised to UTC.
        assert_eq!(
            review.mention.posted_at.map(|t| t.seconds),
            Some(1_727_244_000)
        );
        assert_eq!(review.mention.language, "");
    }

    #[test]
    fn bad_reviews_name_the_field() {
        let good = parse(TRUSTPILOT);
        let cases = [
            ("id", Value::Null, "id: missing"),
            ("platform", json!(""), "platform: missing"),
            (
                "platform",
                json!("Trust Pilot"),
                "platform: must be a-z, 0-9, '-', '_' or '.'",
            ),
            (
                "rating",
                json!(6),
                "rating: must be a whole number from 1 to 5",
            ),
            (
                "rating",
                json!(2.5),
                "rating: must be a whole number from 1 to 5",
            ),
            ("author", Value::Null, "author: missing"),
            ("author", json!({"name": "Anon"}), "author.id: missing"),
            (
                "created_at",
                json!("26/09/2024"),
                "created_at: must be an RFC 3339 date-time",
            ),
        ];
        for (field, value, expected) in cases {
            let mut payload = good.clone();
            payload[field] = value;
            assert_eq!(
                adapt(&payload).map_err(|e| e.to_string()).err().as_deref(),
                Some(expected),
                "{field}"
            );
        }
        let mut no_text = good.clone();
        no_text["title"] = Value::Null;
        no_text["text"] = json!("  ");
        assert_eq!(
            adapt(&no_text).map_err(|e| e.to_string()).err().as_deref(),
            Some("text: missing")
        );
        let mut whole_float = good;
        whole_float["rating"] = json!(3.0);
        assert_eq!(adapt(&whole_float).map(|r| r.rating), Ok(Some(3)));
        assert_eq!(
            adapt(&json!([1]))
                .map_err(|e| e.to_string())
                .err()
                .as_deref(),
            Some("payload: must be a JSON object")
        );
    }
}
