//! The `cases` table: reading case rows, locking one for a change with the
//! version its caller read, bumping its version, committing a change with
//! its audit entry and `CaseUpdated`, and reading cases' facts for the events
//! that tell them.

use std::collections::HashMap;

use earshot_outbox::Outbox;
use earshot_proto::case::v1::Consent;
use earshot_proto::events::v1::{CaseFacts, Event};
use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::facts::{self, FactsRow};
use super::{CaseRow, Versioned, case_updated};
use crate::audit::{self, Record};
use crate::vocabulary::{Direction, Status};

/// The columns of [`CaseRow`], unqualified.
pub const COLUMNS: &str = "id, status, channel, subject, customer_handle, mention_id, thread_key, \
                       priority, version, opened_at, updated_at, customer_id, topic, merged_into, \
                       resolved_at, lane, queue, assignee, required_skills, experts, \
                       routing_rule_id, sla_due_at, claimed_by, claim_expires_at, \
                       resolution_code, csat, csat_comment, topics";

/// A case row with its tenant, for statements spanning tenants.
#[derive(sqlx::FromRow)]
pub struct TenantCaseRow {
    pub tenant_id: String,
    #[sqlx(flatten)]
    pub case: CaseRow,
}

pub fn cursor(row: &CaseRow) -> Cursor {
    Cursor {
        at: row.opened_at,
        id: row.id,
    }
}

pub async fn get(pool: &PgPool, tenant_id: &str, id: Uuid) -> Result<CaseRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))
}

/// Newest first, optionally only in `status`, after `cursor` when given.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    status: Option<Status>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<CaseRow>, ServiceError> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases
          WHERE tenant_id = $1
            AND ($2::int2 IS NULL OR status = $2)
            AND ($3::timestamptz IS NULL OR (opened_at, id) < ($3, $4))
          ORDER BY opened_at DESC, id DESC
          LIMIT $5"
    ))
    .bind(tenant_id)
    .bind(status)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Locks a case of the tenant for a change without a version to check (a
/// survey's score has none).
pub async fn lock_unversioned(
    conn: &mut PgConnection,
    tenant_id: &str,
    id: Uuid,
) -> Result<CaseRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))
}

/// Locks a case of the tenant for a change, checking the version read.
pub async fn lock(
    conn: &mut PgConnection,
    tenant_id: &str,
    case: Versioned,
) -> Result<CaseRow, ServiceError> {
    let current = lock_unversioned(conn, tenant_id, case.id).await?;
    if current.version != case.version {
        return Err(ServiceError::Aborted(format!(
            "case {} changed since version {}; it is at version {}: read it again",
            case.id, case.version, current.version
        )));
    }
    Ok(current)
}

/// Locks two cases in id order (so two opposite merges cannot deadlock),
/// answering them in the order asked.
pub async fn lock_pair(
    conn: &mut PgConnection,
    tenant_id: &str,
    a: Versioned,
    b: Versioned,
) -> Result<(CaseRow, CaseRow), ServiceError> {
    let (first, second) = if a.id < b.id { (a, b) } else { (b, a) };
    let first = lock(conn, tenant_id, first).await?;
    let second = lock(conn, tenant_id, second).await?;
    Ok(if first.id == a.id {
        (first, second)
    } else {
        (second, first)
    })
}

/// Bumps the version of case `id`, for a change to what hangs off it.
pub async fn bump(conn: &mut PgConnection, id: Uuid) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Sets a locked case's status (the caller checked the move) and bumps its version.
pub async fn set_status(
    conn: &mut PgConnection,
    id: Uuid,
    to: Status,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET status = $2, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(to)
    .fetch_one(conn)
    .await
}

/// Audits `record` of the updated case `row`, tells subscribers the case
/// changed, and commits.
pub async fn commit_update(
    mut tx: Transaction<'_, Postgres>,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    row: CaseRow,
    record: Record,
) -> Result<CaseRow, ServiceError> {
    audit::store::append(&mut tx, tenant_id, actor, &[record]).await?;
    enqueue(
        &mut tx,
        outbox,
        vec![case_updated(tenant_id, row.id, row.status, row.version)],
    )
    .await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

/// Re-points the cases of customer `from` at `to` (a customer merge), each
/// bumping its version; answers each case's id, new version and status.
pub async fn repoint_customer(
    conn: &mut PgConnection,
    tenant_id: &str,
    from: Uuid,
    to: Uuid,
) -> Result<Vec<(Uuid, i64, Status)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE cases SET customer_id = $3, version = version + 1, updated_at = now()
          WHERE tenant_id = $1 AND customer_id = $2
         RETURNING id, version, status",
    )
    .bind(tenant_id)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// Enqueues `events` in the caller's transaction, after the change they tell:
/// each `CaseOpened` and `CaseUpdated` carries its case's facts as the
/// change left them, read for the whole batch at once. The one way the
/// service enqueues, so no case event leaves without its facts.
pub async fn enqueue(
    conn: &mut PgConnection,
    outbox: &Outbox,
    mut events: Vec<Event>,
) -> Result<(), sqlx::Error> {
    let told = facts::told(&events);
    if !told.is_empty() {
        let found = self::facts(conn, &told).await?;
        facts::attach(&mut events, &found);
    }
    outbox.enqueue(conn, events).await
}

/// The facts of cases, each named with its tenant (a batch of events may
/// span tenants), in one statement whatever their number. Counts come from
/// the case's messages, goodwill and clocks as they are now; the agent is
/// the assignee, else whoever replied first; channel switches are the
/// customer's messages on another channel than their message before.
pub async fn facts(
    conn: &mut PgConnection,
    cases: &[(String, Uuid)],
) -> Result<HashMap<Uuid, CaseFacts>, sqlx::Error> {
    if cases.is_empty() {
        return Ok(HashMap::new());
    }
    let tenants: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let ids: Vec<Uuid> = cases.iter().map(|(_, id)| *id).collect();
    let rows: Vec<FactsRow> = sqlx::query_as(
        "WITH told AS (
             SELECT DISTINCT * FROM unnest($1::text[], $2::uuid[]) AS u(tenant_id, id)
         )
         SELECT c.id, c.version, c.status, c.channel, c.public, c.topic, c.intent, c.priority,
                c.lane, c.queue, c.assignee, msgs.first_responder, c.customer_id, c.followers,
                coalesce(cu.vip, false) AS vip, c.mention_id, c.opened_at,
                msgs.first_response_at,
                business_seconds(c.tenant_id, c.opened_at, msgs.first_response_at)
                    AS first_response_business_secs,
                c.resolved_at,
                business_seconds(c.tenant_id, c.opened_at, c.resolved_at)
                    AS resolution_business_secs,
                c.reopens, msgs.replies, msgs.inbound_messages, msgs.channel_switches,
                msgs.answered_privately, clocks.sla_targets, clocks.sla_states, clocks.sla_due,
                goodwill.goodwill_gestures, goodwill.goodwill_minor, c.csat,
                coalesce(cu.consent = $5, false) AS consent_granted, c.merged_into
           FROM told
           JOIN cases c ON c.tenant_id = told.tenant_id AND c.id = told.id
           LEFT JOIN customers cu ON cu.id = c.customer_id
          CROSS JOIN LATERAL (
              SELECT count(*) FILTER (WHERE m.direction = $3) AS replies,
                     count(*) FILTER (WHERE m.direction = $4) AS inbound_messages,
                     count(*) FILTER (WHERE m.direction = $4
                                        AND m.channel <> m.previous_channel)
                         AS channel_switches,
                     coalesce(bool_or(m.direction = $3 AND NOT m.public), false)
                         AS answered_privately,
                     min(m.posted_at) FILTER (WHERE m.direction = $3) AS first_response_at,
                     (array_agg(m.author ORDER BY m.posted_at, m.created_at, m.id)
                         FILTER (WHERE m.direction = $3))[1] AS first_responder
                FROM (SELECT direction, channel, public, author, posted_at, created_at, id,
                             lag(channel) OVER (PARTITION BY direction
                                                ORDER BY posted_at, id) AS previous_channel
                        FROM case_messages
                       WHERE tenant_id = c.tenant_id AND case_id = c.id) m
          ) msgs
          CROSS JOIN LATERAL (
              SELECT coalesce(array_agg(t.target ORDER BY t.target), '{}') AS sla_targets,
                     coalesce(array_agg(t.state ORDER BY t.target), '{}') AS sla_states,
                     coalesce(array_agg(t.due_at ORDER BY t.target), '{}') AS sla_due
                FROM case_sla_timers t WHERE t.case_id = c.id
          ) clocks
          CROSS JOIN LATERAL (
              SELECT count(*) AS goodwill_gestures,
                     coalesce(sum(g.amount_minor), 0)::int8 AS goodwill_minor
                FROM goodwill_gestures g WHERE g.case_id = c.id
          ) goodwill",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(Direction::Outbound)
    .bind(Direction::Inbound)
    .bind(Consent::Granted as i16)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, CaseFacts::from(r)))
        .collect())
}
