//! The one scheduler loop every service's timed work runs on (SLA breaches,
//! overdue commitments today; escalation ladders, webhook retries and rollups
//! next): each round opens a transaction, lets the job claim its due rows with
//! `FOR UPDATE SKIP LOCKED` (so replicas share the work), act, audit and
//! enqueue its events, then commits and wakes the relays. A full round runs
//! again at once; an idle one waits for the poll interval; a failing one backs
//! off exponentially up to a ceiling.

use std::sync::Arc;
use std::time::Duration;

use earshot_outbox::Outbox;
use futures_util::future::BoxFuture;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;

use crate::background::BackgroundTask;

/// A kind of timed work. A job holds no state between rounds: its state is
/// its table, so a restart neither loses nor repeats what it does.
pub trait Job: Send + Sync + 'static {
    /// Names the job in logs.
    fn name(&self) -> &'static str;

    /// Claims at most `limit` due rows in `tx` (with `FOR UPDATE SKIP
    /// LOCKED`), acts on them, writes their audit rows and events into the
    /// same transaction, and returns how many rows it handled. The scheduler
    /// commits.
    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>>;
}

/// How often and how much the scheduler works.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Wait between idle rounds.
    pub poll: Duration,
    /// Rows one job may claim per round.
    pub batch: i64,
    /// Longest wait after failed rounds.
    pub max_backoff: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(500),
            batch: 500,
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl SchedulerSettings {
    /// Wait after `failures` rounds failed in a row.
    pub fn backoff(&self, failures: u32) -> Duration {
        self.poll
            .saturating_mul(1 << failures.min(16))
            .min(self.max_backoff)
    }
}

/// The scheduler running `jobs` in turn, as a background task of the service.
pub fn scheduler(
    pool: PgPool,
    outbox: Outbox,
    settings: SchedulerSettings,
    jobs: Vec<Arc<dyn Job>>,
) -> BackgroundTask {
    named_scheduler("scheduler", pool, outbox, settings, jobs)
}

/// A scheduler of its own, named `name` in logs, for jobs whose rounds may
/// be slow (webhook deliveries wait on tenants' endpoints) and must not hold
/// up the service's other timed work.
pub fn named_scheduler(
    name: &'static str,
    pool: PgPool,
    outbox: Outbox,
    settings: SchedulerSettings,
    jobs: Vec<Arc<dyn Job>>,
) -> BackgroundTask {
    BackgroundTask::new(name, move |stop| run(pool, outbox, settings, jobs, stop))
}

async fn run(
    pool: PgPool,
    outbox: Outbox,
    settings: SchedulerSettings,
    jobs: Vec<Arc<dyn Job>>,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        let round = async {
            let mut full = false;
            for job in &jobs {
                let handled = one_round(&pool, &outbox, job.as_ref(), settings.batch)
                    .await
                    .map_err(|e| (job.name(), e))?;
                full |= handled >= settings.batch as u64;
            }
            Ok::<_, (&str, sqlx::Error)>(full)
        };
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = round => outcome,
        };
        let wait = match outcome {
            Ok(true) => {
                failures = 0;
                continue;
            }
            Ok(false) => {
                failures = 0;
                settings.poll
            }
            Err((job, error)) => {
                failures = failures.saturating_add(1);
                let wait = settings.backoff(failures);
                tracing::warn!(job, %error, ?wait, "scheduled round failed; retrying");
                wait
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn one_round(
    pool: &PgPool,
    outbox: &Outbox,
    job: &dyn Job,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Jobs bind the states they claim (no numbers in SQL); a prepared
    // statement's generic plan cannot match a bound state to a partial index
    // such as `WHERE state = 1` and would scan every row each round.
    sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    let handled = job.round(&mut tx, outbox, limit).await?;
    tx.commit().await?;
    if handled > 0 {
        outbox.wake();
    }
    Ok(handled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let settings = SchedulerSettings {
            poll: Duration::from_millis(100),
            batch: 10,
            max_backoff: Duration::from_secs(1),
        };
        assert_eq!(settings.backoff(1), Duration::from_millis(200));
        assert_eq!(settings.backoff(2), Duration::from_millis(400));
        assert_eq!(settings.backoff(10), Duration::from_secs(1));
        assert_eq!(settings.backoff(u32::MAX), Duration::from_secs(1));
    }
}
