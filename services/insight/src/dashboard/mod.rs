//! The dashboard: what a person watching the service wants at a glance,
//! read from insight's own facts and reports. The page that plots it is
//! `dashboard/index.html`, served on the HTTP port at `/dashboard`.

pub mod page;
pub mod store;

use chrono::{DateTime, Days as CalendarDays, Utc};
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use crate::range::Days;
use crate::{drivers, goodwill};

/// Drivers shown when the request names no number, and at most.
pub const DEFAULT_TOP_DRIVERS: u32 = 5;
pub const MAX_TOP_DRIVERS: u32 = 20;
/// Days the drivers, escalations and incidents panels look back over (today
/// included), and the Goodwill Index's.
pub const TREND_DAYS: u64 = 14;
pub const GOODWILL_DAYS: u64 = 30;
/// Hours the mentions-per-hour plot covers (the current hour included).
pub const HOURS: i64 = 24;
/// Seconds from now at which an SLA due time moves to the next bucket:
/// past due, within 1 h, 4 h, 24 h, later.
pub const DUE_EDGES_SECS: [f64; 4] = [0.0, 3_600.0, 14_400.0, 86_400.0];

/// The bucket of an open case: breached (a clock breached, or a running one
/// past due), by how soon its earliest running clock falls due, or no clock.
/// `edge` is the case's due time's place among [`DUE_EDGES_SECS`] as SQL's
/// `width_bucket` gives it (0 past due … 4 later), `None` with no clock.
pub fn due_bucket(breached: bool, edge: Option<i32>) -> pb::SlaDue {
    match (breached, edge) {
        (true, _) | (false, Some(i32::MIN..=0)) => pb::SlaDue::Breached,
        (false, None) => pb::SlaDue::NoClock,
        (false, Some(1)) => pb::SlaDue::Within1h,
        (false, Some(2)) => pb::SlaDue::Within4h,
        (false, Some(3)) => pb::SlaDue::Within24h,
        (false, Some(_)) => pb::SlaDue::Later,
    }
}

/// Every bucket in order, with the counts of those that have cases.
pub fn queue(counts: &[(pb::SlaDue, u64)]) -> Vec<pb::QueueBucket> {
    [
        pb::SlaDue::Breached,
        pb::SlaDue::Within1h,
        pb::SlaDue::Within4h,
        pb::SlaDue::Within24h,
        pb::SlaDue::Later,
        pb::SlaDue::NoClock,
    ]
    .into_iter()
    .map(|due| pb::QueueBucket {
        due: due as i32,
        cases: counts
            .iter()
            .filter(|(d, _)| *d == due)
            .map(|(_, n)| n)
            .sum(),
    })
    .collect()
}

/// Counts per slot (`slot` numbered from the first, e.g. hours since the
/// epoch), as `len` values from `first` on, zero where nothing was counted.
pub fn series(first: i64, len: i64, counted: &[(i64, i64)]) -> Vec<u64> {
    let mut out = vec![0u64; usize::try_from(len).unwrap_or(0)];
    for (slot, n) in counted {
        if let Some(i) = slot
            .checked_sub(first)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < out.len())
        {
            out[i] += u64::try_from(*n).unwrap_or(0);
        }
    }
    out
}

/// Channels with their contacts today, most contacts first.
pub fn volume(mut rows: Vec<(i16, i64, i64)>) -> Vec<pb::ChannelVolume> {
    rows.sort_by_key(|(channel, mentions, cases)| (std::cmp::Reverse(mentions + cases), *channel));
    rows.into_iter()
        .map(|(channel, mentions, cases)| pb::ChannelVolume {
            channel: i32::from(channel),
            mentions: u64::try_from(mentions).unwrap_or(0),
            cases_opened: u64::try_from(cases).unwrap_or(0),
        })
        .collect()
}

fn hour_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(3_600)
}

fn day_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(86_400)
}

/// The `len` days ending with the day of `now`.
fn last_days(now: DateTime<Utc>, len: u64) -> Days {
    let today = now.date_naive();
    Days {
        from: today - CalendarDays::new(len - 1),
        to: today,
    }
}

/// The dashboard of a tenant as of `now`.
pub async fn dashboard(
    pool: &PgPool,
    tenant_id: &str,
    now: DateTime<Utc>,
    top_drivers: u32,
) -> Result<pb::Dashboard, sqlx::Error> {
    let trend = last_days(now, TREND_DAYS);
    let goodwill_days = last_days(now, GOODWILL_DAYS);
    let first_hour = hour_of(now) - (HOURS - 1);
    let first_day = day_of(trend.start());
    let (volume_rows, hourly, queue_counts, escalations, drivers, goodwill) = tokio::try_join!(
        store::volume_since(pool, tenant_id, last_days(now, 1).start()),
        store::mentions_by_hour(pool, tenant_id, first_hour),
        store::open_queue(pool, tenant_id, now),
        store::escalations(pool, tenant_id, first_day),
        drivers::list(
            pool,
            tenant_id,
            trend,
            pb::DriverOrder::Unspecified,
            top_drivers
        ),
        goodwill::index(pool, tenant_id, goodwill_days),
    )?;
    let store::Escalations {
        open,
        unacknowledged,
        by_severity,
        raised_by_day,
        open_incidents,
        incidents_by_day,
    } = escalations;
    let days = i64::try_from(TREND_DAYS).unwrap_or(14);
    Ok(pb::Dashboard {
        as_of: Some(earshot_server::convert::timestamp(now)),
        volume_today: volume(volume_rows),
        mentions_hourly: series(first_hour, HOURS, &hourly),
        open_queue: queue(&queue_counts),
        escalations: Some(pb::EscalationPanel {
            open,
            unacknowledged,
            open_by_severity: by_severity
                .into_iter()
                .map(|(severity, open)| pb::SeverityCount {
                    severity,
                    open: u64::try_from(open).unwrap_or(0),
                })
                .collect(),
            raised_daily: series(first_day, days, &raised_by_day),
            open_incidents,
            incidents_daily: series(first_day, days, &incidents_by_day),
        }),
        drivers_range: Some(trend.to_proto()),
        top_drivers: drivers.drivers,
        goodwill_range: Some(goodwill_days.to_proto()),
        goodwill: Some(goodwill),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_falls_in_the_bucket_of_its_earliest_running_clock() {
        assert_eq!(due_bucket(true, Some(4)), pb::SlaDue::Breached);
        assert_eq!(due_bucket(false, Some(0)), pb::SlaDue::Breached, "past due");
        assert_eq!(due_bucket(false, Some(1)), pb::SlaDue::Within1h);
        assert_eq!(due_bucket(false, Some(2)), pb::SlaDue::Within4h);
        assert_eq!(due_bucket(false, Some(3)), pb::SlaDue::Within24h);
        assert_eq!(due_bucket(false, Some(4)), pb::SlaDue::Later);
        assert_eq!(due_bucket(false, None), pb::SlaDue::NoClock);
        assert_eq!(due_bucket(true, None), pb::SlaDue::Breached);
    }

    #[test]
    fn the_queue_lists_every_bucket_in_order() {
        let q = queue(&[(pb::SlaDue::NoClock, 2), (pb::SlaDue::Breached, 3)]);
        let cases: Vec<u64> = q.iter().map(|b| b.cases).collect();
        assert_eq!(cases, [3, 0, 0, 0, 0, 2]);
        assert_eq!(q[1].due, pb::SlaDue::Within1h as i32);
    }

    #[test]
    fn series_fill_the_gaps_and_drop_what_falls_outside() {
        assert_eq!(
            series(100, 4, &[(100, 2), (102, 5), (99, 7), (104, 1)]),
            [2, 0, 5, 0]
        );
    }

    #[test]
    fn busiest_channels_come_first() {
        let v = volume(vec![(5, 1, 1), (1, 10, 2), (7, 0, 3)]);
        let order: Vec<i32> = v.iter().map(|c| c.channel).collect();
        assert_eq!(order, [1, 7, 5]);
        assert_eq!(v[0].cases_opened, 2);
    }

    #[test]
    fn ranges_end_today() {
        let now = DateTime::from_timestamp(1_796_000_000, 0).expect("valid");
        let days = last_days(now, 14);
        assert_eq!(days.to, now.date_naive());
        assert_eq!(days.len(), 14);
        assert_eq!(
            hour_of(now) - hour_of(now - chrono::Duration::hours(23)),
            23
        );
    }
}
