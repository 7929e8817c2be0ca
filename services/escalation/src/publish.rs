//! Where escalation's events go. Real events go to the other services
//! through the outbox, and to the tenant's webhook endpoints when the
//! guideline asks to notify; a drill's events never leave the service except
//! to the endpoints that accept drills.

use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{Event, event};
use sqlx::PgConnection;

/// An event to publish and where it may go.
pub struct Outgoing {
    pub event: Event,
    /// Also to webhook endpoints (for drills: only those that accept drills).
    pub webhooks: bool,
}

impl Outgoing {
    pub fn new(
        tenant_id: &str,
        aggregate_key: impl Into<String>,
        payload: event::Payload,
        drill: bool,
        webhooks: bool,
    ) -> Self {
        let mut event = new_event(crate::NAME, tenant_id, aggregate_key, payload);
        event.drill = drill;
        Self { event, webhooks }
    }
}

pub async fn publish(
    conn: &mut PgConnection,
    outbox: &Outbox,
    events: Vec<Outgoing>,
) -> Result<(), sqlx::Error> {
    let (mut everywhere, mut services, mut rehearsed) = (Vec::new(), Vec::new(), Vec::new());
    for out in events {
        match (out.event.drill, out.webhooks) {
            (false, true) => everywhere.push(out.event),
            (false, false) => services.push(out.event),
            (true, true) => rehearsed.push(out.event),
            // A drill's event for no webhook goes nowhere.
            (true, false) => {}
        }
    }
    outbox.enqueue(conn, everywhere).await?;
    outbox.enqueue_remote(conn, services).await?;
    outbox.enqueue_local(conn, rehearsed).await?;
    Ok(())
}
