//! A tenant's first sight (its first event or its first call): it is
//! recorded and given the default guidelines and spike detectors, which it
//! can then read and edit like its own.

use std::collections::HashMap;

use sqlx::PgConnection;

use crate::{guidelines, spikes, tenant};

/// The rules revision of each of `tenants`, making (with their defaults)
/// those never seen before.
pub async fn ensure(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    let mut known = tenant::revisions(conn, tenants).await?;
    let missing: Vec<&str> = tenants
        .iter()
        .copied()
        .filter(|t| !known.contains_key(*t))
        .collect();
    if missing.is_empty() {
        return Ok(known);
    }
    for made in tenant::insert_new(conn, &missing).await? {
        guidelines::store::create_defaults(conn, &made).await?;
        spikes::store::create_defaults(conn, &made).await?;
    }
    known.extend(tenant::revisions(conn, &missing).await?);
    Ok(known)
}
