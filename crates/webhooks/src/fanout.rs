//! Fan-out: the `webhooks` subscriber's outbox batches become one delivery
//! per matching endpoint of each event's tenant.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use earshot_outbox::{
    ClaimedBatch, Outbox, claim_batches, delete_finished_batches, finish_batches, postpone_batches,
};
use earshot_proto::events::v1::{Event, EventBatch};
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use prost::Message;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::SUBSCRIBER;
use crate::store::{self, Listener, NewEvent};
use crate::types::{self, event_type};

/// Whether `listener` hears an event of `event_type` (a drill's when `drill`).
pub fn hears(listener: &Listener, event_type: &str, drill: bool) -> bool {
    (listener.event_types.is_empty() || listener.event_types.iter().any(|t| t == event_type))
        && (!drill || listener.accept_drills)
}

/// The deliveries `events` make: `(endpoint, index into events)` for every
/// listener of an event's tenant that hears it.
pub fn plan(events: &[NewEvent], listeners: &[Listener]) -> Vec<(Uuid, usize)> {
    let mut deliveries = Vec::new();
    for (i, event) in events.iter().enumerate() {
        for listener in listeners {
            if listener.tenant_id == event.tenant_id
                && hears(listener, event.event_type, event.drill)
            {
                deliveries.push((listener.id, i));
            }
        }
    }
    deliveries
}

/// An event of the outbox as webhooks store it, when the service offers its
/// type and its id is a UUID (as every producer's is).
pub fn offered_event(event: &Event, offered: &[&'static str]) -> Option<NewEvent> {
    let kind = event_type(event)?;
    if !offered.contains(&kind) {
        return None;
    }
    let event_id = Uuid::parse_str(&event.event_id).ok()?;
    match types::render(event) {
        Ok(rendered) => Some(NewEvent {
            event_id,
            tenant_id: event.tenant_id.clone(),
            event_type: rendered.event_type,
            drill: event.drill,
            occurred_at: rendered.occurred_at,
            body: rendered.body,
        }),
        Err(error) => {
            tracing::warn!(event_id = %event.event_id, %error, "event not sent to webhooks");
            None
        }
    }
}

/// Wait before a batch that does not decode is looked at again.
fn corrupt_backoff(attempts: i32) -> Duration {
    Duration::from_secs(1 << attempts.clamp(0, 12))
}

pub struct FanOut {
    pub(crate) offered: Arc<[&'static str]>,
}

impl Job for FanOut {
    fn name(&self) -> &'static str {
        "webhook fan-out"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let claimed = claim_batches(tx, SUBSCRIBER, limit).await?;
            let handled = claimed.len() as u64;
            let mut finished = Vec::with_capacity(claimed.len());
            let mut events = Vec::new();
            for ClaimedBatch {
                batch_id,
                payload,
                attempts,
            } in claimed
            {
                match EventBatch::decode(payload.as_slice()) {
                    Ok(batch) => {
                        finished.push(batch_id);
                        events.extend(
                            batch
                                .events
                                .iter()
                                .filter_map(|e| offered_event(e, &self.offered)),
                        );
                    }
                    // Kept and retried alone, as the relay does, blocking nothing.
                    Err(error) => {
                        tracing::warn!(batch_id, %error, "undecodable outbox batch");
                        let error = format!("undecodable outbox batch: {error}");
                        postpone_batches(
                            tx,
                            SUBSCRIBER,
                            &[batch_id],
                            corrupt_backoff(attempts),
                            &error,
                        )
                        .await?;
                    }
                }
            }
            if !events.is_empty() {
                let tenants: BTreeSet<&str> = events.iter().map(|e| e.tenant_id.as_str()).collect();
                let tenants: Vec<&str> = tenants.into_iter().collect();
                let listeners = store::listeners_of(tx, &tenants).await?;
                let deliveries = plan(&events, &listeners);
                let kept: BTreeSet<usize> = deliveries.iter().map(|(_, e)| *e).collect();
                // Only events some endpoint hears are kept; the rest leave no trace.
                let mut index = vec![usize::MAX; events.len()];
                let mut stored = Vec::with_capacity(kept.len());
                for (i, event) in events.into_iter().enumerate() {
                    if kept.contains(&i) {
                        index[i] = stored.len();
                        stored.push(event);
                    }
                }
                let deliveries: Vec<(Uuid, usize)> = deliveries
                    .into_iter()
                    .map(|(endpoint, e)| (endpoint, index[e]))
                    .collect();
                store::insert_deliveries(tx, &stored, &deliveries).await?;
            }
            if !finished.is_empty() {
                finish_batches(tx, SUBSCRIBER, &finished).await?;
                // In this transaction: the relays' sweep removes a batch that
                // a relay finished at the same moment, which this cannot see.
                delete_finished_batches(&mut **tx, Some(finished.as_slice())).await?;
            }
            Ok(handled)
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn listener(tenant: &str, types: &[&str], drills: bool) -> Listener {
        Listener {
            id: Uuid::now_v7(),
            tenant_id: tenant.into(),
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
            accept_drills: drills,
        }
    }

    fn event(tenant: &str, kind: &'static str, drill: bool) -> NewEvent {
        NewEvent {
            event_id: Uuid::now_v7(),
            tenant_id: tenant.into(),
            event_type: kind,
            drill,
            occurred_at: Utc::now(),
            body: "{}".into(),
        }
    }

    #[test]
    fn endpoints_hear_their_tenant_their_types_and_drills_only_if_asked() {
        let all = listener("acme", &[], false);
        let raised = listener("acme", &["escalation.raised"], true);
        let other = listener("globex", &[], true);
        let listeners = [all.clone(), raised.clone(), other.clone()];
        let events = [
            event("acme", "escalation.raised", false),
            event("acme", "incident.opened", false),
            event("acme", "escalation.raised", true),
            event("globex", "incident.opened", true),
        ];
        assert_eq!(
            plan(&events, &listeners),
            [
                (all.id, 0),
                (raised.id, 0),
                (all.id, 1),
                (raised.id, 2),
                (other.id, 3)
            ]
        );
    }

    #[test]
    fn corrupt_batches_back_off_up_to_about_an_hour() {
        assert_eq!(corrupt_backoff(0), Duration::from_secs(1));
        assert_eq!(corrupt_backoff(3), Duration::from_secs(8));
        assert_eq!(corrupt_backoff(1000), Duration::from_secs(4096));
    }
}
