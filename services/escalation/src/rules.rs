//! Each replica's compiled copy of its tenants' guidelines and spike
//! detectors. Compiling (phrase automata, decoded settings) costs more than
//! evaluating a batch, so a tenant's copy is kept until its revision moves:
//! one small query per batch tells, and a change made on another replica is
//! seen by the next batch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::PgConnection;

use crate::guidelines::Compiled;
use crate::spikes::Detector;
use crate::{guidelines, onboarding, spikes, tenant};

/// A tenant's guidelines in force and its detectors, at one revision.
#[derive(Debug, Default)]
pub struct Rules {
    pub revision: i64,
    pub guidelines: Vec<Arc<Compiled>>,
    pub detectors: Vec<Detector>,
}

impl Rules {
    /// "<id>@<version>" of every guideline in force, as evaluations record them.
    pub fn versions(&self) -> Vec<String> {
        self.guidelines
            .iter()
            .filter(|g| g.enabled)
            .map(|g| g.label())
            .collect()
    }
}

#[derive(Default)]
pub struct RulesCache {
    tenants: Mutex<HashMap<String, Arc<Rules>>>,
}

impl RulesCache {
    /// The rules of each of `tenants` as they stand, making new tenants (with
    /// their defaults) and recompiling those that changed.
    pub async fn load(
        &self,
        conn: &mut PgConnection,
        tenants: &[&str],
    ) -> Result<HashMap<String, Arc<Rules>>, sqlx::Error> {
        let revisions = onboarding::ensure(conn, tenants).await?;
        let mut answer = HashMap::with_capacity(tenants.len());
        let mut stale = Vec::new();
        {
            let cached = self
                .tenants
                .lock()
                .expect("the rules cache is never poisoned");
            for (tenant, revision) in &revisions {
                match cached.get(tenant) {
                    Some(rules) if rules.revision == *revision => {
                        answer.insert(tenant.clone(), rules.clone());
                    }
                    _ => stale.push(tenant.as_str()),
                }
            }
        }
        if stale.is_empty() {
            return Ok(answer);
        }
        // Every change to a tenant's rules bumps its revision in the change's
        // transaction; holding the tenant rows shared while reading makes the
        // rules read and the revision they are labelled with agree (a change
        // that already bumped is waited for, one that has not bumps after).
        let revisions = tenant::lock_revisions(conn, &stale).await?;
        let mut fresh: HashMap<String, Rules> = revisions
            .into_iter()
            .map(|(tenant, revision)| {
                (
                    tenant,
                    Rules {
                        revision,
                        ..Rules::default()
                    },
                )
            })
            .collect();
        for (tenant, row) in guidelines::store::in_force(conn, &stale).await? {
            if let Some(rules) = fresh.get_mut(&tenant) {
                rules.guidelines.push(Arc::new(row.compile()));
            }
        }
        for detector in spikes::store::in_force(conn, &stale).await? {
            if let Some(rules) = fresh.get_mut(&detector.tenant_id) {
                rules.detectors.push(detector);
            }
        }
        for (tenant, rules) in &fresh {
            record_revision(conn, tenant, rules).await?;
        }
        let mut cached = self
            .tenants
            .lock()
            .expect("the rules cache is never poisoned");
        for (tenant, rules) in fresh {
            let rules = Arc::new(rules);
            cached.insert(tenant.clone(), rules.clone());
            answer.insert(tenant, rules);
        }
        Ok(answer)
    }
}

/// Keeps the versions in force at `rules`' revision, which evaluations name.
async fn record_revision(
    conn: &mut PgConnection,
    tenant_id: &str,
    rules: &Rules,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO guideline_revisions (tenant_id, revision, versions)
         VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(rules.revision)
    .bind(rules.versions())
    .execute(conn)
    .await?;
    Ok(())
}
