//! One way to read a case: its row with its SLA clocks, goodwill and
//! commitments, read together. Every answer that carries a case reads it
//! here, so no two calls show the same case differently.

pub mod store;

use earshot_server::ServiceError;
use sqlx::PgPool;
use uuid::Uuid;

use crate::commitments::store::CommitmentRow;
use crate::outcomes::store::GestureRow;
use crate::record::CaseRow;
use crate::sla::store::TimerRow;

/// A case with everything on it.
#[derive(Debug, Clone)]
pub struct CaseView {
    pub case: CaseRow,
    pub clocks: Vec<TimerRow>,
    pub goodwill: Vec<GestureRow>,
    pub commitments: Vec<CommitmentRow>,
}

/// Case `id` of the tenant, in one query.
pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<CaseView, ServiceError> {
    store::get(pool, tenant_id, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))
}

/// `rows` with everything on them, in one query.
pub async fn of(
    pool: &PgPool,
    tenant_id: &str,
    rows: Vec<CaseRow>,
) -> Result<Vec<CaseView>, ServiceError> {
    Ok(store::details_of(pool, tenant_id, rows).await?)
}

/// `row`, just changed, with everything on it.
pub async fn one(pool: &PgPool, tenant_id: &str, row: CaseRow) -> Result<CaseView, ServiceError> {
    let id = row.id;
    of(pool, tenant_id, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))
}
