//! Guidelines in Postgres: a head row per guideline naming its newest
//! version, and every version immutable beside it.

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1::GuidelineInput;
use earshot_server::convert::Cursor;
use earshot_server::{Keyed, Page, ServiceError};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{Compiled, defaults};
use crate::tenant;

/// Who wrote the defaults.
pub const SYSTEM: &str = "system";

/// One version of a guideline, as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GuidelineRow {
    pub id: Uuid,
    pub version: i32,
    pub built_in: bool,
    pub listed_at: DateTime<Utc>,
    pub definition: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl GuidelineRow {
    pub fn input(&self) -> GuidelineInput {
        // Written by this service from a checked input; a row that does not
        // decode would be a bug, and reads as an empty (never firing) one.
        GuidelineInput::decode(self.definition.as_slice()).unwrap_or_default()
    }

    pub fn compile(&self) -> Compiled {
        Compiled::new(self.id, self.version, &self.input())
    }
}

impl Keyed for GuidelineRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.listed_at,
            id: self.id,
        }
    }
}

/// A version row as a list of versions continues after it: by version.
pub struct VersionKey<'a>(pub &'a GuidelineRow);

impl Keyed for VersionKey<'_> {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.0.created_at,
            id: Uuid::from_u64_pair(0, u64::try_from(self.0.version).unwrap_or(0)),
        }
    }
}

const SELECT: &str = "SELECT g.id, v.version, g.built_in, g.created_at AS listed_at,
                             v.definition, v.created_at, v.created_by
                        FROM guidelines g
                        JOIN guideline_versions v ON v.guideline_id = g.id";
const SELECT_WITH_TENANT: &str = "SELECT g.tenant_id, g.id, v.version, g.built_in,
                                         g.created_at AS listed_at, v.definition, v.created_at,
                                         v.created_by
                                    FROM guidelines g
                                    JOIN guideline_versions v ON v.guideline_id = g.id";

pub async fn create_defaults(conn: &mut PgConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    for input in defaults::guidelines() {
        insert(conn, tenant_id, SYSTEM, &input, None, true).await?;
    }
    Ok(())
}

async fn insert(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    input: &GuidelineInput,
    request_id: Option<&str>,
    built_in: bool,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::now_v7();
    let made: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO guidelines (id, tenant_id, version, built_in, request_id)
         VALUES ($1, $2, 1, $3, $4)
         ON CONFLICT (tenant_id, request_id) DO NOTHING
         RETURNING id",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(built_in)
    .bind(request_id)
    .fetch_optional(&mut *conn)
    .await?;
    if made.is_some() {
        insert_version(conn, tenant_id, id, 1, actor, input).await?;
    }
    Ok(made)
}

async fn insert_version(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: i32,
    actor: &str,
    input: &GuidelineInput,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO guideline_versions
             (guideline_id, version, tenant_id, name, enabled, definition, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(version)
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(input.enabled)
    .bind(input.encode_to_vec())
    .bind(actor)
    .execute(conn)
    .await?;
    Ok(())
}

/// Creates a guideline; a retried create (same `request_id`) answers the
/// first one.
pub async fn create(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    input: &GuidelineInput,
    request_id: &str,
) -> Result<GuidelineRow, ServiceError> {
    let id = match insert(conn, tenant_id, actor, input, Some(request_id), false).await? {
        Some(id) => {
            tenant::bump(conn, tenant_id).await?;
            id
        }
        None => {
            sqlx::query_scalar("SELECT id FROM guidelines WHERE tenant_id = $1 AND request_id = $2")
                .bind(tenant_id)
                .bind(request_id)
                .fetch_one(&mut *conn)
                .await?
        }
    };
    get(conn, tenant_id, id, None).await
}

/// Writes the next version of a guideline, from the version the caller read.
pub async fn update(
    conn: &mut PgConnection,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    expected_version: i32,
    input: &GuidelineInput,
) -> Result<GuidelineRow, ServiceError> {
    let current: Option<i32> = sqlx::query_scalar(
        "SELECT version FROM guidelines WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let current = current.ok_or_else(|| ServiceError::NotFound(format!("guideline {id}")))?;
    if current != expected_version {
        return Err(ServiceError::Aborted(format!(
            "guideline {id} is at version {current}, not {expected_version}: read it again"
        )));
    }
    let next = current + 1;
    insert_version(conn, tenant_id, id, next, actor, input).await?;
    sqlx::query("UPDATE guidelines SET version = $2 WHERE id = $1")
        .bind(id)
        .bind(next)
        .execute(&mut *conn)
        .await?;
    tenant::bump(conn, tenant_id).await?;
    get(conn, tenant_id, id, None).await
}

/// A guideline at its newest version, or at `version`.
pub async fn get(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    version: Option<i32>,
) -> Result<GuidelineRow, ServiceError> {
    sqlx::query_as(&format!(
        "{SELECT} AND v.version = COALESCE($3, g.version)
          WHERE g.tenant_id = $1 AND g.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(version)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| match version {
        Some(v) => ServiceError::NotFound(format!("version {v} of guideline {id}")),
        None => ServiceError::NotFound(format!("guideline {id}")),
    })
}

/// The tenant's guidelines at their newest versions, oldest first (the
/// defaults lead).
pub async fn list(
    conn: &mut PgConnection,
    tenant_id: &str,
    page: &Page,
) -> Result<Vec<GuidelineRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(&format!(
        "{SELECT} AND v.version = g.version
          WHERE g.tenant_id = $1
            AND ($2::timestamptz IS NULL OR (g.created_at, g.id) > ($2, $3))
          ORDER BY g.created_at, g.id
          LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(conn)
    .await?)
}

/// Every version of one guideline, newest first.
pub async fn versions(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    page: &Page,
) -> Result<Vec<GuidelineRow>, ServiceError> {
    let mut conn = pool.acquire().await?;
    // NOT_FOUND for another tenant's guideline, as for a missing one.
    get(&mut conn, tenant_id, id, None).await?;
    let (at, after) = page.after_key();
    let after_version = after.map(|u| i32::try_from(u.as_u64_pair().1).unwrap_or(i32::MAX));
    Ok(sqlx::query_as(&format!(
        "{SELECT}
          WHERE g.tenant_id = $1 AND g.id = $2
            AND ($3::timestamptz IS NULL OR (v.created_at, v.version) < ($3, $4))
          ORDER BY v.created_at DESC, v.version DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(at)
    .bind(after_version)
    .bind(page.limit)
    .fetch_all(&mut *conn)
    .await?)
}

/// A guideline in force, with its tenant.
#[derive(sqlx::FromRow)]
struct InForce {
    tenant_id: String,
    #[sqlx(flatten)]
    row: GuidelineRow,
}

/// The guidelines in force for `tenants`, for evaluation.
pub async fn in_force(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<Vec<(String, GuidelineRow)>, sqlx::Error> {
    let rows: Vec<InForce> = sqlx::query_as(&format!(
        "{SELECT_WITH_TENANT} AND v.version = g.version
          WHERE g.tenant_id = ANY($1)
          ORDER BY g.created_at, g.id"
    ))
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.tenant_id, r.row)).collect())
}
