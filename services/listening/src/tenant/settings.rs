//! A tenant's topic taxonomy and noise settings: read, replaced as a whole
//! with optimistic concurrency, defaults until the tenant sets its own.

use std::collections::HashSet;

use chrono::Utc;
use earshot_proto::listening::v1::{ListeningSettings, Topic};
use earshot_server::{FieldViolations, ServiceError, invalid};
use sqlx::PgPool;

use super::rules::bump_revision;
use crate::pipeline::classify::{Taxonomy, TaxonomyError, TopicDef, default_taxonomy};

/// Most brand handles a tenant may set.
pub const MAX_BRAND_HANDLES: usize = 50;
/// Longest brand handle, in bytes (without `@`).
pub const MAX_HANDLE_BYTES: usize = 64;

/// The stored settings of a tenant; `None` topics means the default taxonomy.
#[derive(Debug, Clone, Default)]
pub struct StoredSettings {
    pub version: i32,
    pub topics: Option<Vec<TopicDef>>,
    pub brand_handles: Vec<String>,
}

pub async fn load(pool: &PgPool, tenant_id: &str) -> Result<StoredSettings, sqlx::Error> {
    let row: Option<(i32, Option<serde_json::Value>, Vec<String>)> = sqlx::query_as(
        "SELECT version, topics, brand_handles FROM tenant_settings WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => StoredSettings::default(),
        Some((version, topics, brand_handles)) => StoredSettings {
            version,
            topics: topics.map(|t| topics_from_json(&t)),
            brand_handles,
        },
    })
}

fn topics_from_json(value: &serde_json::Value) -> Vec<TopicDef> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| TopicDef {
            key: t["key"].as_str().unwrap_or_default().to_owned(),
            phrases: t["phrases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect(),
        })
        .collect()
}

fn topics_to_json(topics: &[TopicDef]) -> serde_json::Value {
    topics
        .iter()
        .map(|t| serde_json::json!({ "key": t.key, "phrases": t.phrases }))
        .collect()
}

pub fn to_proto(settings: StoredSettings) -> ListeningSettings {
    let default_topics = settings.topics.is_none();
    let topics = settings
        .topics
        .unwrap_or_else(|| default_taxonomy().defs().to_vec());
    ListeningSettings {
        topics: topics
            .into_iter()
            .map(|t| Topic {
                key: t.key,
                phrases: t.phrases,
            })
            .collect(),
        default_topics,
        brand_handles: settings.brand_handles,
        version: u32::try_from(settings.version).unwrap_or_default(),
    }
}

/// `@Acme_Help` → `acme_help`; the violation names the entry at fault. At
/// most [`MAX_BRAND_HANDLES`], counted before any is read; each at most
/// [`MAX_HANDLE_BYTES`] once trimmed; repeats (after normalising) kept once.
fn brand_handles(raw: &[String], violations: &mut FieldViolations) -> Vec<String> {
    if raw.len() > MAX_BRAND_HANDLES {
        violations.add(
            "brand_handles",
            format!("must hold at most {MAX_BRAND_HANDLES} handles"),
        );
        return Vec::new();
    }
    let mut handles = Vec::with_capacity(raw.len());
    let mut seen = HashSet::with_capacity(raw.len());
    for (i, handle) in raw.iter().enumerate() {
        let handle = handle.trim().trim_start_matches('@').to_lowercase();
        let valid = !handle.is_empty()
            && handle.len() <= MAX_HANDLE_BYTES
            && handle
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
        violations.check(
            !valid,
            format!("brand_handles[{i}]"),
            "must be 1-64 letters, digits, '_', '.' or '-'",
        );
        if seen.insert(handle.clone()) {
            handles.push(handle);
        }
    }
    handles
}

fn invalid_taxonomy(e: &TaxonomyError) -> ServiceError {
    let message = e.to_string();
    let description = message
        .strip_prefix(&format!("{}: ", e.field()))
        .unwrap_or(&message);
    invalid(e.field(), description)
}

/// Replaces the settings if `version` is the one stored (0 before the first change).
pub async fn update(
    pool: &PgPool,
    tenant_id: &str,
    version: u32,
    topics: Vec<Topic>,
    raw_handles: &[String],
) -> Result<ListeningSettings, ServiceError> {
    let mut violations = FieldViolations::new();
    let handles = brand_handles(raw_handles, &mut violations);
    violations.into_result()?;
    let topics: Option<Vec<TopicDef>> = if topics.is_empty() {
        None
    } else {
        let defs: Vec<TopicDef> = topics
            .into_iter()
            .map(|t| TopicDef {
                key: t.key,
                phrases: t.phrases,
            })
            .collect();
        // Compiling checks every key and phrase and names the one at fault.
        let taxonomy = Taxonomy::new(defs).map_err(|e| invalid_taxonomy(&e))?;
        Some(taxonomy.defs().to_vec())
    };
    let mut tx = pool.begin().await?;
    let stored: Option<i32> =
        sqlx::query_scalar("SELECT version FROM tenant_settings WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant_id)
            .fetch_optional(&mut *tx)
            .await?;
    let current = stored.unwrap_or(0);
    if i64::from(version) != i64::from(current) {
        return Err(ServiceError::Aborted(format!(
            "the settings are at version {current}, not {version}; read them again"
        )));
    }
    let json = topics.as_deref().map(topics_to_json);
    sqlx::query(
        "INSERT INTO tenant_settings (tenant_id, version, topics, brand_handles, updated_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id) DO UPDATE
            SET version = $2, topics = $3, brand_handles = $4, updated_at = $5",
    )
    .bind(tenant_id)
    .bind(current + 1)
    .bind(json)
    .bind(&handles)
    .bind(Utc::now())
    .execute(&mut *tx)
    .await?;
    bump_revision(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(to_proto(StoredSettings {
        version: current + 1,
        topics,
        brand_handles: handles,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brand_handles_are_normalised_and_bad_ones_named() {
        let mut v = FieldViolations::new();
        let handles = brand_handles(
            &["@Acme_Help".into(), "acme_help".into(), "Acme".into()],
            &mut v,
        );
        assert!(v.is_empty());
        assert_eq!(handles, vec!["acme_help", "acme"]);
        let mut v = FieldViolations::new();
        brand_handles(&["ok".into(), "not ok!".into()], &mut v);
        assert_eq!(
            v.iter().next().map(|f| f.field.as_str()),
            Some("brand_handles[1]")
        );
    }

    #[test]
    fn too_many_brand_handles_are_refused_before_any_is_read() {
        let raw: Vec<String> = (0..=MAX_BRAND_HANDLES)
            .map(|i| format!("not ok {i}!"))
            .collect();
        let mut v = FieldViolations::new();
        assert!(brand_handles(&raw, &mut v).is_empty());
        let fields: Vec<&str> = v.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["brand_handles"], "no entry was judged");
    }

    #[test]
    fn topics_survive_their_json_form() {
        let defs = vec![TopicDef {
            key: "delivery".into(),
            phrases: vec!["deliver*".into(), "parcel".into()],
        }];
        let back = topics_from_json(&topics_to_json(&defs));
        assert_eq!(back[0].key, "delivery");
        assert_eq!(back[0].phrases, defs[0].phrases);
    }
}
