//! The tenant's retention period: how many days its mentions, messages,
//! evaluations and facts are kept (0 keeps them forever). The case service
//! holds it and tells the others (`RetentionChanged`); each deletes what is
//! older on its own scheduler, here the case messages.

pub mod store;

use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{RetentionChanged, event};
use earshot_server::ServiceError;
use earshot_server::retention::RetentionJob;
use sqlx::PgPool;

use self::store::PolicyRow;
use crate::audit;
use crate::record::{self, PRODUCER};
use crate::sla::unapplied_put;

/// Longest period a tenant may set: a hundred years.
pub const MAX_DAYS: u32 = 36_500;

/// A checked `PutRetentionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyInput {
    pub days: i32,
    /// 0 to create, else the version read.
    pub version: i64,
}

/// Sets the tenant's period and tells the other services in the same
/// transaction.
pub async fn put(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    input: PolicyInput,
) -> Result<PolicyRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if let Some(row) = store::put(&mut tx, tenant_id, input).await? {
        let told = new_event(
            PRODUCER,
            tenant_id,
            tenant_id,
            event::Payload::RetentionChanged(RetentionChanged {
                days: u32::try_from(row.days).unwrap_or_default(),
                version: row.version,
            }),
        );
        record::store::enqueue(&mut tx, outbox, vec![told]).await?;
        let action = if input.version == 0 {
            "retention_policy.created"
        } else {
            "retention_policy.updated"
        };
        audit::store::commit_configuration(tx, tenant_id, actor, action, input.version, &row)
            .await?;
        outbox.wake();
        return Ok(row);
    }
    drop(tx);
    let current = store::get(pool, tenant_id)
        .await?
        .map(|row| (row.version, row.days == input.days, row));
    unapplied_put("retention policy", input.version, current)
}

/// The tenant's policy; keep-forever at version 0 when it never set one.
pub async fn get(pool: &PgPool, tenant_id: &str) -> Result<PolicyRow, ServiceError> {
    Ok(store::get(pool, tenant_id)
        .await?
        .unwrap_or_else(PolicyRow::keep_forever))
}

/// Deletes case messages older than their tenant's period.
pub fn job() -> RetentionJob {
    RetentionJob {
        name: "case message retention",
        delete: "DELETE FROM case_messages WHERE ctid = ANY(ARRAY(
                     SELECT m.ctid FROM retention_policies r
                       JOIN case_messages m
                         ON m.tenant_id = r.tenant_id
                        AND m.created_at < now() - make_interval(days => r.days)
                      WHERE r.days > 0
                      LIMIT $1
                        FOR UPDATE OF m SKIP LOCKED))",
    }
}
