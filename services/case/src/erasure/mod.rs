//! Forgetting a customer (GDPR erasure): in one transaction the profile (and
//! every profile merged into it) is anonymised, its identities deleted, the
//! text of its cases, messages, commitments and goodwill notes redacted and
//! its audit entries blanked; the erasure is recorded with who asked and
//! when, and `CustomerErased` tells the other services, which erase what
//! they hold and report back (`ErasureCompleted`).

pub mod store;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{CustomerErased, ErasedIdentity, event};
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::{self, Record};
use crate::record::{self, PRODUCER};

/// What erased texts and names read afterwards.
pub const MARKER: &str = "[erased]";

/// A checked `EraseCustomer`.
#[derive(Debug, Clone)]
pub struct EraseInput {
    pub request_id: String,
    pub customer_id: Uuid,
}

/// An erasure as stored: nothing of what was erased.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ErasureRow {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
}

/// What one service did; `completed_at` is `None` while it has not reported.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgressRow {
    pub service: String,
    pub records_erased: i64,
    pub completed_at: Option<DateTime<Utc>>,
}

/// An erasure with each service's progress, the case service first.
#[derive(Debug, Clone)]
pub struct ErasureView {
    pub erasure: ErasureRow,
    pub services: Vec<ProgressRow>,
}

impl ErasureView {
    pub fn complete(&self) -> bool {
        self.services.iter().all(|s| s.completed_at.is_some())
    }
}

/// What the case service erased of one customer, and what the others need
/// to find what they hold.
#[derive(Debug, Default)]
pub struct Erased {
    pub identities: Vec<(String, String)>,
    pub mention_ids: Vec<String>,
    pub records: u64,
}

/// Erases a customer, once: a retry with the same `request_id`, or another
/// erasure of a customer already erased, answers with the first erasure.
pub async fn erase(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    input: EraseInput,
) -> Result<ErasureView, ServiceError> {
    let customer_id = input.customer_id;
    let mut tx = pool.begin().await?;
    if let Some(done) = store::by_request(&mut tx, tenant_id, &input.request_id).await? {
        if done.customer_id != customer_id {
            return Err(ServiceError::AlreadyExists(format!(
                "request_id {} erased customer {}; use a new request_id for another customer",
                input.request_id, done.customer_id
            )));
        }
        return view_in(&mut tx, tenant_id, done.id).await;
    }
    // The lock serialises erasures of one customer and any change to it.
    let merged_into = store::lock_customer(&mut tx, tenant_id, customer_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("customer {customer_id}")))?;
    if let Some(done) = store::by_customer(&mut tx, tenant_id, customer_id).await? {
        return view_in(&mut tx, tenant_id, done).await;
    }
    if let Some(into) = merged_into {
        return Err(ServiceError::FailedPrecondition(format!(
            "customer {customer_id} was merged into {into}; erase that one"
        )));
    }
    let erased = store::erase_customer(&mut tx, tenant_id, customer_id).await?;
    let erasure_id = Uuid::now_v7();
    store::insert(
        &mut tx,
        tenant_id,
        erasure_id,
        &input,
        actor,
        erased.records,
        outbox.subscribers(),
    )
    .await?;
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::customer(
            customer_id,
            "customer.erased",
            json!({}),
            json!({ "erasure_id": erasure_id.to_string(), "records_erased": erased.records }),
        )],
    )
    .await?;
    let told = new_event(
        PRODUCER,
        tenant_id,
        customer_id.to_string(),
        event::Payload::CustomerErased(CustomerErased {
            erasure_id: erasure_id.to_string(),
            customer_id: customer_id.to_string(),
            identities: erased
                .identities
                .into_iter()
                .map(|(platform, value)| ErasedIdentity { platform, value })
                .collect(),
            mention_ids: erased.mention_ids,
        }),
    );
    record::store::enqueue(&mut tx, outbox, vec![told]).await?;
    let view = view_in(&mut tx, tenant_id, erasure_id).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(view)
}

async fn view_in(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<ErasureView, ServiceError> {
    store::view(conn, tenant_id, id)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("erasure {id}")))
}

/// An erasure of the tenant and what each service did.
pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<ErasureView, ServiceError> {
    let mut conn = pool.acquire().await?;
    view_in(&mut conn, tenant_id, id).await
}

/// A service's report that it erased what it held.
#[derive(Debug, Clone)]
pub struct Report {
    pub tenant_id: String,
    pub erasure_id: Uuid,
    pub service: String,
    pub records_erased: i64,
}

/// Records reports; a second report of one service for one erasure changes
/// nothing, and a report for an erasure of another tenant is ignored.
pub async fn record_reports(
    conn: &mut PgConnection,
    reports: Vec<Report>,
) -> Result<u64, sqlx::Error> {
    let mut first: HashMap<(Uuid, String), Report> = HashMap::new();
    for r in reports {
        first.entry((r.erasure_id, r.service.clone())).or_insert(r);
    }
    let reports: Vec<Report> = first.into_values().collect();
    store::record_reports(conn, &reports).await
}
