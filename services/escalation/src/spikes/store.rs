//! Spike detectors, their per-series state, closed minutes and alerts in
//! Postgres.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_proto::escalation::v1 as pb;
use earshot_server::convert::Cursor;
use earshot_server::{Keyed, Page, ServiceError};
use earshot_spikes::{Bucket, SeriesState, Settings};
use prost::Message;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::codec::Cell;
use super::{Detector, codec, settings_proto};
use crate::tenant;
use crate::vocabulary::SpikeScope;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DetectorRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub scope: SpikeScope,
    pub settings: Vec<u8>,
    pub enabled: bool,
    pub version: i32,
    pub alerts: i64,
    pub marked_true: i64,
    pub marked_false: i64,
}

impl DetectorRow {
    pub fn settings_proto(&self) -> pb::SpikeSettings {
        pb::SpikeSettings::decode(self.settings.as_slice()).unwrap_or_default()
    }

    fn detector(self) -> Detector {
        let mut ignored = earshot_server::FieldViolations::new();
        let settings = super::settings_from_proto(&self.settings_proto(), "settings", &mut ignored);
        Detector {
            id: self.id,
            tenant_id: self.tenant_id,
            name: self.name,
            scope: self.scope,
            settings,
            enabled: self.enabled,
        }
    }
}

const DETECTOR_COLUMNS: &str =
    "id, tenant_id, name, scope, settings, enabled, version, alerts, marked_true, marked_false";

pub async fn create_defaults(conn: &mut PgConnection, tenant_id: &str) -> Result<(), sqlx::Error> {
    let settings = settings_proto(&Settings::default()).encode_to_vec();
    for (name, scope) in [
        ("All mentions", SpikeScope::Tenant),
        ("Per topic", SpikeScope::Topic),
        ("Per listening rule", SpikeScope::Rule),
    ] {
        sqlx::query(
            "INSERT INTO spike_detectors (id, tenant_id, name, scope, settings)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(name)
        .bind(scope)
        .bind(&settings)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn in_force(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<Vec<Detector>, sqlx::Error> {
    let rows: Vec<DetectorRow> = sqlx::query_as(&format!(
        "SELECT {DETECTOR_COLUMNS} FROM spike_detectors WHERE tenant_id = ANY($1) ORDER BY id"
    ))
    .bind(tenants)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(DetectorRow::detector).collect())
}

pub async fn list(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Vec<DetectorRow>, ServiceError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {DETECTOR_COLUMNS} FROM spike_detectors WHERE tenant_id = $1 ORDER BY id"
    ))
    .bind(tenant_id)
    .fetch_all(conn)
    .await?)
}

pub async fn update(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    expected_version: i32,
    settings: &pb::SpikeSettings,
    enabled: bool,
) -> Result<DetectorRow, ServiceError> {
    let current: Option<i32> = sqlx::query_scalar(
        "SELECT version FROM spike_detectors WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let current = current.ok_or_else(|| ServiceError::NotFound(format!("spike detector {id}")))?;
    if current != expected_version {
        return Err(ServiceError::Aborted(format!(
            "spike detector {id} is at version {current}, not {expected_version}: read it again"
        )));
    }
    let row = sqlx::query_as(&format!(
        "UPDATE spike_detectors SET settings = $2, enabled = $3, version = version + 1
          WHERE id = $1
         RETURNING {DETECTOR_COLUMNS}"
    ))
    .bind(id)
    .bind(settings.encode_to_vec())
    .bind(enabled)
    .fetch_one(&mut *conn)
    .await?;
    tenant::bump(conn, tenant_id).await?;
    Ok(row)
}

/// The stored states of `keys` (detector, series), each with the generation
/// it was written at; series never seen are absent. A state `cache` holds at
/// the stored generation is taken from it rather than read again.
pub async fn lock_states(
    conn: &mut PgConnection,
    keys: &[(Uuid, String)],
    cache: &StateCache,
) -> Result<Vec<((Uuid, String), SeriesState, i64)>, sqlx::Error> {
    let detectors: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let series: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    // A series not stored yet has no row to lock: two batches would both
    // start it afresh and the later write would drop the earlier's counts.
    // A transaction lock per key, taken in the callers' sorted order (so
    // batches never deadlock), serializes them whether or not the row exists,
    // so the rows themselves need no FOR UPDATE.
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(u.detector_id::text || '/' || u.series, 0))
           FROM unnest($1::uuid[], $2::text[]) AS u(detector_id, series)",
    )
    .bind(&detectors)
    .bind(&series)
    .execute(&mut *conn)
    .await?;
    let stored: Vec<(Uuid, String, i64)> = sqlx::query_as(
        "SELECT s.detector_id, s.series, s.generation
           FROM spike_series s
           JOIN unnest($1::uuid[], $2::text[]) AS u(detector_id, series)
             ON s.detector_id = u.detector_id AND s.series = u.series",
    )
    .bind(&detectors)
    .bind(&series)
    .fetch_all(&mut *conn)
    .await?;
    let mut found = Vec::with_capacity(stored.len());
    let mut stale: Vec<(Uuid, String)> = Vec::new();
    for (detector, series, generation) in stored {
        let key = (detector, series);
        match cache.get(&key, generation) {
            Some(state) => found.push((key, state, generation)),
            None => stale.push(key),
        }
    }
    if !stale.is_empty() {
        let detectors: Vec<Uuid> = stale.iter().map(|k| k.0).collect();
        let series: Vec<&str> = stale.iter().map(|k| k.1.as_str()).collect();
        let rows: Vec<StoredState> = sqlx::query_as(
            "SELECT s.detector_id, s.series, s.state, s.generation
               FROM spike_series s
               JOIN unnest($1::uuid[], $2::text[]) AS u(detector_id, series)
                 ON s.detector_id = u.detector_id AND s.series = u.series",
        )
        .bind(&detectors)
        .bind(&series)
        .fetch_all(&mut *conn)
        .await?;
        let cells: Vec<StoredCell> = sqlx::query_as(
            "SELECT c.detector_id, c.series, c.cell, c.sum, c.minutes
               FROM spike_cells c
               JOIN unnest($1::uuid[], $2::text[]) AS u(detector_id, series)
                 ON c.detector_id = u.detector_id AND c.series = u.series",
        )
        .bind(&detectors)
        .bind(&series)
        .fetch_all(conn)
        .await?;
        let mut cells_of: HashMap<(Uuid, String), Vec<Cell>> = HashMap::new();
        for c in cells {
            cells_of
                .entry((c.detector_id, c.series))
                .or_default()
                .push(Cell {
                    cell: c.cell,
                    sum: c.sum,
                    minutes: c.minutes,
                });
        }
        for row in rows {
            let key = (row.detector_id, row.series);
            let cells = cells_of.remove(&key).unwrap_or_default();
            let state = codec::decode(&row.state, &cells).unwrap_or_else(|error| {
                tracing::error!(detector = %key.0, series = key.1, %error, "spike state lost; the series starts again");
                SeriesState::default()
            });
            found.push((key, state, row.generation));
        }
    }
    Ok(found)
}

#[derive(sqlx::FromRow)]
struct StoredState {
    detector_id: Uuid,
    series: String,
    state: Vec<u8>,
    generation: i64,
}

#[derive(sqlx::FromRow)]
struct StoredCell {
    detector_id: Uuid,
    series: String,
    cell: i16,
    sum: f64,
    minutes: f64,
}

/// Most series states one process keeps between batches (about 3 KiB each).
pub const CACHED_STATES: usize = 50_000;

/// This process's copies of the series states it last wrote, each with the
/// generation it wrote. A copy is used only while the stored row still
/// carries that generation: a write by another replica, or a transaction
/// that rolled back after the copy was made, leaves them different.
#[derive(Default)]
pub struct StateCache {
    states: std::sync::Mutex<std::collections::HashMap<(Uuid, String), (i64, SeriesState)>>,
}

impl StateCache {
    fn get(&self, key: &(Uuid, String), generation: i64) -> Option<SeriesState> {
        let states = self
            .states
            .lock()
            .expect("the state cache is never poisoned");
        states
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, s)| s.clone())
    }

    /// Keeps the states just written, after they are written.
    pub fn put(&self, written: Vec<((Uuid, String), i64, SeriesState)>) {
        let mut states = self
            .states
            .lock()
            .expect("the state cache is never poisoned");
        if states.len() + written.len() > CACHED_STATES {
            states.clear();
        }
        for (key, generation, state) in written {
            states.insert(key, (generation, state));
        }
    }
}

/// A series' state to write back: its scalars, the cells that changed, and
/// whether it was stored before.
pub struct StateWrite<'a> {
    pub detector_id: Uuid,
    pub series: &'a str,
    pub tenant_id: &'a str,
    pub state: &'a SeriesState,
    pub cells: Vec<Cell>,
    pub generation: i64,
    pub existed: bool,
}

pub async fn write_states(
    conn: &mut PgConnection,
    writes: &[StateWrite<'_>],
) -> Result<(), sqlx::Error> {
    let (fresh, known): (Vec<&StateWrite<'_>>, Vec<&StateWrite<'_>>) =
        writes.iter().partition(|w| !w.existed);
    if !fresh.is_empty() {
        sqlx::query(
            "INSERT INTO spike_series (detector_id, series, tenant_id, state, generation)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bigint[])",
        )
        .bind(fresh.iter().map(|w| w.detector_id).collect::<Vec<_>>())
        .bind(fresh.iter().map(|w| w.series).collect::<Vec<_>>())
        .bind(fresh.iter().map(|w| w.tenant_id).collect::<Vec<_>>())
        .bind(
            fresh
                .iter()
                .map(|w| codec::encode_state(w.state))
                .collect::<Vec<_>>(),
        )
        .bind(fresh.iter().map(|w| w.generation).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    if !known.is_empty() {
        sqlx::query(
            "UPDATE spike_series s
                SET state = u.state, generation = u.generation, updated_at = now()
               FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::bigint[])
                 AS u(detector_id, series, state, generation)
              WHERE s.detector_id = u.detector_id AND s.series = u.series",
        )
        .bind(known.iter().map(|w| w.detector_id).collect::<Vec<_>>())
        .bind(known.iter().map(|w| w.series).collect::<Vec<_>>())
        .bind(
            known
                .iter()
                .map(|w| codec::encode_state(w.state))
                .collect::<Vec<_>>(),
        )
        .bind(known.iter().map(|w| w.generation).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let cells: Vec<(&StateWrite<'_>, &Cell)> = writes
        .iter()
        .flat_map(|w| w.cells.iter().map(move |c| (w, c)))
        .collect();
    if !cells.is_empty() {
        sqlx::query(
            "INSERT INTO spike_cells (detector_id, series, cell, sum, minutes)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::float8[], $5::float8[])
             ON CONFLICT (detector_id, series, cell) DO UPDATE
                SET sum = EXCLUDED.sum, minutes = EXCLUDED.minutes",
        )
        .bind(cells.iter().map(|(w, _)| w.detector_id).collect::<Vec<_>>())
        .bind(cells.iter().map(|(w, _)| w.series).collect::<Vec<_>>())
        .bind(cells.iter().map(|(_, c)| c.cell).collect::<Vec<_>>())
        .bind(cells.iter().map(|(_, c)| c.sum).collect::<Vec<_>>())
        .bind(cells.iter().map(|(_, c)| c.minutes).collect::<Vec<_>>())
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Closed minutes, kept for backtests. Two detectors of one scope close the
/// same minute with the same count; the first write stands.
pub async fn record_buckets(
    conn: &mut PgConnection,
    closed: &[(&str, &str, Bucket)],
) -> Result<(), sqlx::Error> {
    if closed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO spike_buckets (tenant_id, series, minute, count, negative)
         SELECT u.tenant_id, u.series, to_timestamp(u.minute * 60), u.count, u.negative
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::int[])
             AS u(tenant_id, series, minute, count, negative)
         ON CONFLICT DO NOTHING",
    )
    .bind(closed.iter().map(|c| c.0).collect::<Vec<_>>())
    .bind(closed.iter().map(|c| c.1).collect::<Vec<_>>())
    .bind(closed.iter().map(|c| c.2.minute).collect::<Vec<_>>())
    .bind(closed.iter().map(|c| c.2.count as i32).collect::<Vec<_>>())
    .bind(
        closed
            .iter()
            .map(|c| c.2.negative as i32)
            .collect::<Vec<_>>(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's closed minutes of one series in [from, to), oldest first.
pub async fn history(
    pool: &PgPool,
    tenant_id: &str,
    series: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Bucket>, ServiceError> {
    let rows: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT (extract(epoch FROM minute)::bigint / 60), count, negative
           FROM spike_buckets
          WHERE tenant_id = $1 AND series = $2 AND minute >= $3 AND minute < $4
          ORDER BY minute
          LIMIT $5",
    )
    .bind(tenant_id)
    .bind(series)
    .bind(from)
    .bind(to)
    .bind(limit as i64)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(minute, count, negative)| Bucket {
            minute,
            count: count.max(0) as u32,
            negative: negative.max(0) as u32,
        })
        .collect())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub detector_id: Uuid,
    pub series: String,
    pub kind: String,
    pub minute: DateTime<Utc>,
    pub count: i32,
    pub expected: f64,
    pub p_value: f64,
    pub negative_share: f64,
    pub verdict: Option<bool>,
    pub marked_by: Option<String>,
    pub raised_at: DateTime<Utc>,
}

impl Keyed for AlertRow {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.raised_at,
            id: self.id,
        }
    }
}

const ALERT_COLUMNS: &str = "id, tenant_id, detector_id, series, kind, minute, count, expected,
     p_value, negative_share, verdict, marked_by, raised_at";

pub async fn insert_alerts(
    conn: &mut PgConnection,
    alerts: &[AlertRow],
) -> Result<(), sqlx::Error> {
    if alerts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO spike_alerts (id, tenant_id, detector_id, series, kind, minute, count,
             expected, p_value, negative_share, raised_at)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[],
                              $6::timestamptz[], $7::int[], $8::float8[], $9::float8[],
                              $10::float8[], $11::timestamptz[])",
    )
    .bind(alerts.iter().map(|a| a.id).collect::<Vec<_>>())
    .bind(
        alerts
            .iter()
            .map(|a| a.tenant_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(alerts.iter().map(|a| a.detector_id).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.series.as_str()).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.minute).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.count).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.expected).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.p_value).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.negative_share).collect::<Vec<_>>())
    .bind(alerts.iter().map(|a| a.raised_at).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE spike_detectors d SET alerts = d.alerts + u.n
           FROM (SELECT detector_id, count(*) AS n FROM unnest($1::uuid[]) AS detector_id
                  GROUP BY detector_id) AS u
          WHERE d.id = u.detector_id",
    )
    .bind(alerts.iter().map(|a| a.detector_id).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn list_alerts(
    pool: &PgPool,
    tenant_id: &str,
    detector_id: Option<Uuid>,
    page: &Page,
) -> Result<Vec<AlertRow>, ServiceError> {
    let (at, id) = page.after_key();
    Ok(sqlx::query_as(&format!(
        "SELECT {ALERT_COLUMNS} FROM spike_alerts
          WHERE tenant_id = $1 AND ($2::uuid IS NULL OR detector_id = $2)
            AND ($3::timestamptz IS NULL OR (raised_at, id) < ($3, $4))
          ORDER BY raised_at DESC, id DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(detector_id)
    .bind(at)
    .bind(id)
    .bind(page.limit)
    .fetch_all(pool)
    .await?)
}

/// Records an agent's verdict; a changed verdict moves the detector's counts.
pub async fn mark(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
    verdict: bool,
    actor: &str,
) -> Result<AlertRow, ServiceError> {
    let before: Option<Option<bool>> = sqlx::query_scalar(
        "SELECT verdict FROM spike_alerts WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let before = before.ok_or_else(|| ServiceError::NotFound(format!("spike alert {id}")))?;
    let row: AlertRow = sqlx::query_as(&format!(
        "UPDATE spike_alerts SET verdict = $2, marked_by = $3, marked_at = now()
          WHERE id = $1
         RETURNING {ALERT_COLUMNS}"
    ))
    .bind(id)
    .bind(verdict)
    .bind(actor)
    .fetch_one(&mut *conn)
    .await?;
    let delta = |v: bool| -> i64 { i64::from(verdict == v) - i64::from(before == Some(v)) };
    sqlx::query(
        "UPDATE spike_detectors
            SET marked_true = marked_true + $2, marked_false = marked_false + $3
          WHERE id = $1",
    )
    .bind(row.detector_id)
    .bind(delta(true))
    .bind(delta(false))
    .execute(conn)
    .await?;
    Ok(row)
}
