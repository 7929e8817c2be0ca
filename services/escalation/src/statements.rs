//! Statements overdue: an incident's first statement or update that did not
//! go out by its deadline is counted, written on its timeline, published,
//! and, for incidents a guideline opened, escalated to the guideline's team
//! with its ladder, one escalation per missed statement.

use std::sync::Arc;

use earshot_outbox::Outbox;
use earshot_proto::escalation::v1::GuidelineInput;
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use prost::Message;
use sqlx::{Postgres, Transaction};

use crate::escalations::{NewEscalation, Trigger};
use crate::guidelines::Compiled;
use crate::incidents::{self, IncidentRow, entry, updated_event};
use crate::publish::publish;
use crate::raise::raise;
use crate::sql::prefixed;
use crate::timeline;
use crate::vocabulary::TriggerKind;

/// Statements overdue: counted, written on the timeline, published, and —
/// for incidents a guideline opened — escalated to the guideline's team with
/// its ladder, one escalation per missed statement.
pub struct StatementJob;

#[derive(sqlx::FromRow)]
struct Overdue {
    #[sqlx(flatten)]
    incident: IncidentRow,
    definition: Option<Vec<u8>>,
}

impl Job for StatementJob {
    fn name(&self) -> &'static str {
        "incident statements"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let due: Vec<Overdue> = sqlx::query_as(&format!(
                "SELECT {cols}, v.definition
                   FROM incidents i
                   LEFT JOIN guideline_versions v
                     ON v.guideline_id = i.guideline_id AND v.version = i.guideline_version
                  WHERE i.statement_due_at IS NOT NULL AND i.statement_due_at <= now()
                  ORDER BY i.statement_due_at
                  LIMIT $1
                    FOR UPDATE OF i SKIP LOCKED",
                cols = prefixed(incidents::store::COLUMNS, "i.")
            ))
            .bind(limit)
            .fetch_all(&mut **tx)
            .await?;
            let handled = due.len() as u64;
            let mut news = Vec::new();
            for Overdue {
                incident: mut row,
                definition,
            } in due
            {
                let which = if row.first_posted_at.is_none() {
                    "holding statement"
                } else {
                    "update"
                };
                row.statements_overdue += 1;
                row.statement_due_at = None;
                let row = incidents::store::save(tx, &row, false).await?;
                let detail = format!("the {which} is overdue");
                timeline::append(
                    tx,
                    &[entry(
                        &row,
                        "statement_overdue",
                        timeline::SYSTEM,
                        detail.clone(),
                    )],
                )
                .await?;
                publish(
                    tx,
                    outbox,
                    vec![updated_event(
                        &row,
                        "statement_overdue",
                        timeline::SYSTEM,
                        &detail,
                    )],
                )
                .await?;
                if let (Some((guideline_id, version)), Some(definition)) =
                    (row.guideline_id.zip(row.guideline_version), definition)
                {
                    let input = GuidelineInput::decode(definition.as_slice()).unwrap_or_default();
                    news.push(NewEscalation {
                        tenant_id: row.tenant_id.clone(),
                        guideline: Arc::new(Compiled::new(guideline_id, version, &input)),
                        trigger: Trigger {
                            kind: TriggerKind::Incident,
                            key: format!("{}:{}", row.id, row.statements_overdue),
                            mention_id: String::new(),
                            case_id: None,
                            spike_alert_id: None,
                            incident_id: Some(row.id),
                            event_id: None,
                            topic: String::new(),
                            why: format!("the {which} of incident {} is overdue", row.id),
                        },
                        drill_id: row.drill_id,
                    });
                }
            }
            raise(tx, outbox, news).await?;
            Ok(handled)
        })
    }
}
