use std::time::Duration;

use bytes::Bytes;
use earshot_config::{ConfigError, Env};
use earshot_proto::events::v1::EventBatch;
use earshot_telemetry::Metrics;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

use crate::Outbox;
use crate::claims::{
    ClaimedBatch, claim_batches, delete_finished_batches, finish_batches, postpone_batches,
};
use crate::transport::{OutgoingBatch, Transport};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySettings {
    /// Outbox batches claimed and delivered per call (`EARSHOT_RELAY_BATCHES`, default 8).
    pub batches_per_call: u32,
    /// How often an idle relay looks for work (`EARSHOT_RELAY_POLL_MS`, default 250).
    pub poll_interval: Duration,
    /// First retry delay after a failed delivery (`EARSHOT_RELAY_MIN_BACKOFF_MS`, default 200).
    pub min_backoff: Duration,
    /// Longest retry delay (`EARSHOT_RELAY_MAX_BACKOFF_MS`, default 30000).
    pub max_backoff: Duration,
    /// Deadline of one delivery call (`EARSHOT_RELAY_TIMEOUT_MS`, default 10000).
    pub call_timeout: Duration,
}

impl RelaySettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let settings = Self {
            batches_per_call: env.count_or("EARSHOT_RELAY_BATCHES", 8, 1..=1000)?,
            poll_interval: env.millis_or("EARSHOT_RELAY_POLL_MS", 250, 10)?,
            min_backoff: env.millis_or("EARSHOT_RELAY_MIN_BACKOFF_MS", 200, 10)?,
            max_backoff: env.millis_or("EARSHOT_RELAY_MAX_BACKOFF_MS", 30_000, 10)?,
            call_timeout: env.millis_or("EARSHOT_RELAY_TIMEOUT_MS", 10_000, 100)?,
        };
        if settings.max_backoff < settings.min_backoff {
            return Err(ConfigError::invalid(
                "EARSHOT_RELAY_MAX_BACKOFF_MS",
                &settings.max_backoff.as_millis().to_string(),
                "must not be below EARSHOT_RELAY_MIN_BACKOFF_MS",
            ));
        }
        Ok(settings)
    }

    /// Delay before the next attempt after `attempts` failed ones.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.min(20));
        self.min_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// Delivers one subscriber's pending outbox batches through its transport.
/// Several relays (one per replica) share the work through `FOR UPDATE SKIP
/// LOCKED`.
pub struct Relay<T> {
    pool: PgPool,
    /// The outbox subscriber it delivers for (a consumer's name, or
    /// [`crate::JETSTREAM_SUBSCRIBER`]).
    subscriber: String,
    settings: RelaySettings,
    transport: T,
    metrics: Metrics,
    outbox: Outbox,
}

#[derive(Debug)]
enum Pass {
    Idle,
    /// `more`: a full call, or a retried batch (after an outage many wait
    /// their turn one by one): look again at once.
    Delivered {
        more: bool,
    },
    Failed,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("undecodable outbox batch {batch_id}: {source}")]
    Corrupt {
        batch_id: i64,
        source: prost::DecodeError,
    },
}

impl<T: Transport> Relay<T> {
    pub fn new(
        pool: PgPool,
        subscriber: impl Into<String>,
        settings: RelaySettings,
        transport: T,
        metrics: Metrics,
        outbox: Outbox,
    ) -> Self {
        Self {
            pool,
            subscriber: subscriber.into(),
            settings,
            transport,
            metrics,
            outbox,
        }
    }

    /// Runs until `cancel` fires, then flushes what is deliverable and returns.
    pub async fn run(mut self, cancel: CancellationToken) {
        let wake = self.outbox.wake_signal();
        let mut gauges = tokio::time::interval(Duration::from_secs(5));
        tracing::info!(subscriber = %self.subscriber, target = %self.transport.target(), "relay started");
        loop {
            let pass = self.pass().await;
            let wait = match pass {
                Ok(Pass::Delivered { more: true }) => continue,
                Ok(_) => self.settings.poll_interval,
                Err(ref e) => {
                    tracing::warn!(subscriber = %self.subscriber, error = %e, "relay pass failed");
                    self.settings.poll_interval.max(self.settings.min_backoff)
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = gauges.tick() => self.observe_lag().await,
            }
        }
        self.flush().await;
        tracing::info!(subscriber = %self.subscriber, "relay stopped");
    }

    /// Delivers what is deliverable right now, within one call timeout.
    async fn flush(&mut self) {
        let deadline = tokio::time::Instant::now() + self.settings.call_timeout;
        while tokio::time::Instant::now() < deadline {
            match self.pass().await {
                Ok(Pass::Delivered { .. }) => {}
                Ok(Pass::Idle | Pass::Failed) | Err(_) => break,
            }
        }
    }

    async fn pass(&mut self) -> Result<Pass, RelayError> {
        let mut tx = self.pool.begin().await?;
        let rows = claim_batches(
            &mut tx,
            &self.subscriber,
            i64::from(self.settings.batches_per_call),
        )
        .await?;
        if rows.is_empty() {
            return Ok(Pass::Idle);
        }
        let batch_ids: Vec<i64> = rows.iter().map(|b| b.batch_id).collect();
        let max_attempts = rows.iter().map(|b| b.attempts).max().unwrap_or(0);
        let mut batches = Vec::with_capacity(rows.len());
        for ClaimedBatch {
            batch_id,
            payload,
            attempts,
        } in rows
        {
            match EventBatch::decode(payload.as_slice()) {
                Ok(batch) => batches.push(OutgoingBatch {
                    batch_id,
                    payload: Bytes::from(payload),
                    batch,
                }),
                Err(source) => {
                    // Kept and retried alone like any failed batch: it shows in
                    // the lag metrics and in last_error, and blocks nothing.
                    let error = RelayError::Corrupt { batch_id, source };
                    let attempts = u32::try_from(attempts).unwrap_or(0);
                    self.retry_later(&mut tx, &[batch_id], attempts, &error.to_string())
                        .await?;
                    tx.commit().await?;
                    return Err(error);
                }
            }
        }
        let delivered: usize = batches.iter().map(|b| b.batch.events.len()).sum();

        match self.transport.deliver(batches).await {
            Ok(()) => {
                finish_batches(&mut tx, &self.subscriber, &batch_ids).await?;
                tx.commit().await?;
                // After commit, so that whichever subscriber finishes a batch last sees
                // every delivery row gone and removes the batch.
                delete_finished_batches(&self.pool, Some(batch_ids.as_slice())).await?;
                self.metrics
                    .events_delivered
                    .with_label_values(&[self.subscriber.as_str()])
                    .inc_by(delivered as u64);
                Ok(Pass::Delivered {
                    more: max_attempts > 0
                        || batch_ids.len() >= self.settings.batches_per_call as usize,
                })
            }
            Err(error) => {
                let attempts = u32::try_from(max_attempts).unwrap_or(0);
                tracing::warn!(
                    subscriber = %self.subscriber,
                    error = %error,
                    batches = batch_ids.len(),
                    retry_in_ms = self.settings.backoff(attempts).as_millis() as u64,
                    "delivery failed"
                );
                self.retry_later(&mut tx, &batch_ids, attempts, &error.0)
                    .await?;
                tx.commit().await?;
                Ok(Pass::Failed)
            }
        }
    }

    /// Counts a failed attempt at `batch_ids` and sets when to try again.
    async fn retry_later(
        &self,
        conn: &mut PgConnection,
        batch_ids: &[i64],
        attempts: u32,
        error: &str,
    ) -> Result<(), sqlx::Error> {
        postpone_batches(
            conn,
            &self.subscriber,
            batch_ids,
            self.settings.backoff(attempts),
            error,
        )
        .await
    }

    async fn observe_lag(&self) {
        let row: Result<(i64, Option<f64>), sqlx::Error> = sqlx::query_as(
            "SELECT count(*), extract(epoch FROM now() - min(b.created_at))::float8
               FROM outbox_delivery d JOIN outbox_batch b ON b.id = d.batch_id
              WHERE d.subscriber = $1",
        )
        .bind(&self.subscriber)
        .fetch_one(&self.pool)
        .await;
        let name = self.subscriber.as_str();
        match row {
            Ok((pending, lag)) => {
                self.metrics
                    .outbox_pending
                    .with_label_values(&[name])
                    .set(pending);
                self.metrics
                    .outbox_lag_seconds
                    .with_label_values(&[name])
                    .set(lag.unwrap_or(0.0));
            }
            Err(e) => tracing::debug!(error = %e, "outbox lag query failed"),
        }
        // Batches whose last delivery committed just before a crash are swept here.
        if let Err(e) = delete_finished_batches(&self.pool, None).await {
            tracing::debug!(error = %e, "outbox sweep failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let settings = RelaySettings::from_env(&Env::from_pairs([
            ("EARSHOT_RELAY_MIN_BACKOFF_MS", "100"),
            ("EARSHOT_RELAY_MAX_BACKOFF_MS", "1000"),
        ]))
        .expect("valid");
        assert_eq!(settings.backoff(0), Duration::from_millis(100));
        assert_eq!(settings.backoff(1), Duration::from_millis(200));
        assert_eq!(settings.backoff(3), Duration::from_millis(800));
        assert_eq!(settings.backoff(4), Duration::from_millis(1000));
        assert_eq!(settings.backoff(400), Duration::from_millis(1000));
    }

    #[test]
    fn max_backoff_below_min_is_rejected() {
        let err = RelaySettings::from_env(&Env::from_pairs([
            ("EARSHOT_RELAY_MIN_BACKOFF_MS", "500"),
            ("EARSHOT_RELAY_MAX_BACKOFF_MS", "100"),
        ]))
        .expect_err("inverted");
        assert!(err.to_string().contains("EARSHOT_RELAY_MAX_BACKOFF_MS"));
    }
}
