//! The `commitments` table.

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{CommitmentOverdue, event};
use earshot_server::convert::timestamp;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Promise;
use crate::audit::{self, Record};
use crate::record;
use crate::vocabulary::CommitmentState;

/// A promise as a case shows it.
#[derive(Debug, Clone)]
pub struct CommitmentRow {
    pub id: Uuid,
    pub text: String,
    pub due_at: DateTime<Utc>,
    pub state: CommitmentState,
    pub made_by: String,
    pub kept_at: Option<DateTime<Utc>>,
    /// Kept after its due date.
    pub late: bool,
}

/// The case a promise was made on under `request_id`, if one was.
pub async fn case_of_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT case_id FROM commitments WHERE tenant_id = $1 AND request_id = $2")
        .bind(tenant_id)
        .bind(request_id)
        .fetch_optional(conn)
        .await
}

/// Records an open promise by `actor`; answers its id.
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    p: &Promise,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO commitments (id, tenant_id, case_id, text, due_at, state, made_by, made_at,
                                  request_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now(), $8)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(p.case.id)
    .bind(&p.text)
    .bind(p.due_at)
    .bind(CommitmentState::Open)
    .bind(actor)
    .bind(&p.request_id)
    .execute(conn)
    .await?;
    Ok(id)
}

/// Locks a promise of a case, answering its state.
pub async fn lock_state(
    conn: &mut PgConnection,
    tenant_id: &str,
    case_id: Uuid,
    id: Uuid,
) -> Result<Option<CommitmentState>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT state FROM commitments WHERE tenant_id = $1 AND case_id = $2 AND id = $3
         FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(case_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Marks a locked promise kept now; answers whether that is after its due date.
pub async fn mark_kept(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE commitments SET state = $2, kept_at = now() WHERE id = $1
         RETURNING kept_at > due_at",
    )
    .bind(id)
    .bind(CommitmentState::Kept)
    .fetch_one(conn)
    .await
}

#[derive(Debug, sqlx::FromRow)]
struct Overdue {
    id: Uuid,
    tenant_id: String,
    case_id: Uuid,
    text: String,
    due_at: DateTime<Utc>,
    made_by: String,
}

/// Claims up to `limit` open promises past due, marks them overdue, audits
/// them and enqueues `CommitmentOverdue`, in the caller's transaction.
/// Answers how many it marked.
pub async fn mark_overdue(
    conn: &mut PgConnection,
    outbox: &Outbox,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    let due: Vec<Overdue> = sqlx::query_as(
        "WITH claimed AS (
             SELECT id FROM commitments WHERE state = $2 AND due_at <= now()
              ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE commitments c SET state = $3 FROM claimed WHERE c.id = claimed.id
         RETURNING c.id, c.tenant_id, c.case_id, c.text, c.due_at, c.made_by",
    )
    .bind(limit)
    .bind(CommitmentState::Open)
    .bind(CommitmentState::Overdue)
    .fetch_all(&mut *conn)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = due.iter().map(|d| d.tenant_id.as_str()).collect();
    let records: Vec<Record> = due
        .iter()
        .map(|d| {
            Record::case(
                d.case_id,
                "case.commitment_overdue",
                json!({ "commitment_id": d.id.to_string(), "state": CommitmentState::Open.label() }),
                json!({ "commitment_id": d.id.to_string(), "state": CommitmentState::Overdue.label(), "due_at": d.due_at.to_rfc3339() }),
            )
        })
        .collect();
    audit::store::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    let events = due
        .iter()
        .map(|d| {
            new_event(
                record::PRODUCER,
                &d.tenant_id,
                d.case_id.to_string(),
                event::Payload::CommitmentOverdue(CommitmentOverdue {
                    case_id: d.case_id.to_string(),
                    commitment_id: d.id.to_string(),
                    text: d.text.clone(),
                    due_at: Some(timestamp(d.due_at)),
                    made_by: d.made_by.clone(),
                }),
            )
        })
        .collect();
    record::store::enqueue(conn, outbox, events).await?;
    Ok(due.len() as u64)
}
