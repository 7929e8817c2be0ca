//! The per-series state and the one function that advances it.

use serde::{Deserialize, Serialize};

use crate::poisson::poisson_upper_tail;
use crate::settings::Settings;

/// Hour-of-week cells in the baseline.
pub const HOURS_PER_WEEK: usize = 168;
/// Minutes in a week; also the longest silence the detector replays as zeros.
pub const MINUTES_PER_WEEK: i64 = 10_080;
/// Rate (mentions per minute) a brand-new series is assumed to have before it has
/// history, so its first mentions are compared with something small but not zero.
pub const FLOOR_RATE: f64 = 0.05;
/// Weight, in minutes, of [`FLOOR_RATE`] in the overall rate: an hour of history
/// outweighs it, so it only matters while the series is young.
pub const FLOOR_PRIOR_MINUTES: f64 = 60.0;
/// Lowest expectation ever tested against, so that a cell learned as exactly zero
/// (possible with `prior_minutes = 0`) does not make one mention infinitely unlikely.
pub const MIN_EXPECTED: f64 = 1e-3;
/// Unix minute of Monday 1970-01-05 00:00 UTC. The epoch fell on a Thursday, so
/// weeks (and hour-of-week 0) are counted from the Monday after it.
const FIRST_MONDAY: i64 = 4 * 24 * 60;
/// A CUSUM step is capped at `threshold / CUSUM_MIN_STEPS`, so at least this many
/// buckets are needed to raise a sustained alert. Without the cap one bucket of two
/// mentions on a series expecting 0.05 is eight standard deviations and would call
/// itself a sustained shift; single buckets are the k-of-n test's business.
const CUSUM_MIN_STEPS: f64 = 3.0;

/// One minute of one series: how many mentions, and how many of them negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    /// Unix minutes (seconds since the epoch, divided by 60, floored).
    pub minute: i64,
    pub count: u32,
    pub negative: u32,
}

/// Why an alert was raised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertKind {
    /// At least k of the last n minutes were improbably high; raised the moment the
    /// open minute crosses, not when it closes.
    Burst,
    /// The CUSUM reached its threshold: volume has run above the baseline for a while,
    /// though perhaps no single minute was extreme. Raised when a minute closes, under
    /// the cooldown like a burst. `min_count` does not apply (a shift on a quiet series
    /// is many small minutes), but an empty minute never raises it: a minute adds to
    /// the CUSUM only above λ + slack·√λ.
    Sustained,
}

/// What the detector saw in the minute that raised the alert.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    /// The minute tested: the open one for a burst, the one that closed for a
    /// sustained alert.
    pub minute: i64,
    /// Mentions in that minute (so far, for a burst).
    pub count: u32,
    /// The baseline's expected mentions for that minute.
    pub expected: f64,
    /// P(X ≥ count) under Poisson(expected).
    pub p_value: f64,
    /// Negative mentions / mentions in that minute (0 when the minute was empty).
    pub negative_share: f64,
    /// count / previous minute's count, a silent previous minute counting as one so
    /// the ratio stays finite.
    pub velocity: f64,
    /// The CUSUM statistic: for a sustained alert, the value that crossed (the
    /// statistic itself has been reset); for a burst, its value at the time.
    pub cusum: f64,
}

/// Everything the detector remembers about one series, small enough for one
/// database row: 2 × 168 floats and a dozen scalars, whatever the series' age.
///
/// Cells are indexed by hour of week counted from Monday 00:00 UTC, `((minute −
/// monday) mod 10 080) / 60` with `monday` = 1970-01-05 00:00 UTC: cell 0 is Monday
/// 00:00–00:59 UTC, cell 167 Sunday 23:00–23:59 UTC (see [`hour_of_week`]). Time zones are the
/// caller's business; the cells learn whatever weekly rhythm the series has in UTC.
///
/// `Default` is a brand-new series. A missing field deserializes to its default, so
/// rows stored before a field existed still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesState {
    /// The minute still receiving mentions; `None` until the first observation.
    pub open: Option<Bucket>,
    /// Whether the open minute has already been found exceeding (it stays so even if
    /// later mentions dilute its negative share: an alert is not taken back).
    pub open_exceeded: bool,
    /// Count of the last closed minute (0 after a silent one); for the velocity gate.
    pub previous_count: u32,
    /// Closed minutes that exceeded, as bits: bit 0 the most recently closed.
    pub exceeded: u64,
    /// Mentions per hour-of-week cell, decayed (see [`Settings::half_life_weeks`]).
    pub cell_sum: Vec<f64>,
    /// Minutes observed per hour-of-week cell, silent ones included, decayed alike.
    pub cell_minutes: Vec<f64>,
    /// Mentions over all cells, decayed.
    pub total_sum: f64,
    /// Minutes over all cells, decayed.
    pub total_minutes: f64,
    /// Week (counted from Monday 1970-01-05 UTC) up to which the decay has been applied.
    pub week: i64,
    /// Every minute from this one up to the open minute is in `cell_minutes`, so late
    /// mentions from that far back can be added to their cell's sum. Older ones would
    /// add mentions to a cell without the minute they arrived in.
    pub counted_from: i64,
    /// One-sided CUSUM statistic, in standard deviations.
    pub cusum: f64,
    /// Minute of the last alert raised, for the cooldown.
    pub last_alert_minute: Option<i64>,
}

impl Default for SeriesState {
    fn default() -> Self {
        Self {
            open: None,
            open_exceeded: false,
            previous_count: 0,
            exceeded: 0,
            cell_sum: vec![0.0; HOURS_PER_WEEK],
            cell_minutes: vec![0.0; HOURS_PER_WEEK],
            total_sum: 0.0,
            total_minutes: 0.0,
            week: 0,
            counted_from: 0,
            cusum: 0.0,
            last_alert_minute: None,
        }
    }
}

impl SeriesState {
    /// Mentions the baseline expects in `minute`, from closed minutes only.
    ///
    /// The overall rate is shrunk toward [`FLOOR_RATE`] by [`FLOOR_PRIOR_MINUTES`];
    /// the cell for `minute`'s hour of week is shrunk toward that overall rate by
    /// `prior_minutes`: `(cell_sum + prior · overall) / (cell_minutes + prior)`.
    pub fn expected(&self, settings: &Settings, minute: i64) -> f64 {
        self.expected_in_cell(settings, hour_of_week(minute))
    }

    fn expected_in_cell(&self, settings: &Settings, cell: usize) -> f64 {
        let overall = (self.total_sum + FLOOR_PRIOR_MINUTES * FLOOR_RATE)
            / (self.total_minutes + FLOOR_PRIOR_MINUTES);
        let prior = settings.prior_minutes;
        let minutes = self.cell_minutes[cell] + prior;
        let rate = if minutes > 0.0 {
            (self.cell_sum[cell] + prior * overall) / minutes
        } else {
            overall
        };
        rate.max(MIN_EXPECTED)
    }

    /// A row from storage with the wrong number of cells is padded or cut rather than
    /// indexed out of bounds; a correct row costs two length checks.
    fn ensure_cells(&mut self) {
        self.cell_sum.resize(HOURS_PER_WEEK, 0.0);
        self.cell_minutes.resize(HOURS_PER_WEEK, 0.0);
    }

    /// Ages the baseline to the week holding `minute`.
    fn decay_to(&mut self, settings: &Settings, minute: i64) {
        let week = week_of(minute);
        if week <= self.week {
            return;
        }
        let keep = 0.5f64.powf((week - self.week) as f64 / settings.half_life_weeks);
        for value in self.cell_sum.iter_mut().chain(self.cell_minutes.iter_mut()) {
            *value *= keep;
        }
        self.total_sum *= keep;
        self.total_minutes *= keep;
        self.week = week;
    }

    fn in_cooldown(&self, settings: &Settings, minute: i64) -> bool {
        self.last_alert_minute
            .is_some_and(|last| minute < last.saturating_add(i64::from(settings.cooldown_minutes)))
    }

    /// Closes the open minute into the baseline and the CUSUM; may raise `Sustained`.
    fn close_open(&mut self, settings: &Settings) -> Option<Alert> {
        let open = self.open?;
        self.decay_to(settings, open.minute);
        let cell = hour_of_week(open.minute);
        // Expectation before this minute joins the baseline, as the burst test saw it.
        let expected = self.expected_in_cell(settings, cell);
        let count = f64::from(open.count);
        let z = (count - expected) / expected.sqrt();
        let step = (z - settings.cusum_slack).min(settings.cusum_threshold / CUSUM_MIN_STEPS);
        self.cusum = (self.cusum + step).max(0.0);

        self.cell_sum[cell] += count;
        self.cell_minutes[cell] += 1.0;
        self.total_sum += count;
        self.total_minutes += 1.0;
        self.exceeded = (self.exceeded << 1) | u64::from(self.open_exceeded);
        let previous = std::mem::replace(&mut self.previous_count, open.count);

        if self.cusum < settings.cusum_threshold {
            return None;
        }
        // Restart whether or not the cooldown lets the alert out: the shift has been
        // detected, and an alert that was held back must not fire later on stale evidence.
        let cusum = std::mem::take(&mut self.cusum);
        if self.in_cooldown(settings, open.minute) {
            return None;
        }
        self.last_alert_minute = Some(open.minute);
        Some(Alert {
            kind: AlertKind::Sustained,
            minute: open.minute,
            count: open.count,
            expected,
            p_value: poisson_upper_tail(open.count, expected),
            negative_share: share(open.negative, open.count),
            velocity: velocity(open.count, previous),
            cusum,
        })
    }

    /// Counts the silent minutes `from..to` as zero buckets, one step per hour-of-week
    /// cell rather than per minute. A silence longer than a week counts as its last week
    /// (the decay has already forgotten most of what came before it).
    fn close_silence(&mut self, settings: &Settings, from: i64, to: i64) {
        let gap = to - from;
        if gap <= 0 {
            return;
        }
        self.exceeded = u32::try_from(gap)
            .ok()
            .and_then(|gap| self.exceeded.checked_shl(gap))
            .unwrap_or(0);
        self.previous_count = 0;
        let mut minute = from;
        if gap > MINUTES_PER_WEEK {
            minute = to - MINUTES_PER_WEEK;
            self.counted_from = minute;
        }
        while minute < to {
            self.decay_to(settings, minute);
            let cell = hour_of_week(minute);
            let hour_end = minute - (minute - FIRST_MONDAY).rem_euclid(60) + 60;
            let end = hour_end.min(to);
            let minutes = (end - minute) as f64;
            // A zero's step, −(√λ + slack), is always negative, so a run of them is one
            // subtraction before the floor at 0 (with λ as of the run's start; it only
            // drifts as the cell learns the run's own zeros).
            let expected = self.expected_in_cell(settings, cell);
            self.cusum = (self.cusum - minutes * (expected.sqrt() + settings.cusum_slack)).max(0.0);
            self.cell_minutes[cell] += minutes;
            self.total_minutes += minutes;
            minute = end;
        }
    }

    /// Tests the open minute; may raise `Burst`. `held` suppresses the alert (not the
    /// exceeded mark) when this call already raised one.
    fn test_open(&mut self, settings: &Settings, held: bool) -> Option<Alert> {
        let open = self.open?;
        if self.open_exceeded || open.count < settings.min_count {
            return None;
        }
        let expected = self.expected(settings, open.minute);
        let p_value = poisson_upper_tail(open.count, expected);
        if p_value >= settings.tail_probability {
            return None;
        }
        let negative_share = share(open.negative, open.count);
        if settings.negative_share_at_least > 0.0
            && negative_share < settings.negative_share_at_least
        {
            return None;
        }
        let velocity = velocity(open.count, self.previous_count);
        if settings.velocity_at_least > 0.0 && velocity < settings.velocity_at_least {
            return None;
        }
        self.open_exceeded = true;
        let earlier = self.exceeded & low_bits(settings.n.saturating_sub(1));
        if earlier.count_ones() + 1 < settings.k || held || self.in_cooldown(settings, open.minute)
        {
            return None;
        }
        self.last_alert_minute = Some(open.minute);
        Some(Alert {
            kind: AlertKind::Burst,
            minute: open.minute,
            count: open.count,
            expected,
            p_value,
            negative_share,
            velocity,
            cusum: self.cusum,
        })
    }

    /// Late mentions join the baseline of their own minute, which was already counted
    /// (as a real or a silent minute), so only the sum grows. They are not tested: the
    /// alert they might have raised is in the past. Mentions older than a week, or older
    /// than the series' counted history, are dropped: their minute is not in the cells.
    fn fold_late(&mut self, open_minute: i64, minute: i64, count: u32) {
        let oldest = self.counted_from.max(open_minute - MINUTES_PER_WEEK);
        if minute < oldest {
            return;
        }
        self.cell_sum[hour_of_week(minute)] += f64::from(count);
        self.total_sum += f64::from(count);
    }
}

/// Adds `count` mentions (`negative` of them negative) at unix minute `minute` to the
/// series and says whether that raised an alert. O(1) amortized per minute.
///
/// - A later `minute` first closes the open one into the baseline and the CUSUM (which
///   may raise [`AlertKind::Sustained`]), then closes the silent minutes in between as
///   real zeros, then opens `minute`.
/// - The open minute's running count is then tested against the baseline of closed
///   minutes, so a burst raises [`AlertKind::Burst`] while it is happening and never
///   inflates its own expectation.
/// - An earlier `minute` (late data) only adds to that minute's baseline cell and
///   raises nothing; see the crate docs.
/// - A call with `count == 0` just advances time, which lets the caller close a minute
///   (and hear its sustained alert) without waiting for the next mention.
///
/// At most one alert per call: a sustained alert raised while closing the previous
/// minute holds back a burst in the same call, as the cooldown would. `negative` above
/// `count` is taken as `count`. `settings` are assumed valid ([`Settings::validate`]).
pub fn observe(
    state: &mut SeriesState,
    settings: &Settings,
    minute: i64,
    count: u32,
    negative: u32,
) -> Option<Alert> {
    state.ensure_cells();
    let negative = negative.min(count);
    let mut raised = None;
    match state.open {
        None => {
            state.week = week_of(minute);
            state.counted_from = minute;
            state.open = Some(Bucket {
                minute,
                count: 0,
                negative: 0,
            });
        }
        Some(open) if minute > open.minute => {
            raised = state.close_open(settings);
            state.close_silence(settings, open.minute + 1, minute);
            state.open = Some(Bucket {
                minute,
                count: 0,
                negative: 0,
            });
            state.open_exceeded = false;
        }
        Some(open) if minute < open.minute => {
            state.fold_late(open.minute, minute, count);
            return None;
        }
        Some(_) => {}
    }
    if let Some(open) = state.open.as_mut() {
        open.count = open.count.saturating_add(count);
        open.negative = open.negative.saturating_add(negative);
    }
    let burst = state.test_open(settings, raised.is_some());
    raised.or(burst)
}

/// Runs a fresh series over `buckets` through [`observe`] and returns every alert it
/// raised: exactly what the live detector would have said.
///
/// Buckets are fed in the order given; pass them sorted by minute (as
/// `GROUP BY minute ORDER BY minute` returns them). An out-of-order bucket is treated
/// as late data, just as it would be live.
pub fn backtest(settings: &Settings, buckets: impl IntoIterator<Item = Bucket>) -> Vec<Alert> {
    let mut state = SeriesState::default();
    buckets
        .into_iter()
        .filter_map(|bucket| {
            observe(
                &mut state,
                settings,
                bucket.minute,
                bucket.count,
                bucket.negative,
            )
        })
        .collect()
}

/// Feeds history into `state` as [`observe`] would, discarding the alerts: for seeding a
/// new series from stored counts before it goes live.
pub fn warm(
    state: &mut SeriesState,
    settings: &Settings,
    buckets: impl IntoIterator<Item = Bucket>,
) {
    for bucket in buckets {
        observe(
            state,
            settings,
            bucket.minute,
            bucket.count,
            bucket.negative,
        );
    }
}

/// Share of raised alerts that were marked true, or `None` when none was marked.
pub fn precision(true_marks: u64, false_marks: u64) -> Option<f64> {
    let marked = true_marks as f64 + false_marks as f64;
    (marked > 0.0).then(|| true_marks as f64 / marked)
}

/// Hour of week of a unix minute: 0 = Monday 00:00–00:59 UTC, 167 = Sunday 23:00 UTC.
pub fn hour_of_week(minute: i64) -> usize {
    // rem_euclid keeps minutes before 1970 in range, so the cast cannot wrap.
    ((minute - FIRST_MONDAY).rem_euclid(MINUTES_PER_WEEK) / 60) as usize
}

fn week_of(minute: i64) -> i64 {
    (minute - FIRST_MONDAY).div_euclid(MINUTES_PER_WEEK)
}

fn low_bits(bits: u32) -> u64 {
    match bits {
        0 => 0,
        64.. => u64::MAX,
        _ => (1u64 << bits) - 1,
    }
}

fn share(negative: u32, count: u32) -> f64 {
    if count == 0 {
        0.0
    } else {
        f64::from(negative) / f64::from(count)
    }
}

fn velocity(count: u32, previous: u32) -> f64 {
    f64::from(count) / f64::from(previous.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONDAY: i64 = FIRST_MONDAY + 2_800 * MINUTES_PER_WEEK; // 2023-09-04 00:00 UTC

    #[test]
    fn hour_of_week_starts_on_monday_utc() {
        // 2024-01-01 00:00 UTC was a Monday.
        let monday_2024 = 1_704_067_200 / 60;
        assert_eq!(hour_of_week(monday_2024), 0);
        assert_eq!(hour_of_week(monday_2024 + 59), 0);
        assert_eq!(hour_of_week(monday_2024 + 60), 1);
        assert_eq!(hour_of_week(monday_2024 - 1), 167);
        assert_eq!(hour_of_week(monday_2024 + 2 * 1440 + 9 * 60), 57); // Wednesday 09:00
        assert_eq!(hour_of_week(0), 3 * 24); // the epoch: Thursday 00:00
        assert_eq!(hour_of_week(-1), 3 * 24 - 1);
        assert_eq!(week_of(monday_2024) - week_of(monday_2024 - 1), 1);
    }

    #[test]
    fn precision_of_marks() {
        assert_eq!(precision(0, 0), None);
        assert_eq!(precision(3, 1), Some(0.75));
        assert_eq!(precision(0, 2), Some(0.0));
        assert_eq!(precision(u64::MAX, 0), Some(1.0));
    }

    #[test]
    fn silence_spanning_hours_counts_every_minute() {
        let settings = Settings::default();
        let mut state = SeriesState::default();
        observe(&mut state, &settings, MONDAY + 30, 2, 0);
        observe(&mut state, &settings, MONDAY + 30 + 1 + 150, 1, 0);
        // Minute 30 closed, then 150 silent minutes: 29 in hour 0, 60 in hours 1 and 2,
        // one in hour 3.
        assert_eq!(state.total_minutes, 151.0);
        assert_eq!(state.total_sum, 2.0);
        assert_eq!(state.cell_minutes[0], 30.0);
        assert_eq!(state.cell_minutes[1], 60.0);
        assert_eq!(state.cell_minutes[2], 60.0);
        assert_eq!(state.cell_minutes[3], 1.0);
        assert_eq!(state.cell_sum[0], 2.0);
        assert_eq!(state.previous_count, 0);
    }

    #[test]
    fn silence_longer_than_a_week_counts_as_one_week() {
        let settings = Settings::default();
        let mut state = SeriesState::default();
        observe(&mut state, &settings, MONDAY, 4, 0);
        observe(&mut state, &settings, MONDAY + 5 * MINUTES_PER_WEEK, 0, 0);
        // The silence ends in week 4 (minute 5 weeks is the new open one), so four
        // weeks of decay so far, and the last of those weeks replayed as zeros.
        let keep = 0.5f64.powf(4.0 / settings.half_life_weeks);
        let expected_minutes = MINUTES_PER_WEEK as f64 + keep;
        assert!(
            (state.total_minutes - expected_minutes).abs() < 1e-9,
            "{state:?}"
        );
        assert!((state.total_sum - 4.0 * keep).abs() < 1e-9);
        assert!(state.cell_minutes.iter().all(|&m| m >= 60.0));
        assert_eq!(state.counted_from, MONDAY + 4 * MINUTES_PER_WEEK);
        assert_eq!(state.week, week_of(MONDAY) + 4);
    }

    #[test]
    fn late_data_joins_its_cell_without_a_test() {
        let settings = Settings {
            min_count: 1,
            k: 1,
            n: 1,
            ..Settings::default()
        };
        let mut state = SeriesState::default();
        observe(&mut state, &settings, MONDAY, 0, 0);
        observe(&mut state, &settings, MONDAY + 120, 0, 0);
        let before = state.clone();
        // 500 mentions two hours late would be a burst if tested; it is only folded in.
        assert_eq!(observe(&mut state, &settings, MONDAY + 1, 500, 500), None);
        assert_eq!(state.cell_sum[0], 500.0);
        assert_eq!(state.total_sum, 500.0);
        assert_eq!(state.cell_minutes, before.cell_minutes);
        assert_eq!(state.total_minutes, before.total_minutes);
        assert_eq!(state.open, before.open);
        assert_eq!(state.exceeded, before.exceeded);
        assert_eq!(state.cusum, before.cusum);
        // Before the series began its minute was never counted, so it is dropped.
        let before = state.clone();
        assert_eq!(observe(&mut state, &settings, MONDAY - 1, 7, 0), None);
        assert_eq!(state, before);
    }

    #[test]
    fn corrupt_cell_vectors_are_repaired_not_indexed() {
        let settings = Settings::default();
        let mut state = SeriesState {
            cell_sum: vec![1.0; 3],
            cell_minutes: Vec::new(),
            ..SeriesState::default()
        };
        observe(&mut state, &settings, MONDAY + 10_000, 1, 0);
        observe(&mut state, &settings, MONDAY + 10_001, 1, 0);
        assert_eq!(state.cell_sum.len(), HOURS_PER_WEEK);
        assert_eq!(state.cell_minutes.len(), HOURS_PER_WEEK);
    }

    #[test]
    fn state_round_trips_through_json() {
        let settings = Settings::default();
        let mut state = SeriesState::default();
        for minute in 0..500 {
            observe(
                &mut state,
                &settings,
                MONDAY + minute,
                (minute % 7) as u32,
                1,
            );
        }
        let json = serde_json::to_string(&state).expect("state serializes");
        let back: SeriesState = serde_json::from_str(&json).expect("state deserializes");
        assert_eq!(back, state);
    }
}
