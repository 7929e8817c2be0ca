//! The mentions table's monthly partitions (see the migration
//! `mentions_by_month`), kept on the scheduler: the partitions of this month
//! and the next two are made ahead of ingest, and a past month is dropped
//! whole, with its mentions' labels and identity keys, once the retention
//! of every tenant with mentions in it has passed it. A month some tenant
//! still keeps stays; the row-by-row retention job ([`crate::erasure::job`])
//! deletes the other tenants' mentions in it by a range of the primary key.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use earshot_outbox::Outbox;
use earshot_server::partitions::{self, Month, id_floor};
use earshot_server::scheduler::Job;
use futures_util::future::BoxFuture;
use sqlx::{PgConnection, Postgres, Transaction};

pub const TABLE: &str = "mentions";

/// How often the partitions are looked at: they change by the month.
const EVERY: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct PartitionJob {
    last: Mutex<Option<Instant>>,
}

impl PartitionJob {
    fn due(&self) -> bool {
        self.last
            .lock()
            .map(|last| last.is_none_or(|at| at.elapsed() >= EVERY))
            .unwrap_or(true)
    }

    fn done(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Some(Instant::now());
        }
    }
}

impl Job for PartitionJob {
    fn name(&self) -> &'static str {
        "mention partitions"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        _outbox: &'a Outbox,
        _limit: i64,
    ) -> BoxFuture<'a, Result<u64, sqlx::Error>> {
        Box::pin(async move {
            if !self.due() {
                return Ok(0);
            }
            let changed = keep(tx).await?;
            self.done();
            Ok(changed)
        })
    }
}

/// Makes the partitions ahead and drops the months nobody keeps; returns
/// how many partitions it made or dropped.
pub async fn keep(tx: &mut Transaction<'static, Postgres>) -> Result<u64, sqlx::Error> {
    let conn: &mut PgConnection = tx;
    // Replicas take turns; the DDL below would otherwise race.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('earshot.listening.partitions', 0))",
    )
    .execute(&mut *conn)
    .await?;
    let now = Utc::now();
    let mut changed = partitions::create_ahead(conn, TABLE, now).await?;
    let current = Month::of(now);
    for month in partitions::months(conn, TABLE).await? {
        if month < current && nobody_keeps(conn, month).await? {
            let (from, to) = (id_floor(month.start()), id_floor(month.end()));
            sqlx::query("DELETE FROM mention_labels WHERE mention_id >= $1 AND mention_id < $2")
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM mention_keys WHERE mention_id >= $1 AND mention_id < $2")
                .bind(from)
                .bind(to)
                .execute(&mut *conn)
                .await?;
            partitions::drop_month(conn, TABLE, month).await?;
            tracing::info!(partition = %month.partition(TABLE), "dropped: past every tenant's retention");
            changed += 1;
        }
    }
    Ok(changed)
}

/// Whether every tenant with mentions in `month` keeps them for a period
/// that ended after it (a tenant without a period keeps them for ever).
async fn nobody_keeps(conn: &mut PgConnection, month: Month) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT count(*) FROM (SELECT DISTINCT tenant_id FROM \"{}\") AS t
           LEFT JOIN retention_policies r USING (tenant_id)
          WHERE r.days IS NULL OR r.days <= 0 OR now() - make_interval(days => r.days) < $1",
        month.partition(TABLE)
    );
    let keeping: i64 = sqlx::query_scalar(&sql)
        .bind(month.end())
        .fetch_one(conn)
        .await?;
    Ok(keeping == 0)
}
