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
        let mentions: Vec<_> = events
            .into_iter()
            .filter_map(|e| match e.payload {
                Some(event::Payload::MentionClassified(m)) => Some((e.tenant_id, m)),
                _ => None,
            })
            .collect();
        let threaded = crate::cases::thread_mentions(conn, outbox, &mentions).await?;
        tracing::debug!(mentions = mentions.len(), ?threaded, "mentions handled");
        Ok(())
    }
}
