//! Events between services: a transactional outbox on the producer side, a
//! relay that delivers it in batches through a [`Transport`] (each
//! subscriber's `EventSink.Deliver`, or the producer's NATS JetStream
//! stream), and an inbox on the consumer side.
//!
//! Delivery is at least once (a relay may crash after the subscriber handled a
//! batch but before it recorded that), handling is effectively once (the inbox),
//! and a subscriber that is down loses nothing: its delivery rows wait, with
//! exponential backoff, until it answers again.

mod claims;
mod relay;
pub mod transport;

use std::sync::Arc;

use earshot_config::{ConfigError, Env};
use earshot_proto::events::v1::{Event, EventBatch, event};
use prost::Message;
use sqlx::PgConnection;
use tokio::sync::Notify;
use uuid::Uuid;

pub use claims::{
    ClaimedBatch, claim_batches, delete_finished_batches, finish_batches, postpone_batches,
};
pub use relay::{Relay, RelaySettings};
pub use transport::{
    GrpcPush, JETSTREAM_SUBSCRIBER, JetStreamPublish, MAX_EVENT_MESSAGE_BYTES, TokenSource,
    Transport, TransportSettings,
};

/// The outbox and inbox tables, applied inside each service's own schema.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub const SUBSCRIBERS_VAR: &str = "EARSHOT_SUBSCRIBERS";

/// A consumer this producer delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub name: String,
    pub url: String,
}

/// Parses `EARSHOT_SUBSCRIBERS`: `name=url` pairs separated by commas, e.g.
/// `case=http://case:50052,insight=http://insight:50054`. Unset means none.
pub fn subscribers_from_env(env: &Env) -> Result<Vec<Subscriber>, ConfigError> {
    let Some(raw) = env.get(SUBSCRIBERS_VAR) else {
        return Ok(Vec::new());
    };
    let mut subscribers: Vec<Subscriber> = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, url) = pair.split_once('=').ok_or_else(|| {
            ConfigError::invalid(
                SUBSCRIBERS_VAR,
                &raw,
                format_args!("{pair:?} is not name=url"),
            )
        })?;
        let (name, url) = (name.trim(), url.trim());
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(ConfigError::invalid(
                SUBSCRIBERS_VAR,
                &raw,
                format_args!("subscriber name {name:?} must be letters, digits, - or _"),
            ));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::invalid(
                SUBSCRIBERS_VAR,
                &raw,
                format_args!("url {url:?} of {name} must start with http:// or https://"),
            ));
        }
        if subscribers.iter().any(|s| s.name == name) {
            return Err(ConfigError::invalid(
                SUBSCRIBERS_VAR,
                &raw,
                format_args!("subscriber {name} is named twice"),
            ));
        }
        subscribers.push(Subscriber {
            name: name.to_owned(),
            url: url.to_owned(),
        });
    }
    Ok(subscribers)
}

/// A new event with a fresh time-ordered id, occurring now.
pub fn new_event(
    producer: &str,
    tenant_id: &str,
    aggregate_key: impl Into<String>,
    payload: event::Payload,
) -> Event {
    Event {
        event_id: Uuid::now_v7().to_string(),
        tenant_id: tenant_id.to_owned(),
        occurred_at: Some(std::time::SystemTime::now().into()),
        aggregate_key: aggregate_key.into(),
        producer: producer.to_owned(),
        drill: false,
        payload: Some(payload),
    }
}

/// The producer side: writes batches of events inside the caller's transaction.
///
/// Each batch gets one delivery row per subscriber. Remote subscribers
/// (`EARSHOT_SUBSCRIBERS`) are other services, served by a [`Relay`] each;
/// local ones are consumers inside this service (webhooks) that claim their
/// rows from the same table themselves.
#[derive(Clone)]
pub struct Outbox {
    remote: Arc<[String]>,
    local: Arc<[String]>,
    wake: Arc<Notify>,
}

impl Outbox {
    /// An outbox delivering to `subscribers` only.
    pub fn new(subscribers: &[Subscriber]) -> Self {
        Self::with_local(subscribers, &[])
    }

    /// An outbox delivering to the remote `subscribers` and to the `local`
    /// consumers of this service.
    pub fn with_local(subscribers: &[Subscriber], local: &[&str]) -> Self {
        let remote: Vec<&str> = subscribers.iter().map(|s| s.name.as_str()).collect();
        Self::named(&remote, local)
    }

    /// An outbox delivering to the `remote` subscribers by name (a relay
    /// each: other services, or [`JETSTREAM_SUBSCRIBER`]) and to the `local`
    /// consumers of this service.
    pub fn named(remote: &[&str], local: &[&str]) -> Self {
        Self {
            remote: remote.iter().map(|name| (*name).to_owned()).collect(),
            local: local.iter().map(|name| (*name).to_owned()).collect(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The other services every batch is delivered to (by a relay each).
    pub fn subscribers(&self) -> &[String] {
        &self.remote
    }

    /// The consumers inside this service every batch is also delivered to.
    pub fn local_subscribers(&self) -> &[String] {
        &self.local
    }

    /// Stores `events` as one batch for every subscriber, remote and local.
    /// Call it inside the transaction that makes the change the events
    /// describe, then call [`Outbox::wake`] after commit.
    pub async fn enqueue(
        &self,
        conn: &mut PgConnection,
        events: Vec<Event>,
    ) -> Result<(), sqlx::Error> {
        let subscribers: Vec<&str> = self
            .remote
            .iter()
            .chain(self.local.iter())
            .map(String::as_str)
            .collect();
        store_batch(conn, events, &subscribers).await
    }

    /// Stores `events` as one batch for the local subscribers only: events
    /// no other service may hear (a drill's), which stay inside this service.
    pub async fn enqueue_local(
        &self,
        conn: &mut PgConnection,
        events: Vec<Event>,
    ) -> Result<(), sqlx::Error> {
        let subscribers: Vec<&str> = self.local.iter().map(String::as_str).collect();
        store_batch(conn, events, &subscribers).await
    }

    /// Stores `events` as one batch for the remote subscribers only: events
    /// the other services hear but the local consumers must not (escalation's
    /// steps under a guideline that does not notify webhooks).
    pub async fn enqueue_remote(
        &self,
        conn: &mut PgConnection,
        events: Vec<Event>,
    ) -> Result<(), sqlx::Error> {
        let subscribers: Vec<&str> = self.remote.iter().map(String::as_str).collect();
        store_batch(conn, events, &subscribers).await
    }

    /// Tells this process's relays that new batches were committed, so they
    /// need not wait for their next poll.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Resolves at the next [`Outbox::wake`]: for consumers of this
    /// process's outbox (relays, local subscribers) that would otherwise wait
    /// for their next poll.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }
}

/// One batch of `events` with a delivery row for each of `subscribers`.
async fn store_batch(
    conn: &mut PgConnection,
    events: Vec<Event>,
    subscribers: &[&str],
) -> Result<(), sqlx::Error> {
    if events.is_empty() || subscribers.is_empty() {
        return Ok(());
    }
    let count = i32::try_from(events.len()).expect("a batch holds fewer than 2^31 events");
    let payload = EventBatch { events }.encode_to_vec();
    sqlx::query(
        "WITH batch AS (
             INSERT INTO outbox_batch (event_count, payload) VALUES ($1, $2) RETURNING id
         )
         INSERT INTO outbox_delivery (subscriber, batch_id)
         SELECT s, batch.id FROM batch, unnest($3::text[]) AS s",
    )
    .bind(count)
    .bind(payload)
    .bind(subscribers)
    .execute(conn)
    .await?;
    Ok(())
}

/// The consumer side: records `events` as handled and returns those that were
/// not handled before, in order. Call it in the transaction that handles them.
pub async fn claim_unhandled(
    conn: &mut PgConnection,
    events: Vec<Event>,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut ids = Vec::with_capacity(events.len());
    let mut tenants = Vec::with_capacity(events.len());
    let mut parsed = Vec::with_capacity(events.len());
    for event in events {
        // Malformed ids were rejected before; skip defensively rather than fail the batch.
        let Ok(id) = Uuid::parse_str(&event.event_id) else {
            continue;
        };
        ids.push(id);
        tenants.push(event.tenant_id.clone());
        parsed.push((id, event));
    }
    let fresh: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO inbox (event_id, tenant_id)
         SELECT * FROM unnest($1::uuid[], $2::text[])
         ON CONFLICT DO NOTHING
         RETURNING event_id",
    )
    .bind(&ids)
    .bind(&tenants)
    .fetch_all(conn)
    .await?;
    let fresh: std::collections::HashSet<Uuid> = fresh.into_iter().collect();
    let mut seen = std::collections::HashSet::new();
    Ok(parsed
        .into_iter()
        .filter(|(id, _)| fresh.contains(id) && seen.insert(*id))
        .map(|(_, event)| event)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_parse_and_reject_bad_values() {
        let env = Env::from_pairs([(
            SUBSCRIBERS_VAR,
            "case=http://127.0.0.1:50052, insight=http://insight:50054",
        )]);
        let subs = subscribers_from_env(&env).expect("valid");
        assert_eq!(subs.len(), 2);
        assert_eq!(subs[1].name, "insight");
        assert_eq!(subs[1].url, "http://insight:50054");

        for bad in [
            "case",
            "case=ftp://x",
            "c a=http://x",
            "a=http://x,a=http://y",
        ] {
            let env = Env::from_pairs([(SUBSCRIBERS_VAR, bad)]);
            let err = subscribers_from_env(&env).expect_err(bad);
            assert!(err.to_string().contains(SUBSCRIBERS_VAR), "{err}");
        }
        assert!(
            subscribers_from_env(&Env::from_pairs::<&str, &str>([]))
                .expect("unset")
                .is_empty()
        );
    }

    #[test]
    fn new_events_have_unique_uuid_ids() {
        let payload =
            || event::Payload::CaseUpdated(earshot_proto::events::v1::CaseUpdated::default());
        let a = new_event("case", "t", "k", payload());
        let b = new_event("case", "t", "k", payload());
        assert_ne!(a.event_id, b.event_id);
        assert!(Uuid::parse_str(&a.event_id).is_ok());
        assert!(a.occurred_at.is_some());
    }
}
