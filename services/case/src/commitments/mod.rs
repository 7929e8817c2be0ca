//! Commitments: promises made to a customer with a due date. Open ones past
//! their date are marked overdue by a scheduled job (state in the database,
//! claimed with `FOR UPDATE SKIP LOCKED`), which enqueues `CommitmentOverdue`
//! in the same transaction, so a restart neither loses nor repeats one.

pub mod store;

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_server::ServiceError;
use earshot_server::scheduler::Job;
use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::audit::Record;
use crate::record::{self, CaseRow, Versioned};
use crate::vocabulary::CommitmentState;

/// A checked `AddCommitment`.
#[derive(Debug, Clone)]
pub struct Promise {
    pub request_id: String,
    pub case: Versioned,
    pub text: String,
    pub due_at: DateTime<Utc>,
}

/// A checked `KeepCommitment`.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub case: Versioned,
    pub commitment_id: Uuid,
}

/// Records a promise on a case, once per `request_id`.
pub async fn add(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    p: Promise,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if let Some(case_id) = store::case_of_request(&mut tx, tenant_id, &p.request_id).await? {
        drop(tx);
        return record::store::get(pool, tenant_id, case_id).await;
    }
    let current = record::store::lock(&mut tx, tenant_id, p.case).await?;
    let id = current.id;
    if current.merged_into.is_some() {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} was merged; make the promise on the case it was merged into"
        )));
    }
    let commitment_id = store::insert(&mut tx, tenant_id, actor, &p).await?;
    let row = record::store::bump(&mut tx, id).await?;
    let record = Record::case(
        id,
        "case.commitment_made",
        json!({}),
        json!({ "commitment_id": commitment_id.to_string(), "text": p.text, "due_at": p.due_at.to_rfc3339() }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// Marks a promise kept: late when kept after its due date, whether or not
/// the scheduler had marked it overdue yet.
pub async fn keep(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    keep: Keep,
) -> Result<CaseRow, ServiceError> {
    let Keep {
        case,
        commitment_id,
    } = keep;
    let mut tx = pool.begin().await?;
    record::store::lock(&mut tx, tenant_id, case).await?;
    let before = store::lock_state(&mut tx, tenant_id, case.id, commitment_id)
        .await?
        .ok_or_else(|| {
            ServiceError::NotFound(format!("commitment {commitment_id} of case {}", case.id))
        })?;
    if before == CommitmentState::Kept {
        return Err(ServiceError::FailedPrecondition(format!(
            "commitment {commitment_id} is already kept"
        )));
    }
    let late = store::mark_kept(&mut tx, commitment_id).await?;
    let row = record::store::bump(&mut tx, case.id).await?;
    let record = Record::case(
        case.id,
        "case.commitment_kept",
        json!({ "commitment_id": commitment_id.to_string(), "state": before.label() }),
        json!({ "commitment_id": commitment_id.to_string(), "state": CommitmentState::Kept.label(), "late": late }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// Marks open promises past due overdue, audits them and enqueues
/// `CommitmentOverdue`, a batch per round of the service's scheduler.
pub struct OverdueJob;

impl Job for OverdueJob {
    fn name(&self) -> &'static str {
        "overdue commitments"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> Pin<Box<dyn Future<Output = Result<u64, sqlx::Error>> + Send + 'a>> {
        Box::pin(async move { store::mark_overdue(tx, outbox, limit).await })
    }
}
