//! When a delivery is tried again, and what an answer means.

use std::time::{Duration, SystemTime};

/// Longest a `Retry-After` may put an attempt off.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Delays between attempts: the first attempt goes at once, each failure
/// waits the next delay (give or take `jitter`), and the failure after the
/// last delay fails the delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    pub delays: Vec<Duration>,
    /// Share of each delay it may be moved by either way (0.2: ±20 %), so
    /// that deliveries failed by one outage do not all return at one instant.
    pub jitter: f64,
}

impl Default for RetrySchedule {
    /// Standard Webhooks' schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and
    /// 10 h, so eight attempts over about a day and a quarter.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            delays: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            jitter: 0.2,
        }
    }
}

impl RetrySchedule {
    /// Every delay multiplied by `factor` (tests run a day's schedule in
    /// moments with 0.001).
    pub fn scaled(&self, factor: f64) -> Self {
        Self {
            delays: self.delays.iter().map(|d| d.mul_f64(factor)).collect(),
            jitter: self.jitter,
        }
    }

    /// Attempts a delivery gets before it fails.
    pub fn attempts(&self) -> usize {
        self.delays.len() + 1
    }

    /// The wait after the `failed`-th failed attempt (1 for the first), or
    /// `None` when that was the last. `unit` in -1..=1 picks where in the
    /// jitter band the wait falls; a `Retry-After` the endpoint sent is a
    /// floor (at most [`MAX_RETRY_AFTER`]).
    pub fn next_delay(
        &self,
        failed: u32,
        unit: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let index = usize::try_from(failed.checked_sub(1)?).ok()?;
        let delay = self.delays.get(index)?;
        let jittered = delay.mul_f64((1.0 + unit.clamp(-1.0, 1.0) * self.jitter).max(0.0));
        Some(jittered.max(retry_after.map_or(Duration::ZERO, |r| r.min(MAX_RETRY_AFTER))))
    }
}

/// A `Retry-After` value: seconds, or an HTTP date (past dates mean now).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_RETRY_AFTER),
    )
}

/// What came back from one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The endpoint answered with this status.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// Nothing answered: a timeout, a refused connection, a TLS failure.
    Unanswered,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Delivered,
    /// 410 Gone: the endpoint is disabled, its pending deliveries with it.
    Gone,
    RetryIn(Duration),
    /// The schedule is spent.
    Failed,
}

/// Judges an attempt, the `failed_before`-th failure since the delivery's
/// schedule began if it failed.
pub fn judge(answer: &Answer, failed_before: u32, schedule: &RetrySchedule, unit: f64) -> Verdict {
    let retry_after = match answer {
        Answer::Status { code, .. } if (200..300).contains(code) => return Verdict::Delivered,
        Answer::Status { code: 410, .. } => return Verdict::Gone,
        Answer::Status { retry_after, .. } => *retry_after,
        Answer::Unanswered => None,
    };
    match schedule.next_delay(failed_before + 1, unit, retry_after) {
        Some(delay) => Verdict::RetryIn(delay),
        None => Verdict::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_standard_schedule_spans_about_a_day_in_eight_attempts() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        let total: Duration = schedule.delays.iter().sum();
        assert_eq!(
            total,
            S * (5 + 300 + 1800 + 7200 + 18_000 + 36_000 + 36_000)
        );
        assert_eq!(schedule.next_delay(1, 0.0, None), Some(S * 5));
        assert_eq!(schedule.next_delay(7, 0.0, None), Some(S * 36_000));
        assert_eq!(schedule.next_delay(8, 0.0, None), None);
        assert_eq!(schedule.next_delay(0, 0.0, None), None);
    }

    #[test]
    fn jitter_stays_within_a_fifth_either_way() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.next_delay(2, 1.0, None), Some(S * 360));
        assert_eq!(schedule.next_delay(2, -1.0, None), Some(S * 240));
        assert_eq!(schedule.next_delay(2, 7.0, None), Some(S * 360));
    }

    #[test]
    fn retry_after_is_a_floor_capped_at_a_day() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.next_delay(1, 0.0, Some(S * 60)), Some(S * 60));
        assert_eq!(schedule.next_delay(2, 0.0, Some(S * 60)), Some(S * 300));
        assert_eq!(
            schedule.next_delay(1, 0.0, Some(S * 1_000_000)),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + S * 1_445_412_480;
        assert_eq!(parse_retry_after("120", now), Some(S * 120));
        assert_eq!(parse_retry_after(" 3 ", now), Some(S * 3));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(S * 120)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn answers_decide_the_delivery() {
        let schedule = RetrySchedule::default().scaled(0.001);
        let status = |code| Answer::Status {
            code,
            retry_after: None,
        };
        assert_eq!(judge(&status(200), 0, &schedule, 0.0), Verdict::Delivered);
        assert_eq!(judge(&status(204), 3, &schedule, 0.0), Verdict::Delivered);
        assert_eq!(judge(&status(410), 0, &schedule, 0.0), Verdict::Gone);
        assert_eq!(
            judge(&status(500), 0, &schedule, 0.0),
            Verdict::RetryIn(Duration::from_millis(5))
        );
        assert_eq!(
            judge(&status(301), 0, &schedule, 0.0),
            Verdict::RetryIn(Duration::from_millis(5)),
            "redirects are not followed"
        );
        assert_eq!(
            judge(&Answer::Unanswered, 1, &schedule, 0.0),
            Verdict::RetryIn(Duration::from_millis(300))
        );
        assert_eq!(
            judge(
                &Answer::Status {
                    code: 429,
                    retry_after: Some(S * 2)
                },
                0,
                &schedule,
                0.0
            ),
            Verdict::RetryIn(S * 2)
        );
        assert_eq!(judge(&status(500), 7, &schedule, 0.0), Verdict::Failed);
    }
}
