//! Conversions shared by every handler: pages, tokens, times, ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{ServiceError, invalid};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

/// `page_size` of a list request: 0 means the default, above the maximum is an error.
pub fn page_size(requested: u32) -> Result<i64, ServiceError> {
    match requested {
        0 => Ok(i64::from(DEFAULT_PAGE_SIZE)),
        n if n > MAX_PAGE_SIZE => Err(invalid(
            "page_size",
            format!("must be at most {MAX_PAGE_SIZE}"),
        )),
        n => Ok(i64::from(n)),
    }
}

/// A keyset cursor: the sort key and id of the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// The opaque `next_page_token` for a page that ended at this row.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.timestamp_micros(), self.id))
    }

    /// Reads `page_token`; empty means the first page.
    pub fn decode(token: &str) -> Result<Option<Self>, ServiceError> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || invalid("page_token", "is not a token this service issued");
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (micros, id) = raw.split_once('|').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        Ok(Some(Self {
            at: DateTime::from_timestamp_micros(micros).ok_or_else(bad)?,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        }))
    }
}

/// The next page token after `rows`, when the page was full.
pub fn next_page_token<T>(rows: &[T], page_size: i64, key: impl Fn(&T) -> Cursor) -> String {
    match rows.last() {
        Some(last) if rows.len() as i64 >= page_size => key(last).encode(),
        _ => String::new(),
    }
}

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A request timestamp; `field` names it in the error.
pub fn from_timestamp(
    ts: &prost_types::Timestamp,
    field: &str,
) -> Result<DateTime<Utc>, ServiceError> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| invalid(field, "is not a valid timestamp"))
}

/// A resource id from a request; `field` names it in the error.
pub fn parse_id(raw: &str, field: &str) -> Result<Uuid, ServiceError> {
    if raw.is_empty() {
        return Err(invalid(field, "is required"));
    }
    Uuid::parse_str(raw).map_err(|_| invalid(field, "must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("valid"),
            id: Uuid::now_v7(),
        };
        let token = cursor.encode();
        assert_eq!(Cursor::decode(&token).expect("ours"), Some(cursor));
        assert_eq!(Cursor::decode("").expect("first page"), None);
        let err = Cursor::decode("not-a-token").expect_err("garbage");
        assert!(err.to_string().contains("page_token"));
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(page_size(0).expect("default"), 50);
        assert_eq!(page_size(7).expect("given"), 7);
        assert!(
            page_size(501)
                .expect_err("too big")
                .to_string()
                .contains("page_size")
        );
    }

    #[test]
    fn ids_and_timestamps_name_their_field() {
        assert!(
            parse_id("", "case_id")
                .expect_err("empty")
                .to_string()
                .contains("case_id")
        );
        assert!(
            parse_id("x", "case_id")
                .expect_err("not uuid")
                .to_string()
                .contains("UUID")
        );
        let bad = prost_types::Timestamp {
            seconds: 0,
            nanos: -1,
        };
        assert!(from_timestamp(&bad, "posted_at").is_err());
        let now = Utc::now();
        let back = from_timestamp(&timestamp(now), "t").expect("valid");
        assert_eq!(back, now);
    }
}
