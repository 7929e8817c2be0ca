//! Finished deliveries (delivered, failed, disabled), with their attempts
//! and their events' bodies, are kept for [`WebhookSettings::keep`] after
//! their last change, for listings and replays, and then deleted: a body
//! carries customers' words (a mention's text, a reply), which must not
//! outlive the service's own retention of them. Pending deliveries stay
//! until they finish.

use chrono::Utc;
use earshot_outbox::Outbox;
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// The retention job of a service's webhooks.
pub struct Prune {
    pub keep: std::time::Duration,
}

impl Job for Prune {
    fn name(&self) -> &'static str {
        "webhook retention"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let keep = chrono::Duration::from_std(self.keep).unwrap_or(chrono::Duration::MAX);
            let before = Utc::now().checked_sub_signed(keep).unwrap_or_default();
            let events: Vec<Uuid> = sqlx::query_scalar(
                "DELETE FROM webhook_deliveries WHERE id IN (
                     SELECT id FROM webhook_deliveries
                      WHERE state <> 1 AND updated_at < $1
                      ORDER BY updated_at LIMIT $2
                      FOR UPDATE SKIP LOCKED)
                 RETURNING event_id",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
            if events.is_empty() {
                return Ok(0);
            }
            // An event's body goes with its last delivery.
            sqlx::query(
                "DELETE FROM webhook_events e
                  WHERE e.event_id = ANY($1)
                    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.event_id)",
            )
            .bind(&events)
            .execute(&mut **tx)
            .await?;
            Ok(events.len() as u64)
        })
    }
}
