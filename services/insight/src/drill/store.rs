//! Drill-down reads of `case_facts` and `mention_facts`, newest first.

use chrono::{DateTime, Utc};
use earshot_proto::insight::v1::Dimension;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::{Cases, Mentions, channel_of};
use crate::facts::store::{CASE_COLUMNS, MENTION_COLUMNS};
use crate::facts::{CaseFact, MentionFact, SLA_BREACHED};

/// The cases a filter keeps, `limit` after `after` (opened_at, case_id).
pub async fn cases(
    pool: &PgPool,
    tenant_id: &str,
    f: &Cases,
    after: (Option<DateTime<Utc>>, Option<Uuid>),
    limit: i64,
) -> Result<Vec<CaseFact>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {CASE_COLUMNS} FROM case_facts WHERE tenant_id = "
    ));
    q.push_bind(tenant_id)
        .push(" AND NOT merged AND opened_at >= ")
        .push_bind(f.days.start())
        .push(" AND opened_at < ")
        .push_bind(f.days.end());
    if let Some((dim, value)) = &f.dimension {
        let column = match dim {
            Dimension::Unspecified => None,
            Dimension::Channel => {
                q.push(" AND channel = ")
                    .push_bind(channel_of(value).unwrap_or(0));
                None
            }
            Dimension::Lane => Some("lane"),
            Dimension::Queue => Some("queue"),
            Dimension::Topic => Some("topic"),
            Dimension::Agent => Some("agent"),
            Dimension::Priority => Some("priority"),
        };
        if let Some(column) = column {
            q.push(format!(" AND {column} = ")).push_bind(value.clone());
        }
    }
    if let Some((topic, intent)) = &f.driver {
        q.push(" AND topic = ")
            .push_bind(topic.clone())
            .push(" AND intent = ")
            .push_bind(*intent);
    }
    if let Some(slot) = f.sla_breached {
        let column = ["sla_first_response", "sla_next_response", "sla_resolution"][slot];
        q.push(format!(" AND {column} = ")).push_bind(SLA_BREACHED);
    }
    if f.reopened_only {
        q.push(" AND reopens > 0");
    }
    if f.goodwill_only {
        q.push(" AND goodwill_gestures > 0");
    }
    if let (Some(at), Some(id)) = after {
        q.push(" AND (opened_at, case_id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY opened_at DESC, case_id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}

/// The mentions a filter keeps, `limit` after `after` (posted_at, mention_id).
pub async fn mentions(
    pool: &PgPool,
    tenant_id: &str,
    f: &Mentions,
    after: (Option<DateTime<Utc>>, Option<Uuid>),
    limit: i64,
) -> Result<Vec<MentionFact>, sqlx::Error> {
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {MENTION_COLUMNS} FROM mention_facts WHERE tenant_id = "
    ));
    q.push_bind(tenant_id)
        .push(" AND posted_at >= ")
        .push_bind(f.days.start())
        .push(" AND posted_at < ")
        .push_bind(f.days.end());
    if let Some(k) = &f.driver {
        q.push(" AND topic = ")
            .push_bind(k.topic.clone())
            .push(" AND intent = ")
            .push_bind(i16::try_from(k.intent).unwrap_or(0));
        if !k.rule_id.is_empty() {
            q.push(" AND rule_id = ").push_bind(k.rule_id.clone());
        }
    }
    if f.recurrent_only {
        q.push(" AND recurrent");
    }
    if f.negative_only {
        q.push(" AND sentiment <= ")
            .push_bind(crate::facts::NEGATIVE_BELOW);
    }
    if let (Some(at), Some(id)) = after {
        q.push(" AND (posted_at, mention_id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    q.push(" ORDER BY posted_at DESC, mention_id DESC LIMIT ")
        .push_bind(limit);
    q.build_query_as().fetch_all(pool).await
}
