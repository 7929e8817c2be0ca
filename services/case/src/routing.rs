//! The fast lane: per-tenant routing rules decide a new case's lane, priority,
//! queue and required skills from what is known about the customer and what
//! they said; agents take cases by least load within their capacity. The
//! decisions are pure functions; the storage is below them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_proto::case::v1::{
    Agent, CreateRoutingRuleRequest, Lane, PutAgentRequest, RoutingConditions, RoutingRule,
};
use earshot_proto::common::v1::{Channel, Intent, Urgency};
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, ServiceError};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit;

/// Queue of cases no rule routed.
pub const DEFAULT_QUEUE: &str = "general";
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];
const MAX_LIST: usize = 50;

/// What routing knows about a new case.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub tier: &'a str,
    pub vip: bool,
    pub followers: i64,
    pub topics: Vec<&'a str>,
    pub intent: i16,
    pub urgencies: Vec<i16>,
    pub sentiment: Option<f64>,
    pub channel: i16,
}

/// Where a case goes and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub rule_id: Option<Uuid>,
    pub lane: Lane,
    pub priority: String,
    pub queue: String,
    pub required_skills: Vec<String>,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            rule_id: None,
            lane: Lane::Standard,
            priority: crate::cases::DEFAULT_PRIORITY.to_owned(),
            queue: DEFAULT_QUEUE.to_owned(),
            required_skills: Vec::new(),
        }
    }
}

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
    pub lane: i16,
    pub priority: String,
    pub queue: String,
    pub required_skills: Vec<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
}

const RULE_COLUMNS: &str = "id, tenant_id, name, ord, tiers, vip, min_followers, topics, intents, \
                            urgencies, max_sentiment, channels, lane, priority, queue, \
                            required_skills, version, created_at";

impl RuleRow {
    /// Whether every condition of the rule holds for `facts`.
    pub fn matches(&self, f: &Facts<'_>) -> bool {
        (self.tiers.is_empty() || self.tiers.iter().any(|t| t == f.tier))
            && (!self.vip || f.vip)
            && f.followers >= self.min_followers
            && (self.topics.is_empty()
                || self.topics.iter().any(|t| f.topics.contains(&t.as_str())))
            && (self.intents.is_empty() || self.intents.contains(&f.intent))
            && (self.urgencies.is_empty() || self.urgencies.iter().any(|u| f.urgencies.contains(u)))
            && self
                .max_sentiment
                .is_none_or(|max| f.sentiment.is_some_and(|s| s <= max))
            && (self.channels.is_empty() || self.channels.contains(&f.channel))
    }

    fn decision(&self) -> Decision {
        Decision {
            rule_id: Some(self.id),
            lane: Lane::try_from(i32::from(self.lane)).unwrap_or(Lane::Standard),
            priority: self.priority.clone(),
            queue: self.queue.clone(),
            required_skills: self.required_skills.clone(),
        }
    }
}

/// The decision of the first rule (in evaluation order) that matches, else the defaults.
pub fn route(rules: &[RuleRow], facts: &Facts<'_>) -> Decision {
    rules
        .iter()
        .find(|r| r.matches(facts))
        .map(RuleRow::decision)
        .unwrap_or_default()
}

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

/// Agents of a tenant with their current load; assignment adds to it.
#[derive(Debug, Default)]
pub struct Roster {
    agents: Vec<(AgentRow, i64)>,
}

impl Roster {
    pub fn new(agents: Vec<AgentRow>, loads: &HashMap<(String, String), i64>) -> Self {
        Self {
            agents: agents
                .into_iter()
                .map(|a| {
                    let load = loads
                        .get(&(a.tenant_id.clone(), a.agent_id.clone()))
                        .copied()
                        .unwrap_or(0);
                    (a, load)
                })
                .collect(),
        }
    }

    /// The least-loaded available agent of `tenant` who `qualifies` and has
    /// room, ties to the first by agent id; their load grows by one.
    fn take(&mut self, tenant: &str, qualifies: impl Fn(&AgentRow) -> bool) -> Option<String> {
        let (agent, load) = self
            .agents
            .iter_mut()
            .filter(|(a, load)| {
                a.tenant_id == tenant
                    && a.available
                    && *load < i64::from(a.capacity)
                    && qualifies(a)
            })
            .min_by(|(a, x), (b, y)| x.cmp(y).then_with(|| a.agent_id.cmp(&b.agent_id)))?;
        *load += 1;
        Some(agent.agent_id.clone())
    }

    /// An agent of `queue` with every one of `skills`.
    pub fn assign(&mut self, tenant: &str, queue: &str, skills: &[String]) -> Option<String> {
        self.take(tenant, |a| {
            a.queues.iter().any(|q| q == queue) && skills.iter().all(|s| a.skills.contains(s))
        })
    }

    /// An expert on `topic` not already in `taken`.
    pub fn expert(&mut self, tenant: &str, topic: &str, taken: &[String]) -> Option<String> {
        self.take(tenant, |a| {
            a.expert_topics.iter().any(|t| t == topic) && !taken.contains(&a.agent_id)
        })
    }
}

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

/// The agents of `tenants` (all of them when `queues` is empty, else those in
/// one of `queues` or expert on one of `topics`), locked for assignment, with
/// their loads.
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
          WHERE c.assignee IS NOT NULL AND c.status < 5
          GROUP BY c.tenant_id, c.assignee",
    )
    .bind(&tenant_ids)
    .bind(&agent_ids)
    .fetch_all(&mut *conn)
    .await?;
    let loads = loads.into_iter().map(|(t, a, n)| ((t, a), n)).collect();
    Ok(Roster::new(agents, &loads))
}

/// A key of the tenant's vocabulary (queue, skill, topic, tier, resolution code).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn keys(raw: &[String], field: &str, v: &mut FieldViolations) -> Vec<String> {
    v.check(raw.len() > MAX_LIST, field, "must hold at most 50 entries");
    let mut out: Vec<String> = Vec::new();
    for (i, k) in raw.iter().enumerate() {
        let k = k.trim();
        if !valid_key(k) {
            v.add(
                format!("{field}[{i}]"),
                "must be 1 to 64 lower-case letters, digits, _ or -",
            );
        } else if !out.iter().any(|o| o == k) {
            out.push(k.to_owned());
        }
    }
    out
}

fn enums<E: TryFrom<i32>>(
    raw: &[i32],
    field: &str,
    v: &mut FieldViolations,
    unspecified: i32,
) -> Vec<i16> {
    let mut out = Vec::new();
    for (i, x) in raw.iter().enumerate() {
        if *x == unspecified || E::try_from(*x).is_err() {
            v.add(format!("{field}[{i}]"), "must be a known value");
        } else if let Ok(x) = i16::try_from(*x)
            && !out.contains(&x)
        {
            out.push(x);
        }
    }
    out
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct RuleInput {
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
    pub lane: i16,
    pub priority: String,
    pub queue: String,
    pub required_skills: Vec<String>,
}

/// Checks a rule, naming bad fields under `rule.`.
pub fn check_rule(rule: Option<&RoutingRule>, v: &mut FieldViolations) -> Option<RuleInput> {
    let Some(rule) = rule else {
        v.add("rule", "is required");
        return None;
    };
    let name = rule.name.trim().to_owned();
    v.check(name.is_empty(), "rule.name", "is required");
    v.check(
        name.chars().count() > 200,
        "rule.name",
        "must be at most 200 characters",
    );
    let when = rule.when.clone().unwrap_or_default();
    let RoutingConditions {
        tiers,
        vip,
        min_followers,
        topics,
        intents,
        urgencies,
        max_sentiment,
        channels,
    } = when;
    let tiers = keys(&tiers, "rule.when.tiers", v);
    let topics = keys(&topics, "rule.when.topics", v);
    let intents = enums::<Intent>(&intents, "rule.when.intents", v, 0);
    let urgencies = enums::<Urgency>(&urgencies, "rule.when.urgencies", v, 0);
    let channels = enums::<Channel>(&channels, "rule.when.channels", v, 0);
    v.check(
        max_sentiment.is_some_and(|s| !(-1.0..=1.0).contains(&s)),
        "rule.when.max_sentiment",
        "must be between -1 and 1",
    );
    let lane = match Lane::try_from(rule.lane) {
        Ok(Lane::Unspecified) | Err(_) => {
            v.add("rule.lane", "must be STANDARD or FAST");
            0
        }
        Ok(lane) => lane as i16,
    };
    let priority = rule.priority.trim().to_owned();
    v.check(
        !PRIORITIES.contains(&priority.as_str()),
        "rule.priority",
        "must be low, normal, high or urgent",
    );
    let queue = rule.queue.trim().to_owned();
    v.check(
        !valid_key(&queue),
        "rule.queue",
        "must be 1 to 64 lower-case letters, digits, _ or -",
    );
    let required_skills = keys(&rule.required_skills, "rule.required_skills", v);
    Some(RuleInput {
        name,
        ord: rule.order,
        tiers,
        vip,
        min_followers: i64::try_from(min_followers).unwrap_or(i64::MAX),
        topics,
        intents,
        urgencies,
        max_sentiment,
        channels,
        lane,
        priority,
        queue,
        required_skills,
    })
}

pub fn rule_to_proto(row: RuleRow) -> RoutingRule {
    RoutingRule {
        rule_id: row.id.to_string(),
        name: row.name,
        order: row.ord,
        when: Some(RoutingConditions {
            tiers: row.tiers,
            vip: row.vip,
            min_followers: u64::try_from(row.min_followers).unwrap_or(0),
            topics: row.topics,
            intents: row.intents.into_iter().map(i32::from).collect(),
            urgencies: row.urgencies.into_iter().map(i32::from).collect(),
            max_sentiment: row.max_sentiment,
            channels: row.channels.into_iter().map(i32::from).collect(),
        }),
        lane: i32::from(row.lane),
        priority: row.priority,
        queue: row.queue,
        required_skills: row.required_skills,
        version: row.version,
        created_at: Some(timestamp(row.created_at)),
    }
}

pub fn rule_cursor(row: &RuleRow) -> Cursor {
    Cursor {
        at: row.created_at,
        id: row.id,
    }
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
        .bind(&r.priority)
        .bind(&r.queue)
        .bind(&r.required_skills)
}

pub fn validate_create_rule(req: &CreateRoutingRuleRequest) -> Result<RuleInput, ServiceError> {
    let mut v = FieldViolations::new();
    v.request_id(&req.request_id);
    let rule = check_rule(req.rule.as_ref(), &mut v);
    v.into_result()?;
    rule.ok_or_else(|| earshot_server::invalid("rule", "is required"))
}

/// Creates a rule, once per `request_id`.
pub async fn create_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    request_id: &str,
    rule: RuleInput,
) -> Result<RuleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let inserted: Option<RuleRow> = bind_rule(
        sqlx::query_as(&format!(
            "INSERT INTO routing_rules (id, tenant_id, name, ord, tiers, vip, min_followers,
                                        topics, intents, urgencies, max_sentiment, channels,
                                        lane, priority, queue, required_skills, request_id,
                                        created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, now())
             ON CONFLICT ON CONSTRAINT routing_rules_one_per_request DO NOTHING
             RETURNING {RULE_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(tenant_id),
        &rule,
    )
    .bind(request_id.trim())
    .fetch_optional(&mut *tx)
    .await?;
    match inserted {
        Some(row) => {
            audit::commit_configuration(tx, tenant_id, actor, "routing_rule.created", 0, &row)
                .await?;
            Ok(row)
        }
        // Created before under this request id: answer with it.
        None => {
            drop(tx);
            Ok(sqlx::query_as(&format!(
                "SELECT {RULE_COLUMNS} FROM routing_rules WHERE tenant_id = $1 AND request_id = $2"
            ))
            .bind(tenant_id)
            .bind(request_id.trim())
            .fetch_one(pool)
            .await?)
        }
    }
}

/// Replaces a rule if the caller read its current `version`.
pub async fn update_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i64,
    rule: RuleInput,
) -> Result<RuleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let updated: Option<RuleRow> = bind_rule(
        sqlx::query_as(&format!(
            "UPDATE routing_rules
                SET name = $3, ord = $4, tiers = $5, vip = $6, min_followers = $7, topics = $8,
                    intents = $9, urgencies = $10, max_sentiment = $11, channels = $12,
                    lane = $13, priority = $14, queue = $15, required_skills = $16,
                    version = version + 1
              WHERE tenant_id = $1 AND id = $2 AND version = $17
             RETURNING {RULE_COLUMNS}"
        ))
        .bind(tenant_id)
        .bind(id),
        &rule,
    )
    .bind(version)
    .fetch_optional(&mut *tx)
    .await?;
    match updated {
        Some(row) => {
            let action = "routing_rule.updated";
            audit::commit_configuration(tx, tenant_id, actor, action, version, &row).await?;
            Ok(row)
        }
        None => {
            drop(tx);
            Err(stale_or_missing(pool, tenant_id, id, version).await?)
        }
    }
}

async fn stale_or_missing(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
    version: i64,
) -> Result<ServiceError, ServiceError> {
    let current: Option<i64> =
        sqlx::query_scalar("SELECT version FROM routing_rules WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(match current {
        None => ServiceError::NotFound(format!("routing rule {id}")),
        Some(current) => ServiceError::Aborted(format!(
            "routing rule {id} changed since version {version}; it is at version {current}"
        )),
    })
}

pub async fn delete_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    version: i64,
) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    let deleted =
        sqlx::query("DELETE FROM routing_rules WHERE tenant_id = $1 AND id = $2 AND version = $3")
            .bind(tenant_id)
            .bind(id)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if deleted == 0 {
        drop(tx);
        return Err(stale_or_missing(pool, tenant_id, id, version).await?);
    }
    let gone = serde_json::json!({ "id": id, "deleted": true });
    audit::commit_configuration(tx, tenant_id, actor, "routing_rule.deleted", version, &gone).await
}

pub async fn list_rules(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<RuleRow>, ServiceError> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    Ok(sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM routing_rules
          WHERE tenant_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3))
          ORDER BY created_at, id LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// A checked agent.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentInput {
    pub agent_id: String,
    pub display_name: String,
    pub queues: Vec<String>,
    pub skills: Vec<String>,
    pub capacity: i32,
    pub available: bool,
    pub expert_topics: Vec<String>,
    pub version: i64,
}

/// An agent id: the tenant's own, e.g. a token subject or an email address.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@:+-".contains(&b))
}

pub fn validate_agent(req: &PutAgentRequest) -> Result<AgentInput, ServiceError> {
    let mut v = FieldViolations::new();
    let Some(a) = req.agent.as_ref() else {
        return Err(earshot_server::invalid("agent", "is required"));
    };
    v.check(
        !valid_agent_id(&a.agent_id),
        "agent.agent_id",
        "must be 1 to 128 letters, digits or ._@:+-",
    );
    v.check(
        a.display_name.chars().count() > 200,
        "agent.display_name",
        "must be at most 200 characters",
    );
    let queues = keys(&a.queues, "agent.queues", &mut v);
    let skills = keys(&a.skills, "agent.skills", &mut v);
    let expert_topics = keys(&a.expert_topics, "agent.expert_topics", &mut v);
    v.check(
        a.capacity == 0 || a.capacity > 1000,
        "agent.capacity",
        "must be 1 to 1000 open cases",
    );
    v.check(
        a.version < 0,
        "agent.version",
        "must be 0 to create, else the version last read",
    );
    v.into_result()?;
    Ok(AgentInput {
        agent_id: a.agent_id.clone(),
        display_name: a.display_name.trim().to_owned(),
        queues,
        skills,
        capacity: i32::try_from(a.capacity).unwrap_or(1000),
        available: a.available,
        expert_topics,
        version: a.version,
    })
}

/// Creates (version 0) or updates an agent. Creating one that exists is a
/// no-op when it is the same as created, else `ALREADY_EXISTS`.
pub async fn put_agent(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    a: AgentInput,
) -> Result<AgentRow, ServiceError> {
    let mut tx = pool.begin().await?;
    if a.version == 0 {
        let inserted: Option<AgentRow> = sqlx::query_as(&format!(
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
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = inserted {
            audit::commit_configuration(tx, tenant_id, actor, "agent.created", 0, &row).await?;
            return Ok(row);
        }
        drop(tx);
        let existing = get_agent(pool, tenant_id, &a.agent_id).await?;
        let same = AgentInput {
            version: 0,
            ..input_of(&existing)
        };
        return if existing.version == 1 && same == a {
            Ok(existing)
        } else {
            Err(ServiceError::AlreadyExists(format!(
                "agent {} exists; update it with the version last read",
                a.agent_id
            )))
        };
    }
    let updated: Option<AgentRow> = sqlx::query_as(&format!(
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
    .fetch_optional(&mut *tx)
    .await?;
    match updated {
        Some(row) => {
            audit::commit_configuration(tx, tenant_id, actor, "agent.updated", a.version, &row)
                .await?;
            Ok(row)
        }
        None => {
            drop(tx);
            let current = get_agent(pool, tenant_id, &a.agent_id).await?;
            Err(ServiceError::Aborted(format!(
                "agent {} changed since version {}; it is at version {}",
                a.agent_id, a.version, current.version
            )))
        }
    }
}

fn input_of(row: &AgentRow) -> AgentInput {
    AgentInput {
        agent_id: row.agent_id.clone(),
        display_name: row.display_name.clone(),
        queues: row.queues.clone(),
        skills: row.skills.clone(),
        capacity: row.capacity,
        available: row.available,
        expert_topics: row.expert_topics.clone(),
        version: row.version,
    }
}

pub async fn get_agent(
    pool: &PgPool,
    tenant_id: &str,
    agent_id: &str,
) -> Result<AgentRow, ServiceError> {
    sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS} FROM agents WHERE tenant_id = $1 AND agent_id = $2"
    ))
    .bind(tenant_id)
    .bind(agent_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("agent {agent_id}")))
}

/// Open cases assigned to an agent now.
pub async fn open_cases(
    pool: &PgPool,
    tenant_id: &str,
    agent_id: &str,
) -> Result<i64, ServiceError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM cases
          WHERE tenant_id = $1 AND assignee = $2 AND assignee IS NOT NULL AND status < 5",
    )
    .bind(tenant_id)
    .bind(agent_id)
    .fetch_one(pool)
    .await?)
}

/// Agents with their open cases, in creation order.
pub async fn list_agents(
    pool: &PgPool,
    tenant_id: &str,
    queue: Option<&str>,
    expert_topic: Option<&str>,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<(AgentRow, i64)>, ServiceError> {
    let at = after.as_ref().map(|c| c.at);
    let after_id = after.map(|c| c.id);
    let rows: Vec<AgentLoadRow> = sqlx::query_as(&format!(
        "SELECT {AGENT_COLUMNS},
                (SELECT count(*) FROM cases c
                  WHERE c.tenant_id = agents.tenant_id AND c.assignee = agents.agent_id
                    AND c.assignee IS NOT NULL AND c.status < 5) AS open_cases
           FROM agents
          WHERE tenant_id = $1
            AND ($2::text IS NULL OR $2 = ANY(queues))
            AND ($3::text IS NULL OR $3 = ANY(expert_topics))
            AND ($4::timestamptz IS NULL OR (created_at, id) > ($4, $5))
          ORDER BY created_at, id LIMIT $6"
    ))
    .bind(tenant_id)
    .bind(queue)
    .bind(expert_topic)
    .bind(at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.agent, r.open_cases)).collect())
}

#[derive(sqlx::FromRow)]
struct AgentLoadRow {
    #[sqlx(flatten)]
    agent: AgentRow,
    open_cases: i64,
}

pub fn agent_to_proto((row, open_cases): (AgentRow, i64)) -> Agent {
    Agent {
        agent_id: row.agent_id,
        display_name: row.display_name,
        queues: row.queues,
        skills: row.skills,
        capacity: u32::try_from(row.capacity).unwrap_or(0),
        available: row.available,
        expert_topics: row.expert_topics,
        version: row.version,
        open_cases: u32::try_from(open_cases).unwrap_or(u32::MAX),
    }
}

pub fn agent_cursor(row: &(AgentRow, i64)) -> Cursor {
    Cursor {
        at: row.0.created_at,
        id: row.0.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, edit: impl FnOnce(&mut RuleRow)) -> RuleRow {
        let mut r = RuleRow {
            id: Uuid::now_v7(),
            tenant_id: "acme".into(),
            name: name.into(),
            ord: 0,
            tiers: vec![],
            vip: false,
            min_followers: 0,
            topics: vec![],
            intents: vec![],
            urgencies: vec![],
            max_sentiment: None,
            channels: vec![],
            lane: Lane::Fast as i16,
            priority: "high".into(),
            queue: name.into(),
            required_skills: vec![],
            version: 1,
            created_at: Utc::now(),
        };
        edit(&mut r);
        r
    }

    #[test]
    fn the_first_matching_rule_decides_and_unknown_sentiment_never_matches() {
        let rules = [
            rule("vip", |r| r.vip = true),
            rule("angry", |r| r.max_sentiment = Some(-0.5)),
            rule("outage", |r| {
                r.urgencies = vec![Urgency::Outage as i16];
                r.channels = vec![Channel::X as i16];
            }),
            rule("influencer", |r| r.min_followers = 10_000),
            rule("gold-cards", |r| {
                r.tiers = vec!["gold".into()];
                r.topics = vec!["card".into()];
                r.intents = vec![Intent::Complaint as i16];
            }),
        ];
        let base = Facts {
            channel: Channel::X as i16,
            ..Facts::default()
        };
        let queue_of = |f: &Facts<'_>| route(&rules, f).queue;
        assert_eq!(queue_of(&base), DEFAULT_QUEUE);
        assert_eq!(route(&rules, &base).lane, Lane::Standard);
        assert_eq!(
            queue_of(&Facts {
                vip: true,
                ..base.clone()
            }),
            "vip"
        );
        assert_eq!(
            queue_of(&Facts {
                sentiment: Some(-0.8),
                ..base.clone()
            }),
            "angry"
        );
        assert_eq!(
            queue_of(&Facts {
                sentiment: Some(0.1),
                ..base.clone()
            }),
            DEFAULT_QUEUE
        );
        let outage = Facts {
            urgencies: vec![Urgency::Outage as i16],
            ..base.clone()
        };
        assert_eq!(queue_of(&outage), "outage");
        assert_eq!(
            queue_of(&Facts {
                channel: Channel::Email as i16,
                ..outage
            }),
            DEFAULT_QUEUE,
            "the outage rule is for X only"
        );
        assert_eq!(
            queue_of(&Facts {
                followers: 50_000,
                ..base.clone()
            }),
            "influencer"
        );
        let gold = Facts {
            tier: "gold",
            topics: vec!["fees", "card"],
            intent: Intent::Complaint as i16,
            ..base.clone()
        };
        assert_eq!(queue_of(&gold), "gold-cards");
        assert_eq!(
            queue_of(&Facts {
                intent: Intent::Praise as i16,
                ..gold
            }),
            DEFAULT_QUEUE
        );
    }

    fn agent(id: &str, queues: &[&str], skills: &[&str], capacity: i32) -> AgentRow {
        AgentRow {
            id: Uuid::now_v7(),
            tenant_id: "acme".into(),
            agent_id: id.into(),
            display_name: id.into(),
            queues: queues.iter().map(|s| (*s).to_owned()).collect(),
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            capacity,
            available: true,
            expert_topics: vec!["card".into()],
            version: 1,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn assignment_takes_the_least_loaded_qualified_agent_with_room() {
        let loads = HashMap::from([
            (("acme".to_owned(), "ann".to_owned()), 1),
            (("acme".to_owned(), "bob".to_owned()), 0),
        ]);
        let mut roster = Roster::new(
            vec![
                agent("ann", &["payments"], &["fr", "cards"], 2),
                agent("bob", &["payments"], &["cards"], 1),
                agent("cy", &["general"], &["fr", "cards"], 5),
            ],
            &loads,
        );
        let fr = vec!["fr".to_owned()];
        assert_eq!(
            roster.assign("acme", "payments", &[]).as_deref(),
            Some("bob")
        );
        // Bob is full now; Ann has one slot left and speaks French.
        assert_eq!(
            roster.assign("acme", "payments", &fr).as_deref(),
            Some("ann")
        );
        assert_eq!(
            roster.assign("acme", "payments", &[]),
            None,
            "everyone full"
        );
        assert_eq!(
            roster.assign("globex", "general", &[]),
            None,
            "other tenant"
        );
        assert_eq!(roster.assign("acme", "general", &fr).as_deref(), Some("cy"));
        assert_eq!(
            roster.expert("acme", "card", &["cy".to_owned()]),
            None,
            "ann and bob are full, cy is already on the case"
        );
    }
}
