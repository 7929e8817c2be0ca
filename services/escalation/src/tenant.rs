//! The tenants escalation has heard of. A tenant is made on first sight
//! (its first event or its first call) with the default guidelines and spike
//! detectors, and its `revision` moves with every change to either, so each
//! replica's compiled copy ([`crate::rules::Rules`]) knows when it is stale.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::{guidelines, spikes};

/// The revision of each of `tenants`, making (with their defaults) those
/// never seen before.
pub async fn ensure(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let mut known = revisions(conn, tenants).await?;
    let missing: Vec<&str> = tenants
        .iter()
        .copied()
        .filter(|t| !known.contains_key(*t))
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    // Two replicas may meet a new tenant at once: the insert decides which
    // one makes the defaults.
    let made: Vec<String> = sqlx::query_scalar(
        "INSERT INTO escalation_tenants (tenant_id)
         SELECT DISTINCT unnest($1::text[])
         ON CONFLICT DO NOTHING
         RETURNING tenant_id",
    )
    .bind(&missing)
    .fetch_all(&mut *conn)
    .await?;
    for tenant in &made {
        guidelines::store::create_defaults(conn, tenant).await?;
        spikes::store::create_defaults(conn, tenant).await?;
    }
    known.extend(revisions(conn, &missing).await?);
    Ok(known)
}

async fn revisions(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tenant_id, revision FROM escalation_tenants WHERE tenant_id = ANY($1)",
    )
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Marks the tenant's guidelines or detectors changed, in the transaction
/// that changes them.
pub async fn bump(conn: &mut PgConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE escalation_tenants SET revision = revision + 1 WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(conn)
        .await?;
    Ok(())
}
