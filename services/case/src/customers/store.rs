//! The customer tables: `customers` and `customer_identities`.

use chrono::{DateTime, Utc};
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{CustomerUpdate, CustomerView, Identity, NewCustomer, Speaker};
use crate::record::Versioned;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub display_name: String,
    pub crm_external_id: Option<String>,
    pub tier: String,
    pub vip: bool,
    pub followers: i64,
    pub language: String,
    pub consent: i16,
    pub merged_into: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, display_name, crm_external_id, tier, vip, followers, language, consent, \
                       merged_into, version, created_at, updated_at";

impl CustomerRow {
    /// What the audit trail records of a profile.
    pub fn snapshot(&self) -> serde_json::Value {
        json!({
            "display_name": self.display_name,
            "crm_external_id": self.crm_external_id,
            "tier": self.tier,
            "vip": self.vip,
            "followers": self.followers,
            "language": self.language,
            "consent": self.consent,
        })
    }
}

/// Translates a unique violation of the customer tables into what the caller did wrong.
fn conflict(e: sqlx::Error) -> ServiceError {
    if let sqlx::Error::Database(db) = &e {
        match db.constraint() {
            Some("customers_one_per_crm_id") => {
                return ServiceError::AlreadyExists(
                    "another customer of this tenant has that crm_external_id".to_owned(),
                );
            }
            Some("customer_identities_pkey") => {
                return ServiceError::AlreadyExists(
                    "that identity is linked to another customer".to_owned(),
                );
            }
            _ => {}
        }
    }
    ServiceError::from(e)
}

async fn identities_of(conn: &mut PgConnection, id: Uuid) -> Result<Vec<Identity>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT platform, value FROM customer_identities
          WHERE customer_id = $1 ORDER BY linked_at, platform, value",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(platform, value)| Identity { platform, value })
        .collect())
}

/// `row` with the identities it holds.
pub async fn view(conn: &mut PgConnection, row: CustomerRow) -> Result<CustomerView, sqlx::Error> {
    let identities = identities_of(conn, row.id).await?;
    Ok(CustomerView { row, identities })
}

/// A new customer, unless one was created under its `request_id` already.
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    new: &NewCustomer,
) -> Result<Option<CustomerRow>, ServiceError> {
    let a = &new.attributes;
    sqlx::query_as(&format!(
        "INSERT INTO customers (id, tenant_id, display_name, crm_external_id, tier, vip, followers,
                                language, consent, request_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now(), now())
         ON CONFLICT ON CONSTRAINT customers_one_per_request DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(&new.display_name)
    .bind(&new.crm_external_id)
    .bind(&a.tier)
    .bind(a.vip)
    .bind(a.followers)
    .bind(&a.language)
    .bind(a.consent)
    .bind(&new.request_id)
    .fetch_optional(conn)
    .await
    .map_err(conflict)
}

pub async fn by_request(
    conn: &mut PgConnection,
    tenant_id: &str,
    request_id: &str,
) -> Result<CustomerRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_one(conn)
    .await
}

/// Links `identities` to customer `id`; one another customer holds is `ALREADY_EXISTS`.
pub async fn link_all(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    identities: &[Identity],
) -> Result<(), ServiceError> {
    let platforms: Vec<&str> = identities.iter().map(|i| i.platform.as_str()).collect();
    let values: Vec<&str> = identities.iter().map(|i| i.value.as_str()).collect();
    sqlx::query(
        "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
         SELECT $1, p, v, $2, now() FROM unnest($3::text[], $4::text[]) AS u(p, v)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(&platforms)
    .bind(&values)
    .execute(conn)
    .await
    .map_err(conflict)?;
    Ok(())
}

pub async fn get(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<CustomerRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))
}

/// Customer `id` of the tenant, if it exists: its display name and, if it
/// was merged, into which.
pub async fn name_and_merge(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<(String, Option<Uuid>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT display_name, merged_into FROM customers WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The customer holding `identity`, if any.
pub async fn holder(
    conn: &mut PgConnection,
    tenant_id: &str,
    identity: &Identity,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT customer_id FROM customer_identities
          WHERE tenant_id = $1 AND platform = $2 AND value = $3",
    )
    .bind(tenant_id)
    .bind(&identity.platform)
    .bind(&identity.value)
    .fetch_optional(conn)
    .await
}

/// Locks a customer of the tenant for a change, checking the version read.
pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    customer: Versioned,
) -> Result<CustomerRow, ServiceError> {
    let id = customer.id;
    let row: CustomerRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM customers WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("customer {id}")))?;
    if let Some(into) = row.merged_into {
        return Err(ServiceError::FailedPrecondition(format!(
            "customer {id} was merged into {into}; change that one"
        )));
    }
    if row.version != customer.version {
        return Err(ServiceError::Aborted(format!(
            "customer {id} changed since version {}; it is at version {}: read it again",
            customer.version, row.version
        )));
    }
    Ok(row)
}

pub async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<CustomerRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE customers SET version = version + 1, updated_at = now() WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

pub async fn update(
    conn: &mut PgConnection,
    change: &CustomerUpdate,
) -> Result<CustomerRow, ServiceError> {
    let a = &change.attributes;
    sqlx::query_as(&format!(
        "UPDATE customers
            SET display_name = $2, crm_external_id = $3, tier = $4, vip = $5, followers = $6,
                language = $7, consent = $8, version = version + 1, updated_at = now()
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(change.customer.id)
    .bind(&change.display_name)
    .bind(&change.crm_external_id)
    .bind(&a.tier)
    .bind(a.vip)
    .bind(a.followers)
    .bind(&a.language)
    .bind(a.consent)
    .fetch_one(conn)
    .await
    .map_err(conflict)
}

/// Unlinks `identity` from customer `id`; false when the customer did not hold it.
pub async fn unlink(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    identity: &Identity,
) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query(
        "DELETE FROM customer_identities
          WHERE tenant_id = $1 AND platform = $2 AND value = $3 AND customer_id = $4",
    )
    .bind(tenant_id)
    .bind(&identity.platform)
    .bind(&identity.value)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(removed > 0)
}

/// Moves every identity of `from` to `to`, answering those that moved.
pub async fn move_identities(
    conn: &mut PgConnection,
    from: Uuid,
    to: Uuid,
) -> Result<Vec<Identity>, sqlx::Error> {
    let moved: Vec<(String, String)> = sqlx::query_as(
        "UPDATE customer_identities SET customer_id = $2
          WHERE customer_id = $1 RETURNING platform, value",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?;
    Ok(moved
        .into_iter()
        .map(|(platform, value)| Identity { platform, value })
        .collect())
}

/// Points `src` at `tgt` and lets `tgt` take what it lacks of `src`: its
/// CRM id (only when the target has none), tier, language, display name and
/// consent, the larger audience, VIP. Answers the target as it is now.
pub async fn fold(
    conn: &mut PgConnection,
    src: &CustomerRow,
    tgt: &CustomerRow,
) -> Result<CustomerRow, ServiceError> {
    sqlx::query(
        "UPDATE customers SET merged_into = $2, version = version + 1, updated_at = now()
          WHERE id = $1",
    )
    .bind(src.id)
    .bind(tgt.id)
    .execute(&mut *conn)
    .await?;
    let crm = tgt.crm_external_id.clone().or(src.crm_external_id.clone());
    sqlx::query_as(&format!(
        "UPDATE customers
            SET crm_external_id = $2,
                tier = CASE WHEN tier = '' THEN $3 ELSE tier END,
                language = CASE WHEN language = '' THEN $4 ELSE language END,
                followers = greatest(followers, $5),
                vip = vip OR $6,
                consent = CASE WHEN consent = 0 THEN $7 ELSE consent END,
                display_name = CASE WHEN display_name = '' THEN $8 ELSE display_name END,
                version = version + 1, updated_at = now()
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(tgt.id)
    .bind(&crm)
    .bind(&src.tier)
    .bind(&src.language)
    .bind(src.followers)
    .bind(src.vip)
    .bind(src.consent)
    .bind(&src.display_name)
    .fetch_one(conn)
    .await
    .map_err(conflict)
}

/// Takes a transaction-level advisory lock per key, in the order given.
pub async fn lock_keys(conn: &mut PgConnection, keys: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer holding each speaker's identity, if any.
pub async fn holders(
    conn: &mut PgConnection,
    speakers: &[&Speaker],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    let tenants: Vec<&str> = speakers.iter().map(|s| s.tenant_id.as_str()).collect();
    let platforms: Vec<&str> = speakers
        .iter()
        .map(|s| s.identity.platform.as_str())
        .collect();
    let values: Vec<&str> = speakers.iter().map(|s| s.identity.value.as_str()).collect();
    let found: Vec<(i64, Uuid)> = sqlx::query_as(
        "SELECT u.i, ci.customer_id
           FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(t, p, v, i)
           JOIN customer_identities ci
             ON ci.tenant_id = u.t AND ci.platform = u.p AND ci.value = u.v",
    )
    .bind(&tenants)
    .bind(&platforms)
    .bind(&values)
    .fetch_all(conn)
    .await?;
    let mut holders = vec![None; speakers.len()];
    for (i, id) in found {
        if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| holders.get_mut(i)) {
            *slot = Some(id);
        }
    }
    Ok(holders)
}

/// For each speaker, the customer holding the first of the identities they
/// are also known by that a customer holds, if any.
pub async fn holders_of_aliases(
    conn: &mut PgConnection,
    speakers: &[&Speaker],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    let mut at: Vec<i64> = Vec::new();
    let mut tenants: Vec<&str> = Vec::new();
    let mut platforms: Vec<&str> = Vec::new();
    let mut values: Vec<&str> = Vec::new();
    for (i, s) in speakers.iter().enumerate() {
        for alias in &s.also_known_as {
            at.push(i64::try_from(i).unwrap_or(i64::MAX));
            tenants.push(&s.tenant_id);
            platforms.push(&alias.platform);
            values.push(&alias.value);
        }
    }
    let mut holders = vec![None; speakers.len()];
    if at.is_empty() {
        return Ok(holders);
    }
    let found: Vec<(i64, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (u.i) u.i, ci.customer_id
           FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[])
                WITH ORDINALITY AS u(i, t, p, v, ord)
           JOIN customer_identities ci
             ON ci.tenant_id = u.t AND ci.platform = u.p AND ci.value = u.v
          ORDER BY u.i, u.ord",
    )
    .bind(&at)
    .bind(&tenants)
    .bind(&platforms)
    .bind(&values)
    .fetch_all(conn)
    .await?;
    for (i, id) in found {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| holders.get_mut(i)) {
            *slot = Some(id);
        }
    }
    Ok(holders)
}

/// Links each speaker's identity to the customer given with it.
pub async fn link_speakers(
    conn: &mut PgConnection,
    links: &[(&Speaker, Uuid)],
) -> Result<(), sqlx::Error> {
    if links.is_empty() {
        return Ok(());
    }
    let tenants: Vec<&str> = links.iter().map(|(s, _)| s.tenant_id.as_str()).collect();
    let platforms: Vec<&str> = links
        .iter()
        .map(|(s, _)| s.identity.platform.as_str())
        .collect();
    let values: Vec<&str> = links
        .iter()
        .map(|(s, _)| s.identity.value.as_str())
        .collect();
    let ids: Vec<Uuid> = links.iter().map(|(_, id)| *id).collect();
    sqlx::query(
        "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
         SELECT t, p, v, id, now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, t, p, v)",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(&platforms)
    .bind(&values)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new profile per speaker, with the speaker's identity linked; answers
/// their ids in order.
pub async fn create_for(
    conn: &mut PgConnection,
    speakers: &[&Speaker],
) -> Result<Vec<Uuid>, sqlx::Error> {
    if speakers.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = speakers.iter().map(|_| Uuid::now_v7()).collect();
    let pick =
        |f: &dyn Fn(&Speaker) -> &str| -> Vec<&str> { speakers.iter().map(|s| f(s)).collect() };
    let tenants = pick(&|s| s.tenant_id.as_str());
    let followers: Vec<i64> = speakers.iter().map(|s| s.followers).collect();
    sqlx::query(
        "INSERT INTO customers (id, tenant_id, display_name, followers, language, created_at,
                                updated_at)
         SELECT id, t, n, f, l, now(), now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int8[], $5::text[])
             AS u(id, t, n, f, l)",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(pick(&|s| s.display_name.as_str()))
    .bind(&followers)
    .bind(pick(&|s| s.language.as_str()))
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
         SELECT t, p, v, id, now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u(id, t, p, v)",
    )
    .bind(&ids)
    .bind(&tenants)
    .bind(pick(&|s| s.identity.platform.as_str()))
    .bind(pick(&|s| s.identity.value.as_str()))
    .execute(conn)
    .await?;
    Ok(ids)
}

/// Customers learn a larger audience than they knew: `followers[i]` for `ids[i]`.
pub async fn grow_followers(
    conn: &mut PgConnection,
    ids: &[Uuid],
    followers: &[i64],
) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE customers c SET followers = u.f
           FROM unnest($1::uuid[], $2::int8[]) AS u(id, f)
          WHERE c.id = u.id AND c.followers < u.f",
    )
    .bind(ids)
    .bind(followers)
    .execute(conn)
    .await?;
    Ok(())
}

/// What routing knows of a customer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Standing {
    pub id: Uuid,
    pub tier: String,
    pub vip: bool,
    pub followers: i64,
}

/// The standing of customers `ids`.
pub async fn standing(conn: &mut PgConnection, ids: &[Uuid]) -> Result<Vec<Standing>, sqlx::Error> {
    sqlx::query_as("SELECT id, tier, vip, followers FROM customers WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(conn)
        .await
}
