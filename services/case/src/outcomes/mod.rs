//! Outcomes: the resolution code (set when resolving, see `lifecycle`),
//! goodwill given to the customer, and the customer's satisfaction score when
//! they give one.

pub mod store;

use earshot_outbox::Outbox;
use earshot_proto::events::v1::GoodwillGesture;
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Record;
use crate::record::{self, CaseRow, Versioned};
use crate::vocabulary::{GoodwillKind, Status};

/// Largest goodwill amount, in minor units.
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// A checked `AddGoodwill`.
#[derive(Debug, Clone)]
pub struct Gesture {
    pub request_id: String,
    pub case: Versioned,
    pub kind: GoodwillKind,
    pub amount_minor: i64,
    pub currency: String,
    pub note: String,
}

/// Records goodwill on a case, once per `request_id`.
pub async fn add_goodwill(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    g: Gesture,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if let Some(case_id) = store::case_of_request(&mut tx, tenant_id, &g.request_id).await? {
        drop(tx);
        return record::store::get(pool, tenant_id, case_id).await;
    }
    let current = record::store::lock(&mut tx, tenant_id, g.case).await?;
    let id = current.id;
    if let Some(into) = current.merged_into {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} was merged into {into}; record goodwill there"
        )));
    }
    let gesture_id = store::insert(&mut tx, tenant_id, actor, &g).await?;
    let row = record::store::bump(&mut tx, id).await?;
    let record = Record::case(
        id,
        "case.goodwill_given",
        json!({}),
        json!({ "gesture_id": gesture_id.to_string(), "kind": g.kind.label(), "amount_minor": g.amount_minor, "currency": g.currency, "note": g.note }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// A checked `RecordCsat`.
#[derive(Debug, Clone)]
pub struct Csat {
    pub case_id: Uuid,
    /// 1 to 5.
    pub score: i16,
    pub comment: String,
}

/// Records the customer's satisfaction with a resolved (or closed) case, once.
/// It comes from a survey, which has no version to give: the same score and
/// comment again (a retried survey) changes nothing, a different one is
/// `ALREADY_EXISTS`.
pub async fn record_csat(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    csat: Csat,
) -> Result<CaseRow, ServiceError> {
    let id = csat.case_id;
    let mut tx = pool.begin().await?;
    let current = record::store::lock_unversioned(&mut tx, tenant_id, id).await?;
    if !matches!(current.status, Status::Resolved | Status::Closed) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is not resolved yet; satisfaction is asked after resolution"
        )));
    }
    if let Some(recorded) = current.csat {
        if recorded == csat.score && current.csat_comment.as_deref() == Some(&csat.comment) {
            return Ok(current);
        }
        return Err(ServiceError::AlreadyExists(format!(
            "case {id} has its satisfaction score ({recorded}) already; it is recorded once"
        )));
    }
    let row = store::set_csat(&mut tx, id, csat.score, &csat.comment).await?;
    let record = Record::case(
        id,
        "case.csat_recorded",
        json!({ "csat": current.csat }),
        json!({ "csat": csat.score, "comment": csat.comment }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// A gesture as events (and cases) carry it.
pub fn gesture_event(g: &store::GestureRow) -> GoodwillGesture {
    GoodwillGesture {
        gesture_id: g.id.to_string(),
        kind: g.kind as i32,
        amount_minor: g.amount_minor,
        currency: g.currency.clone(),
        note: g.note.clone(),
    }
}
