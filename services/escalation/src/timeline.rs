//! What happened to an escalation, incident or drill, step by step: one
//! table for all three, written in the transaction of each step.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// The actor of steps nobody took by hand (the ladder, a guideline).
pub const SYSTEM: &str = "system";

#[derive(Debug, Clone)]
pub struct Entry {
    pub tenant_id: String,
    pub subject_id: Uuid,
    pub kind: &'static str,
    pub actor: String,
    pub detail: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntryRow {
    pub at: DateTime<Utc>,
    pub kind: String,
    pub actor: String,
    pub detail: String,
}

pub async fn append(conn: &mut PgConnection, entries: &[Entry]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = entries.iter().map(|e| e.tenant_id.as_str()).collect();
    let subjects: Vec<Uuid> = entries.iter().map(|e| e.subject_id).collect();
    let kinds: Vec<&str> = entries.iter().map(|e| e.kind).collect();
    let actors: Vec<&str> = entries.iter().map(|e| e.actor.as_str()).collect();
    let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
    sqlx::query(
        "INSERT INTO timeline (tenant_id, subject_id, kind, actor, detail)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[])",
    )
    .bind(&tenants)
    .bind(&subjects)
    .bind(&kinds)
    .bind(&actors)
    .bind(&details)
    .execute(conn)
    .await?;
    Ok(())
}

/// A subject's steps, oldest first.
pub async fn of(
    conn: &mut PgConnection,
    tenant_id: &str,
    subject_id: Uuid,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, kind, actor, detail FROM timeline
          WHERE tenant_id = $1 AND subject_id = $2
          ORDER BY id",
    )
    .bind(tenant_id)
    .bind(subject_id)
    .fetch_all(conn)
    .await
}
