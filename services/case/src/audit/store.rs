//! The audit trail's table: appends (one statement per batch) and reads.

use chrono::{DateTime, Utc};
use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use serde::Serialize;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{Record, Subject};

/// Records a configuration change in `tx` and commits it. `read` is the
/// version the caller changed (0 for a creation); `after` is what is stored
/// now (the entry before it in the trail holds what was stored then).
pub async fn commit_configuration(
    mut tx: Transaction<'_, Postgres>,
    tenant_id: &str,
    actor: &str,
    action: &'static str,
    read: i64,
    after: &impl Serialize,
) -> Result<(), ServiceError> {
    let after = serde_json::to_value(after).map_err(|e| ServiceError::Unexpected(Box::new(e)))?;
    let before = if read == 0 {
        json!({})
    } else {
        json!({ "version": read })
    };
    append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::configuration(action, before, after)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Appends `records` of one tenant, all by `actor`, in one statement.
pub async fn append(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    records: &[Record],
) -> Result<(), sqlx::Error> {
    let tenants: Vec<&str> = records.iter().map(|_| tenant_id).collect();
    append_for(conn, &tenants, actor, records).await
}

/// Appends `records`, the i-th for `tenants[i]`, all by `actor`, in one statement.
pub async fn append_for(
    conn: &mut PgConnection,
    tenants: &[&str],
    actor: &str,
    records: &[Record],
) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = records.iter().map(|_| Uuid::now_v7()).collect();
    let cases: Vec<Option<Uuid>> = records.iter().map(|r| r.case_id).collect();
    let customers: Vec<Option<Uuid>> = records.iter().map(|r| r.customer_id).collect();
    let actions: Vec<&str> = records.iter().map(|r| r.action).collect();
    let before: Vec<String> = records.iter().map(|r| r.before.to_string()).collect();
    let after: Vec<String> = records.iter().map(|r| r.after.to_string()).collect();
    sqlx::query(
        "INSERT INTO audit_entries (id, tenant_id, case_id, customer_id, actor, action, before,
                                    after, at)
         SELECT u.id, u.tenant_id, u.case_id, u.customer_id, $7, u.action, u.before::jsonb,
                u.after::jsonb, clock_timestamp()
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                       $8::text[])
             AS u(id, tenant_id, case_id, customer_id, action, before, after)",
    )
    .bind(&ids)
    .bind(tenants)
    .bind(&cases)
    .bind(&customers)
    .bind(&actions)
    .bind(&before)
    .bind(actor)
    .bind(&after)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, sqlx::FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    pub case_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub before: String,
    pub after: String,
    pub at: DateTime<Utc>,
}

impl EntryRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.at,
            id: self.id,
        }
    }
}

/// Oldest first, after `after` when given.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    subject: Subject,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<EntryRow>, ServiceError> {
    // Each is a range scan of its own partial index.
    let (whose, id) = match subject {
        Subject::Case(id) => ("case_id = $2", Some(id)),
        Subject::Customer(id) => ("customer_id = $2", Some(id)),
        Subject::Configuration => (
            "case_id IS NULL AND customer_id IS NULL AND $2::uuid IS NULL",
            None,
        ),
    };
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT id, case_id, customer_id, actor, action, before::text AS before,
                after::text AS after, at
           FROM audit_entries
          WHERE tenant_id = $1 AND {whose}
            AND ($3::timestamptz IS NULL OR (at, id) > ($3, $4))
          ORDER BY at, id
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
