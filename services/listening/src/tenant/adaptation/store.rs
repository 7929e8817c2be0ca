//! The adaptation's tables: label counts, each tenant's active version and
//! refit counters, and the versions themselves; and the refit job.

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::{KEEP_VERSIONS, LabelledText, REFIT_EVERY, Refit, refit};
use crate::pipeline::model::adapt::HeldOut;
use crate::pipeline::model::{Correction, Models};
use crate::tenant::rules::bump_revision;

/// Labels a refit reads at most, newest first.
const MAX_REFIT_LABELS: i64 = 20_000;

/// Counts one label written (in the label's transaction).
pub async fn count_label(conn: &mut PgConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO label_counts (tenant_id, written) VALUES ($1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET written = label_counts.written + 1",
    )
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The tenant's active correction layer, with its version.
pub async fn active(
    pool: &PgPool,
    tenant_id: &str,
) -> Result<Option<(u32, Correction)>, sqlx::Error> {
    let row: Option<(i32, Vec<u8>)> = sqlx::query_as(
        "SELECT v.version, v.correction FROM tenant_models t
           JOIN model_versions v ON v.tenant_id = t.tenant_id AND v.version = t.active_version
          WHERE t.tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(version, bytes)| match Correction::from_bytes(&bytes) {
        Ok(correction) => Some((u32::try_from(version).unwrap_or_default(), correction)),
        Err(error) => {
            // Written by this code only; unreadable means a bug, not input.
            tracing::error!(tenant_id, version, %error, "stored correction layer unreadable; shipped models used");
            None
        }
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i32,
    pub base_model: String,
    pub trained_on: i32,
    pub sentiment_held_out: i32,
    pub intent_held_out: i32,
    pub before_sentiment: Option<f64>,
    pub before_intent: Option<f64>,
    pub before_complaint_f1: Option<f64>,
    pub after_sentiment: Option<f64>,
    pub after_intent: Option<f64>,
    pub after_complaint_f1: Option<f64>,
    pub trained_at: DateTime<Utc>,
    pub active: bool,
}

const VERSION_COLUMNS: &str = "v.version, v.base_model, v.trained_on, v.sentiment_held_out,
    v.intent_held_out, v.before_sentiment, v.before_intent, v.before_complaint_f1,
    v.after_sentiment, v.after_intent, v.after_complaint_f1, v.trained_at,
    coalesce(t.active_version = v.version, false) AS active";

/// The versions kept (at most [`KEEP_VERSIONS`] and the active one), newest first.
pub async fn versions(pool: &PgPool, tenant_id: &str) -> Result<Vec<VersionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions v
           LEFT JOIN tenant_models t ON t.tenant_id = v.tenant_id
          WHERE v.tenant_id = $1
          ORDER BY v.version DESC"
    ))
    .bind(tenant_id)
    .fetch_all(pool)
    .await
}

/// The active version's row, and the labels written since the last refit.
pub async fn state(
    pool: &PgPool,
    tenant_id: &str,
) -> Result<(Option<VersionRow>, i64), sqlx::Error> {
    let active: Option<VersionRow> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM tenant_models t
           JOIN model_versions v ON v.tenant_id = t.tenant_id AND v.version = t.active_version
          WHERE t.tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_optional(pool)
    .await?;
    let since: i64 = sqlx::query_scalar(
        "SELECT coalesce(c.written, 0) - coalesce(t.labels_at_refit, 0)
           FROM (SELECT $1::text AS tenant_id) k
           LEFT JOIN label_counts c ON c.tenant_id = k.tenant_id
           LEFT JOIN tenant_models t ON t.tenant_id = k.tenant_id",
    )
    .bind(tenant_id)
    .fetch_one(pool)
    .await?;
    Ok((active, since))
}

/// Activates `version` (0: none). False when the tenant has no such version.
pub async fn activate(pool: &PgPool, tenant_id: &str, version: i32) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if version > 0 {
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT version FROM model_versions WHERE tenant_id = $1 AND version = $2",
        )
        .bind(tenant_id)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO tenant_models (tenant_id, active_version) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET active_version = $2",
    )
    .bind(tenant_id)
    .bind(version)
    .execute(&mut *tx)
    .await?;
    bump_revision(&mut tx, tenant_id).await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(sqlx::FromRow)]
struct LabelRow {
    mention_id: Uuid,
    body: String,
    intent: i16,
    sentiment: Option<f64>,
    relevant: bool,
    general: bool,
}

/// The tenant's labelled mentions, one label each (the general one, else
/// the newest), newest first.
async fn labelled(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Vec<LabelledText>, sqlx::Error> {
    let rows: Vec<LabelRow> = sqlx::query_as(
        "SELECT DISTINCT ON (l.labelled_at, l.mention_id) l.mention_id, m.body, l.intent,
                l.sentiment, l.relevant, l.rule_id = '00000000-0000-0000-0000-000000000000' AS general
           FROM mention_labels l
           JOIN mentions m ON m.tenant_id = l.tenant_id AND m.id = l.mention_id
          WHERE l.tenant_id = $1
          ORDER BY l.labelled_at DESC, l.mention_id
          LIMIT $2",
    )
    .bind(tenant_id)
    .bind(MAX_REFIT_LABELS)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<LabelledText> = Vec::with_capacity(rows.len());
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        if !seen.insert(row.mention_id) {
            continue;
        }
        out.push(LabelledText {
            mention_id: row.mention_id,
            text: row.body,
            intent: i32::from(row.intent),
            sentiment: row.sentiment,
            relevant: row.general.then_some(row.relevant),
        });
    }
    Ok(out)
}

/// Refits one tenant due for it (at least [`REFIT_EVERY`] labels since its
/// last refit), all in `tx`: its new version, its counters and its
/// revision (so every replica's next batch classifies with it).
async fn refit_one(tx: &mut Transaction<'static, Postgres>) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_models (tenant_id)
         SELECT c.tenant_id FROM label_counts c
          WHERE NOT EXISTS (SELECT 1 FROM tenant_models t WHERE t.tenant_id = c.tenant_id)
         ON CONFLICT DO NOTHING",
    )
    .execute(&mut **tx)
    .await?;
    let due: Option<(String, i64, i32)> = sqlx::query_as(
        "SELECT t.tenant_id, c.written, t.last_version
           FROM tenant_models t JOIN label_counts c ON c.tenant_id = t.tenant_id
          WHERE c.written - t.labels_at_refit >= $1
          ORDER BY t.tenant_id
          LIMIT 1
            FOR UPDATE OF t SKIP LOCKED",
    )
    .bind(REFIT_EVERY)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((tenant_id, written, last_version)) = due else {
        return Ok(0);
    };
    let labels = labelled(tx, &tenant_id).await?;
    let models = Models::shipped();
    let made: Refit = tokio::task::spawn_blocking(move || refit(models, &labels))
        .await
        .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?;
    let version = last_version + 1;
    let activate = made.activate();
    insert_version(tx, &tenant_id, version, &models.id, &made).await?;
    sqlx::query(
        "UPDATE tenant_models
            SET labels_at_refit = $2, last_version = $3,
                active_version = CASE WHEN $4 THEN $3 ELSE active_version END
          WHERE tenant_id = $1",
    )
    .bind(&tenant_id)
    .bind(written)
    .bind(version)
    .bind(activate)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "DELETE FROM model_versions v USING tenant_models t
          WHERE v.tenant_id = $1 AND t.tenant_id = v.tenant_id
            AND v.version <= t.last_version - $2 AND v.version <> t.active_version",
    )
    .bind(&tenant_id)
    .bind(KEEP_VERSIONS)
    .execute(&mut **tx)
    .await?;
    bump_revision(tx, &tenant_id).await?;
    tracing::info!(
        tenant_id,
        version,
        activate,
        trained_on = made.trained_on,
        before = ?made.before,
        after = ?made.after,
        "correction layer refitted"
    );
    Ok(1)
}

async fn insert_version(
    conn: &mut PgConnection,
    tenant_id: &str,
    version: i32,
    base_model: &str,
    made: &Refit,
) -> Result<(), sqlx::Error> {
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    let scores = |h: &HeldOut| (h.sentiment_accuracy, h.intent_accuracy, h.complaint_f1);
    let (bs, bi, bc) = scores(&made.before);
    let (a_s, ai, ac) = scores(&made.after);
    sqlx::query(
        "INSERT INTO model_versions
             (tenant_id, version, base_model, trained_on, sentiment_held_out, intent_held_out,
              before_sentiment, before_intent, before_complaint_f1,
              after_sentiment, after_intent, after_complaint_f1, correction, trained_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(tenant_id)
    .bind(version)
    .bind(base_model)
    .bind(i32::try_from(made.trained_on).unwrap_or(i32::MAX))
    .bind(count(made.before.sentiment_labels))
    .bind(count(made.before.intent_labels))
    .bind(bs)
    .bind(bi)
    .bind(bc)
    .bind(a_s)
    .bind(ai)
    .bind(ac)
    .bind(made.correction.to_bytes())
    .bind(Utc::now())
    .execute(conn)
    .await?;
    Ok(())
}

/// Refits due tenants' correction layers, one tenant per round.
pub struct RefitJob;

impl Job for RefitJob {
    fn name(&self) -> &'static str {
        "correction refit"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        _limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(refit_one(tx))
    }
}

impl VersionRow {
    pub fn to_proto(self) -> earshot_proto::listening::v1::ModelVersion {
        use earshot_proto::listening::v1::{ModelScores, ModelVersion};
        let count = |n: i32| u32::try_from(n).unwrap_or(0);
        ModelVersion {
            version: count(self.version),
            base_model: self.base_model,
            trained_on: count(self.trained_on),
            sentiment_held_out: count(self.sentiment_held_out),
            intent_held_out: count(self.intent_held_out),
            before: Some(ModelScores {
                sentiment_accuracy: self.before_sentiment,
                intent_accuracy: self.before_intent,
                complaint_f1: self.before_complaint_f1,
            }),
            after: Some(ModelScores {
                sentiment_accuracy: self.after_sentiment,
                intent_accuracy: self.after_intent,
                complaint_f1: self.after_complaint_f1,
            }),
            active: self.active,
            trained_at: Some(earshot_server::convert::timestamp(self.trained_at)),
        }
    }
}
