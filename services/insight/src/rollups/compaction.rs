//! Compaction: the scheduler folds the deltas batches appended to the
//! `_pending` tables into the daily and monthly rollups, many batches'
//! rows summed into one upsert per key, in key order (so two replicas
//! compacting cannot deadlock), the pending rows claimed with `SKIP LOCKED`
//! and deleted in the same statement.

use earshot_outbox::Outbox;
use futures_util::future::BoxFuture;
use sqlx::{Postgres, Transaction};

use super::CASE_COUNTERS;
use earshot_server::scheduler::Job;

/// A rollup table with a `_pending` and a `_monthly` twin.
pub struct Rollup {
    pub table: &'static str,
    pub keys: &'static [&'static str],
    pub sums: &'static [&'static str],
}

pub const ROLLUPS: [Rollup; 3] = [
    Rollup {
        table: "case_rollups",
        keys: &["tenant_id", "dim", "value", "day"],
        sums: &CASE_COUNTERS,
    },
    Rollup {
        table: "case_durations",
        keys: &["tenant_id", "dim", "value", "metric", "day", "bucket"],
        sums: &["n"],
    },
    Rollup {
        table: "fairness_rollups",
        keys: &[
            "tenant_id",
            "day",
            "topic",
            "intent",
            "priority",
            "social",
            "reach",
        ],
        sums: &[
            "cases",
            "goodwill_cases",
            "goodwill_sum",
            "goodwill_sq",
            "resolved",
            "log_res_sum",
            "log_res_sq",
            "sla_met",
            "sla_breached",
            "moved_private",
        ],
    },
];

impl Rollup {
    /// One statement moving at most `$1` pending rows into both grains;
    /// answers how many it moved.
    pub fn compact_sql(&self) -> String {
        let t = self.table;
        let keys = self.keys.join(", ");
        let sums = self.sums.join(", ");
        let summed = self
            .sums
            .iter()
            .map(|s| format!("sum({s})"))
            .collect::<Vec<_>>()
            .join(", ");
        let add = self
            .sums
            .iter()
            .map(|s| format!("{s} = r.{s} + excluded.{s}"))
            .collect::<Vec<_>>()
            .join(", ");
        let monthly_keys = self
            .keys
            .iter()
            .map(|k| {
                if *k == "day" {
                    "date_trunc('month', day)::date".to_owned()
                } else {
                    (*k).to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let positions = (1..=self.keys.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "WITH moved AS (
                 DELETE FROM {t}_pending
                  WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t}_pending LIMIT $1 FOR UPDATE SKIP LOCKED))
                 RETURNING *),
             daily AS (
                 INSERT INTO {t} AS r ({keys}, {sums})
                 SELECT {keys}, {summed} FROM moved GROUP BY {positions} ORDER BY {positions}
                 ON CONFLICT ({keys}) DO UPDATE SET {add}),
             monthly AS (
                 INSERT INTO {t}_monthly AS r ({keys}, {sums})
                 SELECT {monthly_keys}, {summed} FROM moved GROUP BY {positions} ORDER BY {positions}
                 ON CONFLICT ({keys}) DO UPDATE SET {add})
             SELECT count(*)::int8 FROM moved"
        )
    }
}

/// The compaction job of the rollups' scheduler.
pub struct Compaction {
    statements: Vec<String>,
}

impl Compaction {
    pub fn new() -> Self {
        Self {
            statements: ROLLUPS.iter().map(Rollup::compact_sql).collect(),
        }
    }
}

impl Default for Compaction {
    fn default() -> Self {
        Self::new()
    }
}

impl Job for Compaction {
    fn name(&self) -> &'static str {
        "rollup compaction"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            let mut most = 0i64;
            for sql in &self.statements {
                let moved: i64 = sqlx::query_scalar(sql)
                    .bind(limit)
                    .fetch_one(&mut **tx)
                    .await?;
                most = most.max(moved);
            }
            // A full round (of any table) runs again at once.
            Ok(u64::try_from(most).unwrap_or(0))
        })
    }
}
