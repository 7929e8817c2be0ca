//! What ingest needs of a tenant, compiled once per change: its rule set,
//! its taxonomy and its noise settings, plus its noise window, rebuilt from
//! the stored mentions when the tenant is first heard after a start.
//!
//! Each replica caches the compiled profile per tenant and checks the
//! tenant's revision (one primary-key read) before each batch, so a rule or
//! settings change applies from the next batch on, on every replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use earshot_proto::common::v1::Author;
use futures_util::TryStreamExt;
use sqlx::PgPool;
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::mention::{NoiseKeys, store};
use crate::pipeline::Adapted;
use crate::pipeline::classify::{Taxonomy, default_taxonomy};
use crate::pipeline::model::Correction;
use crate::pipeline::noise::{Candidate, DropReason, NoiseSettings, NoiseWindow};
use crate::query::{Expr, RuleOptions, RuleRef, RuleSet, parse};

pub struct TenantProfile {
    pub revision: i64,
    pub rules: RuleSet,
    pub rule_names: HashMap<Uuid, String>,
    /// The tenant's own taxonomy; `None` for the default one.
    custom_taxonomy: Option<Taxonomy>,
    pub noise: NoiseSettings,
    /// The tenant's active correction layer, with its version.
    pub correction: Option<(u32, Correction)>,
}

impl TenantProfile {
    /// A tenant that has set nothing: no rules, the default taxonomy and
    /// noise settings.
    pub fn initial() -> Self {
        Self {
            revision: 0,
            rules: RuleSet::from_parsed(std::iter::empty::<(RuleRef, Expr, RuleOptions)>()),
            rule_names: HashMap::new(),
            custom_taxonomy: None,
            noise: NoiseSettings::default(),
            correction: None,
        }
    }

    pub fn adapted(&self) -> Option<Adapted<'_>> {
        self.correction
            .as_ref()
            .map(|(version, correction)| Adapted {
                version: *version,
                correction,
            })
    }

    pub fn taxonomy(&self) -> &Taxonomy {
        self.custom_taxonomy
            .as_ref()
            .unwrap_or_else(|| default_taxonomy())
    }

    pub fn rule_name(&self, rule: &RuleRef) -> &str {
        self.rule_names.get(&rule.id).map_or("", String::as_str)
    }
}

/// A tenant's noise window, locked by each batch while it is judged.
pub type SharedWindow = Arc<Mutex<NoiseWindow>>;

/// Compiled profiles and noise windows of the tenants this replica serves.
#[derive(Default)]
pub struct Profiles {
    compiled: Mutex<HashMap<String, Arc<TenantProfile>>>,
    /// Set once per tenant, when its window is first needed.
    windows: Mutex<HashMap<String, Arc<OnceCell<SharedWindow>>>>,
}

impl Profiles {
    /// The tenant's profile as of its latest revision.
    pub async fn current(
        &self,
        pool: &PgPool,
        tenant_id: &str,
    ) -> Result<Arc<TenantProfile>, sqlx::Error> {
        let revision: i64 = sqlx::query_scalar(
            "SELECT coalesce((SELECT revision FROM tenant_revisions WHERE tenant_id = $1), 0)",
        )
        .bind(tenant_id)
        .fetch_one(pool)
        .await?;
        if let Some(profile) = self.cached(tenant_id).filter(|p| p.revision == revision) {
            return Ok(profile);
        }
        let profile = Arc::new(load(pool, tenant_id, revision).await?);
        self.compiled
            .lock()
            .expect("profile cache poisoned")
            .insert(tenant_id.to_owned(), Arc::clone(&profile));
        Ok(profile)
    }

    fn cached(&self, tenant_id: &str) -> Option<Arc<TenantProfile>> {
        self.compiled
            .lock()
            .expect("profile cache poisoned")
            .get(tenant_id)
            .cloned()
    }

    /// The tenant's noise window; callers lock it for a whole batch, so that
    /// mentions are judged in ingest order. The first call for a tenant
    /// rebuilds it from the tenant's stored mentions (see [`rebuild_window`]);
    /// calls meanwhile wait for that one, and a failed rebuild is tried again
    /// by the next call.
    pub async fn window(
        &self,
        pool: &PgPool,
        tenant_id: &str,
        settings: &NoiseSettings,
    ) -> Result<SharedWindow, sqlx::Error> {
        let cell = Arc::clone(
            self.windows
                .lock()
                .expect("noise windows poisoned")
                .entry(tenant_id.to_owned())
                .or_default(),
        );
        cell.get_or_try_init(|| async {
            let window = rebuild_window(pool, tenant_id, settings).await?;
            tracing::info!(tenant_id, remembered = window.len(), "noise window rebuilt");
            Ok(Arc::new(Mutex::new(window)))
        })
        .await
        .cloned()
    }
}

/// The noise window that judging the tenant's mentions of the last
/// [`NoiseSettings::window`] left (the newest
/// [`NoiseSettings::max_entries`] of them), rebuilt from the store: the
/// window lives in memory, and without this a restart forgot the last day
/// and let its duplicates in again.
pub async fn rebuild_window(
    pool: &PgPool,
    tenant_id: &str,
    settings: &NoiseSettings,
) -> Result<NoiseWindow, sqlx::Error> {
    let since = TimeDelta::from_std(settings.window)
        .ok()
        .and_then(|window| Utc::now().checked_sub_signed(window))
        .unwrap_or(DateTime::UNIX_EPOCH);
    let limit = i64::try_from(settings.max_entries).unwrap_or(i64::MAX);
    let mut window = NoiseWindow::new();
    let mut rows = store::judged_since(pool, tenant_id, since, limit);
    while let Some(row) = rows.try_next().await? {
        let author = Author {
            external_id: row.author_external_id,
            handle: row.author_handle,
            ..Author::default()
        };
        let keys = NoiseKeys::of(&row.source, &row.external_id, &author);
        let candidate = Candidate {
            identity: &keys.identity,
            text: &row.body,
            urls: &[],
            handles: &[],
            hashtags: &[],
            author_key: &keys.author_key,
            author_handle: &keys.author_handle,
            is_share: false,
            posted_at: row.posted_at,
        };
        let dropped = row.dropped_reason.as_deref().and_then(DropReason::parse);
        window.recall(&candidate, dropped, settings);
    }
    Ok(window)
}

async fn load(pool: &PgPool, tenant_id: &str, revision: i64) -> Result<TenantProfile, sqlx::Error> {
    let rows = super::rules::active(pool, tenant_id).await?;
    let settings = super::settings::load(pool, tenant_id).await?;
    let correction = super::adaptation::store::active(pool, tenant_id).await?;
    let mut rule_names = HashMap::with_capacity(rows.len());
    let mut parsed = Vec::with_capacity(rows.len());
    for row in rows {
        // Stored queries parsed when they were written; one that no longer
        // does (a stricter parser) is left out rather than failing ingest.
        match parse(&row.query) {
            Ok(expr) => {
                parsed.push((
                    RuleRef {
                        id: row.id,
                        version: u32::try_from(row.version).unwrap_or_default(),
                    },
                    expr,
                    RuleOptions {
                        fold_accents: row.fold_accents,
                    },
                ));
                rule_names.insert(row.id, row.name);
            }
            Err(error) => {
                tracing::error!(rule = %row.id, %error, "stored rule no longer parses; skipped");
            }
        }
    }
    let custom_taxonomy = settings.topics.and_then(|defs| {
        Taxonomy::new(defs)
            .map_err(|error| {
                tracing::error!(%error, "stored taxonomy no longer compiles; default used");
            })
            .ok()
    });
    Ok(TenantProfile {
        revision,
        rules: RuleSet::from_parsed(parsed),
        rule_names,
        custom_taxonomy,
        noise: NoiseSettings {
            brand_handles: settings.brand_handles,
            ..NoiseSettings::default()
        },
        correction,
    })
}
