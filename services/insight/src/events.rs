//! What insight does with the events it hears: each is read into facts
//! once, here; the facts are written and the rollups follow in the same
//! transaction, so a batch counts whole or not at all.

use earshot_outbox::Outbox;
use earshot_proto::events::v1::{Event, RetentionChanged, event};
use earshot_server::{EventHandler, ServiceError};
use sqlx::PgConnection;

use crate::erasure::{self, Forget};
use crate::facts::{self, store};
use crate::rollups::{self, Deltas};
use crate::{activity, operations};

pub struct InsightEvents;

impl EventHandler for InsightEvents {
    const PRODUCERS: &'static [&'static str] = &["listening", "case", "escalation"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        activity::record(conn, &events).await?;
        let mut cases = Vec::new();
        let mut mentions = Vec::new();
        let mut replies = Vec::new();
        let mut forget = Vec::new();
        let mut breaches = Vec::new();
        let mut operations = Vec::new();
        let mut retention: Vec<(String, RetentionChanged)> = Vec::new();
        for e in events {
            let tenant = e.tenant_id.as_str();
            if let Some(f) = operations::fact(&e) {
                operations.push((e.tenant_id.clone(), f));
                continue;
            }
            match &e.payload {
                Some(event::Payload::CaseOpened(o)) => {
                    cases.extend(
                        o.facts
                            .as_ref()
                            .and_then(|f| facts::case_fact(tenant, &o.case_id, f)),
                    );
                }
                Some(event::Payload::CaseUpdated(u)) => {
                    cases.extend(
                        u.facts
                            .as_ref()
                            .and_then(|f| facts::case_fact(tenant, &u.case_id, f)),
                    );
                }
                Some(event::Payload::MentionClassified(m)) => {
                    mentions.extend(facts::mention_fact(tenant, e.occurred_at.as_ref(), m));
                }
                // The case service tells a breach without a new version of
                // the case: its facts say so only at the next change.
                Some(event::Payload::SlaBreached(b)) => {
                    breaches.extend(facts::breach(tenant, b));
                }
                Some(event::Payload::ReplySent(r)) => {
                    replies.extend(facts::reply_fact(tenant, e.occurred_at.as_ref(), r));
                }
                Some(event::Payload::CustomerErased(erased)) => {
                    forget.push(Forget::customer(&e.tenant_id, erased));
                }
                // Listening names every mention it erased, also those of
                // authors no case knew.
                Some(event::Payload::ErasureCompleted(done)) if e.producer == "listening" => {
                    forget.push(Forget::mentions(&e.tenant_id, &done.mention_ids));
                }
                Some(event::Payload::RetentionChanged(change)) => {
                    retention.push((e.tenant_id.clone(), *change));
                }
                _ => {}
            }
        }
        let mut tenants: Vec<String> = cases
            .iter()
            .map(|c| c.tenant_id.clone())
            .chain(mentions.iter().map(|m| m.tenant_id.clone()))
            .chain(breaches.iter().map(|b| b.tenant_id.clone()))
            .chain(forget.iter().map(|f| f.tenant_id.clone()))
            .collect();
        tenants.sort();
        tenants.dedup();
        store::lock_tenants(conn, &tenants).await?;
        let mut deltas = Deltas::default();
        store::record_cases(conn, cases, &mut deltas).await?;
        store::record_mentions(conn, mentions, &mut deltas).await?;
        store::record_breaches(conn, &breaches, &mut deltas).await?;
        store::record_replies(conn, &replies).await?;
        for (tenant, f) in &operations {
            operations::store::record(conn, tenant, f).await?;
        }
        deltas.prune();
        rollups::store::apply(conn, &deltas).await?;
        let answers = erasure::forget(conn, forget).await?;
        earshot_server::retention::record(conn, &retention).await?;
        outbox.enqueue(conn, answers).await?;
        Ok(())
    }
}
