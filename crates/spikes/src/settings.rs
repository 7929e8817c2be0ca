//! What the detector is told: thresholds a guideline sets per series.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Detector settings. Field names are the ones [`SettingsError::field`] reports, so
/// the gRPC layer can point at the offending request field without a mapping table.
///
/// A missing field deserializes to its default, so a stored guideline written
/// before a field existed still loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Alpha of the one-sided Poisson tail test a bucket must pass to count as
    /// exceeding: P(X ≥ count | expected) < this. In (0, 0.5).
    pub tail_probability: f64,
    /// A bucket with fewer mentions never counts as exceeding, however quiet the
    /// series: three mentions of a brand-new topic are not a crisis. At least 1.
    pub min_count: u32,
    /// A burst alert needs at least `k` of the last `n` buckets (the open one
    /// included) to have exceeded. `1 ≤ k ≤ n ≤ 60`.
    pub k: u32,
    /// See [`Settings::k`].
    pub n: u32,
    /// CUSUM reference value, in standard deviations (√λ) of the baseline: a bucket
    /// must be this far above expectation before it adds evidence of a shift. > 0.
    pub cusum_slack: f64,
    /// CUSUM decision interval, in standard deviations: a sustained alert fires when
    /// the statistic reaches it, and the statistic then restarts from zero. > 0.
    pub cusum_threshold: f64,
    /// Pseudo-minutes at the series' overall rate added to every hour-of-week cell,
    /// so a cell with little history leans on the series as a whole. ≥ 0.
    pub prior_minutes: f64,
    /// 0 disables; otherwise a bucket exceeds only if at least this share of its
    /// mentions is negative. In 0..=1.
    pub negative_share_at_least: f64,
    /// 0 disables; otherwise a bucket exceeds only if it is at least this multiple of
    /// the previous minute's count (a silent previous minute counts as one). ≥ 0.
    pub velocity_at_least: f64,
    /// After an alert, no further alert for this series for this many minutes.
    pub cooldown_minutes: u32,
    /// Half-life, in weeks, of the learned baseline, so a series whose habits
    /// changed relearns them instead of comparing against last year. > 0.
    pub half_life_weeks: f64,
}

/// The CUSUM and prior defaults were chosen by measurement at minute resolution
/// (`tests/calibration.rs` prints the table), on burst-free Poisson series after two
/// weeks of learning: flat at 0.2–30 a minute, and weekday office hours (09–17 UTC) at
/// 10× the night rate.
///
/// - `cusum_slack` 1.0, `cusum_threshold` 8.0. The textbook 0.5 / 5.0 runs about 930
///   buckets between false alarms on Gaussian noise; at a bucket a minute that is
///   6–16 false sustained alerts per series per week (measured). 1.0 / 8.0 measured 0
///   alerts per series-week at 3 and 10 a minute, 0.03 at 30, 0.05 at 1 and 0.12 at 0.2
///   (quiet series are where the √λ unit is least forgiving), and still catches a
///   1.5× rise over two hours at 10 a minute 1–2¼ hours after it starts.
/// - `prior_minutes` 2. A cell gains only 60 minutes of history a week, so a prior of
///   hours keeps strongly seasonal cells near the all-week mean for months: 240 held
///   10/min office-hours cells at about half their rate and raised 130–160 alerts per
///   series-week; 10 still raised 9 in the second week of a 100/10 office-hours
///   series. With 0, a brand-new series' first minute becomes its own baseline and a
///   burst from minute zero never alerts; 2 alerts in minute 1 on a new series that
///   starts at 20 a minute or more.
impl Default for Settings {
    fn default() -> Self {
        Self {
            tail_probability: 0.001,
            min_count: 5,
            k: 2,
            n: 3,
            cusum_slack: 1.0,
            cusum_threshold: 8.0,
            prior_minutes: 2.0,
            negative_share_at_least: 0.0,
            velocity_at_least: 0.0,
            cooldown_minutes: 15,
            half_life_weeks: 4.0,
        }
    }
}

/// Longest k-of-n window: the recent-bucket history is one `u64` of bits.
pub const MAX_WINDOW: u32 = 60;

impl Settings {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |field, reason| Err(SettingsError { field, reason });
        if !(self.tail_probability > 0.0 && self.tail_probability < 0.5) {
            return bad(
                "tail_probability",
                "must be greater than 0 and less than 0.5",
            );
        }
        if self.min_count < 1 {
            return bad("min_count", "must be at least 1");
        }
        if self.n < 1 || self.n > MAX_WINDOW {
            return bad("n", "must be between 1 and 60");
        }
        if self.k < 1 || self.k > self.n {
            return bad("k", "must be between 1 and n");
        }
        if !(self.cusum_slack.is_finite() && self.cusum_slack > 0.0) {
            return bad("cusum_slack", "must be a finite number greater than 0");
        }
        if !(self.cusum_threshold.is_finite() && self.cusum_threshold > 0.0) {
            return bad("cusum_threshold", "must be a finite number greater than 0");
        }
        if !(self.prior_minutes.is_finite() && self.prior_minutes >= 0.0) {
            return bad("prior_minutes", "must be a finite number, 0 or more");
        }
        if !(0.0..=1.0).contains(&self.negative_share_at_least) {
            return bad("negative_share_at_least", "must be between 0 and 1");
        }
        if !(self.velocity_at_least.is_finite() && self.velocity_at_least >= 0.0) {
            return bad("velocity_at_least", "must be a finite number, 0 or more");
        }
        if !(self.half_life_weeks.is_finite() && self.half_life_weeks > 0.0) {
            return bad("half_life_weeks", "must be a finite number greater than 0");
        }
        Ok(())
    }
}

/// A setting out of range: which field, and what it must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingsError {
    /// The field's name exactly as in [`Settings`].
    pub field: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.reason)
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(change: impl FnOnce(&mut Settings)) -> &'static str {
        let mut settings = Settings::default();
        change(&mut settings);
        settings
            .validate()
            .expect_err("the change is invalid")
            .field
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Settings::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_value_names_its_field() {
        assert_eq!(field_of(|s| s.tail_probability = 0.0), "tail_probability");
        assert_eq!(field_of(|s| s.tail_probability = 0.5), "tail_probability");
        assert_eq!(
            field_of(|s| s.tail_probability = f64::NAN),
            "tail_probability"
        );
        assert_eq!(field_of(|s| s.min_count = 0), "min_count");
        assert_eq!(field_of(|s| s.k = 0), "k");
        assert_eq!(field_of(|s| s.k = 4), "k");
        assert_eq!(field_of(|s| s.n = 0), "n");
        assert_eq!(
            field_of(|s| {
                s.n = 61;
                s.k = 1;
            }),
            "n"
        );
        assert_eq!(field_of(|s| s.cusum_slack = 0.0), "cusum_slack");
        assert_eq!(field_of(|s| s.cusum_threshold = -1.0), "cusum_threshold");
        assert_eq!(field_of(|s| s.prior_minutes = -0.5), "prior_minutes");
        assert_eq!(
            field_of(|s| s.prior_minutes = f64::INFINITY),
            "prior_minutes"
        );
        assert_eq!(
            field_of(|s| s.negative_share_at_least = 1.5),
            "negative_share_at_least"
        );
        assert_eq!(
            field_of(|s| s.velocity_at_least = -2.0),
            "velocity_at_least"
        );
        assert_eq!(field_of(|s| s.half_life_weeks = 0.0), "half_life_weeks");
    }

    #[test]
    fn limits_themselves_are_valid() {
        let settings = Settings {
            k: 60,
            n: 60,
            prior_minutes: 0.0,
            negative_share_at_least: 1.0,
            cooldown_minutes: 0,
            ..Settings::default()
        };
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn error_message_starts_with_the_field() {
        let error = Settings {
            min_count: 0,
            ..Settings::default()
        }
        .validate()
        .expect_err("min_count 0 is invalid");
        assert_eq!(error.to_string(), "min_count must be at least 1");
    }

    #[test]
    fn missing_fields_deserialize_to_defaults() {
        let settings: Settings =
            serde_json::from_str(r#"{"k": 3, "n": 5}"#).expect("valid JSON settings");
        assert_eq!(
            settings,
            Settings {
                k: 3,
                n: 5,
                ..Settings::default()
            }
        );
    }
}
