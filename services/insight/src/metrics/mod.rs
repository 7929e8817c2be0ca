//! Service metrics: volume, first response and resolution times, SLA
//! attainment, reopen rate and one-touch resolutions of the cases opened in
//! a range, by one dimension, and the backlog at the end of each day. All
//! read from rollups, so a year costs what a day does.

pub mod store;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use crate::range::{Days, to_day};
use crate::rollups::{CaseCounters, Metric, quantile};

/// A rate that is 0 rather than NaN when nothing was counted.
pub fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { 0.0 }
}

/// Percentiles of one histogram.
pub fn durations(histogram: &[(i16, i64)]) -> pb::Durations {
    pb::Durations {
        count: histogram
            .iter()
            .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
            .sum(),
        p50_secs: quantile(histogram, 0.50),
        p90_secs: quantile(histogram, 0.90),
        p99_secs: quantile(histogram, 0.99),
    }
}

fn attainment(target: &str, met: i64, breached: i64) -> pb::SlaAttainment {
    pb::SlaAttainment {
        target: target.to_owned(),
        met: u64::try_from(met).unwrap_or(0),
        breached: u64::try_from(breached).unwrap_or(0),
        attainment: ratio(met as f64, (met + breached) as f64),
    }
}

/// One group's figures from its summed counters and its histograms by metric.
pub fn group(
    key: String,
    c: &CaseCounters,
    hist: &BTreeMap<i16, Vec<(i16, i64)>>,
) -> pb::MetricsGroup {
    let h = |m: Metric| durations(hist.get(&(m as i16)).map_or(&[][..], Vec::as_slice));
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    pb::MetricsGroup {
        key,
        opened: u(c[0]),
        resolved: u(c[1]),
        first_response: Some(h(Metric::FirstResponse)),
        first_response_business: Some(h(Metric::FirstResponseBusiness)),
        resolution: Some(h(Metric::Resolution)),
        resolution_business: Some(h(Metric::ResolutionBusiness)),
        sla: vec![
            attainment("FIRST_RESPONSE", c[4], c[5]),
            attainment("NEXT_RESPONSE", c[6], c[7]),
            attainment("RESOLUTION", c[8], c[9]),
        ],
        reopen_rate: ratio(c[2] as f64, c[1] as f64),
        one_touch: u(c[3]),
        one_touch_rate: ratio(c[3] as f64, c[1] as f64),
    }
}

/// Open cases at the end of each day: those opened before the range and not
/// resolved before it, plus each day's openings minus its resolutions.
pub fn backlog(
    days: Days,
    open_before: i64,
    opened: &BTreeMap<NaiveDate, i64>,
    resolved: &BTreeMap<NaiveDate, i64>,
) -> Vec<pb::BacklogPoint> {
    let mut open = open_before;
    days.days()
        .map(|day| {
            open +=
                opened.get(&day).copied().unwrap_or(0) - resolved.get(&day).copied().unwrap_or(0);
            pb::BacklogPoint {
                day: Some(to_day(day)),
                open,
            }
        })
        .collect()
}

pub async fn service_metrics(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    dim: Dimension,
) -> Result<pb::GetServiceMetricsResponse, sqlx::Error> {
    let counters = store::counters(pool, tenant_id, days, dim).await?;
    let histograms = store::histograms(pool, tenant_id, days, dim).await?;
    let mut groups: Vec<pb::MetricsGroup> = counters
        .iter()
        .map(|(value, c)| {
            let empty = BTreeMap::new();
            group(value.clone(), c, histograms.get(value).unwrap_or(&empty))
        })
        .collect();
    groups.sort_by(|a, b| b.opened.cmp(&a.opened).then_with(|| a.key.cmp(&b.key)));
    let flow = store::daily_flow(pool, tenant_id, days).await?;
    let (escalations, commitments_overdue) =
        crate::operations::summary(pool, tenant_id, days).await?;
    Ok(pb::GetServiceMetricsResponse {
        groups,
        backlog: backlog(days, flow.open_before, &flow.opened, &flow.resolved),
        escalations,
        commitments_overdue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollups::bucket;

    #[test]
    fn a_group_reads_rates_and_percentiles_off_its_counters() {
        // 4 opened, 2 resolved, 1 reopened, 1 one-touch; FR met 3 of 4.
        let c: CaseCounters = [4, 2, 1, 1, 3, 1, 0, 0, 1, 1, 6, 1];
        let mut hist = BTreeMap::new();
        hist.insert(
            Metric::FirstResponse as i16,
            vec![(bucket(60.0), 3), (bucket(3_600.0), 1)],
        );
        let g = group("X".into(), &c, &hist);
        assert_eq!((g.opened, g.resolved, g.one_touch), (4, 2, 1));
        assert_eq!(g.reopen_rate, 0.5);
        assert_eq!(g.sla[0].attainment, 0.75);
        assert_eq!(g.sla[1].attainment, 0.0);
        let fr = g.first_response.expect("first response");
        assert_eq!(fr.count, 4);
        assert!((fr.p50_secs / 60.0 - 1.0).abs() < 0.05);
        assert!((fr.p99_secs / 3_600.0 - 1.0).abs() < 0.05);
        assert_eq!(g.resolution.expect("resolution").count, 0);
    }

    #[test]
    fn the_backlog_carries_what_was_open_before_the_range() {
        let d = |n| NaiveDate::from_ymd_opt(2026, 3, n).expect("day");
        let days = Days {
            from: d(1),
            to: d(3),
        };
        let opened = BTreeMap::from([(d(1), 5), (d(3), 2)]);
        let resolved = BTreeMap::from([(d(2), 4)]);
        let points: Vec<i64> = backlog(days, 10, &opened, &resolved)
            .iter()
            .map(|p| p.open)
            .collect();
        assert_eq!(points, vec![15, 11, 13]);
    }
}
