//! The tenants escalation has heard of, and the revision of their rules: it
//! moves with every change to a tenant's guidelines or detectors, so each
//! replica's compiled copy ([`crate::rules::Rules`]) knows when it is stale.
//! Tenants are made with their defaults by [`crate::onboarding`].

use std::collections::HashMap;

use sqlx::PgConnection;

/// Records `tenants` as seen; answers those that were not seen before.
/// Two replicas may meet a new tenant at once: the insert decides which one
/// makes its defaults.
pub async fn insert_new(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO escalation_tenants (tenant_id)
         SELECT DISTINCT unnest($1::text[])
         ON CONFLICT DO NOTHING
         RETURNING tenant_id",
    )
    .bind(tenants)
    .fetch_all(conn)
    .await
}

/// The rules revision of each of `tenants` that was seen before.
pub async fn revisions(
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

/// The revisions of `tenants`, their rows held shared until the transaction
/// ends, so no change to their rules commits in between.
pub async fn lock_revisions(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT tenant_id, revision FROM escalation_tenants
          WHERE tenant_id = ANY($1)
          ORDER BY tenant_id
            FOR SHARE",
    )
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}
