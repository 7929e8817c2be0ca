//! Spike and crisis detection over per-minute mention volumes.
//!
//! A *series* is one stream of per-minute mention counts for a tenant: all its
//! mentions, one topic, or one listening rule. The escalation service keeps one
//! [`SeriesState`] per series (one database row), calls [`observe`] as mentions are
//! classified, and raises an escalation when it returns an [`Alert`]. Nothing here
//! does I/O, keeps a clock or spawns anything; the same calls replay stored history in
//! [`backtest`], so a backtest says exactly what the live detector would have said.
//!
//! # Method, and why
//!
//! - **Expectation from an hour-of-week baseline.** Mention volume has a weekly rhythm
//!   (office hours, evenings, weekends), so "normal" is learned per hour of week: 168
//!   cells of (mentions, minutes), each minute of history added to its cell. Silent
//!   minutes are added too, as zeros, because a series that was quiet all night *is*
//!   quiet at night. The cells forget with a half-life
//!   ([`Settings::half_life_weeks`]) so a series that changed its habits relearns them.
//! - **Shrinkage while history is short.** A cell with little history is pulled toward
//!   the series' overall rate ([`Settings::prior_minutes`]), and the overall rate of a
//!   young series toward a small floor ([`FLOOR_RATE`]), so the first mentions of a new
//!   topic are compared with "a little", not divided by zero.
//! - **Only closed minutes teach the baseline.** The minute being tested is not in its
//!   own expectation, so a burst cannot hide itself by raising the bar it is measured
//!   against.
//! - **Poisson tail, not a z-score.** Most series are small: at 0.2 mentions a minute a
//!   normal approximation calls four mentions an 8σ event, when P(X ≥ 4) is 6·10⁻⁵.
//!   Each minute is tested with the exact one-sided tail P(X ≥ count | Poisson(λ)),
//!   with a minimum count ([`Settings::min_count`]) below which nothing is news.
//! - **k of n.** At p < 0.001 per minute, a busy series has an improbable minute about
//!   once a day by chance, and paging someone for one minute of five mentions helps
//!   nobody. A [`AlertKind::Burst`]
//!   needs k of the last n minutes (the open one included) to have exceeded. It fires
//!   the moment the open minute crosses, not a minute later when it closes.
//! - **CUSUM for slow ramps.** A complaint that grows 50% over two hours never makes a
//!   single minute improbable. A one-sided CUSUM in units of the baseline's standard
//!   deviation (√λ) accumulates modest excess minute after minute and raises
//!   [`AlertKind::Sustained`]. Each minute's contribution is capped so that one wild
//!   minute, the k-of-n test's business, cannot pass for a sustained shift.
//! - **O(1) state.** The state is the open minute, the 168 cells, a few scalars and a
//!   64-bit mask of recent exceedances: no per-minute history. A silence of any length
//!   is closed one hour-of-week cell at a time (at most a week's worth, 168 steps), and
//!   the half-life is applied once per elapsed week.
//!
//! # What the caller should know
//!
//! - Minutes are unix minutes (UTC seconds / 60); hour of week 0 is Monday 00:00 UTC
//!   ([`hour_of_week`]).
//! - Late data (a minute before the open one) is added to its hour-of-week cell so
//!   the baseline stays right, but is not tested: the moment to alert on it has passed.
//!   Data more than a week late, or from before the series began, is dropped.
//! - A sustained alert is raised when a minute closes, which happens on the next call
//!   for a later minute; call `observe(state, settings, now, 0, 0)` to close minutes on
//!   a quiet series.
//! - The model is Poisson. Real mention counts are usually overdispersed, most on
//!   large series; `tail_probability` and `cusum_threshold` are where to tune for it.

mod detector;
mod poisson;
mod settings;

pub use detector::{
    Alert, AlertKind, Bucket, FLOOR_PRIOR_MINUTES, FLOOR_RATE, HOURS_PER_WEEK, MIN_EXPECTED,
    MINUTES_PER_WEEK, SeriesState, backtest, hour_of_week, observe, precision, warm,
};
pub use poisson::poisson_upper_tail;
pub use settings::{MAX_WINDOW, Settings, SettingsError};
