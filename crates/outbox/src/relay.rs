use std::time::Duration;

use earshot_auth::TokenMinter;
use earshot_config::{ConfigError, Env, Secret};
use earshot_proto::events::v1::event_sink_client::EventSinkClient;
use earshot_proto::events::v1::{DeliverRequest, EventBatch};
use earshot_telemetry::Metrics;
use prost::Message;
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use crate::claims::{
    ClaimedBatch, claim_batches, delete_finished_batches, finish_batches, postpone_batches,
};
use crate::{Outbox, Subscriber};

/// Messages between services carry whole batches; allow well past gRPC's 4 MiB default.
pub const MAX_EVENT_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

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

/// How a relay proves itself to consumers: a token from the environment
/// (`EARSHOT_SERVICE_TOKEN`), or one minted with the shared development secret.
#[derive(Clone)]
pub enum TokenSource {
    Static(Secret),
    Minted {
        minter: TokenMinter,
        subject: String,
    },
}

impl TokenSource {
    fn bearer(&self) -> String {
        match self {
            Self::Static(token) => format!("Bearer {}", token.expose()),
            Self::Minted { minter, subject } => format!(
                "Bearer {}",
                minter.mint_service(subject, Duration::from_secs(300))
            ),
        }
    }
}

/// Delivers one subscriber's pending outbox batches. Several relays (one per
/// replica) share the work through `FOR UPDATE SKIP LOCKED`.
pub struct Relay {
    pool: PgPool,
    subscriber: Subscriber,
    settings: RelaySettings,
    client: EventSinkClient<Channel>,
    token: TokenSource,
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

impl Relay {
    pub fn new(
        pool: PgPool,
        subscriber: Subscriber,
        settings: RelaySettings,
        token: TokenSource,
        metrics: Metrics,
        outbox: Outbox,
    ) -> Result<Self, ConfigError> {
        let endpoint = Endpoint::from_shared(subscriber.url.clone())
            .map_err(|e| ConfigError::invalid(crate::SUBSCRIBERS_VAR, &subscriber.url, e))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(settings.call_timeout);
        let client = EventSinkClient::new(endpoint.connect_lazy())
            .max_encoding_message_size(MAX_EVENT_MESSAGE_BYTES)
            .max_decoding_message_size(MAX_EVENT_MESSAGE_BYTES);
        Ok(Self {
            pool,
            subscriber,
            settings,
            client,
            token,
            metrics,
            outbox,
        })
    }

    /// Runs until `cancel` fires, then flushes what is deliverable and returns.
    pub async fn run(mut self, cancel: CancellationToken) {
        let wake = self.outbox.wake_signal();
        let mut gauges = tokio::time::interval(Duration::from_secs(5));
        tracing::info!(subscriber = %self.subscriber.name, url = %self.subscriber.url, "relay started");
        loop {
            let pass = self.pass().await;
            let wait = match pass {
                Ok(Pass::Delivered { more: true }) => continue,
                Ok(_) => self.settings.poll_interval,
                Err(ref e) => {
                    tracing::warn!(subscriber = %self.subscriber.name, error = %e, "relay pass failed");
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
        tracing::info!(subscriber = %self.subscriber.name, "relay stopped");
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
            &self.subscriber.name,
            i64::from(self.settings.batches_per_call),
        )
        .await?;
        if rows.is_empty() {
            return Ok(Pass::Idle);
        }
        let batch_ids: Vec<i64> = rows.iter().map(|b| b.batch_id).collect();
        let max_attempts = rows.iter().map(|b| b.attempts).max().unwrap_or(0);
        let mut events = Vec::new();
        for ClaimedBatch {
            batch_id,
            payload,
            attempts,
        } in rows
        {
            match EventBatch::decode(payload.as_slice()) {
                Ok(batch) => events.extend(batch.events),
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
        let delivered = events.len();

        let mut request = tonic::Request::new(DeliverRequest { events });
        let bearer = self.token.bearer();
        request.metadata_mut().insert(
            "authorization",
            bearer
                .parse()
                .expect("a bearer token is valid ASCII metadata"),
        );
        match self.client.deliver(request).await {
            Ok(_) => {
                finish_batches(&mut tx, &self.subscriber.name, &batch_ids).await?;
                tx.commit().await?;
                // After commit, so that whichever subscriber finishes a batch last sees
                // every delivery row gone and removes the batch.
                delete_finished_batches(&self.pool, Some(batch_ids.as_slice())).await?;
                self.metrics
                    .events_delivered
                    .with_label_values(&[self.subscriber.name.as_str()])
                    .inc_by(delivered as u64);
                Ok(Pass::Delivered {
                    more: max_attempts > 0
                        || batch_ids.len() >= self.settings.batches_per_call as usize,
                })
            }
            Err(status) => {
                let attempts = u32::try_from(max_attempts).unwrap_or(0);
                tracing::warn!(
                    subscriber = %self.subscriber.name,
                    code = ?status.code(),
                    message = status.message(),
                    batches = batch_ids.len(),
                    retry_in_ms = self.settings.backoff(attempts).as_millis() as u64,
                    "delivery failed"
                );
                let error = format!("{:?}: {}", status.code(), status.message());
                self.retry_later(&mut tx, &batch_ids, attempts, &error)
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
            &self.subscriber.name,
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
        .bind(&self.subscriber.name)
        .fetch_one(&self.pool)
        .await;
        let name = self.subscriber.name.as_str();
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
