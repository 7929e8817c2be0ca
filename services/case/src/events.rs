//! What the case service does with the events it hears.

use earshot_outbox::Outbox;
use earshot_proto::events::v1::{Event, event};
use earshot_server::{EventHandler, ServiceError};
use sqlx::PgConnection;

pub struct CaseEvents;

impl EventHandler for CaseEvents {
    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let mut mentions = Vec::new();
        let mut escalations = Vec::new();
        for e in events {
            match e.payload {
                Some(event::Payload::MentionClassified(m)) => mentions.push((e.tenant_id, m)),
                Some(event::Payload::EscalationRaised(x)) => escalations.push((e.tenant_id, x)),
                _ => {}
            }
        }
        let threaded = crate::cases::thread_mentions(conn, outbox, &mentions).await?;
        let escalated = crate::cases::escalate(conn, outbox, &escalations).await?;
        tracing::debug!(
            mentions = mentions.len(),
            ?threaded,
            escalations = escalations.len(),
            escalated,
            "events handled"
        );
        Ok(())
    }
}
