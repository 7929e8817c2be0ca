//! How a subscriber takes its share of the outbox: claims due batches with
//! `FOR UPDATE SKIP LOCKED` (so replicas share the work), then finishes them
//! or puts them off. The relay uses these for remote subscribers; local ones
//! (webhooks) use them too, so both treat the outbox alike.

use std::time::Duration;

use sqlx::{PgConnection, PgExecutor};

/// A batch claimed for one subscriber, locked until its transaction ends.
#[derive(Debug)]
pub struct ClaimedBatch {
    pub batch_id: i64,
    /// `earshot.events.v1.EventBatch`, protobuf-encoded.
    pub payload: Vec<u8>,
    /// Failed attempts so far.
    pub attempts: i32,
}

/// Claims `subscriber`'s due batches in `conn`'s transaction. A batch that
/// failed before goes alone, so that one the consumer can never take holds
/// up nothing but itself; otherwise up to `limit` fresh ones go together,
/// oldest first.
pub async fn claim_batches(
    conn: &mut PgConnection,
    subscriber: &str,
    limit: i64,
) -> Result<Vec<ClaimedBatch>, sqlx::Error> {
    let retried = claim(&mut *conn, subscriber, 1, true).await?;
    if !retried.is_empty() {
        return Ok(retried);
    }
    claim(conn, subscriber, limit, false).await
}

async fn claim(
    conn: &mut PgConnection,
    subscriber: &str,
    limit: i64,
    retrying: bool,
) -> Result<Vec<ClaimedBatch>, sqlx::Error> {
    let rows: Vec<(i64, Vec<u8>, i32)> = sqlx::query_as(
        "SELECT d.batch_id, b.payload, d.attempts
           FROM outbox_delivery d
           JOIN outbox_batch b ON b.id = d.batch_id
          WHERE d.subscriber = $1 AND d.next_attempt_at <= now()
            AND (d.attempts > 0) = $3
          ORDER BY d.batch_id
          LIMIT $2
            FOR UPDATE OF d SKIP LOCKED",
    )
    .bind(subscriber)
    .bind(limit)
    .bind(retrying)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(batch_id, payload, attempts)| ClaimedBatch {
            batch_id,
            payload,
            attempts,
        })
        .collect())
}

/// Marks `batch_ids` delivered to `subscriber`. Once the transaction has
/// committed, call [`delete_finished_batches`] for them: whichever subscriber
/// finishes a batch last then sees every delivery row gone and removes it.
pub async fn finish_batches(
    conn: &mut PgConnection,
    subscriber: &str,
    batch_ids: &[i64],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM outbox_delivery WHERE subscriber = $1 AND batch_id = ANY($2)")
        .bind(subscriber)
        .bind(batch_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a failed attempt at `batch_ids` and puts them off for `delay`.
pub async fn postpone_batches(
    conn: &mut PgConnection,
    subscriber: &str,
    batch_ids: &[i64],
    delay: Duration,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox_delivery
            SET attempts = attempts + 1,
                next_attempt_at = now() + make_interval(secs => $3),
                last_error = $4
          WHERE subscriber = $1 AND batch_id = ANY($2)",
    )
    .bind(subscriber)
    .bind(batch_ids)
    .bind(delay.as_secs_f64())
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes batches that no subscriber still waits for (`only` limits the
/// check). Run inside the transaction that finished them, it cannot see a
/// concurrent subscriber's uncommitted finish, so a batch two finish at once
/// may stay: the relays' periodic sweep (`only` = `None`) removes those.
pub async fn delete_finished_batches<'e>(
    executor: impl PgExecutor<'e>,
    only: Option<&[i64]>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM outbox_batch b
          WHERE ($1::bigint[] IS NULL OR b.id = ANY($1))
            AND NOT EXISTS (SELECT 1 FROM outbox_delivery d WHERE d.batch_id = b.id)",
    )
    .bind(only)
    .execute(executor)
    .await?;
    Ok(())
}
