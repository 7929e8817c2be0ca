//! Drivers' reads of `driver_rollups`.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;

use super::DriverSums;
use crate::range::Days;

/// Every driver with contacts in the range or the one before, summed.
pub async fn sums(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    previous: Days,
) -> Result<Vec<DriverSums>, sqlx::Error> {
    let rows: Vec<(String, i16, String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT topic, intent, rule_id,
                coalesce(sum(contacts) FILTER (WHERE day >= $2), 0)::int8,
                coalesce(sum(recurrent) FILTER (WHERE day >= $2), 0)::int8,
                coalesce(sum(negative) FILTER (WHERE day >= $2), 0)::int8,
                coalesce(sum(contacts) FILTER (WHERE day < $2), 0)::int8
           FROM driver_rollups
          WHERE tenant_id = $1 AND day BETWEEN $3 AND $4
          GROUP BY topic, intent, rule_id",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(previous.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(topic, intent, rule_id, contacts, recurrent, negative, previous)| DriverSums {
                topic,
                intent,
                rule_id,
                contacts,
                recurrent,
                negative,
                previous,
            },
        )
        .collect())
}

pub type Series = HashMap<(String, i32, String), BTreeMap<NaiveDate, i64>>;

/// Contacts per day of the range for the drivers named.
pub async fn daily(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    keys: &[pb::DriverKey],
) -> Result<Series, sqlx::Error> {
    if keys.is_empty() {
        return Ok(Series::new());
    }
    let topics: Vec<&str> = keys.iter().map(|k| k.topic.as_str()).collect();
    let intents: Vec<i16> = keys
        .iter()
        .map(|k| i16::try_from(k.intent).unwrap_or(0))
        .collect();
    let rules: Vec<&str> = keys.iter().map(|k| k.rule_id.as_str()).collect();
    let rows: Vec<(String, i16, String, NaiveDate, i64)> = sqlx::query_as(
        "SELECT r.topic, r.intent, r.rule_id, r.day, r.contacts
           FROM driver_rollups r
           JOIN unnest($4::text[], $5::int2[], $6::text[]) AS k(topic, intent, rule_id)
             ON (r.topic, r.intent, r.rule_id) = (k.topic, k.intent, k.rule_id)
          WHERE r.tenant_id = $1 AND r.day BETWEEN $2 AND $3",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .bind(&topics)
    .bind(&intents)
    .bind(&rules)
    .fetch_all(pool)
    .await?;
    let mut out = Series::new();
    for (topic, intent, rule_id, day, n) in rows {
        *out.entry((topic, i32::from(intent), rule_id))
            .or_default()
            .entry(day)
            .or_default() += n;
    }
    Ok(out)
}
