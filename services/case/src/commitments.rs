//! Commitments: promises made to a customer with a due date. Open ones past
//! their date are marked overdue by the scheduler (state in the database,
//! claimed with `FOR UPDATE SKIP LOCKED`), which enqueues `CommitmentOverdue`
//! in the same transaction, so a restart neither loses nor repeats one.

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::case::v1::{AddCommitmentRequest, CommitmentState};
use earshot_proto::events::v1::{CommitmentOverdue, event};
use earshot_server::convert::{from_timestamp, timestamp};
use earshot_server::{FieldViolations, ServiceError, invalid};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::{self, Record};
use crate::cases::{self, CaseRow, Versioned};

const BATCH: i64 = 500;

/// A checked `AddCommitment`.
#[derive(Debug, Clone)]
pub struct Promise {
    pub request_id: String,
    pub case: Versioned,
    pub text: String,
    pub due_at: DateTime<Utc>,
}

pub fn validate(req: &AddCommitmentRequest) -> Result<Promise, ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id);
    let id = v.id(&req.case_id, "case_id");
    v.version(req.version, "version");
    let text = req.text.trim();
    v.check(text.is_empty(), "text", "is required");
    v.check(
        text.chars().count() > 500,
        "text",
        "must be at most 500 characters",
    );
    let due_at = match req.due_at.as_ref() {
        None => {
            v.add("due_at", "is required");
            None
        }
        Some(ts) => match from_timestamp(ts, "due_at") {
            Ok(at) if at <= Utc::now() => {
                v.add("due_at", "must be in the future");
                None
            }
            Ok(at) => Some(at),
            Err(_) => {
                v.add("due_at", "is not a valid timestamp");
                None
            }
        },
    };
    v.into_result()?;
    match (id, due_at) {
        (Some(id), Some(due_at)) => Ok(Promise {
            request_id: request_id.to_owned(),
            case: (id, req.version),
            text: text.to_owned(),
            due_at,
        }),
        _ => Err(invalid("case_id", "is required")),
    }
}

/// Records a promise on a case, once per `request_id`.
pub async fn add(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    p: Promise,
) -> Result<CaseRow, ServiceError> {
    let (id, version) = p.case;
    let mut tx = pool.begin().await?;
    let done: Option<Uuid> = sqlx::query_scalar(
        "SELECT case_id FROM commitments WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(&p.request_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(case_id) = done {
        drop(tx);
        return cases::get(pool, tenant_id, case_id).await;
    }
    let current = cases::lock(&mut tx, tenant_id, id, version).await?;
    if current.merged_into.is_some() {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} was merged; make the promise on the case it was merged into"
        )));
    }
    let commitment_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO commitments (id, tenant_id, case_id, text, due_at, state, made_by, made_at,
                                  request_id)
         VALUES ($1, $2, $3, $4, $5, 1, $6, now(), $7)",
    )
    .bind(commitment_id)
    .bind(tenant_id)
    .bind(id)
    .bind(&p.text)
    .bind(p.due_at)
    .bind(actor)
    .bind(&p.request_id)
    .execute(&mut *tx)
    .await?;
    finish(
        tx,
        outbox,
        tenant_id,
        actor,
        id,
        Record::case(
            id,
            "case.commitment_made",
            json!({}),
            json!({ "commitment_id": commitment_id.to_string(), "text": p.text, "due_at": p.due_at.to_rfc3339() }),
        ),
    )
    .await
}

/// Marks a promise kept (late when it was overdue).
pub async fn keep(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (id, version): Versioned,
    commitment_id: Uuid,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    cases::lock(&mut tx, tenant_id, id, version).await?;
    let before: i16 = sqlx::query_scalar(
        "SELECT state FROM commitments WHERE tenant_id = $1 AND case_id = $2 AND id = $3
         FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(commitment_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("commitment {commitment_id} of case {id}")))?;
    if before == CommitmentState::Kept as i16 {
        return Err(ServiceError::FailedPrecondition(format!(
            "commitment {commitment_id} is already kept"
        )));
    }
    sqlx::query("UPDATE commitments SET state = 2, kept_at = now() WHERE id = $1")
        .bind(commitment_id)
        .execute(&mut *tx)
        .await?;
    let late = before == CommitmentState::Overdue as i16;
    finish(
        tx,
        outbox,
        tenant_id,
        actor,
        id,
        Record::case(
            id,
            "case.commitment_kept",
            json!({ "commitment_id": commitment_id.to_string(), "state": if late { "OVERDUE" } else { "OPEN" } }),
            json!({ "commitment_id": commitment_id.to_string(), "state": "KEPT", "late": late }),
        ),
    )
    .await
}

/// Bumps the case's version, audits, tells subscribers and commits.
async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    record: Record,
) -> Result<CaseRow, ServiceError> {
    let row = cases::bump(&mut tx, id).await?;
    cases::commit_update(tx, outbox, tenant_id, actor, row, record).await
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

/// One scheduler round: marks up to a batch of open promises past due as
/// overdue, audits them and enqueues `CommitmentOverdue`, in one transaction.
pub async fn mark_overdue(pool: &PgPool, outbox: &Outbox) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let due: Vec<Overdue> = sqlx::query_as(
        "WITH claimed AS (
             SELECT id FROM commitments WHERE state = 1 AND due_at <= now()
              ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
         )
         UPDATE commitments c SET state = 3 FROM claimed WHERE c.id = claimed.id
         RETURNING c.id, c.tenant_id, c.case_id, c.text, c.due_at, c.made_by",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
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
                json!({ "commitment_id": d.id.to_string(), "state": "OPEN" }),
                json!({ "commitment_id": d.id.to_string(), "state": "OVERDUE", "due_at": d.due_at.to_rfc3339() }),
            )
        })
        .collect();
    audit::append_for(&mut tx, &tenants, audit::SYSTEM, &records).await?;
    let events = due
        .iter()
        .map(|d| {
            new_event(
                crate::NAME,
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
    outbox.enqueue(&mut tx, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(due.len())
}
