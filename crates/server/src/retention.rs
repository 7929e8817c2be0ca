//! Retention: how long a tenant's data is kept. The case service holds each
//! tenant's period and tells it (`RetentionChanged`); every service keeps
//! what it heard in a `retention_policies` table of its own schema (tenant,
//! days, version) and deletes what is older on its scheduler with a
//! [`RetentionJob`].

use std::collections::HashMap;

use earshot_outbox::Outbox;
use earshot_proto::events::v1::RetentionChanged;
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, Postgres, Transaction};

use crate::scheduler::Job;

/// Keeps the newest period heard per tenant. Delivery may repeat or reorder
/// batches, so a change applies only over an older version.
pub async fn record(
    conn: &mut PgConnection,
    heard: &[(String, RetentionChanged)],
) -> Result<(), sqlx::Error> {
    // One row per tenant: an upsert may not touch a row twice.
    let mut newest: HashMap<&str, &RetentionChanged> = HashMap::new();
    for (tenant, change) in heard {
        let slot = newest.entry(tenant.as_str()).or_insert(change);
        if change.version > slot.version {
            *slot = change;
        }
    }
    if newest.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = newest.keys().copied().collect();
    let days: Vec<i32> = tenants
        .iter()
        .map(|t| i32::try_from(newest[t].days).unwrap_or(i32::MAX))
        .collect();
    let versions: Vec<i64> = tenants.iter().map(|t| newest[t].version).collect();
    sqlx::query(
        "INSERT INTO retention_policies (tenant_id, days, version, updated_at)
         SELECT u.tenant_id, u.days, u.version, now()
           FROM unnest($1::text[], $2::int[], $3::bigint[]) AS u(tenant_id, days, version)
         ON CONFLICT (tenant_id) DO UPDATE
            SET days = EXCLUDED.days, version = EXCLUDED.version, updated_at = now()
          WHERE retention_policies.version < EXCLUDED.version",
    )
    .bind(&tenants)
    .bind(&days)
    .bind(&versions)
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes, a batch per round, a service's rows older than their tenant's
/// period. `delete` is one statement taking the batch size as `$1`: it
/// claims at most that many rows past their tenant's period (joining
/// `retention_policies` where `days > 0`) with `FOR UPDATE SKIP LOCKED`, so
/// replicas share the work, and deletes them.
pub struct RetentionJob {
    pub name: &'static str,
    pub delete: &'static str,
}

impl Job for RetentionJob {
    fn name(&self) -> &'static str {
        self.name
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let done = sqlx::query(self.delete)
                .bind(limit)
                .execute(&mut **tx)
                .await?;
            Ok(done.rows_affected())
        })
    }
}
