//! What escalation hears: mentions and case events to evaluate, erasures
//! and retention changes.

use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{ErasureCompleted, Event, RetentionChanged, event};
use earshot_server::{EventHandler, ServiceError};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::NAME;
use crate::erasure::{self, Erase};
use crate::evaluations::{self, CaseEvent, CaseHeard, Heard};
use crate::rules::RulesCache;
use crate::spikes::store::StateCache;

#[derive(Default)]
pub struct EscalationEvents {
    rules: RulesCache,
    states: StateCache,
}

impl EventHandler for EscalationEvents {
    const PRODUCERS: &'static [&'static str] = &["listening", "case"];

    async fn handle(
        &self,
        conn: &mut PgConnection,
        outbox: &Outbox,
        events: Vec<Event>,
    ) -> Result<(), ServiceError> {
        let mut mentions = Vec::new();
        let mut cases = Vec::new();
        // Run after the evaluations, so a mention heard and erased in one
        // batch stays gone.
        let mut erasures: Vec<Erase> = Vec::new();
        let mut retention: Vec<(String, RetentionChanged)> = Vec::new();
        for e in events {
            let Ok(event_id) = Uuid::parse_str(&e.event_id) else {
                continue;
            };
            match e.payload {
                Some(event::Payload::MentionClassified(mention)) => mentions.push(Heard {
                    event_id,
                    tenant_id: e.tenant_id,
                    mention,
                }),
                Some(event::Payload::CaseOpened(opened)) => cases.push(CaseHeard {
                    event_id,
                    tenant_id: e.tenant_id,
                    event: CaseEvent::Opened(Box::new(opened)),
                }),
                Some(event::Payload::SlaBreached(breach)) => cases.push(CaseHeard {
                    event_id,
                    tenant_id: e.tenant_id,
                    event: CaseEvent::SlaBreached(breach),
                }),
                Some(event::Payload::CustomerErased(mut erased)) => erasures.push(Erase {
                    tenant_id: e.tenant_id,
                    mention_ids: std::mem::take(&mut erased.mention_ids),
                    answer: Some(erased),
                }),
                // Listening's report names every mention of the customer it
                // erased, those no case held among them.
                Some(event::Payload::ErasureCompleted(done)) if e.producer == "listening" => {
                    erasures.push(Erase {
                        tenant_id: e.tenant_id,
                        mention_ids: done.mention_ids,
                        answer: None,
                    });
                }
                Some(event::Payload::RetentionChanged(change)) => {
                    retention.push((e.tenant_id, change));
                }
                _ => {}
            }
        }
        evaluations::evaluate(conn, outbox, &self.rules, &self.states, mentions, cases).await?;
        let mut answers = Vec::new();
        for job in erasures {
            let records = erasure::erase(conn, &job.tenant_id, &job.mention_ids).await?;
            if let Some(erased) = job.answer {
                answers.push(new_event(
                    NAME,
                    &job.tenant_id,
                    erased.customer_id,
                    event::Payload::ErasureCompleted(ErasureCompleted {
                        erasure_id: erased.erasure_id,
                        service: NAME.to_owned(),
                        records_erased: records,
                        mention_ids: Vec::new(),
                    }),
                ));
            }
        }
        earshot_server::retention::record(conn, &retention).await?;
        outbox.enqueue(conn, answers).await?;
        Ok(())
    }
}
