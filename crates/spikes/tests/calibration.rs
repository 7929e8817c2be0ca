//! How the CUSUM and prior defaults were chosen: false alarms on burst-free series and
//! detection delay on a slow ramp, for the defaults and the alternatives they beat.
//! Slow in debug builds, so ignored; run with
//! `cargo test --release -p earshot-spikes --test calibration -- --ignored --nocapture`.

mod common;

use common::{DAY, HOUR, MONDAY, office_hours, series};
use earshot_spikes::{Bucket, MINUTES_PER_WEEK, Settings, backtest};

const SEEDS: u64 = 10;
/// Weeks 1 and 2 learn; weeks 3–6 are scored, unless a column says otherwise.
const SCORED_FROM: i64 = MONDAY + 2 * MINUTES_PER_WEEK;

/// Alerts per series-week in weeks `from..to` (1-based, inclusive-exclusive) of
/// `SEEDS` series that start learning in week 1.
fn false_alarms(
    settings: &Settings,
    weeks: std::ops::Range<i64>,
    rate: impl Fn(i64) -> f64 + Copy,
) -> f64 {
    let from = MONDAY + (weeks.start - 1) * MINUTES_PER_WEEK;
    let to = MONDAY + (weeks.end - 1) * MINUTES_PER_WEEK;
    let alerts: usize = (0..SEEDS)
        .map(|seed| {
            let buckets = series(seed, MONDAY..to, rate);
            backtest(settings, buckets)
                .iter()
                .filter(|alert| alert.minute >= from)
                .count()
        })
        .sum();
    alerts as f64 / (SEEDS as f64 * (weeks.end - weeks.start) as f64)
}

/// Minutes from the start of a 10 → 15/min ramp over two hours (held for a third) to
/// the first alert, per seed; `None` when it was missed.
fn ramp_delays(settings: &Settings) -> Vec<Option<i64>> {
    let start = SCORED_FROM + 2 * DAY + 10 * HOUR;
    let end = start + 3 * HOUR;
    (0..SEEDS)
        .map(|seed| {
            let rate = |minute: i64| {
                if (start..end).contains(&minute) {
                    10.0 * (1.0 + 0.5 * ((minute - start) as f64 / 120.0).min(1.0))
                } else {
                    office_hours(minute)
                }
            };
            let buckets = series(seed + 100, MONDAY..end + HOUR, rate);
            backtest(settings, buckets)
                .iter()
                .find(|alert| (start..end).contains(&alert.minute))
                .map(|alert| alert.minute - start)
        })
        .collect()
}

#[test]
#[ignore = "calibration report, run in release with --nocapture"]
fn calibration_report() {
    let defaults = Settings::default();
    let candidates = [
        ("defaults", defaults.clone()),
        (
            "prior 240, slack 0.5, threshold 5",
            Settings {
                prior_minutes: 240.0,
                cusum_slack: 0.5,
                cusum_threshold: 5.0,
                ..defaults.clone()
            },
        ),
        (
            "slack 0.5, threshold 5",
            Settings {
                cusum_slack: 0.5,
                cusum_threshold: 5.0,
                ..defaults.clone()
            },
        ),
        (
            "prior 10",
            Settings {
                prior_minutes: 10.0,
                ..defaults.clone()
            },
        ),
        (
            "prior 0",
            Settings {
                prior_minutes: 0.0,
                ..defaults.clone()
            },
        ),
    ];
    println!("alerts per series-week on burst-free Poisson series, weeks 3-6 after two learning:");
    for (name, settings) in &candidates {
        let flat: Vec<String> = [0.2, 1.0, 3.0, 10.0, 30.0]
            .iter()
            .map(|&rate| format!("{rate} {:.2}", false_alarms(settings, 3..7, |_| rate)))
            .collect();
        let office = false_alarms(settings, 3..7, office_hours);
        let office_x10 =
            |weeks| false_alarms(settings, weeks, |minute| 10.0 * office_hours(minute));
        println!(
            "  {name:<34} flat/min: {}; office 10/1: {office:.2}; office 100/10: {:.2} (week 2: {:.2})",
            flat.join(", "),
            office_x10(3..7),
            office_x10(2..3),
        );
    }
    println!("minutes from the start of a 1.5x ramp over 2 h (10/min) to the first alert:");
    for (name, settings) in &candidates {
        let delays: Vec<String> = ramp_delays(settings)
            .iter()
            .map(|delay| delay.map_or("missed".to_owned(), |minutes| minutes.to_string()))
            .collect();
        println!("  {name:<34} {}", delays.join(" "));
    }
    println!("first alert (minute) on a brand-new series that starts at a steady level:");
    for (name, settings) in &candidates {
        let firsts: Vec<String> = [10, 20, 50, 100]
            .iter()
            .map(|&count| {
                let buckets = (0..5).map(|offset| Bucket {
                    minute: MONDAY + offset,
                    count,
                    negative: 0,
                });
                let first = backtest(settings, buckets)
                    .first()
                    .map(|alert| alert.minute - MONDAY);
                format!(
                    "{count}/min: {}",
                    first.map_or("none".to_owned(), |m| m.to_string())
                )
            })
            .collect();
        println!("  {name:<34} {}", firsts.join(", "));
    }
}
