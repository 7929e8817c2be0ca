//! The `retention_policies` table: one period per tenant, versioned.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use super::PolicyInput;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PolicyRow {
    pub days: i32,
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

impl PolicyRow {
    pub fn keep_forever() -> Self {
        Self {
            days: 0,
            version: 0,
            updated_at: None,
        }
    }
}

/// Creates (version 0) or updates the version read; `None` when neither
/// applied.
pub async fn put(
    conn: &mut PgConnection,
    tenant_id: &str,
    input: PolicyInput,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    let query = if input.version == 0 {
        sqlx::query_as(
            "INSERT INTO retention_policies (tenant_id, days, updated_at) VALUES ($1, $2, now())
             ON CONFLICT (tenant_id) DO NOTHING
             RETURNING days, version, updated_at",
        )
        .bind(tenant_id)
        .bind(input.days)
    } else {
        sqlx::query_as(
            "UPDATE retention_policies SET days = $2, version = version + 1, updated_at = now()
              WHERE tenant_id = $1 AND version = $3
             RETURNING days, version, updated_at",
        )
        .bind(tenant_id)
        .bind(input.days)
        .bind(input.version)
    };
    query.fetch_optional(conn).await
}

pub async fn get(pool: &PgPool, tenant_id: &str) -> Result<Option<PolicyRow>, sqlx::Error> {
    sqlx::query_as("SELECT days, version, updated_at FROM retention_policies WHERE tenant_id = $1")
        .bind(tenant_id)
        .fetch_optional(pool)
        .await
}
