//! Success stories: praise and high fives marketing may quote, newest first.
//!
//! Insight hears consent only through cases (CaseFacts.consent_granted, the
//! customer profile's consent at that version), never on a mention, so a
//! story is listed only when its author's consent is known that way: on the
//! case opened from the praise itself, or on a case opened from another
//! mention of the same author. Praise from an author no case knows, or whose
//! cases carry no consent, is never listed.
//!
//! The outcome a story carries is the case it opened or, when it opened none,
//! the case it most likely thanks: the author's latest case opened (from
//! another of their mentions) at or before the praise.

pub mod store;

use chrono::{DateTime, Utc};
use earshot_proto::insight::v1 as pb;
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{Keyed, Page};
use sqlx::PgPool;
use uuid::Uuid;

use crate::range::Days;

/// A praise mention with consent, and its case's outcome where it has one.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Story {
    pub mention_id: Uuid,
    pub channel: i16,
    pub handle: String,
    pub praise: String,
    pub posted_at: DateTime<Utc>,
    pub topic: String,
    pub case_id: Option<Uuid>,
    pub case_status: Option<String>,
    pub csat: Option<i16>,
    pub resolution_secs: Option<f64>,
}

impl Keyed for Story {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.posted_at,
            id: self.mention_id,
        }
    }
}

pub fn story(s: &Story) -> pb::SuccessStory {
    pb::SuccessStory {
        mention_id: s.mention_id.to_string(),
        channel: i32::from(s.channel),
        handle: s.handle.clone(),
        text: s.praise.clone(),
        posted_at: Some(timestamp(s.posted_at)),
        topic: s.topic.clone(),
        case_id: s.case_id.map(|id| id.to_string()).unwrap_or_default(),
        case_status: s.case_status.clone().unwrap_or_default(),
        csat: s.csat.and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
        resolution_secs: s.resolution_secs.unwrap_or(0.0),
    }
}

/// One page of the stories posted in `days`.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    page: &Page,
) -> Result<pb::ListSuccessStoriesResponse, sqlx::Error> {
    let rows = store::stories(pool, tenant_id, days, page.after_key(), page.limit).await?;
    Ok(pb::ListSuccessStoriesResponse {
        next_page_token: page.next_token(&rows),
        stories: rows.iter().map(story).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_story_without_a_case_has_an_empty_outcome() {
        let s = Story {
            mention_id: Uuid::now_v7(),
            channel: 1,
            handle: "jane".into(),
            praise: "Thanks, sorted in minutes!".into(),
            posted_at: DateTime::from_timestamp(1_772_000_000, 0).expect("a time"),
            topic: "delivery".into(),
            case_id: None,
            case_status: None,
            csat: None,
            resolution_secs: None,
        };
        let pb = story(&s);
        assert_eq!(
            (pb.case_id.as_str(), pb.case_status.as_str(), pb.csat),
            ("", "", 0)
        );
        assert_eq!(pb.text, "Thanks, sorted in minutes!");
        assert_eq!(s.cursor().id, s.mention_id);
    }
}
