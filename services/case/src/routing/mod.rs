//! The fast lane: per-tenant routing rules decide a new case's lane, priority,
//! queue and required skills from what is known about the customer and what
//! they said; agents take cases by least load within their capacity; an
//! escalation moves a case to the fast lane at a higher priority. The
//! decisions are pure functions; the storage is in `store`.

pub mod store;

use std::collections::HashMap;

use earshot_outbox::Outbox;
use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use self::store::{AgentRow, RuleRow};
use crate::audit::{self, Record};
use crate::record::{self, CaseRow, Versioned};
use crate::sla;
use crate::vocabulary::{DEFAULT_QUEUE, Lane, Priority};

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
    pub priority: Priority,
    pub queue: String,
    pub required_skills: Vec<String>,
    /// The customer routed was a VIP (as `CaseOpened` tells escalation).
    pub vip: bool,
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            rule_id: None,
            lane: Lane::Standard,
            priority: Priority::default(),
            queue: DEFAULT_QUEUE.to_owned(),
            required_skills: Vec::new(),
            vip: false,
        }
    }
}

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
            lane: self.lane,
            priority: self.priority,
            queue: self.queue.clone(),
            required_skills: self.required_skills.clone(),
            vip: false,
        }
    }
}

/// The decision of the first enabled rule (in evaluation order) that
/// matches, else the defaults.
pub fn route(rules: &[RuleRow], facts: &Facts<'_>) -> Decision {
    rules
        .iter()
        .find(|r| r.enabled && r.matches(facts))
        .map(RuleRow::decision)
        .unwrap_or_default()
}

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

/// What routing needs to know about a case about to open.
#[derive(Debug, Clone)]
pub struct ToRoute<'a> {
    pub tenant_id: &'a str,
    pub customer_id: Option<Uuid>,
    pub topics: Vec<&'a str>,
    pub intent: i16,
    pub urgencies: Vec<i16>,
    pub sentiment: Option<f64>,
    pub channel: i16,
    pub followers: i64,
}

/// Routes each case about to open by its tenant's rules and assigns it to the
/// least-loaded agent of its queue with room and the skills, when there is one.
/// A fixed number of statements for the whole batch; the agents involved are
/// locked so concurrent batches never overfill one.
pub async fn route_new(
    conn: &mut PgConnection,
    cases: &[ToRoute<'_>],
) -> Result<Vec<(Decision, Option<String>)>, sqlx::Error> {
    let mut tenants: Vec<&str> = cases.iter().map(|c| c.tenant_id).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let mut rules: HashMap<String, Vec<RuleRow>> = HashMap::new();
    for rule in store::rules_of(conn, &tenants).await? {
        rules.entry(rule.tenant_id.clone()).or_default().push(rule);
    }
    let customer_ids: Vec<Uuid> = cases.iter().filter_map(|c| c.customer_id).collect();
    let standing: HashMap<Uuid, crate::customers::store::Standing> =
        crate::customers::store::standing(conn, &customer_ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
    let no_rules = Vec::new();
    let decisions: Vec<Decision> = cases
        .iter()
        .map(|c| {
            let known = c.customer_id.and_then(|id| standing.get(&id));
            let facts = Facts {
                tier: known.map_or("", |s| s.tier.as_str()),
                vip: known.is_some_and(|s| s.vip),
                followers: known.map_or(0, |s| s.followers).max(c.followers),
                topics: c.topics.clone(),
                intent: c.intent,
                urgencies: c.urgencies.clone(),
                sentiment: c.sentiment,
                channel: c.channel,
            };
            Decision {
                vip: facts.vip,
                ..route(rules.get(c.tenant_id).unwrap_or(&no_rules), &facts)
            }
        })
        .collect();
    let mut queues: Vec<&str> = decisions.iter().map(|d| d.queue.as_str()).collect();
    queues.sort_unstable();
    queues.dedup();
    let mut roster = store::roster(conn, &tenants, &queues, &[]).await?;
    Ok(cases
        .iter()
        .zip(decisions)
        .map(|(c, d)| {
            let assignee = roster.assign(c.tenant_id, &d.queue, &d.required_skills);
            (d, assignee)
        })
        .collect())
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
    pub lane: Lane,
    pub priority: Priority,
    pub queue: String,
    pub required_skills: Vec<String>,
    /// `None`: enabled when creating, unchanged when updating.
    pub enabled: Option<bool>,
}

/// A checked `CreateRoutingRule`.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub request_id: String,
    pub rule: RuleInput,
}

/// A checked `UpdateRoutingRule`.
#[derive(Debug, Clone)]
pub struct RuleChange {
    pub rule_id: Versioned,
    pub rule: RuleInput,
}

/// Creates a rule, once per `request_id`.
pub async fn create_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    new: NewRule,
) -> Result<RuleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    match store::insert_rule(&mut tx, tenant_id, &new).await? {
        Some(row) => {
            audit::store::commit_configuration(
                tx,
                tenant_id,
                actor,
                "routing_rule.created",
                0,
                &row,
            )
            .await?;
            Ok(row)
        }
        // Created before under this request id: answer with it.
        None => {
            drop(tx);
            Ok(store::rule_by_request(pool, tenant_id, &new.request_id).await?)
        }
    }
}

/// Replaces a rule if the caller read its current version.
pub async fn update_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    change: RuleChange,
) -> Result<RuleRow, ServiceError> {
    let mut tx = pool.begin().await?;
    match store::update_rule(&mut tx, tenant_id, &change).await? {
        Some(row) => {
            let action = "routing_rule.updated";
            let read = change.rule_id.version;
            audit::store::commit_configuration(tx, tenant_id, actor, action, read, &row).await?;
            Ok(row)
        }
        None => {
            drop(tx);
            Err(stale_or_missing(pool, tenant_id, change.rule_id).await?)
        }
    }
}

/// Why a versioned change to rule `rule` did not apply.
async fn stale_or_missing(
    pool: &PgPool,
    tenant_id: &str,
    rule: Versioned,
) -> Result<ServiceError, ServiceError> {
    let id = rule.id;
    Ok(match store::rule_version(pool, tenant_id, id).await? {
        None => ServiceError::NotFound(format!("routing rule {id}")),
        Some(current) => ServiceError::Aborted(format!(
            "routing rule {id} changed since version {}; it is at version {current}",
            rule.version
        )),
    })
}

pub async fn delete_rule(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    rule: Versioned,
) -> Result<(), ServiceError> {
    let mut tx = pool.begin().await?;
    if !store::delete_rule(&mut tx, tenant_id, rule).await? {
        drop(tx);
        return Err(stale_or_missing(pool, tenant_id, rule).await?);
    }
    let gone = json!({ "id": rule.id, "deleted": true });
    let action = "routing_rule.deleted";
    audit::store::commit_configuration(tx, tenant_id, actor, action, rule.version, &gone).await
}

pub async fn list_rules(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<RuleRow>, ServiceError> {
    Ok(store::list_rules(pool, tenant_id, after, limit).await?)
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

impl AgentInput {
    /// What created `row`, at `version`.
    fn of(row: &AgentRow, version: i64) -> Self {
        AgentInput {
            agent_id: row.agent_id.clone(),
            display_name: row.display_name.clone(),
            queues: row.queues.clone(),
            skills: row.skills.clone(),
            capacity: row.capacity,
            available: row.available,
            expert_topics: row.expert_topics.clone(),
            version,
        }
    }
}

/// An agent with the open cases assigned to them now.
#[derive(Debug, Clone)]
pub struct AgentLoad {
    pub agent: AgentRow,
    pub open_cases: i64,
}

impl AgentLoad {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.agent.created_at,
            id: self.agent.id,
        }
    }
}

/// Creates (version 0) or updates an agent. Creating one that exists is a
/// no-op when it is the same as created, else `ALREADY_EXISTS`.
pub async fn put_agent(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    a: AgentInput,
) -> Result<AgentLoad, ServiceError> {
    let mut tx = pool.begin().await?;
    let row = if a.version == 0 {
        if let Some(row) = store::insert_agent(&mut tx, tenant_id, &a).await? {
            audit::store::commit_configuration(tx, tenant_id, actor, "agent.created", 0, &row)
                .await?;
            row
        } else {
            drop(tx);
            let existing = store::get_agent(pool, tenant_id, &a.agent_id).await?;
            if existing.version == 1 && AgentInput::of(&existing, 0) == a {
                existing
            } else {
                return Err(ServiceError::AlreadyExists(format!(
                    "agent {} exists; update it with the version last read",
                    a.agent_id
                )));
            }
        }
    } else if let Some(row) = store::update_agent(&mut tx, tenant_id, &a).await? {
        audit::store::commit_configuration(tx, tenant_id, actor, "agent.updated", a.version, &row)
            .await?;
        row
    } else {
        drop(tx);
        let current = store::get_agent(pool, tenant_id, &a.agent_id).await?;
        return Err(ServiceError::Aborted(format!(
            "agent {} changed since version {}; it is at version {}",
            a.agent_id, a.version, current.version
        )));
    };
    let open_cases = store::open_cases(pool, tenant_id, &row.agent_id).await?;
    Ok(AgentLoad {
        agent: row,
        open_cases,
    })
}

/// A checked `ListAgents`.
#[derive(Debug, Clone)]
pub struct AgentFilter {
    pub queue: Option<String>,
    pub expert_topic: Option<String>,
    pub after: Option<Cursor>,
    pub limit: i64,
}

pub async fn list_agents(
    pool: &PgPool,
    tenant_id: &str,
    filter: &AgentFilter,
) -> Result<Vec<AgentLoad>, ServiceError> {
    Ok(store::list_agents(pool, tenant_id, filter).await?)
}

/// A checked `AssignCase` or `AddExpert`: the case and the agent named, if any.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub case: Versioned,
    /// `None`: let the service choose.
    pub agent_id: Option<String>,
    /// Assign to the agent named even past their capacity.
    pub force: bool,
}

/// Whether one more case would take an agent past their capacity (a case
/// they hold already adds nothing).
pub fn past_capacity(load: &AgentLoad, holds_it: bool) -> bool {
    !holds_it && load.open_cases >= i64::from(load.agent.capacity)
}

/// Assigns a case to the agent named (any agent of the tenant, by hand, within
/// their capacity unless forced) or, when none is, to the least-loaded
/// available agent of its queue with room and the required skills. Open cases
/// only; the version must be the one read.
pub async fn assign(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    assignment: Assignment,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = record::store::lock(&mut tx, tenant_id, assignment.case).await?;
    let id = current.id;
    if !current.status.is_active() {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is {}; reopen it before assigning it",
            current.status.label()
        )));
    }
    let mut forced = None;
    let agent = match assignment.agent_id {
        Some(agent) => {
            let load = store::lock_agent_load(&mut tx, tenant_id, &agent)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("agent {agent}")))?;
            let holds_it = current.assignee.as_deref() == Some(agent.as_str());
            if past_capacity(&load, holds_it) {
                if !assignment.force {
                    return Err(ServiceError::FailedPrecondition(format!(
                        "agent {agent} holds {} open cases, their capacity; assign with force \
                         to give them one more",
                        load.open_cases
                    )));
                }
                forced = Some(load);
            }
            agent
        }
        None => {
            let mut roster =
                store::roster(&mut tx, &[tenant_id], &[current.queue.as_str()], &[]).await?;
            roster
                .assign(tenant_id, &current.queue, &current.required_skills)
                .ok_or_else(|| {
                    ServiceError::FailedPrecondition(format!(
                        "no available agent of queue {} has room and the skills {:?}",
                        current.queue, current.required_skills
                    ))
                })?
        }
    };
    let row = store::set_assignee(&mut tx, id, &agent).await?;
    let after = match forced {
        Some(load) => json!({
            "assignee": agent,
            "forced": true,
            "open_cases": load.open_cases,
            "capacity": load.agent.capacity,
        }),
        None => json!({ "assignee": agent }),
    };
    let record = Record::case(
        id,
        "case.assigned",
        json!({ "assignee": current.assignee }),
        after,
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// Pulls an expert into a case: the agent named (who must be an expert on the
/// case's topic) or the least-loaded available expert on it not already there.
pub async fn add_expert(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    assignment: Assignment,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = record::store::lock(&mut tx, tenant_id, assignment.case).await?;
    let id = current.id;
    if current.topic.is_empty() {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} has no topic to find an expert on"
        )));
    }
    let expert = match assignment.agent_id {
        Some(agent) => {
            let topics = store::expert_topics(&mut tx, tenant_id, &agent)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("agent {agent}")))?;
            if !topics.contains(&current.topic) {
                return Err(ServiceError::FailedPrecondition(format!(
                    "agent {agent} is not an expert on {}",
                    current.topic
                )));
            }
            agent
        }
        None => {
            let mut roster =
                store::roster(&mut tx, &[tenant_id], &[], &[current.topic.as_str()]).await?;
            roster
                .expert(tenant_id, &current.topic, &current.experts)
                .ok_or_else(|| {
                    ServiceError::FailedPrecondition(format!(
                        "no other available expert on {} has room",
                        current.topic
                    ))
                })?
        }
    };
    if current.experts.contains(&expert) {
        return Ok(current);
    }
    let row = store::add_expert(&mut tx, id, &expert).await?;
    let record = Record::case(
        id,
        "case.expert_added",
        json!({ "experts": current.experts }),
        json!({ "experts": row.experts }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// An escalation heard from the escalation service.
#[derive(Debug, Clone)]
pub struct Escalation {
    pub tenant_id: String,
    /// The case named, else the one holding `mention_id`.
    pub case_id: Option<Uuid>,
    pub mention_id: String,
    pub reason: String,
}

/// Raises the priority of escalated cases one step (to urgent at most) and
/// moves them to the fast lane; their running SLA clocks tighten to the new
/// policy's times (never loosen). The case is the one named, else the one
/// holding the escalated mention. Set-based.
pub async fn escalate(
    conn: &mut PgConnection,
    outbox: &Outbox,
    escalations: &[Escalation],
) -> Result<usize, sqlx::Error> {
    if escalations.is_empty() {
        return Ok(0);
    }
    let targets = store::lock_escalated(conn, escalations).await?;
    if targets.is_empty() {
        return Ok(0);
    }
    let raised: Vec<Priority> = targets.iter().map(|t| t.priority.raised()).collect();
    let ids: Vec<Uuid> = targets.iter().map(|t| t.id).collect();
    let versions = store::raise(conn, &ids, &raised, Lane::Fast).await?;
    sla::store::tighten(conn, &ids).await?;
    let tenants: Vec<&str> = targets.iter().map(|t| t.tenant_id.as_str()).collect();
    let records: Vec<Record> = targets
        .iter()
        .zip(&raised)
        .map(|(t, to)| {
            Record::case(
                t.id,
                "case.escalated",
                json!({ "priority": t.priority.as_str(), "lane": t.lane.label() }),
                json!({ "priority": to.as_str(), "lane": Lane::Fast.label(), "reason": t.reason }),
            )
        })
        .collect();
    audit::store::append_for(conn, &tenants, audit::SYSTEM, &records).await?;
    let events = targets
        .iter()
        .zip(&versions)
        .map(|(t, version)| record::case_updated(&t.tenant_id, t.id, t.status, *version))
        .collect();
    record::store::enqueue(conn, outbox, events).await?;
    Ok(targets.len())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use earshot_proto::common::v1::{Channel, Intent, Urgency};

    use super::*;

    // Urgency, channel and intent codes as listening sends them.
    const OUTAGE: i16 = Urgency::Outage as i16;
    const X: i16 = Channel::X as i16;
    const EMAIL: i16 = Channel::Email as i16;
    const COMPLAINT: i16 = Intent::Complaint as i16;
    const PRAISE: i16 = Intent::Praise as i16;

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
            lane: Lane::Fast,
            priority: Priority::High,
            queue: name.into(),
            required_skills: vec![],
            version: 1,
            created_at: Utc::now(),
            enabled: true,
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
                r.urgencies = vec![OUTAGE];
                r.channels = vec![X];
            }),
            rule("influencer", |r| r.min_followers = 10_000),
            rule("gold-cards", |r| {
                r.tiers = vec!["gold".into()];
                r.topics = vec!["card".into()];
                r.intents = vec![COMPLAINT];
            }),
        ];
        let base = Facts {
            channel: X,
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
        let mut without_vip = rules.clone();
        without_vip[0].enabled = false;
        let vip = Facts {
            vip: true,
            ..base.clone()
        };
        assert_eq!(
            route(&without_vip, &vip).queue,
            DEFAULT_QUEUE,
            "a disabled rule routes nothing"
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
            urgencies: vec![OUTAGE],
            ..base.clone()
        };
        assert_eq!(queue_of(&outage), "outage");
        assert_eq!(
            queue_of(&Facts {
                channel: EMAIL,
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
            intent: COMPLAINT,
            ..base.clone()
        };
        assert_eq!(queue_of(&gold), "gold-cards");
        assert_eq!(
            queue_of(&Facts {
                intent: PRAISE,
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
    fn an_agent_at_capacity_takes_no_more_but_keeps_what_they_hold() {
        let load = |open_cases| AgentLoad {
            agent: agent("ann", &["payments"], &[], 2),
            open_cases,
        };
        assert!(!past_capacity(&load(1), false));
        assert!(past_capacity(&load(2), false));
        assert!(!past_capacity(&load(2), true), "reassigning her own case");
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
