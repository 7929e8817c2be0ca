//! The detector on synthetic series with known bursts. Every series comes from a
//! seeded generator, so each run sees the same minutes.

mod common;

use common::{DAY, HOUR, MONDAY, office_hours, series};
use earshot_spikes::{
    Alert, AlertKind, Bucket, MINUTES_PER_WEEK, SeriesState, Settings, backtest, observe, warm,
};

fn quiet(minutes: std::ops::Range<i64>, count: u32) -> impl Iterator<Item = Bucket> {
    minutes.map(move |minute| Bucket {
        minute,
        count,
        negative: 0,
    })
}

fn in_window(alerts: &[Alert], from: i64, to: i64) -> Vec<Alert> {
    alerts
        .iter()
        .filter(|alert| (from..to).contains(&alert.minute))
        .copied()
        .collect()
}

/// A state that has learned two weeks of office hours.
fn trained_on_office_hours(settings: &Settings, seed: u64) -> SeriesState {
    let mut state = SeriesState::default();
    warm(
        &mut state,
        settings,
        series(seed, MONDAY..MONDAY + 2 * MINUTES_PER_WEEK, office_hours),
    );
    state
}

#[test]
fn test_clock_starts_on_a_monday() {
    assert_eq!(earshot_spikes::hour_of_week(MONDAY), 0);
}

const THIRD_WEEK: i64 = MONDAY + 2 * MINUTES_PER_WEEK;
const THIRD_WEDNESDAY: i64 = THIRD_WEEK + 2 * DAY;

#[test]
fn seasonal_series_without_a_burst_raises_nothing_once_learned() {
    let settings = Settings::default();
    for seed in 1..=3 {
        let buckets = series(seed, MONDAY..MONDAY + 3 * MINUTES_PER_WEEK, office_hours);
        let alerts = backtest(&settings, buckets);
        let last_week = in_window(&alerts, THIRD_WEEK, THIRD_WEEK + MINUTES_PER_WEEK);
        assert!(last_week.is_empty(), "seed {seed}: {last_week:#?}");
    }
}

#[test]
fn night_burst_raises_a_burst_within_its_first_two_minutes() {
    let settings = Settings::default();
    let start = THIRD_WEDNESDAY + 3 * HOUR;
    for seed in 1..=3 {
        let rate = |minute| {
            if (start..start + 5).contains(&minute) {
                60.0
            } else {
                office_hours(minute)
            }
        };
        let alerts = backtest(
            &settings,
            series(seed, MONDAY..MONDAY + 3 * MINUTES_PER_WEEK, rate),
        );
        let last_week = in_window(&alerts, THIRD_WEEK, THIRD_WEEK + MINUTES_PER_WEEK);
        let first = last_week.first().expect("the burst raised an alert");
        assert_eq!(first.kind, AlertKind::Burst, "seed {seed}: {first:?}");
        assert!(
            (start..start + 2).contains(&first.minute),
            "seed {seed}: raised at minute {} of the burst",
            first.minute - start
        );
        assert!(first.expected < 3.0 && first.p_value < settings.tail_probability);
        // Nothing else that week: the burst's other minutes fall in the cooldown and
        // the CUSUM it charged drains before the cooldown ends.
        assert_eq!(last_week.len(), 1, "seed {seed}: {last_week:#?}");
    }
}

#[test]
fn fourteen_a_minute_is_normal_at_noon_but_a_burst_at_three_am() {
    let settings = Settings::default();
    let trained = trained_on_office_hours(&settings, 7);
    let run = |start: i64| {
        let mut state = trained.clone();
        // Carry the usual rhythm up to the test minute: jumping straight there would
        // close the hours in between as silence and lower the baseline.
        warm(
            &mut state,
            &settings,
            series(8, THIRD_WEEK..start, office_hours),
        );
        let expected = state.expected(&settings, start);
        let alerts: Vec<_> = (start..start + 3)
            .filter_map(|minute| observe(&mut state, &settings, minute, 14, 0))
            .collect();
        (expected, alerts)
    };

    let (noon_expected, noon) = run(THIRD_WEDNESDAY + 12 * HOUR);
    assert!((8.5..11.5).contains(&noon_expected), "{noon_expected}");
    assert!(noon.is_empty(), "{noon:#?}");

    let (night_expected, night) = run(THIRD_WEDNESDAY + 3 * HOUR);
    assert!((0.6..1.5).contains(&night_expected), "{night_expected}");
    assert_eq!(night.len(), 1, "{night:#?}");
    assert_eq!(night[0].kind, AlertKind::Burst);
    assert_eq!(
        night[0].minute,
        THIRD_WEDNESDAY + 3 * HOUR + 1,
        "second of k = 2"
    );
}

#[test]
fn slow_ramp_raises_sustained_without_any_burst() {
    let settings = Settings::default();
    let start = THIRD_WEDNESDAY + 10 * HOUR;
    let end = start + 3 * HOUR;
    for seed in 1..=3 {
        // 10/min rising linearly to 15/min over two hours, then holding for an hour.
        let rate = |minute: i64| {
            if (start..end).contains(&minute) {
                let progress = ((minute - start) as f64 / 120.0).min(1.0);
                10.0 * (1.0 + 0.5 * progress)
            } else {
                office_hours(minute)
            }
        };
        let alerts = backtest(
            &settings,
            series(seed, MONDAY..MONDAY + 3 * MINUTES_PER_WEEK, rate),
        );
        assert!(
            in_window(&alerts, THIRD_WEEK, start).is_empty(),
            "seed {seed}: quiet before the ramp"
        );
        let during = in_window(&alerts, start, end);
        assert!(
            during
                .iter()
                .all(|alert| alert.kind == AlertKind::Sustained),
            "seed {seed}: {during:#?}"
        );
        let first = during.first().expect("the ramp raised an alert");
        assert!(first.cusum >= settings.cusum_threshold);
        // Each minute on its own is unremarkable.
        assert!(first.p_value > settings.tail_probability, "{first:?}");
    }
}

#[test]
fn one_noisy_minute_on_a_quiet_series_needs_k_of_1() {
    let strict = Settings::default();
    let eager = Settings {
        k: 1,
        ..Settings::default()
    };
    let history = series(3, MONDAY..MONDAY + 2 * MINUTES_PER_WEEK, |_| 0.2);
    let noisy = THIRD_WEDNESDAY + 15 * HOUR;
    for count in 5..=8 {
        let mut buckets = history.clone();
        buckets.extend(series(4, THIRD_WEEK..noisy, |_| 0.2));
        buckets.push(Bucket {
            minute: noisy,
            count,
            negative: 0,
        });
        buckets.extend(series(5, noisy + 1..noisy + DAY, |_| 0.2));

        let alerts = backtest(&strict, buckets.clone());
        assert!(
            in_window(&alerts, THIRD_WEEK, noisy + DAY).is_empty(),
            "{count} mentions with k = 2: {alerts:#?}"
        );

        let alerts = backtest(&eager, buckets);
        let alerts = in_window(&alerts, THIRD_WEEK, noisy + DAY);
        assert_eq!(alerts.len(), 1, "{count} mentions with k = 1: {alerts:#?}");
        assert_eq!(
            (alerts[0].kind, alerts[0].minute),
            (AlertKind::Burst, noisy)
        );
    }
}

#[test]
fn a_few_mentions_on_a_brand_new_series_never_fire() {
    let settings = Settings {
        k: 1,
        n: 1,
        ..Settings::default()
    };
    // Ten minutes of three mentions each: each one vastly above the floor rate, and
    // below min_count, and the CUSUM learns the level before it adds up.
    let alerts = backtest(&settings, quiet(MONDAY..MONDAY + 10, 3));
    assert!(alerts.is_empty(), "{alerts:#?}");

    // The same minute at min_count is a burst, which is what min_count is holding back.
    let lowered = Settings {
        min_count: 3,
        ..settings
    };
    let alerts = backtest(&lowered, quiet(MONDAY..MONDAY + 1, 3));
    assert_eq!(alerts.len(), 1);
}

#[test]
fn silent_minutes_count_as_zeros() {
    let settings = Settings::default();
    let end = MONDAY + 5 * DAY;
    // Always talking.
    let mut busy = SeriesState::default();
    warm(&mut busy, &settings, quiet(MONDAY..end, 10));
    // Talking for three days, silent for two, and back.
    let mut gappy = SeriesState::default();
    warm(&mut gappy, &settings, quiet(MONDAY..MONDAY + 3 * DAY, 10));
    warm(&mut gappy, &settings, quiet(end - 1..end, 10));

    assert_eq!(
        gappy.total_minutes, busy.total_minutes,
        "every minute counted"
    );
    assert!(gappy.total_sum < busy.total_sum);
    // Thursday 12:00 was silent for `gappy`: its cell learned zeros, not nothing.
    let thursday_noon = MONDAY + 3 * DAY + 12 * HOUR;
    assert!(gappy.expected(&settings, thursday_noon) < 0.5);
    assert!(busy.expected(&settings, thursday_noon) > 9.0);

    // A week later (both silent since Saturday, and that counted too), ten a minute
    // at Thursday noon is news only to the series whose Thursday was silent.
    let next_thursday_noon = thursday_noon + MINUTES_PER_WEEK;
    let ten_a_minute = |state: &SeriesState| {
        let mut state = state.clone();
        (next_thursday_noon..next_thursday_noon + 3)
            .filter_map(|minute| observe(&mut state, &settings, minute, 10, 0))
            .collect::<Vec<_>>()
    };
    assert_eq!(ten_a_minute(&busy), []);
    let alerts = ten_a_minute(&gappy);
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].kind, AlertKind::Burst);
}

/// Two weeks of exactly one mention a minute: a baseline of 1 with no noise, for
/// tests about rules rather than statistics.
fn steady_state(settings: &Settings) -> SeriesState {
    let mut state = SeriesState::default();
    warm(
        &mut state,
        settings,
        quiet(MONDAY..MONDAY + 2 * MINUTES_PER_WEEK, 1),
    );
    state
}

/// Feeds `buckets` (minute offset from `start`, count, negative) and returns the alerts.
fn feed(
    state: &mut SeriesState,
    settings: &Settings,
    start: i64,
    buckets: &[(i64, u32, u32)],
) -> Vec<Alert> {
    buckets
        .iter()
        .filter_map(|&(offset, count, negative)| {
            observe(state, settings, start + offset, count, negative)
        })
        .collect()
}

fn minutes(alerts: &[Alert]) -> Vec<(AlertKind, i64)> {
    alerts
        .iter()
        .map(|alert| (alert.kind, alert.minute))
        .collect()
}

#[test]
fn cooldown_holds_back_a_second_burst() {
    let start = THIRD_WEDNESDAY + 3 * HOUR;
    let mut buckets = Vec::new();
    for offset in 0..40 {
        let burst = [0, 1, 10, 11, 30, 31].contains(&offset);
        buckets.push((offset, if burst { 30 } else { 1 }, 0));
    }

    let settings = Settings::default();
    let alerts = feed(&mut steady_state(&settings), &settings, start, &buckets);
    assert_eq!(
        minutes(&alerts),
        [
            (AlertKind::Burst, start + 1),
            (AlertKind::Burst, start + 31)
        ],
        "the burst at +10 falls within 15 minutes of the one at +1"
    );

    let settings = Settings {
        cooldown_minutes: 0,
        ..Settings::default()
    };
    let alerts = feed(&mut steady_state(&settings), &settings, start, &buckets);
    assert_eq!(
        minutes(&alerts),
        [
            (AlertKind::Burst, start + 1),
            (AlertKind::Burst, start + 11),
            (AlertKind::Burst, start + 31)
        ]
    );
}

#[test]
fn negative_share_gate() {
    let start = THIRD_WEDNESDAY + 3 * HOUR;
    let burst = |negative| [(0, 1, 0), (1, 30, negative), (2, 30, negative), (3, 1, 0)];
    let gated = Settings {
        negative_share_at_least: 0.5,
        ..Settings::default()
    };

    let alerts = feed(&mut steady_state(&gated), &gated, start, &burst(6));
    assert_eq!(alerts, [], "20% negative is below the gate");

    let alerts = feed(&mut steady_state(&gated), &gated, start, &burst(24));
    assert_eq!(minutes(&alerts), [(AlertKind::Burst, start + 2)]);
    assert_eq!(alerts[0].negative_share, 0.8);

    let open = Settings::default();
    let alerts = feed(&mut steady_state(&open), &open, start, &burst(6));
    assert_eq!(
        minutes(&alerts),
        [(AlertKind::Burst, start + 2)],
        "0 disables it"
    );
}

#[test]
fn velocity_gate() {
    let start = THIRD_WEDNESDAY + 3 * HOUR;
    let gated = Settings {
        k: 1,
        velocity_at_least: 3.0,
        ..Settings::default()
    };
    // Climbing by at most 2.5× a minute: every minute after the first is improbable,
    // none is a jump.
    let climb = [
        (0, 1, 0),
        (1, 2, 0),
        (2, 5, 0),
        (3, 12, 0),
        (4, 30, 0),
        (5, 1, 0),
    ];
    let alerts = feed(&mut steady_state(&gated), &gated, start, &climb);
    assert!(
        alerts.iter().all(|alert| alert.kind != AlertKind::Burst),
        "{alerts:#?}"
    );
    let ungated = Settings {
        k: 1,
        ..Settings::default()
    };
    let alerts = feed(&mut steady_state(&ungated), &ungated, start, &climb);
    assert_eq!(minutes(&alerts)[0], (AlertKind::Burst, start + 3));

    let jump = [(0, 1, 0), (1, 12, 0)];
    let alerts = feed(&mut steady_state(&gated), &gated, start, &jump);
    assert_eq!(minutes(&alerts), [(AlertKind::Burst, start + 1)]);
    assert_eq!(alerts[0].velocity, 12.0);

    // After a silent minute the ratio is taken against one, not zero.
    let after_silence = [(0, 0, 0), (1, 12, 0)];
    let alerts = feed(&mut steady_state(&gated), &gated, start, &after_silence);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].velocity, 12.0);
}

#[test]
fn burst_fires_while_its_minute_is_still_open() {
    let settings = Settings {
        k: 1,
        ..Settings::default()
    };
    let mut state = steady_state(&settings);
    let minute = THIRD_WEDNESDAY + 3 * HOUR;
    assert_eq!(observe(&mut state, &settings, minute, 3, 0), None);
    let expected = state.expected(&settings, minute);

    let alert = observe(&mut state, &settings, minute, 20, 0).expect("23 in a minute of 1");
    assert_eq!(
        (alert.kind, alert.minute, alert.count),
        (AlertKind::Burst, minute, 23)
    );
    assert_eq!(
        alert.expected, expected,
        "the open minute is not in its own baseline"
    );
    assert_eq!(state.expected(&settings, minute), expected);

    // The minute already exceeded: more mentions in it raise nothing new.
    assert_eq!(observe(&mut state, &settings, minute, 50, 0), None);
    assert_eq!(state.open.map(|open| open.count), Some(73));
}

#[test]
fn one_alert_per_call_sustained_first() {
    let settings = Settings {
        k: 1,
        cooldown_minutes: 0,
        ..Settings::default()
    };
    let start = THIRD_WEDNESDAY + 3 * HOUR;
    let mut state = steady_state(&settings);
    // Four a minute: below min_count, but three standard deviations up each minute.
    // Find the minute whose closing takes the CUSUM over its threshold.
    let mut minute = start;
    loop {
        assert_eq!(observe(&mut state, &settings, minute, 4, 0), None);
        minute += 1;
        let mut probe = state.clone();
        if observe(&mut probe, &settings, minute, 0, 0).is_some() {
            break;
        }
        assert!(minute < start + 10, "the CUSUM never crossed");
    }
    // The call that closes it also opens a burst minute: one alert, the sustained one.
    let alert = observe(&mut state, &settings, minute, 40, 0).expect("the CUSUM crossed");
    assert_eq!(alert.kind, AlertKind::Sustained);
    assert_eq!(alert.minute, minute - 1);
    assert!(alert.cusum >= settings.cusum_threshold);
    assert_eq!(state.cusum, 0.0, "restarted after the alert");
    // The burst minute was still marked, so it is not raised late on the next call...
    assert!(state.open_exceeded);
    assert_eq!(observe(&mut state, &settings, minute, 1, 0), None);
    // ...and the next burst minute is raised normally.
    let next = observe(&mut state, &settings, minute + 1, 40, 0).expect("a burst");
    assert_eq!((next.kind, next.minute), (AlertKind::Burst, minute + 1));
}

#[test]
fn backtest_says_what_observe_said() {
    let settings = Settings::default();
    let burst_start = THIRD_WEDNESDAY + 2 * HOUR;
    let mut buckets = series(11, MONDAY..MONDAY + 3 * MINUTES_PER_WEEK, |minute| {
        if (burst_start..burst_start + 4).contains(&minute) {
            40.0
        } else {
            office_hours(minute) * 0.3
        }
    });
    // Minutes with no mentions are not stored; a late bucket and a repeated minute.
    buckets.retain(|bucket| bucket.count > 0);
    buckets.insert(
        buckets.len() - 100,
        Bucket {
            minute: buckets[buckets.len() - 200].minute,
            count: 9,
            negative: 2,
        },
    );
    let repeat = buckets[5_000];
    buckets.insert(5_001, repeat);
    for bucket in &mut buckets {
        bucket.negative = bucket.count / 3;
    }

    let mut state = SeriesState::default();
    let live: Vec<_> = buckets
        .iter()
        .filter_map(|bucket| {
            observe(
                &mut state,
                &settings,
                bucket.minute,
                bucket.count,
                bucket.negative,
            )
        })
        .collect();
    let replayed = backtest(&settings, buckets);
    assert!(
        live.iter().any(|alert| alert.minute >= burst_start),
        "the burst shows"
    );
    assert_eq!(replayed, live);
}
