use std::future::Future;

use earshot_auth::EVENTS_DELIVER_SCOPE;
use earshot_outbox::{Outbox, claim_unhandled};
use earshot_proto::events::v1::event_sink_server::{EventSink, EventSinkServer};
use earshot_proto::events::v1::{DeliverRequest, DeliverResponse, Event};
use sqlx::{PgConnection, PgPool};

use crate::error::{FieldViolations, ServiceError};

/// Full protobuf name of the sink every consumer serves, from generated code.
pub const EVENT_SINK: &str = earshot_proto::events::v1::event_sink_server::SERVICE_NAME;

/// What a consumer does with events it has not handled before. It runs inside
/// the transaction that records them in the inbox, and may enqueue events of
/// its own in the same transaction.
pub trait EventHandler: Send + Sync + 'static {
    /// The producers this consumer subscribes to (their service names). An
    /// event from any other producer is refused, so a relay token leaked
    /// from one service cannot feed another what it never hears.
    const PRODUCERS: &'static [&'static str];

    fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> impl Future<Output = Result<(), ServiceError>> + Send;
}

/// The `EventSink` every consumer serves: validates the batch, drops events
/// already handled, and hands the rest to the service's [`EventHandler`] in
/// one transaction.
pub struct EventSinkService<H> {
    pool: PgPool,
    outbox: Outbox,
    handler: H,
}

/// The gRPC server for a consumer's sink, accepting the large batches relays send.
pub fn event_sink<H: EventHandler>(
    pool: PgPool,
    outbox: Outbox,
    handler: H,
) -> EventSinkServer<EventSinkService<H>> {
    EventSinkServer::new(EventSinkService {
        pool,
        outbox,
        handler,
    })
    .max_decoding_message_size(earshot_outbox::MAX_EVENT_MESSAGE_BYTES)
}

fn validate(events: &[Event], producers: &[&str]) -> Result<(), ServiceError> {
    let mut violations = FieldViolations::new();
    for (i, event) in events.iter().enumerate() {
        if !producers.contains(&event.producer.as_str()) {
            violations.add(
                format!("events[{i}].producer"),
                format!(
                    "must be a producer this service hears ({})",
                    producers.join(", ")
                ),
            );
        }
        violations.check(
            uuid::Uuid::parse_str(&event.event_id).is_err(),
            format!("events[{i}].event_id"),
            "must be a UUID",
        );
        violations.check(
            event.tenant_id.trim().is_empty(),
            format!("events[{i}].tenant_id"),
            "is required",
        );
        violations.check(
            event.payload.is_none(),
            format!("events[{i}].payload"),
            "is required",
        );
    }
    violations.into_result()
}

#[tonic::async_trait]
impl<H: EventHandler> EventSink for EventSinkService<H> {
    async fn deliver(
        &self,
        request: tonic::Request<DeliverRequest>,
    ) -> Result<tonic::Response<DeliverResponse>, tonic::Status> {
        // The auth layer already checked the scope from the contract; this
        // second check keeps the sink closed to tenants even if a policy
        // were ever built wrong.
        let caller = earshot_auth::caller(&request)?;
        if !caller.allows(EVENTS_DELIVER_SCOPE) {
            return Err(tonic::Status::permission_denied(
                "delivering events needs a service token with scope events:deliver",
            ));
        }
        let (handled, skipped) = take(
            &self.pool,
            &self.outbox,
            &self.handler,
            request.into_inner().events,
        )
        .await?;
        Ok(tonic::Response::new(DeliverResponse {
            handled: u32::try_from(handled).unwrap_or(u32::MAX),
            skipped: u32::try_from(skipped).unwrap_or(u32::MAX),
        }))
    }
}

/// What a consumer does with a delivered batch, whichever transport brought
/// it: checks it, drops events already handled, and hands the rest to the
/// handler in one transaction with the inbox. Returns (handled, skipped).
pub async fn take<H: EventHandler>(
    pool: &PgPool,
    outbox: &Outbox,
    handler: &H,
    events: Vec<Event>,
) -> Result<(usize, usize), ServiceError> {
    validate(&events, H::PRODUCERS)?;
    let total = events.len();
    // A drill's events stay in their service; one that reached a sink
    // all the same is skipped, never handled as real.
    let events: Vec<Event> = events.into_iter().filter(|e| !e.drill).collect();
    let mut tx = pool.begin().await?;
    let fresh = claim_unhandled(&mut tx, events).await?;
    let handled = fresh.len();
    if handled > 0 {
        handler.handle(&mut tx, outbox, fresh).await?;
    }
    tx.commit().await?;
    outbox.wake();
    Ok((handled, total - handled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_events_name_their_index_and_field() {
        let events = vec![Event {
            event_id: "nope".into(),
            ..Default::default()
        }];
        let err = validate(&events, &["listening"]).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("events[0].producer"), "{text}");
        assert!(text.contains("events[0].event_id"), "{text}");
        assert!(text.contains("events[0].tenant_id"), "{text}");
        assert!(text.contains("events[0].payload"), "{text}");
    }
}
