//! Routing's tables: `routing_rules` and `agents`, the loads of agents (open
//! cases assigned to them), and the case columns routing sets.

use chrono::{DateTime, Utc};
use earshot_server::convert::Cursor;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    AgentFilter, AgentInput, AgentLoad, Escalation, NewRule, Roster, RuleChange, RuleInput,
};
use crate::record::store::COLUMNS;
use crate::record::{CaseRow, Versioned};
use crate::vocabulary::{Lane, Priority, Status};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct RuleRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub name: String,
    pub ord: i32,
    pub tiers: Vec<String>,
    pub vip: bool,
    pub min_followers: i64,
    pub topics: Vec<String>,
    pub intents: Vec<i16>,
    pub urgencies: Vec<i16>,
    pub max_sentiment: Option<f64>,
    pub channels: Vec<i16>,
    pub lane: Lane,
    pub priority: Priority,
    pub queue: String,
    pub required_skills: Vec<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    /// A disabled rule routes nothing.
    pub enabled: bool,
}

impl RuleRow {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.created_at,
            id: self.id,
        }
    }
}

const RULE_COLUMNS: &str = "id, tenant_id, name, ord, tiers, vip, min_followers, topics, intents, \
                            urgencies, max_sentiment, channels, lane, priority, queue, \
                            required_skills, version, created_at, enabled";

/// An agent as assignment sees them.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct AgentRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub agent_id: String,
    pub display_name: String,
    pub queues: Vec<String>,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub available: bool,
    pub expert_topics: Vec<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const AGENT_COLUMNS: &str = "id, tenant_id, agent_id, display_name, queues, skills, capacity, \
                             available, expert_topics, version, created_at";

/// The tenants' rules in evaluation order.
pub async fn rules_of(
    conn: &mut PgConnection,
    tenants: &[&str],
) -> Result<Vec<RuleRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules WHERE tenant_id = ANY($1)
          ORDER BY ord, created_at, id"
    ))
    .bind(tenants)
    .fetch_all(conn)
    .await
}

/// The agents of `tenants` in one of `queues` or expert on one of `topics`,
/// locked for assignment, with their loads.
pub async fn roster(
    conn: &mut PgConnection,
    tenants: &[&str],
    queues: &[&str],
    topics: &[&str],
) -> Result<Roster, sqlx::Error> {
    let agents: Vec<AgentRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents
          WHERE tenant_id = ANY($1) AND available
            AND (queues && $2::text[] OR expert_topics && $3::text[])
          ORDER BY tenant_id, agent_id
          FOR UPDATE"
    ))
    .bind(tenants)
    .bind(queues)
    .bind(topics)
    .fetch_all(&mut *conn)
    .await?;
    if agents.is_empty() {
        return Ok(Roster::default());
    }
    let tenant_ids: Vec<&str> = agents.iter().map(|a| a.tenant_id.as_str()).collect();
    let agent_ids: Vec<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
    let loads: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT c.tenant_id, c.assignee, count(*)
           FROM cases c JOIN unnest($1::text[], $2::text[]) AS u(t, a)
             ON c.tenant_id = u.t AND c.assignee = u.a
          WHERE c.assignee IS NOT NULL AND c.status < $3
          GROUP BY c.tenant_id, c.assignee",
    )
    .bind(&tenant_ids)
    .bind(&agent_ids)
    .bind(Status::Resolved)
    .fetch_all(&mut *conn)
    .await?;
    let loads = loads.into_iter().map(|(t, a, n)| ((t, a), n)).collect();
    Ok(Roster::new(agents, &loads))
}

/// Binds a rule's columns as $3..$16 of `query`.
fn bind_rule<'q>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments>,
    r: &'q RuleInput,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, RuleRow, sqlx::postgres::PgArguments> {
    query
        .bind(&r.name)
        .bind(r.ord)
        .bind(&r.tiers)
        .bind(r.vip)
        .bind(r.min_followers)
        .bind(&r.topics)
        .bind(&r.intents)
        .bind(&r.urgencies)
        .bind(r.max_sentiment)
        .bind(&r.channels)
        .bind(r.lane)
        .bind(r.priority)
        .bind(&r.queue)
        .bind(&r.required_skills)
}

/// A new rule, unless one was created under its `request_id` already.
pub async fn insert_rule(
    conn: &mut PgConnection,
    tenant_id: &str,
    new: &NewRule,
) -> Result<Option<RuleRow>, sqlx::Error> {
    let sql = format!(
        "INSERT INTO routing_rules (id, tenant_id, name, ord, tiers, vip, min_followers,
                                    topics, intents, urgencies, max_sentiment, channels,
                                    lane, priority, queue, required_skills, request_id,
                                    created_at, enabled)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                 $17, now(), coalesce($18, true))
         ON CONFLICT ON CONSTRAINT routing_rules_one_per_request DO NOTHING
         RETURNING {RULE_COLUMNS}"
    );
    bind_rule(
        sqlx::query_as(&sql).bind(Uuid::now_v7()).bind(tenant_id),
        &new.rule,
    )
    .bind(&new.request_id)
    .bind(new.rule.enabled)
    .fetch_optional(conn)
    .await
}

pub async fn rule_by_request(
    pool: &PgPool,
    tenant_id: &str,
    request_id: &str,
) -> Result<RuleRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules WHERE tenant_id = $1 AND request_id = $2"
    ))
    .bind(tenant_id)
    .bind(request_id)
    .fetch_one(pool)
    .await
}

/// Replaces a rule at the version read; `None` when it is not (or no longer) there.
pub async fn update_rule(
    conn: &mut PgConnection,
    tenant_id: &str,
    change: &RuleChange,
) -> Result<Option<RuleRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE routing_rules
            SET name = $3, ord = $4, tiers = $5, vip = $6, min_followers = $7, topics = $8,
                intents = $9, urgencies = $10, max_sentiment = $11, channels = $12,
                lane = $13, priority = $14, queue = $15, required_skills = $16,
                enabled = coalesce($18, enabled), version = version + 1
          WHERE tenant_id = $1 AND id = $2 AND version = $17
         RETURNING {RULE_COLUMNS}"
    );
    bind_rule(
        sqlx::query_as(&sql).bind(tenant_id).bind(change.rule_id.id),
        &change.rule,
    )
    .bind(change.rule_id.version)
    .bind(change.rule.enabled)
    .fetch_optional(conn)
    .await
}

/// The version of rule `id`, when the tenant has it.
pub async fn rule_version(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM routing_rules WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Deletes a rule at the version read; false when it is not (or no longer) there.
pub async fn delete_rule(
    conn: &mut PgConnection,
    tenant_id: &str,
    rule: Versioned,
) -> Result<bool, sqlx::Error> {
    let deleted =
        sqlx::query("DELETE FROM routing_rules WHERE tenant_id = $1 AND id = $2 AND version = $3")
            .bind(tenant_id)
            .bind(rule.id)
            .bind(rule.version)
            .execute(conn)
            .await?
            .rows_affected();
    Ok(deleted > 0)
}

pub async fn list_rules(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<RuleRow>, sqlx::Error> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
          ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// A new agent; `None` when the tenant has one by that id already.
pub async fn insert_agent(
    conn: &mut PgConnection,
    tenant_id: &str,
    a: &AgentInput,
) -> Result<Option<AgentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO agents (tenant_id, agent_id, id, display_name, queues, skills, capacity,
                             available, expert_topics, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
         ON CONFLICT (tenant_id, agent_id) DO NOTHING
         RETURNING {AGENT_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(&a.agent_id)
    .bind(Uuid::now_v7())
    .bind(&a.display_name)
    .bind(&a.queues)
    .bind(&a.skills)
    .bind(a.capacity)
    .bind(a.available)
    .bind(&a.expert_topics)
    .fetch_optional(conn)
    .await
}

/// Replaces an agent at the version read; `None` when it is not at that version.
pub async fn update_agent(
    conn: &mut PgConnection,
    tenant_id: &str,
    a: &AgentInput,
) -> Result<Option<AgentRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE agents
            SET display_name = $4, queues = $5, skills = $6, capacity = $7, available = $8,
                expert_topics = $9, version = version + 1
          WHERE tenant_id = $1 AND agent_id = $2 AND version = $3
         RETURNING {AGENT_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(&a.agent_id)
    .bind(a.version)
    .bind(&a.display_name)
    .bind(&a.queues)
    .bind(&a.skills)
    .bind(a.capacity)
    .bind(a.available)
    .bind(&a.expert_topics)
    .fetch_optional(conn)
    .await
}

pub async fn get_agent(
    pool: &PgPool,
    tenant_id: &str,
    agent_id: &str,
) -> Result<AgentRow, earshot_server::ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant_id = $1 AND agent_id = $2"
    ))
    .bind(tenant_id)
    .bind(agent_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| earshot_server::ServiceError::NotFound(format!("agent {agent_id}")))
}

/// Agent `agent_id` of the tenant, locked (so concurrent assignments to them
/// count each other), with their open cases.
pub async fn lock_agent_load(
    conn: &mut PgConnection,
    tenant_id: &str,
    agent_id: &str,
) -> Result<Option<AgentLoad>, sqlx::Error> {
    let row: Option<AgentLoadRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS},
                (SELECT count(*) FROM cases c
                  WHERE c.tenant_id = agents.tenant_id AND c.assignee = agents.agent_id
                    AND c.assignee IS NOT NULL AND c.status < $3) AS open_cases
           FROM agents WHERE tenant_id = $1 AND agent_id = $2
            FOR UPDATE"
    ))
    .bind(tenant_id)
    .bind(agent_id)
    .bind(Status::Resolved)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| AgentLoad {
        agent: r.agent,
        open_cases: r.open_cases,
    }))
}

/// The topics agent `agent_id` is an expert on, when the tenant has them.
pub async fn expert_topics(
    conn: &mut PgConnection,
    tenant_id: &str,
    agent_id: &str,
) -> Result<Option<Vec<String>>, sqlx::Error> {
    sqlx::query_scalar("SELECT expert_topics FROM agents WHERE tenant_id = $1 AND agent_id = $2")
        .bind(tenant_id)
        .bind(agent_id)
        .fetch_optional(conn)
        .await
}

/// Open cases assigned to an agent now.
pub async fn open_cases(
    pool: &PgPool,
    tenant_id: &str,
    agent_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM cases
          WHERE tenant_id = $1 AND assignee = $2 AND assignee IS NOT NULL AND status < $3",
    )
    .bind(tenant_id)
    .bind(agent_id)
    .bind(Status::Resolved)
    .fetch_one(pool)
    .await
}

#[derive(sqlx::FromRow)]
struct AgentLoadRow {
    #[sqlx(flatten)]
    agent: AgentRow,
    open_cases: i64,
}

/// Agents with their open cases, in creation order.
pub async fn list_agents(
    pool: &PgPool,
    tenant_id: &str,
    f: &AgentFilter,
) -> Result<Vec<AgentLoad>, sqlx::Error> {
    let at = f.after.as_ref().map(|c| c.at);
    let after_id = f.after.as_ref().map(|c| c.id);
    let rows: Vec<AgentLoadRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS},
                (SELECT count(*) FROM cases c
                  WHERE c.tenant_id = agents.tenant_id AND c.assignee = agents.agent_id
                    AND c.assignee IS NOT NULL AND c.status < $7) AS open_cases
           FROM agents
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR $2 = ANY(queues))
            AND ($3::text IS NULL OR $3 = ANY(expert_topics))
            AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5))
          ORDER BY created_at, id LIMIT $6"
    ))
    .bind(tenant_id)
    .bind(&f.queue)
    .bind(&f.expert_topic)
    .bind(at)
    .bind(after_id)
    .bind(f.limit)
    .bind(Status::Resolved)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| AgentLoad {
            agent: r.agent,
            open_cases: r.open_cases,
        })
        .collect())
}

/// Sets a locked case's assignee and bumps its version.
pub async fn set_assignee(
    conn: &mut PgConnection,
    id: Uuid,
    agent: &str,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET assignee = $2, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(agent)
    .fetch_one(conn)
    .await
}

/// Adds an expert to a locked case and bumps its version.
pub async fn add_expert(
    conn: &mut PgConnection,
    id: Uuid,
    agent: &str,
) -> Result<CaseRow, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE cases SET experts = array_append(experts, $2), version = version + 1,
                          updated_at = now()
          WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(agent)
    .fetch_one(conn)
    .await
}

/// A case an escalation reached, locked, as it was.
#[derive(Debug, sqlx::FromRow)]
pub struct Escalated {
    pub tenant_id: String,
    pub id: Uuid,
    pub status: Status,
    pub priority: Priority,
    pub lane: Lane,
    pub reason: String,
}

/// Locks the active cases `escalations` reach: the one named, else the one
/// holding the escalated mention; each once, with the first reason for it.
pub async fn lock_escalated(
    conn: &mut PgConnection,
    escalations: &[Escalation],
) -> Result<Vec<Escalated>, sqlx::Error> {
    let tenants: Vec<&str> = escalations.iter().map(|e| e.tenant_id.as_str()).collect();
    let case_ids: Vec<Option<Uuid>> = escalations.iter().map(|e| e.case_id).collect();
    let mentions: Vec<&str> = escalations.iter().map(|e| e.mention_id.as_str()).collect();
    let reasons: Vec<&str> = escalations.iter().map(|e| e.reason.as_str()).collect();
    sqlx::query_as(
        "WITH u AS (
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[])
                    WITH ORDINALITY AS u(t, case_id, mention_id, reason, i)
         ), target AS (
             SELECT DISTINCT ON (c.id) c.id, u.reason
               FROM u
               JOIN cases c ON c.tenant_id = u.t
                AND (c.id = u.case_id
                     OR (u.case_id IS NULL AND u.mention_id <> '' AND c.id =
                         (SELECT m.case_id FROM case_messages m
                           WHERE m.tenant_id = u.t AND m.mention_id = u.mention_id)))
              WHERE c.status < $5
              ORDER BY c.id, u.i
         )
         SELECT c.tenant_id, c.id, c.status, c.priority, c.lane, target.reason
           FROM cases c JOIN target USING (id)
          ORDER BY c.id
            FOR UPDATE OF c",
    )
    .bind(&tenants)
    .bind(&case_ids)
    .bind(&mentions)
    .bind(&reasons)
    .bind(Status::Resolved)
    .fetch_all(conn)
    .await
}

/// Sets `priorities[i]` and `lane` on locked cases `ids[i]`, bumping their
/// versions; answers the new versions in order.
pub async fn raise(
    conn: &mut PgConnection,
    ids: &[Uuid],
    priorities: &[Priority],
    lane: Lane,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "UPDATE cases c
            SET priority = u.priority, lane = $3, version = c.version + 1, updated_at = now()
           FROM unnest($1::uuid[], $2::text[]) AS u(id, priority)
          WHERE c.id = u.id
         RETURNING c.id, c.version",
    )
    .bind(ids)
    .bind(priorities)
    .bind(lane)
    .fetch_all(conn)
    .await?;
    Ok(ids
        .iter()
        .map(|id| {
            rows.iter()
                .find(|(r, _)| r == id)
                .map_or(0, |(_, version)| *version)
        })
        .collect())
}
