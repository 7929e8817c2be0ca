//! The work queue: a tenant's cases by SLA due time (breached ones first,
//! since their due time has passed, then the soonest due, then cases with no
//! clock running), with filters, paginated by a keyset on (due time, id).

use chrono::{DateTime, Utc};
use earshot_proto::case::v1::{CaseStatus, Lane, ListQueueRequest};
use earshot_proto::common::v1::Channel;
use earshot_server::convert::{Cursor, page_size};
use earshot_server::{FieldViolations, ServiceError};
use sqlx::PgPool;
use uuid::Uuid;

use crate::cases::{COLUMNS, CaseRow};
use crate::routing::{PRIORITIES, valid_agent_id, valid_key};

/// The cursor time of cases with no clock running, which sort last. Far past
/// any real due time (those are at most 90 days ahead).
fn no_due() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A checked queue request.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub statuses: Vec<i16>,
    pub lane: Option<i16>,
    pub priority: Option<String>,
    pub queue: Option<String>,
    pub assignee: Option<String>,
    pub unassigned: bool,
    pub channel: Option<i16>,
    pub topic: Option<String>,
    pub customer_id: Option<Uuid>,
}

fn key(raw: &str, field: &str, v: &mut FieldViolations) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    v.check(
        !valid_key(raw),
        field,
        "must be 1 to 64 lower-case letters, digits, _ or -",
    );
    Some(raw.to_owned())
}

/// Adds the field violations of `e` to `v`.
fn absorb(v: &mut FieldViolations, e: ServiceError) {
    if let ServiceError::InvalidArgument(more) = e {
        for f in more.iter() {
            v.add(f.field.clone(), f.description.clone());
        }
    }
}

pub fn validate(req: &ListQueueRequest) -> Result<(Filter, i64, Option<Cursor>), ServiceError> {
    let mut v = FieldViolations::new();
    let mut statuses = Vec::new();
    for (i, s) in req.statuses.iter().enumerate() {
        match CaseStatus::try_from(*s) {
            Ok(CaseStatus::Unspecified) | Err(_) => {
                v.add(format!("statuses[{i}]"), "must be a known case status");
            }
            Ok(status) => statuses.push(status as i16),
        }
    }
    let lane = match Lane::try_from(req.lane) {
        Ok(Lane::Unspecified) => None,
        Ok(lane) => Some(lane as i16),
        Err(_) => {
            v.add("lane", "must be STANDARD or FAST");
            None
        }
    };
    let priority = (!req.priority.is_empty()).then(|| req.priority.clone());
    v.check(
        priority
            .as_deref()
            .is_some_and(|p| !PRIORITIES.contains(&p)),
        "priority",
        "must be low, normal, high or urgent",
    );
    let queue = key(&req.queue, "queue", &mut v);
    let assignee = (!req.assignee.is_empty()).then(|| req.assignee.clone());
    v.check(
        assignee.as_deref().is_some_and(|a| !valid_agent_id(a)),
        "assignee",
        "must be an agent id",
    );
    v.check(
        assignee.is_some() && req.unassigned,
        "unassigned",
        "cannot be combined with assignee",
    );
    let channel = match Channel::try_from(req.channel) {
        Ok(Channel::Unspecified) => None,
        Ok(channel) => Some(channel as i16),
        Err(_) => {
            v.add("channel", "must be a known channel");
            None
        }
    };
    let topic = key(&req.topic, "topic", &mut v);
    let customer_id = if req.customer_id.is_empty() {
        None
    } else {
        v.id(&req.customer_id, "customer_id")
    };
    let limit = page_size(req.page_size).map_err(|e| absorb(&mut v, e)).ok();
    let after = Cursor::decode(&req.page_token)
        .map_err(|e| absorb(&mut v, e))
        .ok();
    v.into_result()?;
    Ok((
        Filter {
            statuses,
            lane,
            priority,
            queue,
            assignee,
            unassigned: req.unassigned,
            channel,
            topic,
            customer_id,
        },
        limit.unwrap_or(50),
        after.flatten(),
    ))
}

/// The next page's cursor: where this page ended.
pub fn cursor(row: &CaseRow) -> Cursor {
    Cursor {
        at: row.sla_due_at.unwrap_or_else(no_due),
        id: row.id,
    }
}

/// One page of the queue: cases with a clock by due time, then (once those
/// run out) cases without one by id. Each part is an ordered range scan of
/// the queue index, so deep pages cost what the first does.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    f: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<CaseRow>, ServiceError> {
    let in_tail = after.as_ref().is_some_and(|c| c.at >= no_due());
    let mut rows = if in_tail {
        Vec::new()
    } else {
        page(pool, tenant_id, f, after.as_ref(), false, limit).await?
    };
    let left = limit - rows.len() as i64;
    if left > 0 {
        let tail_after = after.as_ref().filter(|_| in_tail);
        rows.extend(page(pool, tenant_id, f, tail_after, true, left).await?);
    }
    Ok(rows)
}

/// Cases with a due time after `after` (`tail` false), or without one after
/// `after`'s id (`tail` true).
async fn page(
    pool: &PgPool,
    tenant_id: &str,
    f: &Filter,
    after: Option<&Cursor>,
    tail: bool,
    limit: i64,
) -> Result<Vec<CaseRow>, ServiceError> {
    // Literal when unfiltered, so the partial queue index applies.
    let statuses = if f.statuses.is_empty() {
        "status < 5"
    } else {
        "status = ANY($2)"
    };
    let (range, order) = match (tail, after.is_some()) {
        (false, false) => ("sla_due_at IS NOT NULL", "sla_due_at, id"),
        (false, true) => ("(sla_due_at, id) > ($11, $12)", "sla_due_at, id"),
        (true, false) => ("sla_due_at IS NULL", "id"),
        (true, true) => ("sla_due_at IS NULL AND id > $12", "id"),
    };
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases
          WHERE tenant_id = $1 AND {statuses} AND {range}
            AND ($3::int2 IS NULL OR lane = $3)
            AND ($4::text IS NULL OR priority = $4)
            AND ($5::text IS NULL OR queue = $5)
            AND ($6::text IS NULL OR assignee = $6)
            AND (NOT $7 OR assignee IS NULL)
            AND ($8::int2 IS NULL OR channel = $8)
            AND ($9::text IS NULL OR topic = $9)
            AND ($10::uuid IS NULL OR customer_id = $10)
            -- Types $11 and $12 when the range does not use them.
            AND ($11::timestamptz IS NULL OR $12::uuid IS NOT NULL)
          ORDER BY {order}
          LIMIT $13"
    ))
    .bind(tenant_id)
    .bind(&f.statuses)
    .bind(f.lane)
    .bind(&f.priority)
    .bind(&f.queue)
    .bind(&f.assignee)
    .bind(f.unassigned)
    .bind(f.channel)
    .bind(&f.topic)
    .bind(f.customer_id)
    .bind(after.map(|c| c.at))
    .bind(after.map(|c| c.id))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_filter_is_named() {
        let err = validate(&ListQueueRequest {
            statuses: vec![0, 42],
            lane: 9,
            priority: "soon".into(),
            queue: "Front Desk".into(),
            assignee: "ann".into(),
            unassigned: true,
            channel: 99,
            topic: "?".into(),
            customer_id: "nope".into(),
            page_size: 9999,
            page_token: "garbage".into(),
        })
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "statuses[0]",
            "statuses[1]",
            "lane",
            "priority",
            "queue",
            "unassigned",
            "channel",
            "topic",
            "customer_id",
            "page_size",
            "page_token",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
    }

    #[test]
    fn cases_without_a_clock_page_after_every_due_time() {
        let due = Utc::now();
        assert!(no_due() > due + chrono::Duration::days(3650));
        let token = Cursor {
            at: no_due(),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&token.encode()).expect("round trip"),
            Some(token)
        );
    }
}
