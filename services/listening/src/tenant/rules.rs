//! A tenant's listening rules: create, change, retire, read. Every change is
//! a new version kept in `rule_versions`, and bumps the tenant's revision so
//! that every replica recompiles its rule set before its next ingest batch.

use chrono::{DateTime, Utc};
use earshot_proto::listening::v1::{
    QueryNode, QueryWarning as WarningProto, Rule, RuleVersion, ValidateQueryResponse,
};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, Keyed, Page, ServiceError, invalid};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::mention::MAX_TEXT_CHARS;
use crate::query::{
    Document, Node, Parsed, QueryWarning, RuleOptions, explain, parse_rule, parse_with_warnings,
};

const MAX_NAME_CHARS: usize = 100;
const MAX_QUERY_CHARS: usize = 4_000;
/// Active rules per tenant; matching cost grows slowly with the count, but
/// compiling and memory do not.
pub const MAX_ACTIVE_RULES: i64 = 20_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: Uuid,
    pub name: String,
    pub query: String,
    pub version: i32,
    pub active: bool,
    pub fold_accents: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, name, query, version, active, fold_accents, created_at, updated_at";

pub fn to_proto(row: RuleRow) -> Rule {
    // Warnings follow from the query alone, so they are derived, not stored.
    let warnings = parse_with_warnings(&row.query)
        .map(|parsed| warnings_to_proto(&parsed.warnings))
        .unwrap_or_default();
    Rule {
        rule_id: row.id.to_string(),
        name: row.name,
        query: row.query,
        version: u32::try_from(row.version).unwrap_or_default(),
        active: row.active,
        created_at: Some(timestamp(row.created_at)),
        updated_at: Some(timestamp(row.updated_at)),
        fold_accents: row.fold_accents,
        warnings,
    }
}

pub fn warnings_to_proto(warnings: &[QueryWarning]) -> Vec<WarningProto> {
    warnings
        .iter()
        .map(|w| WarningProto {
            offset: u32::try_from(w.offset).unwrap_or(u32::MAX),
            column: u32::try_from(w.column).unwrap_or(u32::MAX),
            message: w.message.clone(),
        })
        .collect()
}

impl Keyed for RuleRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

fn check_name(name: &str, violations: &mut FieldViolations) {
    let chars = name.chars().count();
    violations.check(name.is_empty(), "name", "is required");
    violations.check(
        chars > MAX_NAME_CHARS,
        "name",
        "must be at most 100 characters",
    );
}

/// A query must parse as a rule; the violation names the position and
/// what was expected, or how to write a construct of another tool here.
pub fn check_query(query: &str, field: &str) -> Result<Parsed, ServiceError> {
    if query.trim().is_empty() {
        return Err(invalid(field, "is required"));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(invalid(field, "must be at most 4000 characters"));
    }
    parse_rule(query).map_err(|e| invalid(field, e.to_string()))
}

/// A sample mention for [`validate`].
pub struct Sample<'a> {
    pub text: &'a str,
    pub language: &'a str,
    pub source: &'a str,
    pub followers: u64,
    pub verified: bool,
}

/// A dry run of a query: as [`check_query`] refuses it or reads it, and,
/// for a sample text, whether and why it matches.
pub fn validate(
    query: &str,
    options: RuleOptions,
    sample: &Sample<'_>,
) -> Result<ValidateQueryResponse, ServiceError> {
    if sample.text.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid("text", "must be at most 20000 characters"));
    }
    let parsed = check_query(query, "query")?;
    let doc = (!sample.text.trim().is_empty()).then(|| {
        Document::new(
            sample.text,
            sample.language,
            sample.source,
            sample.followers,
            sample.verified,
            &[],
            &[],
        )
    });
    let tree = explain(&parsed.expr, options, doc.as_ref());
    Ok(ValidateQueryResponse {
        canonical: parsed.expr.to_string(),
        matches: doc.is_some().then_some(tree.matched),
        hits: tree.hits().into_iter().map(str::to_owned).collect(),
        tree: Some(node_to_proto(tree)),
        warnings: warnings_to_proto(&parsed.warnings),
    })
}

fn node_to_proto(node: Node) -> QueryNode {
    QueryNode {
        kind: node.kind.to_owned(),
        text: node.text,
        matched: node.matched,
        children: node.children.into_iter().map(node_to_proto).collect(),
    }
}

/// Records the change as a new revision of the tenant's listening profile.
pub async fn bump_revision(conn: &mut PgConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_revisions (tenant_id, revision) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET revision = tenant_revisions.revision + 1",
    )
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

async fn record_version(
    conn: &mut PgConnection,
    row: &RuleRow,
    changed_by: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rule_versions (rule_id, version, name, query, active, fold_accents,
                                    changed_by, changed_at)
         VALUES ($1, $2, $3, $4, $5, $8, $6, $7)",
    )
    .bind(row.id)
    .bind(row.version)
    .bind(&row.name)
    .bind(&row.query)
    .bind(row.active)
    .bind(changed_by)
    .bind(row.updated_at)
    .bind(row.fold_accents)
    .execute(conn)
    .await?;
    Ok(())
}

fn name_taken(e: sqlx::Error, name: &str) -> ServiceError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("rules_active_name") => {
            ServiceError::AlreadyExists(format!("an active rule is already named \"{name}\""))
        }
        _ => e.into(),
    }
}

/// Creates a rule at version 1. Creating again with the same `request_id`
/// returns the rule the first call created.
pub async fn create(
    pool: &PgPool,
    tenant_id: &str,
    changed_by: &str,
    request_id: &str,
    name: &str,
    query: &str,
    fold_accents: bool,
) -> Result<RuleRow, ServiceError> {
    let name = name.trim();
    let mut violations = FieldViolations::new();
    violations.request_id(request_id);
    check_name(name, &mut violations);
    violations.into_result()?;
    check_query(query, "query")?;

    let mut tx = pool.begin().await?;
    let existing: Option<RuleRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rules WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(row) = existing {
        return Ok(row);
    }
    let active: i64 =
        sqlx::query_scalar("SELECT count(*) FROM rules WHERE tenant_id = $1 AND active")
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?;
    if active >= MAX_ACTIVE_RULES {
        return Err(ServiceError::FailedPrecondition(format!(
            "the tenant has {active} active rules, the most allowed; retire some first"
        )));
    }
    let now = Utc::now();
    let inserted: Option<RuleRow> = sqlx::query_as(&format!(
        "INSERT INTO rules (id, tenant_id, name, query, version, active, fold_accents, request_id,
                            created_at, updated_at)
         VALUES ($1, $2, $3, $4, 1, true, $7, $5, $6, $6)
         ON CONFLICT ON CONSTRAINT rules_one_per_request DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(tenant_id)
    .bind(name)
    .bind(query.trim())
    .bind(request_id)
    .bind(now)
    .bind(fold_accents)
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| name_taken(e, name))?;
    let Some(row) = inserted else {
        // A concurrent call with the same request id won; return its rule.
        drop(tx);
        return sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM rules WHERE tenant_id = $1 AND request_id = $2"
        ))
        .bind(tenant_id)
        .bind(request_id)
        .fetch_one(pool)
        .await
        .map_err(ServiceError::from);
    };
    record_version(&mut tx, &row, changed_by).await?;
    bump_revision(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(row)
}

/// What a change does to a rule.
pub enum Change<'a> {
    /// Empty strings and `None` keep what the rule has.
    Edit {
        name: &'a str,
        query: &'a str,
        fold_accents: Option<bool>,
    },
    Retire,
}

/// Makes a new version of a rule, if `version` is still its current one.
pub async fn change(
    pool: &PgPool,
    tenant_id: &str,
    changed_by: &str,
    rule_id: Uuid,
    version: u32,
    change: Change<'_>,
) -> Result<RuleRow, ServiceError> {
    if version == 0 {
        return Err(invalid("version", "is required: the version last read"));
    }
    if let Change::Edit {
        name,
        query,
        fold_accents,
    } = &change
    {
        if name.trim().is_empty() && query.trim().is_empty() && fold_accents.is_none() {
            return Err(invalid("query", "or name or fold_accents must be given"));
        }
        let mut violations = FieldViolations::new();
        if !name.trim().is_empty() {
            check_name(name.trim(), &mut violations);
        }
        violations.into_result()?;
        if !query.trim().is_empty() {
            check_query(query, "query")?;
        }
    }
    let mut tx = pool.begin().await?;
    let current: RuleRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rules WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(rule_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("rule {rule_id}")))?;
    if !current.active {
        return Err(ServiceError::FailedPrecondition(format!(
            "rule {rule_id} is retired; create a new rule instead"
        )));
    }
    if i64::from(version) != i64::from(current.version) {
        return Err(ServiceError::Aborted(format!(
            "rule {rule_id} is at version {}, not {version}; read it again",
            current.version
        )));
    }
    let (name, query, active, fold_accents) = match change {
        Change::Edit {
            name,
            query,
            fold_accents,
        } => (
            if name.trim().is_empty() {
                current.name.clone()
            } else {
                name.trim().to_owned()
            },
            if query.trim().is_empty() {
                current.query.clone()
            } else {
                query.trim().to_owned()
            },
            true,
            fold_accents.unwrap_or(current.fold_accents),
        ),
        Change::Retire => (
            current.name.clone(),
            current.query.clone(),
            false,
            current.fold_accents,
        ),
    };
    let row: RuleRow = sqlx::query_as(&format!(
        "UPDATE rules SET name = $3, query = $4, active = $5, version = version + 1,
                updated_at = $6, fold_accents = $7
          WHERE tenant_id = $1 AND id = $2
          RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(rule_id)
    .bind(&name)
    .bind(&query)
    .bind(active)
    .bind(Utc::now())
    .bind(fold_accents)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| name_taken(e, &name))?;
    record_version(&mut tx, &row, changed_by).await?;
    bump_revision(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn get(pool: &PgPool, tenant_id: &str, rule_id: Uuid) -> Result<RuleRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rules WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(rule_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("rule {rule_id}")))
}

/// Oldest first, after `cursor` when given.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    include_retired: bool,
    page: &Page,
) -> Result<Vec<RuleRow>, sqlx::Error> {
    let (at, id) = page.after_key();
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rules
          WHERE tenant_id = $1 AND (active OR $2)
            AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4))
          ORDER BY created_at, id
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(include_retired)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await
}

/// The active rules, as the matcher compiles them.
pub async fn active(pool: &PgPool, tenant_id: &str) -> Result<Vec<RuleRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM rules WHERE tenant_id = $1 AND active ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    version: i32,
    name: String,
    query: String,
    active: bool,
    fold_accents: bool,
    changed_by: String,
    changed_at: DateTime<Utc>,
}

/// Every version of a rule, newest first.
pub async fn versions(
    pool: &PgPool,
    tenant_id: &str,
    rule_id: Uuid,
) -> Result<Vec<RuleVersion>, ServiceError> {
    get(pool, tenant_id, rule_id).await?;
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT version, name, query, active, fold_accents, changed_by, changed_at
           FROM rule_versions WHERE rule_id = $1 ORDER BY version DESC",
    )
    .bind(rule_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| RuleVersion {
            version: u32::try_from(row.version).unwrap_or_default(),
            name: row.name,
            query: row.query,
            active: row.active,
            fold_accents: row.fold_accents,
            changed_by: row.changed_by,
            changed_at: Some(timestamp(row.changed_at)),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_that_does_not_parse_names_the_position() {
        let err = check_query("refund AND", "query").expect_err("incomplete");
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().starts_with("query: at 10 (column 11)"),
            "{}",
            status.message()
        );
        assert!(check_query("  ", "query").is_err());
        assert!(check_query("(refund* OR \"charged twice\") lang:en", "query").is_ok());
    }

    #[test]
    fn a_rule_that_only_excludes_is_refused() {
        for query in ["NOT juice", "lang:en NOT juice", "apple OR NOT juice"] {
            let status = tonic::Status::from(check_query(query, "query").expect_err(query));
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status.message().contains("only excludes"),
                "{}",
                status.message()
            );
        }
        assert!(check_query("juice NOT apple", "query").is_ok());
    }
}
