//! The rollup tables: deltas added set-based, and read back whole for a
//! comparison with a recomputation.

use sqlx::PgConnection;

use super::{
    CASE_COUNTERS, CaseCounters, Deltas, DimKey, DriverDayKey, DurationKey, FairnessSums,
    StratumKey,
};
use crate::facts;

/// Adds a batch's deltas. The three tables every case change touches
/// (counters, time histograms, fairness strata) take them as rows appended
/// to their `_pending` table — no conflict to look up, no row to rewrite —
/// and compaction folds those into the daily and monthly rollups, many
/// batches at a time; reports read the pending rows too. Resolutions and
/// drivers are added in place, in key order.
pub async fn apply(conn: &mut PgConnection, d: &Deltas) -> Result<(), sqlx::Error> {
    if !d.cases.is_empty() {
        apply_cases(conn, d).await?;
    }
    if !d.durations.is_empty() {
        let (mut t, mut dim, mut val, mut metric, mut day, mut bucket, mut n) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for (k, v) in &d.durations {
            t.push(k.tenant_id.as_str());
            dim.push(k.dim);
            val.push(k.value.as_str());
            metric.push(k.metric);
            day.push(k.day);
            bucket.push(k.bucket);
            n.push(*v);
        }
        sqlx::query(
            "INSERT INTO case_durations_pending (tenant_id, dim, value, metric, day, bucket, n)
             SELECT * FROM unnest($1::text[], $2::int2[], $3::text[], $4::int2[], $5::date[],
                                  $6::int2[], $7::int8[])",
        )
        .bind(&t)
        .bind(&dim)
        .bind(&val)
        .bind(&metric)
        .bind(&day)
        .bind(&bucket)
        .bind(&n)
        .execute(&mut *conn)
        .await?;
    }
    if !d.resolutions.is_empty() {
        let (mut t, mut dim, mut val, mut day, mut n) = (vec![], vec![], vec![], vec![], vec![]);
        for (k, v) in &d.resolutions {
            t.push(k.tenant_id.as_str());
            dim.push(k.dim);
            val.push(k.value.as_str());
            day.push(k.day);
            n.push(*v);
        }
        sqlx::query(
            "INSERT INTO case_resolutions (tenant_id, dim, value, day, n)
             SELECT * FROM unnest($1::text[], $2::int2[], $3::text[], $4::date[], $5::int8[])
             ON CONFLICT (tenant_id, dim, value, day)
             DO UPDATE SET n = case_resolutions.n + excluded.n",
        )
        .bind(&t)
        .bind(&dim)
        .bind(&val)
        .bind(&day)
        .bind(&n)
        .execute(&mut *conn)
        .await?;
    }
    if !d.fairness.is_empty() {
        apply_fairness(conn, d).await?;
    }
    if !d.drivers.is_empty() {
        apply_drivers(conn, d).await?;
    }
    Ok(())
}

async fn apply_cases(conn: &mut PgConnection, d: &Deltas) -> Result<(), sqlx::Error> {
    let (mut t, mut dim, mut val, mut day) = (vec![], vec![], vec![], vec![]);
    let mut columns: Vec<Vec<i64>> = vec![Vec::new(); CASE_COUNTERS.len()];
    for (k, counters) in &d.cases {
        t.push(k.tenant_id.as_str());
        dim.push(k.dim);
        val.push(k.value.as_str());
        day.push(k.day);
        for (col, c) in columns.iter_mut().zip(counters) {
            col.push(*c);
        }
    }
    let names = CASE_COUNTERS.join(", ");
    let arrays = (0..CASE_COUNTERS.len())
        .map(|i| format!("${}::int8[]", i + 5))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO case_rollups_pending (tenant_id, dim, value, day, {names})
         SELECT * FROM unnest($1::text[], $2::int2[], $3::text[], $4::date[], {arrays})"
    );
    let mut q = sqlx::query(&sql).bind(&t).bind(&dim).bind(&val).bind(&day);
    for col in &columns {
        q = q.bind(col);
    }
    q.execute(conn).await?;
    Ok(())
}

/// `fairness_rollups`' key columns, one array each.
type StratumColumns<'a> = (
    Vec<&'a str>,
    Vec<chrono::NaiveDate>,
    Vec<&'a str>,
    Vec<i16>,
    Vec<&'a str>,
    Vec<bool>,
    Vec<i16>,
);

async fn apply_fairness(conn: &mut PgConnection, d: &Deltas) -> Result<(), sqlx::Error> {
    let mut keys: StratumColumns = Default::default();
    let mut ints: [Vec<i64>; 6] = Default::default();
    let mut floats: [Vec<f64>; 4] = Default::default();
    for (k, s) in &d.fairness {
        keys.0.push(k.tenant_id.as_str());
        keys.1.push(k.day);
        keys.2.push(k.topic.as_str());
        keys.3.push(k.intent);
        keys.4.push(k.priority.as_str());
        keys.5.push(k.social);
        keys.6.push(k.reach);
        for (col, v) in ints.iter_mut().zip([
            s.cases,
            s.goodwill_cases,
            s.resolved,
            s.sla_met,
            s.sla_breached,
            s.moved_private,
        ]) {
            col.push(v);
        }
        for (col, v) in
            floats
                .iter_mut()
                .zip([s.goodwill_sum, s.goodwill_sq, s.log_res_sum, s.log_res_sq])
        {
            col.push(v);
        }
    }
    sqlx::query(
        "INSERT INTO fairness_rollups_pending (tenant_id, day, topic, intent, priority, social,
                                               reach, cases, goodwill_cases, resolved, sla_met,
                                               sla_breached, moved_private, goodwill_sum,
                                               goodwill_sq, log_res_sum, log_res_sq)
         SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int2[], $5::text[],
                              $6::bool[], $7::int2[], $8::int8[], $9::int8[], $10::int8[],
                              $11::int8[], $12::int8[], $13::int8[], $14::float8[],
                              $15::float8[], $16::float8[], $17::float8[])",
    )
    .bind(&keys.0)
    .bind(&keys.1)
    .bind(&keys.2)
    .bind(&keys.3)
    .bind(&keys.4)
    .bind(&keys.5)
    .bind(&keys.6)
    .bind(&ints[0])
    .bind(&ints[1])
    .bind(&ints[2])
    .bind(&ints[3])
    .bind(&ints[4])
    .bind(&ints[5])
    .bind(&floats[0])
    .bind(&floats[1])
    .bind(&floats[2])
    .bind(&floats[3])
    .execute(conn)
    .await?;
    Ok(())
}

async fn apply_drivers(conn: &mut PgConnection, d: &Deltas) -> Result<(), sqlx::Error> {
    let (mut t, mut day, mut topic, mut intent, mut rule) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut cols: [Vec<i64>; 4] = Default::default();
    for (k, c) in &d.drivers {
        t.push(k.tenant_id.as_str());
        day.push(k.day);
        topic.push(k.topic.as_str());
        intent.push(k.intent);
        rule.push(k.rule_id.as_str());
        for (col, v) in cols.iter_mut().zip(c) {
            col.push(*v);
        }
    }
    sqlx::query(
        "INSERT INTO driver_rollups (tenant_id, day, topic, intent, rule_id,
                                     contacts, recurrent, negative, positive)
         SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int2[], $5::text[],
                              $6::int8[], $7::int8[], $8::int8[], $9::int8[])
         ON CONFLICT (tenant_id, day, topic, intent, rule_id) DO UPDATE SET
             contacts = driver_rollups.contacts + excluded.contacts,
             recurrent = driver_rollups.recurrent + excluded.recurrent,
             negative = driver_rollups.negative + excluded.negative,
             positive = driver_rollups.positive + excluded.positive",
    )
    .bind(&t)
    .bind(&day)
    .bind(&topic)
    .bind(&intent)
    .bind(&rule)
    .bind(&cols[0])
    .bind(&cols[1])
    .bind(&cols[2])
    .bind(&cols[3])
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's rollups recomputed from its facts alone.
pub async fn recompute(conn: &mut PgConnection, tenant_id: &str) -> Result<Deltas, sqlx::Error> {
    let mut d = Deltas::default();
    for f in facts::store::all_cases(conn, tenant_id).await? {
        d.add_case(&f, 1);
    }
    for m in facts::store::all_mentions(conn, tenant_id).await? {
        d.add_mention(&m, 1);
    }
    d.prune();
    Ok(d)
}

/// A tenant's rollups as stored (compacted or pending), without rows that
/// add nothing: the daily tables (`suffix` "") or the monthly ones
/// ("_monthly", which have no resolutions or drivers).
pub async fn read(
    conn: &mut PgConnection,
    tenant_id: &str,
    suffix: &str,
) -> Result<Deltas, sqlx::Error> {
    let mut d = Deltas::default();
    // The deltas not compacted yet count too, by day or by month.
    let day = if suffix.is_empty() {
        "day"
    } else {
        "date_trunc('month', day)::date"
    };
    let with_pending = |table: &str| {
        format!(
            "(SELECT * FROM {table}{suffix} WHERE tenant_id = $1
              UNION ALL SELECT * FROM {table}_pending WHERE tenant_id = $1) AS r"
        )
    };
    let names = CASE_COUNTERS
        .iter()
        .map(|c| format!("sum({c})::int8"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows: Vec<(i16, String, chrono::NaiveDate, Vec<i64>)> = sqlx::query_as(&format!(
        "SELECT dim, value, {day}, ARRAY[{names}] FROM {} GROUP BY 1, 2, 3",
        with_pending("case_rollups")
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    for (dim, value, day, counters) in rows {
        let mut c: CaseCounters = [0; 12];
        c.copy_from_slice(&counters);
        let key = DimKey {
            tenant_id: tenant_id.to_owned(),
            dim,
            value,
            day,
        };
        d.cases.insert(key, c);
    }
    let rows: Vec<(i16, String, i16, chrono::NaiveDate, i16, i64)> = sqlx::query_as(&format!(
        "SELECT dim, value, metric, {day}, bucket, sum(n)::int8 FROM {} GROUP BY 1, 2, 3, 4, 5",
        with_pending("case_durations")
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    for (dim, value, metric, day, bucket, n) in rows {
        let key = DurationKey {
            tenant_id: tenant_id.to_owned(),
            dim,
            value,
            metric,
            day,
            bucket,
        };
        d.durations.insert(key, n);
    }
    if suffix.is_empty() {
        let rows: Vec<(i16, String, chrono::NaiveDate, i64)> =
            sqlx::query_as("SELECT dim, value, day, n FROM case_resolutions WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_all(&mut *conn)
                .await?;
        for (dim, value, day, n) in rows {
            let key = DimKey {
                tenant_id: tenant_id.to_owned(),
                dim,
                value,
                day,
            };
            d.resolutions.insert(key, n);
        }
    }
    type FairRow = (
        chrono::NaiveDate,
        String,
        i16,
        String,
        bool,
        i16,
        Vec<i64>,
        Vec<f64>,
    );
    let rows: Vec<FairRow> = sqlx::query_as(&format!(
        "SELECT {day}, topic, intent, priority, social, reach,
                ARRAY[sum(cases), sum(goodwill_cases), sum(resolved), sum(sla_met),
                      sum(sla_breached), sum(moved_private)]::int8[],
                ARRAY[sum(goodwill_sum), sum(goodwill_sq), sum(log_res_sum), sum(log_res_sq)]
           FROM {} GROUP BY 1, 2, 3, 4, 5, 6",
        with_pending("fairness_rollups")
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    for (day, topic, intent, priority, social, reach, i, f) in rows {
        let key = StratumKey {
            tenant_id: tenant_id.to_owned(),
            day,
            topic,
            intent,
            priority,
            social,
            reach,
        };
        d.fairness.insert(
            key,
            FairnessSums {
                cases: i[0],
                goodwill_cases: i[1],
                resolved: i[2],
                sla_met: i[3],
                sla_breached: i[4],
                moved_private: i[5],
                goodwill_sum: f[0],
                goodwill_sq: f[1],
                log_res_sum: f[2],
                log_res_sq: f[3],
            },
        );
    }
    if suffix.is_empty() {
        let rows: Vec<(chrono::NaiveDate, String, i16, String, Vec<i64>)> = sqlx::query_as(
            "SELECT day, topic, intent, rule_id, ARRAY[contacts, recurrent, negative, positive]
               FROM driver_rollups WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_all(&mut *conn)
        .await?;
        for (day, topic, intent, rule_id, c) in rows {
            let key = DriverDayKey {
                tenant_id: tenant_id.to_owned(),
                day,
                topic,
                intent,
                rule_id,
            };
            d.drivers.insert(key, [c[0], c[1], c[2], c[3]]);
        }
    }
    d.prune();
    Ok(d)
}
