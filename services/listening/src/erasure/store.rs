//! The statements that find and delete an erased customer's mentions.

use sqlx::PgConnection;
use uuid::Uuid;

use super::Identity;

/// Who wrote a mention, as the erasure matches it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Author {
    pub id: Uuid,
    pub channel: i16,
    pub source: String,
    pub author_external_id: String,
    pub author_handle: String,
}

/// The tenant's mentions whose author's id or handle could be one of
/// `identities`: compared loosely here (lower-cased, without a leading @, or
/// as digits), exactly by [`super::written_by`]. No index serves this; an
/// erasure is rare and scans the tenant's mentions once, where an index on
/// authors would cost every ingested mention.
pub async fn candidates(
    conn: &mut PgConnection,
    tenant_id: &str,
    identities: &[Identity],
) -> Result<Vec<Author>, sqlx::Error> {
    let values: Vec<String> = identities
        .iter()
        .map(|i| i.value.trim_start_matches('@').to_lowercase())
        .collect();
    let digits: Vec<String> = identities
        .iter()
        .filter(|i| i.platform == "phone")
        .map(|i| i.value.chars().filter(char::is_ascii_digit).collect())
        .collect();
    sqlx::query_as(
        "SELECT id, channel, source, author_external_id, author_handle FROM mentions
          WHERE tenant_id = $1
            AND (lower(ltrim(btrim(author_external_id), '@')) = ANY($2)
                 OR lower(ltrim(btrim(author_handle), '@')) = ANY($2)
                 OR (cardinality($3::text[]) > 0
                     AND regexp_replace(author_external_id, '[^0-9]', '', 'g') = ANY($3)))",
    )
    .bind(tenant_id)
    .bind(&values)
    .bind(&digits)
    .fetch_all(conn)
    .await
}

/// Deletes the mentions `ids` of the tenant and the labels on them; answers
/// those that were deleted and how many rows went.
pub async fn delete(
    conn: &mut PgConnection,
    tenant_id: &str,
    ids: &[Uuid],
) -> Result<(Vec<Uuid>, u64), sqlx::Error> {
    if ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let labels =
        sqlx::query("DELETE FROM mention_labels WHERE tenant_id = $1 AND mention_id = ANY($2)")
            .bind(tenant_id)
            .bind(ids)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    sqlx::query("DELETE FROM mention_keys WHERE tenant_id = $1 AND mention_id = ANY($2)")
        .bind(tenant_id)
        .bind(ids)
        .execute(&mut *conn)
        .await?;
    let deleted: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM mentions WHERE tenant_id = $1 AND id = ANY($2) RETURNING id",
    )
    .bind(tenant_id)
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let records = labels + deleted.len() as u64;
    Ok((deleted, records))
}
