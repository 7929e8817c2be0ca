//! Daily activity: mentions heard and cases opened per tenant and UTC day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use earshot_proto::events::v1::{Event, event};
use earshot_proto::insight::v1::{DailyCount, GetSummaryRequest, GetSummaryResponse};
use earshot_server::ServiceError;

use crate::range::{self, Days, to_day};
use sqlx::{PgConnection, PgPool};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub mentions: i64,
    pub cases_opened: i64,
}

fn utc_day(ts: Option<&prost_types::Timestamp>) -> Option<NaiveDate> {
    let ts = ts?;
    DateTime::<Utc>::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
        .map(|t| t.date_naive())
}

/// Folds events into per-(tenant, day) increments. A mention counts on the day
/// it was posted, a case on the day it was opened; other events count nothing.
pub fn tally(events: &[Event]) -> BTreeMap<(String, NaiveDate), Counts> {
    let mut out: BTreeMap<(String, NaiveDate), Counts> = BTreeMap::new();
    for e in events {
        let occurred = utc_day(e.occurred_at.as_ref());
        let (day, is_mention) = match &e.payload {
            Some(event::Payload::MentionClassified(m)) => {
                (utc_day(m.posted_at.as_ref()).or(occurred), true)
            }
            Some(event::Payload::CaseOpened(_)) => (occurred, false),
            _ => continue,
        };
        let Some(day) = day else { continue };
        let counts = out.entry((e.tenant_id.clone(), day)).or_default();
        if is_mention {
            counts.mentions += 1;
        } else {
            counts.cases_opened += 1;
        }
    }
    out
}

pub async fn record(conn: &mut PgConnection, events: &[Event]) -> Result<(), sqlx::Error> {
    let tally = tally(events);
    if tally.is_empty() {
        return Ok(());
    }
    let mut tenants = Vec::with_capacity(tally.len());
    let mut days = Vec::with_capacity(tally.len());
    let mut mentions = Vec::with_capacity(tally.len());
    let mut cases = Vec::with_capacity(tally.len());
    for ((tenant, day), counts) in tally {
        tenants.push(tenant);
        days.push(day);
        mentions.push(counts.mentions);
        cases.push(counts.cases_opened);
    }
    // Rows in key order, so concurrent deliveries lock them in the same order.
    sqlx::query(
        "INSERT INTO daily_activity (tenant_id, day, mentions, cases_opened)
         SELECT * FROM unnest($1::text[], $2::date[], $3::int8[], $4::int8[])
         ON CONFLICT (tenant_id, day) DO UPDATE
            SET mentions = daily_activity.mentions + excluded.mentions,
                cases_opened = daily_activity.cases_opened + excluded.cases_opened",
    )
    .bind(&tenants)
    .bind(&days)
    .bind(&mentions)
    .bind(&cases)
    .execute(conn)
    .await?;
    Ok(())
}

/// The inclusive range of days a request asks for.
pub fn validate_range(req: &GetSummaryRequest) -> Result<Days, ServiceError> {
    range::check(req.from.as_ref(), req.to.as_ref(), "")
}

pub async fn summary(
    pool: &PgPool,
    tenant_id: &str,
    req: &GetSummaryRequest,
) -> Result<GetSummaryResponse, ServiceError> {
    let days = validate_range(req)?;
    let (from, to) = (days.from, days.to);
    let rows: Vec<(NaiveDate, i64, i64)> = sqlx::query_as(
        "SELECT day, mentions, cases_opened FROM daily_activity
          WHERE tenant_id = $1 AND day BETWEEN $2 AND $3
          ORDER BY day",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let as_u64 = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(GetSummaryResponse {
        mentions: rows.iter().map(|r| as_u64(r.1)).sum(),
        cases_opened: rows.iter().map(|r| as_u64(r.2)).sum(),
        days: rows
            .into_iter()
            .map(|(day, mentions, cases)| DailyCount {
                day: Some(to_day(day)),
                mentions: as_u64(mentions),
                cases_opened: as_u64(cases),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::events::v1::{CaseOpened, CaseUpdated, MentionClassified};

    fn at(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn ev(tenant: &str, occurred: i64, payload: event::Payload) -> Event {
        Event {
            tenant_id: tenant.into(),
            occurred_at: at(occurred),
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn mentions_count_on_their_posting_day_and_cases_on_their_opening_day() {
        let day1 = 1_700_000_000; // 2023-11-14
        let day2 = day1 + 86_400;
        let events = vec![
            ev(
                "a",
                day2,
                event::Payload::MentionClassified(MentionClassified {
                    posted_at: at(day1),
                    ..Default::default()
                }),
            ),
            ev("a", day2, event::Payload::CaseOpened(CaseOpened::default())),
            ev("b", day2, event::Payload::CaseOpened(CaseOpened::default())),
            ev(
                "a",
                day2,
                event::Payload::CaseUpdated(CaseUpdated::default()),
            ),
        ];
        let t = tally(&events);
        let d1 = NaiveDate::from_ymd_opt(2023, 11, 14).expect("date");
        let d2 = d1.succ_opt().expect("next day");
        assert_eq!(
            t[&("a".into(), d1)],
            Counts {
                mentions: 1,
                cases_opened: 0
            }
        );
        assert_eq!(
            t[&("a".into(), d2)],
            Counts {
                mentions: 0,
                cases_opened: 1
            }
        );
        assert_eq!(
            t[&("b".into(), d2)],
            Counts {
                mentions: 0,
                cases_opened: 1
            }
        );
        assert_eq!(t.len(), 3);
    }
}
