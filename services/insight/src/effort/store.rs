//! Customer effort's reads of `case_facts` (by `case_facts_by_opened`) and
//! `driver_rollups`.

use earshot_proto::insight::v1::Dimension;
use sqlx::PgPool;

use super::EffortSums;
use crate::facts::channel_word;
use crate::range::Days;

/// The columns a dimension groups by: the channel (shown by its word) or a
/// text column; neither for all cases.
fn group_columns(dim: Dimension) -> (&'static str, &'static str) {
    match dim {
        Dimension::Unspecified => ("NULL::int2", "''::text"),
        Dimension::Channel => ("channel", "''::text"),
        Dimension::Lane => ("NULL::int2", "lane"),
        Dimension::Queue => ("NULL::int2", "queue"),
        Dimension::Topic => ("NULL::int2", "topic"),
        Dimension::Agent => ("NULL::int2", "agent"),
        Dimension::Priority => ("NULL::int2", "priority"),
    }
}

/// Sums over the resolved, unmerged cases opened in `days`, per group.
pub async fn groups(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
    dim: Dimension,
) -> Result<Vec<EffortSums>, sqlx::Error> {
    let (channel, value) = group_columns(dim);
    let rows: Vec<(Option<i16>, String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT {channel}, {value}, count(*)::int8, sum(inbound_messages)::int8,
                sum(channel_switches)::int8, count(*) FILTER (WHERE reopens > 0)::int8
           FROM case_facts
          WHERE tenant_id = $1
            AND opened_at >= $2::date::timestamp AT TIME ZONE 'UTC'
            AND opened_at < ($3::date + 1)::timestamp AT TIME ZONE 'UTC'
            AND resolved_at IS NOT NULL AND NOT merged
          GROUP BY 1, 2"
    ))
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(channel, value, resolved, inbound, channel_switches, reopened)| EffortSums {
                key: channel.map_or(value, channel_word),
                resolved,
                inbound,
                channel_switches,
                reopened,
            },
        )
        .collect())
}

/// Repeat contacts and all contacts of the mentions posted in `days`.
pub async fn repeat_contacts(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT coalesce(sum(recurrent), 0)::int8, coalesce(sum(contacts), 0)::int8
           FROM driver_rollups WHERE tenant_id = $1 AND day BETWEEN $2 AND $3",
    )
    .bind(tenant_id)
    .bind(days.from)
    .bind(days.to)
    .fetch_one(pool)
    .await
}
