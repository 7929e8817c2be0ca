//! Contact drivers: what customers contact about (topic × intent × the
//! listening rule that matched), how much, how it moves against the range
//! before, and how often the same customer comes back about it within 7
//! days. Read from `driver_rollups`.

pub mod store;

use earshot_proto::common::v1::Intent;
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use crate::metrics::ratio;
use crate::range::Days;

/// Drivers listed when the request says 0, and at most.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 200;

/// A driver's sums over the range and the range before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverSums {
    pub topic: String,
    pub intent: i16,
    pub rule_id: String,
    pub contacts: i64,
    pub recurrent: i64,
    pub negative: i64,
    pub previous: i64,
}

/// Two-proportion z statistic of `x1/n1` against `x0/n0` (0 when either
/// sample is empty or nothing varies).
pub fn trend_z(x1: i64, n1: i64, x0: i64, n0: i64) -> f64 {
    if n1 <= 0 || n0 <= 0 {
        return 0.0;
    }
    let (x1, n1, x0, n0) = (x1 as f64, n1 as f64, x0 as f64, n0 as f64);
    let pooled = (x1 + x0) / (n1 + n0);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0)).sqrt();
    if se > 0.0 {
        (x1 / n1 - x0 / n0) / se
    } else {
        0.0
    }
}

pub fn key(topic: &str, intent: i16, rule_id: &str) -> pb::DriverKey {
    pb::DriverKey {
        topic: topic.to_owned(),
        intent: i32::from(intent),
        rule_id: rule_id.to_owned(),
    }
}

/// A driver as the API shows it, without its daily series.
pub fn driver(s: &DriverSums, total: i64, previous_total: i64) -> pb::Driver {
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    pb::Driver {
        key: Some(key(&s.topic, s.intent, &s.rule_id)),
        contacts: u(s.contacts),
        share: ratio(s.contacts as f64, total as f64),
        previous_contacts: u(s.previous),
        previous_share: ratio(s.previous as f64, previous_total as f64),
        trend_z: trend_z(s.contacts, total, s.previous, previous_total),
        recurrent: u(s.recurrent),
        recurrence_rate: ratio(s.recurrent as f64, s.contacts as f64),
        negative: u(s.negative),
        daily: Vec::new(),
    }
}

/// Orders drivers: by volume, or rising (a positive trend, largest first).
pub fn rank(mut drivers: Vec<pb::Driver>, order: pb::DriverOrder, limit: usize) -> Vec<pb::Driver> {
    let name = |d: &pb::Driver| {
        d.key
            .as_ref()
            .map(|k| (k.topic.clone(), k.intent, k.rule_id.clone()))
    };
    match order {
        pb::DriverOrder::Rising => {
            drivers.retain(|d| d.trend_z > 0.0);
            drivers.sort_by(|a, b| {
                b.trend_z
                    .total_cmp(&a.trend_z)
                    .then_with(|| name(a).cmp(&name(b)))
            });
        }
        pb::DriverOrder::Unspecified => {
            drivers.retain(|d| d.contacts > 0);
            drivers.sort_by(|a, b| {
                b.contacts
                    .cmp(&a.contacts)
                    .then_with(|| name(a).cmp(&name(b)))
            });
        }
    }
    drivers.truncate(limit);
    drivers
}

pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    order: pb::DriverOrder,
    limit: u32,
) -> Result<pb::ListDriversResponse, sqlx::Error> {
    let previous = days.previous();
    let sums = store::sums(pool, tenant_id, days, previous).await?;
    let total: i64 = sums.iter().map(|s| s.contacts).sum();
    let previous_total: i64 = sums.iter().map(|s| s.previous).sum();
    let drivers: Vec<pb::Driver> = sums
        .iter()
        .map(|s| driver(s, total, previous_total))
        .collect();
    let mut drivers = rank(drivers, order, limit as usize);
    let keys: Vec<pb::DriverKey> = drivers.iter().filter_map(|d| d.key.clone()).collect();
    let daily = store::daily(pool, tenant_id, days, &keys).await?;
    for d in &mut drivers {
        let Some(k) = &d.key else { continue };
        let series = daily.get(&(k.topic.clone(), k.intent, k.rule_id.clone()));
        d.daily = days
            .days()
            .map(|day| {
                series
                    .and_then(|s| s.get(&day))
                    .map_or(0, |n| u64::try_from(*n).unwrap_or(0))
            })
            .collect();
    }
    Ok(pb::ListDriversResponse {
        total_contacts: u64::try_from(total).unwrap_or(0),
        drivers,
    })
}

/// Checks a driver a request names (`field` like "drivers[2]"): a topic
/// up to 100 characters (empty only when `topic_optional`), a known intent,
/// a rule id up to 100.
pub fn check_key(
    k: &pb::DriverKey,
    field: &str,
    topic_optional: bool,
    v: &mut earshot_server::FieldViolations,
) {
    v.check(
        !topic_optional && k.topic.trim().is_empty(),
        format!("{field}.topic"),
        "is required",
    );
    v.check(
        k.topic.chars().count() > 100,
        format!("{field}.topic"),
        "must be at most 100 characters",
    );
    v.check(
        Intent::try_from(k.intent).is_err(),
        format!("{field}.intent"),
        "must be a known intent",
    );
    v.check(
        k.rule_id.chars().count() > 100,
        format!("{field}.rule_id"),
        "must be at most 100 characters",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(topic: &str, contacts: i64, previous: i64) -> DriverSums {
        DriverSums {
            topic: topic.into(),
            intent: 2,
            rule_id: String::new(),
            contacts,
            recurrent: contacts / 4,
            negative: contacts / 2,
            previous,
        }
    }

    #[test]
    fn shares_trends_and_recurrence_come_from_the_two_ranges() {
        let all = [sums("delivery", 60, 20), sums("billing", 40, 80)];
        let drivers: Vec<pb::Driver> = all.iter().map(|s| driver(s, 100, 100)).collect();
        assert_eq!(drivers[0].share, 0.6);
        assert_eq!(drivers[0].previous_share, 0.2);
        assert_eq!(drivers[0].recurrence_rate, 0.25);
        // 0.6 vs 0.2 over 100 each: pooled 0.4, se = sqrt(0.24 * 0.02).
        let z = 0.4 / (0.24f64 * 0.02).sqrt();
        assert!((drivers[0].trend_z - z).abs() < 1e-9);
        assert!(drivers[1].trend_z < 0.0);
        let rising = rank(drivers.clone(), pb::DriverOrder::Rising, 10);
        assert_eq!(rising.len(), 1);
        assert_eq!(rising[0].key.as_ref().expect("key").topic, "delivery");
        let largest = rank(drivers, pb::DriverOrder::Unspecified, 1);
        assert_eq!(largest[0].contacts, 60);
        assert_eq!(trend_z(1, 0, 1, 10), 0.0);
    }
}
