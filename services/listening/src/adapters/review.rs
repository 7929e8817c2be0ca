//! Reviews, in three shapes, told apart by their keys (all under
//! `PAYLOAD_KIND_REVIEW`, so that one review connector needs one kind):
//!
//! * **Earshot's review JSON**, one review (a root with `id` or `platform`;
//!   what the review connectors relay from Google and the like):
//!
//!   ```json
//!   {"id": "...", "platform": "trustpilot", "rating": 1, "title": "...",
//!    "text": "...", "author": {"id": "...", "name": "..."},
//!    "created_at": "2024-09-26T09:12:44Z", "url": "https://...", "language": "en"}
//!   ```
//!
//!   `source` is the platform, lower-cased. `raw` is the whole payload.
//! * **A Trustpilot service-review webhook** (a root with `events[]`): each
//!   event with `eventName: "service-review-created"` is a review from its
//!   `eventData`: `id`, `stars`, `title`, `text`, `consumer` (`id`, `name`),
//!   `createdAt`, `language`. Source `trustpilot`. Other events (updated,
//!   deleted, ...) are skipped with the reason. `raw` is the event.
//! * **A Yelp Fusion reviews response** (`GET /v3/businesses/{id}/reviews`, a
//!   root with `reviews[]`): each review's `id`, `text` (Yelp's excerpt),
//!   `rating`, `user` (`id`, `name`) and `time_created`, which Yelp writes
//!   without a zone, in US Pacific time (`2016-08-29 00:41:13`). Source
//!   `yelp`. `raw` is the review; its `url` stays there.
//!
//! For all three:
//!
//! * `external_id` is the review's id; `thread_key` is `review:` + source +
//!   `:` + id, so a review relayed as Earshot's JSON and sent by its
//!   platform's webhook is one mention.
//! * `text` is the title + `"\n"` + the text (either alone when the other is
//!   absent: a rating-only review with a title still adapts).
//! * The rating must be a whole number from 1 to 5 when present, and is
//!   exposed as [`Adapted::rating`].
//! * Public, channel REVIEW. `language` is optional.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc, Weekday};
use earshot_proto::common::v1::{Author, Channel};
use earshot_proto::listening::v1::MentionInput;
use serde_json::Value;

use super::{AdaptError, Adapted, Batch, Epoch, Field, Outcome, WHOLE_PAYLOAD, object_root, ts};

/// The Trustpilot event that is a new review.
const TRUSTPILOT_NEW: &str = "service-review-created";

/// Yelp's `time_created`, local time in the US Pacific zone.
const YELP_TIME: &str = "%Y-%m-%d %H:%M:%S";

/// Adapts a review payload of any of the shapes above.
pub fn adapt(payload: &Value) -> Result<Batch, AdaptError> {
    let root = object_root(payload)?;
    let has = |key: &str| root.get(key).value().is_some();
    if has("id") || has("platform") {
        Ok(Batch::single(earshot(payload, &root)))
    } else if has("events") {
        trustpilot(&root)
    } else if has("reviews") {
        yelp(&root)
    } else {
        Err(AdaptError::invalid(
            WHOLE_PAYLOAD,
            "is no review shape Earshot knows: expected Earshot's review JSON (id, platform, ...), \
             a Trustpilot webhook (events[]) or a Yelp Fusion reviews response (reviews[])",
        ))
    }
}

/// One review, whatever its shape, read and checked.
struct Review<'a> {
    source: String,
    id: String,
    rating: Option<u8>,
    title: Option<&'a str>,
    body: Option<&'a str>,
    /// Where the text belongs, to name when there is none.
    text: Field<'a>,
    author_id: String,
    author_name: &'a str,
    posted_at: Option<DateTime<Utc>>,
    language: &'a str,
    raw: Value,
}

impl Review<'_> {
    fn adapted(self) -> Result<Adapted, AdaptError> {
        let text = match (self.title.map(str::trim), self.body.map(str::trim)) {
            (Some(title), Some(body)) => format!("{title}\n{body}"),
            (Some(only), None) | (None, Some(only)) => only.to_owned(),
            (None, None) => return Err(self.text.missing()),
        };
        Ok(Adapted {
            path: String::new(),
            mention: MentionInput {
                thread_key: format!("review:{}:{}", self.source, self.id),
                source: self.source,
                external_id: self.id,
                channel: Channel::Review as i32,
                public: true,
                author: Some(Author {
                    external_id: self.author_id,
                    display_name: self.author_name.trim().to_owned(),
                    ..Author::default()
                }),
                text,
                language: self.language.trim().to_owned(),
                posted_at: ts(self.posted_at),
                share: false,
            },
            raw: self.raw,
            rating: self.rating,
            language_text: None,
        })
    }
}

/// Earshot's own review JSON.
fn earshot(payload: &Value, root: &Field<'_>) -> Result<Adapted, AdaptError> {
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
    let title = root.get("title").opt_str()?;
    let body = root.get("text").opt_str()?;
    let author = root.get("author");
    author.object()?;
    Review {
        source: platform,
        id,
        rating,
        title,
        body,
        text: root.get("text"),
        author_id: author.get("id").id()?,
        author_name: author.get("name").opt_str()?.unwrap_or_default(),
        posted_at: root.get("created_at").opt_time(Epoch::Seconds)?,
        language: root.get("language").opt_str()?.unwrap_or_default(),
        raw: payload.clone(),
    }
    .adapted()
}

/// A Trustpilot webhook: its new reviews, the other events skipped.
fn trustpilot(root: &Field<'_>) -> Result<Batch, AdaptError> {
    let mut batch = Batch::default();
    for event in root.get("events").items()? {
        batch.push(event.path(), trustpilot_event(&event));
    }
    Ok(batch)
}

fn trustpilot_event(event: &Field<'_>) -> Result<Outcome, AdaptError> {
    event.object()?;
    let name = event.get("eventName").str()?;
    if name != TRUSTPILOT_NEW {
        return Ok(Outcome::skip(match name {
            "service-review-updated" => {
                format!("{name}: an edit of a review already heard, not a new one")
            }
            "service-review-deleted" => format!("{name}: a removed review, not a new one"),
            _ => format!("event {name:?} is not a new service review"),
        }));
    }
    let data = event.get("eventData");
    data.object()?;
    let consumer = data.get("consumer");
    consumer.object()?;
    Review {
        source: "trustpilot".to_owned(),
        id: data.get("id").id()?,
        rating: rating(&data.get("stars"))?,
        title: data.get("title").opt_str()?,
        body: data.get("text").opt_str()?,
        text: data.get("text"),
        author_id: consumer.get("id").id()?,
        author_name: consumer.get("name").opt_str()?.unwrap_or_default(),
        posted_at: data.get("createdAt").opt_time(Epoch::Seconds)?,
        language: data.get("language").opt_str()?.unwrap_or_default(),
        raw: event.raw(),
    }
    .adapted()
    .map(Outcome::mention)
}

/// A Yelp Fusion reviews response: one mention per review.
fn yelp(root: &Field<'_>) -> Result<Batch, AdaptError> {
    let mut batch = Batch::default();
    for review in root.get("reviews").items()? {
        batch.push(review.path(), yelp_review(&review).map(Outcome::mention));
    }
    Ok(batch)
}

fn yelp_review(review: &Field<'_>) -> Result<Adapted, AdaptError> {
    review.object()?;
    let user = review.get("user");
    user.object()?;
    Review {
        source: "yelp".to_owned(),
        id: review.get("id").id()?,
        rating: rating(&review.get("rating"))?,
        title: None,
        body: review.get("text").opt_str()?,
        text: review.get("text"),
        author_id: user.get("id").id()?,
        author_name: user.get("name").opt_str()?.unwrap_or_default(),
        posted_at: yelp_time(&review.get("time_created"))?,
        language: "",
        raw: review.raw(),
    }
    .adapted()
}

/// Yelp's `time_created` (Pacific time); an RFC 3339 time (a relay's) is
/// read as such.
fn yelp_time(field: &Field<'_>) -> Result<Option<DateTime<Utc>>, AdaptError> {
    let Some(at) = field.opt_str()? else {
        return Ok(None);
    };
    if let Ok(local) = NaiveDateTime::parse_from_str(at.trim(), YELP_TIME) {
        // chrono reads years of any length; the last ones cannot move by 8 hours.
        return pacific_to_utc(local)
            .map(Some)
            .ok_or_else(|| field.invalid("is out of range"));
    }
    field.opt_time(Epoch::Seconds).map_err(|_| {
        field.invalid("must be a date-time like \"2016-08-29 00:41:13\" (US Pacific time)")
    })
}

/// A US Pacific wall-clock time in UTC: UTC-7 in daylight time, else UTC-8.
/// Daylight time runs from 02:00 on the second Sunday of March to 02:00 on
/// the first Sunday of November (since 2007; before, from the first Sunday
/// of April to the last Sunday of October). The hour repeated in November
/// reads as daylight time, the hour skipped in March as daylight time too.
fn pacific_to_utc(local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let year = local.year();
    let sunday = |month, n| {
        NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
            // The 5th Sunday of October may not exist: then the 4th is the last.
            .or_else(|| NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n - 1))
            .unwrap_or_default()
            .and_time(NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default())
    };
    let (start, end) = if year >= 2007 {
        (sunday(3, 2), sunday(11, 1))
    } else {
        (sunday(4, 1), sunday(10, 5))
    };
    let hours = if (start..end).contains(&local) { 7 } else { 8 };
    local
        .checked_add_signed(TimeDelta::hours(hours))
        .map(|utc| utc.and_utc())
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
    use crate::adapters::test_support::{at, errors, parse, skipped};
    use serde_json::json;

    const TRUSTPILOT: &str = include_str!("../../tests/fixtures/adapters/review_trustpilot.json");
    const GOOGLE: &str = include_str!("../../tests/fixtures/adapters/review_google.json");
    const TRUSTPILOT_WEBHOOK: &str =
        include_str!("../../tests/fixtures/adapters/review_trustpilot_webhook.json");
    const YELP: &str = include_str!("../../tests/fixtures/adapters/review_yelp_fusion.json");

    /// The one review of an Earshot review JSON payload.
    fn one(payload: &Value) -> Result<Adapted, AdaptError> {
        let mut batch = adapt(payload)?;
        assert_eq!(batch.items.len(), 1, "{batch:?}");
        batch.items.remove(0)
    }

    #[test]
    fn a_trustpilot_webhook_yields_its_new_reviews() {
        let payload = parse(TRUSTPILOT_WEBHOOK);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        assert_eq!(batch.items.len(), 1);
        let review = batch.items[0].as_ref().expect("adapts");
        assert_eq!(
            review.mention,
            MentionInput {
                source: "trustpilot".to_owned(),
                external_id: "66f5410c1f0b7a3e9c2d4b11".to_owned(),
                channel: Channel::Review as i32,
                public: true,
                author: Some(Author {
                    external_id: "5f3a1b2c4d5e6f7a8b9c0d2f".to_owned(),
                    display_name: "Oliver Hansen".to_owned(),
                    ..Author::default()
                }),
                text: "Refund took six weeks\nThey did refund me in the end, but only after four phone calls.".to_owned(),
                language: "en".to_owned(),
                thread_key: "review:trustpilot:66f5410c1f0b7a3e9c2d4b11".to_owned(),
                posted_at: at(1_727_347_980, 0),
                share: false,
            }
        );
        assert_eq!(review.rating, Some(2));
        assert_eq!(review.raw, payload["events"][0]);
        assert_eq!(
            skipped(&batch),
            [
                (
                    "events[1]",
                    "service-review-updated: an edit of a review already heard, not a new one"
                ),
                (
                    "events[2]",
                    "service-review-deleted: a removed review, not a new one"
                ),
            ]
        );
    }

    #[test]
    fn a_bad_trustpilot_event_fails_with_its_path() {
        let mut payload = parse(TRUSTPILOT_WEBHOOK);
        let events = payload["events"].as_array_mut().expect("events");
        let mut no_consumer = events[0].clone();
        no_consumer["eventData"]
            .as_object_mut()
            .expect("data")
            .remove("consumer");
        let mut six_stars = events[0].clone();
        six_stars["eventData"]["stars"] = json!(6);
        events.extend([
            no_consumer,
            six_stars,
            json!({"eventName": "product-review-created"}),
        ]);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "events[3].eventData.consumer: missing",
                "events[4].eventData.stars: must be a whole number from 1 to 5",
            ]
        );
        assert_eq!(batch.adapted().count(), 1);
        assert_eq!(
            batch.skipped.last().map(|s| s.reason.as_str()),
            Some("event \"product-review-created\" is not a new service review")
        );
    }

    #[test]
    fn a_yelp_fusion_response_yields_each_review_in_utc() {
        let payload = parse(YELP);
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(errors(&batch), Vec::<String>::new());
        assert!(batch.skipped.is_empty());
        let first = batch.items[0].as_ref().expect("adapts");
        assert_eq!(
            first.mention,
            MentionInput {
                source: "yelp".to_owned(),
                external_id: "xAG4O7l-t1ubbwVAlPnDKg".to_owned(),
                channel: Channel::Review as i32,
                public: true,
                author: Some(Author {
                    external_id: "W8UK02IDdRS2GL_66fuq6w".to_owned(),
                    display_name: "Ella A.".to_owned(),
                    ..Author::default()
                }),
                text: "Waited 40 minutes for a table we had booked, and the staff shrugged. The cake was good...".to_owned(),
                language: String::new(),
                thread_key: "review:yelp:xAG4O7l-t1ubbwVAlPnDKg".to_owned(),
                // 2024-09-25 18:41:13 PDT (UTC-7).
                posted_at: at(1_727_314_873, 0),
                share: false,
            }
        );
        assert_eq!(first.rating, Some(2));
        assert_eq!(first.raw, payload["reviews"][0]);
        // 2024-01-14 09:02:55 PST (UTC-8).
        let winter = batch.items[1].as_ref().expect("adapts");
        assert_eq!(winter.mention.posted_at, at(1_705_251_775, 0));
        assert_eq!(winter.rating, Some(5));
    }

    #[test]
    fn a_bad_yelp_review_fails_with_its_path() {
        let mut payload = parse(YELP);
        payload["reviews"][0]["time_created"] = json!("last week");
        payload["reviews"][1]["user"] = json!({"name": "anon"});
        let batch = adapt(&payload).expect("envelope is fine");
        assert_eq!(
            errors(&batch),
            [
                "reviews[0].time_created: must be a date-time like \"2016-08-29 00:41:13\" (US Pacific time)",
                "reviews[1].user.id: missing",
            ]
        );
        let empty = adapt(&json!({"reviews": [], "total": 0})).expect("no reviews is fine");
        assert!(empty.items.is_empty());
    }

    #[test]
    fn pacific_time_follows_the_daylight_rules() {
        let local = |s: &str| NaiveDateTime::parse_from_str(s, YELP_TIME).expect("a time");
        let utc = |s: &str| pacific_to_utc(local(s)).expect("in range").to_rfc3339();
        assert_eq!(utc("2024-03-10 01:59:59"), "2024-03-10T09:59:59+00:00");
        assert_eq!(utc("2024-03-10 03:00:00"), "2024-03-10T10:00:00+00:00");
        assert_eq!(utc("2024-11-03 01:30:00"), "2024-11-03T08:30:00+00:00");
        assert_eq!(utc("2024-11-03 02:00:00"), "2024-11-03T10:00:00+00:00");
        // Before 2007: April to October.
        assert_eq!(utc("2006-03-20 12:00:00"), "2006-03-20T20:00:00+00:00");
        assert_eq!(utc("2006-04-02 03:00:00"), "2006-04-02T10:00:00+00:00");
        assert_eq!(utc("2006-10-29 02:00:00"), "2006-10-29T10:00:00+00:00");
        assert_eq!(utc("2006-10-28 12:00:00"), "2006-10-28T19:00:00+00:00");
        // The last times chrono knows cannot move by 8 hours: refused, not a panic.
        assert_eq!(pacific_to_utc(local("+262142-12-31 23:00:00")), None);
        let far = adapt(&json!({"reviews": [{"id": "y1", "text": "ok", "rating": 4,
            "time_created": "+262142-12-31 23:00:00", "user": {"id": "u1", "name": "A"}}]}))
        .expect("the envelope is fine");
        let error = far.items[0].as_ref().expect_err("out of range");
        assert_eq!(error.path(), "reviews[0].time_created");
    }

    #[test]
    fn an_unknown_shape_is_named() {
        let error = adapt(&json!({"review": {"id": "1"}})).expect_err("no known shape");
        assert_eq!(error.path(), "payload");
        assert!(error.to_string().contains("Trustpilot webhook"), "{error}");
    }

    #[test]
    fn trustpilot_review_maps_exactly() {
        let payload = parse(TRUSTPILOT);
        let review = one(&payload).expect("adapts");
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
        let review = one(&parse(GOOGLE)).expect("adapts");
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
                one(&payload).map_err(|e| e.to_string()).err().as_deref(),
                Some(expected),
                "{field}"
            );
        }
        let mut no_text = good.clone();
        no_text["title"] = Value::Null;
        no_text["text"] = json!("  ");
        assert_eq!(
            one(&no_text).map_err(|e| e.to_string()).err().as_deref(),
            Some("text: missing")
        );
        let mut whole_float = good;
        whole_float["rating"] = json!(3.0);
        assert_eq!(one(&whole_float).map(|r| r.rating), Ok(Some(3)));
        assert_eq!(
            adapt(&json!([1]))
                .map_err(|e| e.to_string())
                .err()
                .as_deref(),
            Some("payload: must be a JSON object")
        );
    }
}
