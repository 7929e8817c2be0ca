//! The erasure tables (`erasures`, `erasure_progress`) and the statements
//! that erase a customer from every table of the case schema.

use std::collections::BTreeSet;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{EraseInput, Erased, ErasureRow, ErasureView, MARKER, ProgressRow, Report};
use crate::record::PRODUCER;
use crate::vocabulary::Direction;

/// What a blanked audit entry holds, before and after (the audit trigger
/// allows this one change).
const BLANKED: &str = r#"{"erased": true}"#;

pub async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<Option<ErasureRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, customer_id, requested_by, requested_at FROM erasures
          WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(conn)
    .await
}

pub async fn by_customer(
    conn: &mut PgConnection,
    tenant_id: &str,
    customer_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM erasures WHERE tenant_id = $1 AND customer_id = $2")
        .bind(tenant_id)
        .bind(customer_id)
        .fetch_optional(conn)
        .await
}

/// Locks the tenant's customer; `None` when it has none by that id, else
/// the profile it was merged into, if any.
pub async fn lock_customer(
    conn: &mut PgConnection,
    tenant_id: &str,
    customer_id: Uuid,
) -> Result<Option<Option<Uuid>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT merged_into FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .fetch_optional(conn)
    .await
}

/// Erases the customer and every profile merged into it (directly or by a
/// chain of merges) from the customer, case, message, commitment, goodwill
/// and audit tables. Ids stay, so what refers to them still does.
pub async fn erase_customer(
    conn: &mut PgConnection,
    tenant_id: &str,
    customer_id: Uuid,
) -> Result<Erased, sqlx::Error> {
    let profiles: Vec<Uuid> = sqlx::query_scalar(
        "WITH RECURSIVE p(id) AS (
             SELECT $2::uuid
             UNION
             SELECT c.id FROM customers c JOIN p ON c.merged_into = p.id WHERE c.tenant_id = $1
         )
         SELECT id FROM p",
    )
    .bind(tenant_id)
    .bind(customer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut records = 0;

    let identities: Vec<(String, String)> = sqlx::query_as(
        "DELETE FROM customer_identities WHERE tenant_id = $1 AND customer_id = ANY($2)
         RETURNING platform, value",
    )
    .bind(tenant_id)
    .bind(&profiles)
    .fetch_all(&mut *conn)
    .await?;
    records += identities.len() as u64;

    records += sqlx::query(
        "UPDATE customers
            SET display_name = $3, crm_external_id = NULL, tier = '', vip = false,
                followers = 0, language = '', version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND id = ANY($2)",
    )
    .bind(tenant_id)
    .bind(&profiles)
    .bind(MARKER)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    // The thread key goes too: nobody else's message may thread into a case
    // that no longer says whose it was; and the audience the case kept from
    // its opening, as the profile's.
    let cases: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "UPDATE cases
            SET subject = $3, description = '', customer_handle = $3, thread_key = '',
                csat_comment = NULL, followers = 0, updated_at = now()
          WHERE tenant_id = $1 AND customer_id = ANY($2)
         RETURNING id, mention_id",
    )
    .bind(tenant_id)
    .bind(&profiles)
    .bind(MARKER)
    .fetch_all(&mut *conn)
    .await?;
    records += cases.len() as u64;
    let case_ids: Vec<Uuid> = cases.iter().map(|(id, _)| *id).collect();
    let mut mention_ids: BTreeSet<String> = cases
        .into_iter()
        .filter_map(|(_, mention)| mention)
        .collect();

    // Replies are redacted too: they answer the customer, often by name. The
    // guard's signature and findings are derived from their text.
    let messages: Vec<Option<String>> = sqlx::query_scalar(
        "UPDATE case_messages
            SET body = $3, author = CASE WHEN direction = $4 THEN $3 ELSE author END,
                signature = NULL, findings = NULL
          WHERE tenant_id = $1 AND case_id = ANY($2)
         RETURNING mention_id",
    )
    .bind(tenant_id)
    .bind(&case_ids)
    .bind(MARKER)
    .bind(Direction::Inbound)
    .fetch_all(&mut *conn)
    .await?;
    records += messages.len() as u64;
    mention_ids.extend(messages.into_iter().flatten());

    for statement in [
        "UPDATE commitments SET text = $3 WHERE tenant_id = $1 AND case_id = ANY($2)",
        "UPDATE goodwill_gestures SET note = CASE WHEN note = '' THEN '' ELSE $3 END
          WHERE tenant_id = $1 AND case_id = ANY($2)",
    ] {
        records += sqlx::query(statement)
            .bind(tenant_id)
            .bind(&case_ids)
            .bind(MARKER)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }

    // Entries keep who did what and when; what they recorded (names,
    // identities, promises) is blanked.
    records += sqlx::query(
        "UPDATE audit_entries SET before = $4::jsonb, after = $4::jsonb
          WHERE tenant_id = $1 AND (customer_id = ANY($2) OR case_id = ANY($3))
            AND NOT (before = $4::jsonb AND after = $4::jsonb)",
    )
    .bind(tenant_id)
    .bind(&profiles)
    .bind(&case_ids)
    .bind(BLANKED)
    .execute(&mut *conn)
    .await?
    .rows_affected();

    Ok(Erased {
        identities,
        mention_ids: mention_ids.into_iter().collect(),
        records,
    })
}

/// Records an erasure: the case service's own part done, every service in
/// `told` pending.
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    input: &EraseInput,
    actor: &str,
    records: u64,
    told: &[String],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO erasures (id, tenant_id, customer_id, request_id, requested_by, requested_at)
         VALUES ($1, $2, $3, $4, $5, now())",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(input.customer_id)
    .bind(&input.request_id)
    .bind(actor)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO erasure_progress (erasure_id, service, records_erased, completed_at)
         VALUES ($1, $2, $3, now())
         UNION ALL
         SELECT $1, s, 0, NULL FROM unnest($4::text[]) AS s WHERE s <> $2",
    )
    .bind(id)
    .bind(PRODUCER)
    .bind(i64::try_from(records).unwrap_or(i64::MAX))
    .bind(told)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn view(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<ErasureView>, sqlx::Error> {
    let Some(erasure): Option<ErasureRow> = sqlx::query_as(
        "SELECT id, customer_id, requested_by, requested_at FROM erasures
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let services: Vec<ProgressRow> = sqlx::query_as(
        "SELECT service, records_erased, completed_at FROM erasure_progress
          WHERE erasure_id = $1 ORDER BY service <> $2, service",
    )
    .bind(id)
    .bind(PRODUCER)
    .fetch_all(conn)
    .await?;
    Ok(Some(ErasureView { erasure, services }))
}

/// Marks each reporting service done, once. A service that was not told
/// (a subscriber added since) is added as it reports.
pub async fn record_reports(
    conn: &mut PgConnection,
    reports: &[Report],
) -> Result<u64, sqlx::Error> {
    if reports.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<&str> = reports.iter().map(|r| r.tenant_id.as_str()).collect();
    let ids: Vec<Uuid> = reports.iter().map(|r| r.erasure_id).collect();
    let services: Vec<&str> = reports.iter().map(|r| r.service.as_str()).collect();
    let counts: Vec<i64> = reports.iter().map(|r| r.records_erased).collect();
    let done = sqlx::query(
        "INSERT INTO erasure_progress (erasure_id, service, records_erased, completed_at)
         SELECT e.id, u.service, u.records, now()
           FROM unnest($1::text[], $2::uuid[], $3::text[], $4::bigint[])
             AS u(tenant_id, erasure_id, service, records)
           JOIN erasures e ON e.id = u.erasure_id AND e.tenant_id = u.tenant_id
         ON CONFLICT (erasure_id, service) DO UPDATE
            SET records_erased = EXCLUDED.records_erased, completed_at = EXCLUDED.completed_at
          WHERE erasure_progress.completed_at IS NULL",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&services)
    .bind(&counts)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}
