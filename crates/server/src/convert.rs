//! Conversions shared by every handler: pages, tokens, times, ids.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
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
        // A token is opaque but not trusted: its time goes into SQL like any
        // request time, so it must lie in the same range.
        let at = DateTime::from_timestamp_micros(micros)
            .filter(in_range)
            .ok_or_else(bad)?;
        Ok(Some(Self {
            at,
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

/// First second a request time may name: 1970-01-01T00:00:00Z.
pub const MIN_TIME_SECONDS: i64 = 0;
/// Last second a request time may name: 9999-12-31T23:59:59Z.
pub const MAX_TIME_SECONDS: i64 = 253_402_300_799;
/// What a caller is told about a time out of range.
pub const TIME_RANGE: &str =
    "must be a valid time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/// Every time a request carries lies in 1970..=9999. PostgreSQL's
/// `timestamptz` stops at 4713 BC (an earlier time was an INTERNAL error
/// from the insert), and a time far in the future (a Unix time in
/// milliseconds read as seconds is year ~57,900) is a caller's mistake that
/// would otherwise be stored and sorted as real. Both ends are inside what
/// chrono, PostgreSQL and RFC 3339 (four-digit years) all represent.
fn in_range(at: &DateTime<Utc>) -> bool {
    (MIN_TIME_SECONDS..=MAX_TIME_SECONDS).contains(&at.timestamp())
}

/// A request timestamp, in [`MIN_TIME_SECONDS`]..=[`MAX_TIME_SECONDS`];
/// `field` names it in the error.
pub fn from_timestamp(
    ts: &prost_types::Timestamp,
    field: &str,
) -> Result<DateTime<Utc>, ServiceError> {
    u32::try_from(ts.nanos)
        .ok()
        .filter(|nanos| *nanos < 1_000_000_000)
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .filter(in_range)
        .ok_or_else(|| invalid(field, TIME_RANGE))
}

/// A calendar day of a request (year, month, day), in the same range as
/// [`from_timestamp`]; `field` names it in the error.
pub fn calendar_day(
    year: i32,
    month: u32,
    day: u32,
    field: &str,
) -> Result<NaiveDate, ServiceError> {
    NaiveDate::from_ymd_opt(year, month, day)
        .filter(|date| in_range(&date.and_time(chrono::NaiveTime::MIN).and_utc()))
        .ok_or_else(|| {
            invalid(
                field,
                "must be a calendar day from 1970-01-01 to 9999-12-31",
            )
        })
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

    fn seconds(seconds: i64) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn times_are_bounded_on_both_sides() {
        // Before 4713 BC PostgreSQL cannot store it; a Unix time in
        // milliseconds read as seconds lands in year ~55,800.
        for out in [
            -300_000_000_000,
            -1,
            MAX_TIME_SECONDS + 1,
            1_700_000_000_000,
            i64::MAX,
            i64::MIN,
        ] {
            let err = from_timestamp(&seconds(out), "posted_from").expect_err("out of range");
            assert_eq!(
                err.to_string(),
                format!("posted_from: {TIME_RANGE}"),
                "{out}"
            );
        }
        for edge in [MIN_TIME_SECONDS, MAX_TIME_SECONDS] {
            assert_eq!(
                from_timestamp(&seconds(edge), "t")
                    .expect("in range")
                    .timestamp(),
                edge
            );
        }
        let last = prost_types::Timestamp {
            seconds: MAX_TIME_SECONDS,
            nanos: 999_999_999,
        };
        assert!(from_timestamp(&last, "t").is_ok());
        let leap = prost_types::Timestamp {
            seconds: 0,
            nanos: 1_000_000_000,
        };
        assert!(from_timestamp(&leap, "t").is_err(), "nanos past a second");
    }

    #[test]
    fn calendar_days_are_bounded_like_times() {
        assert!(calendar_day(2024, 2, 29, "from").is_ok());
        assert!(calendar_day(9999, 12, 31, "to").is_ok());
        assert!(calendar_day(1970, 1, 1, "from").is_ok());
        for (y, m, d) in [(-5000, 1, 1), (1969, 12, 31), (10_000, 1, 1), (2023, 2, 29)] {
            let err = calendar_day(y, m, d, "from").expect_err("out of range");
            assert!(err.to_string().starts_with("from: "), "{err}");
        }
    }

    #[test]
    fn page_tokens_carrying_times_out_of_range_are_refused() {
        for micros in [-300_000_000_000_000_000, (MAX_TIME_SECONDS + 1) * 1_000_000] {
            let token = URL_SAFE_NO_PAD.encode(format!("{micros}|{}", Uuid::now_v7()));
            let err = Cursor::decode(&token).expect_err("out of range");
            assert!(err.to_string().contains("page_token"), "{err}");
        }
    }
}
