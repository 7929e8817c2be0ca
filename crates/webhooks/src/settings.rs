use std::time::Duration;

use earshot_config::{ConfigError, Env};
use earshot_server::scheduler::SchedulerSettings;

use crate::schedule::RetrySchedule;

pub const TIMEOUT_VAR: &str = "EARSHOT_WEBHOOK_TIMEOUT_MS";
pub const RETRY_SCALE_VAR: &str = "EARSHOT_WEBHOOK_RETRY_SCALE";
pub const CONCURRENCY_VAR: &str = "EARSHOT_WEBHOOK_CONCURRENCY";
pub const POLL_VAR: &str = "EARSHOT_WEBHOOK_POLL_MS";
pub const KEEP_DAYS_VAR: &str = "EARSHOT_WEBHOOK_KEEP_DAYS";

/// How deliveries are made.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Deadline of one attempt, connecting included
    /// (`EARSHOT_WEBHOOK_TIMEOUT_MS`, default 10000).
    pub timeout: Duration,
    /// When failed attempts are tried again: Standard Webhooks' schedule
    /// times `EARSHOT_WEBHOOK_RETRY_SCALE` (default 1.0).
    pub schedule: RetrySchedule,
    /// Attempts in flight at once, and so deliveries claimed per round and
    /// outbox batches fanned out per round (`EARSHOT_WEBHOOK_CONCURRENCY`,
    /// default 16).
    pub concurrency: u32,
    /// How often idle webhook work looks for more (`EARSHOT_WEBHOOK_POLL_MS`,
    /// default 500).
    pub poll: Duration,
    /// How long finished deliveries, their attempts and bodies are kept
    /// (`EARSHOT_WEBHOOK_KEEP_DAYS`, default 30, 1 to 3650).
    pub keep: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            schedule: RetrySchedule::default(),
            concurrency: 16,
            poll: Duration::from_millis(500),
            keep: Duration::from_secs(30 * DAY_SECONDS),
        }
    }
}

const DAY_SECONDS: u64 = 24 * 60 * 60;

impl WebhookSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let scale: f64 = env.parse_or(RETRY_SCALE_VAR, 1.0)?;
        if !(scale > 0.0 && scale <= 1000.0) {
            return Err(ConfigError::invalid(
                RETRY_SCALE_VAR,
                &scale.to_string(),
                "must be a factor above 0 and at most 1000",
            ));
        }
        Ok(Self {
            timeout: env.millis_or(TIMEOUT_VAR, 10_000, 100)?,
            schedule: defaults.schedule.scaled(scale),
            concurrency: env.count_or(CONCURRENCY_VAR, defaults.concurrency, 1..=256)?,
            poll: env.millis_or(POLL_VAR, 500, 10)?,
            keep: Duration::from_secs(
                u64::from(env.count_or(KEEP_DAYS_VAR, 30u32, 1..=3650)?) * DAY_SECONDS,
            ),
        })
    }

    /// The settings of the webhooks' own scheduler.
    pub fn scheduler(&self) -> SchedulerSettings {
        SchedulerSettings {
            poll: self.poll,
            batch: i64::from(self.concurrency),
            ..SchedulerSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let none = WebhookSettings::from_env(&Env::from_pairs::<&str, &str>([])).expect("valid");
        assert_eq!(none, WebhookSettings::default());
        let fast = WebhookSettings::from_env(&Env::from_pairs([
            (TIMEOUT_VAR, "500"),
            (RETRY_SCALE_VAR, "0.001"),
            (CONCURRENCY_VAR, "4"),
        ]))
        .expect("valid");
        assert_eq!(fast.timeout, Duration::from_millis(500));
        assert_eq!(fast.schedule.delays[0], Duration::from_millis(5));
        assert_eq!(fast.scheduler().batch, 4);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            (RETRY_SCALE_VAR, "0"),
            (RETRY_SCALE_VAR, "fast"),
            (RETRY_SCALE_VAR, "NaN"),
            (TIMEOUT_VAR, "5"),
            (CONCURRENCY_VAR, "0"),
        ] {
            let err = WebhookSettings::from_env(&Env::from_pairs([(var, value)]))
                .expect_err(value)
                .to_string();
            assert!(err.starts_with(var), "{err}");
        }
    }
}
