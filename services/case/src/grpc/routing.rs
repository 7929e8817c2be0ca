//! Routing requests checked into what the domain takes, and rules and agents
//! as the API shows them.

use earshot_proto::case::v1::{
    AddExpertRequest, Agent, AssignCaseRequest, CreateRoutingRuleRequest, DeleteRoutingRuleRequest,
    ListAgentsRequest, ListRoutingRulesRequest, PutAgentRequest, RoutingConditions, RoutingRule,
    UpdateRoutingRuleRequest,
};
use earshot_proto::common::v1::{Channel, Intent, Urgency};
use earshot_server::convert::timestamp;
use earshot_server::{FieldViolations, ServiceError, invalid};

use super::convert::{lane_from, lane_to};
use super::{Check, Paged};
use crate::record::Versioned;
use crate::routing::store::RuleRow;
use crate::routing::{
    AgentFilter, AgentInput, AgentLoad, Assignment, NewRule, RuleChange, RuleInput,
};
use crate::vocabulary::{
    AGENT_ID_RULE, KEY_RULE, Lane, MAX_KEYS, at_most, keys, optional_key, priority, valid_agent_id,
    valid_key,
};

/// Known values of a proto enum `E`, without repeats; bad ones are named `field[i]`.
fn enums<E: TryFrom<i32>>(raw: &[i32], field: &str, v: &mut FieldViolations) -> Vec<i16> {
    // An enum has a handful of values: more entries than that are repeats.
    let Some(raw) = at_most(raw, MAX_KEYS, field, v) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, x) in raw.iter().enumerate() {
        if *x == 0 || E::try_from(*x).is_err() {
            v.add(format!("{field}[{i}]"), "must be a known value");
        } else if let Ok(x) = i16::try_from(*x)
            && !out.contains(&x)
        {
            out.push(x);
        }
    }
    out
}

/// A lane a request requires; a bad one is named `field`.
pub fn required_lane(raw: i32, field: &str, v: &mut FieldViolations) -> Lane {
    lane_from(raw).unwrap_or_else(|| {
        v.add(field, "must be STANDARD or FAST");
        Lane::Standard
    })
}

/// Checks a rule, naming bad fields under `rule.`.
fn check_rule(rule: Option<&RoutingRule>, v: &mut FieldViolations) -> Option<RuleInput> {
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
    let RoutingConditions {
        tiers,
        vip,
        min_followers,
        topics,
        intents,
        urgencies,
        max_sentiment,
        channels,
    } = rule.when.clone().unwrap_or_default();
    let tiers = keys(&tiers, "rule.when.tiers", v);
    let topics = keys(&topics, "rule.when.topics", v);
    let intents = enums::<Intent>(&intents, "rule.when.intents", v);
    let urgencies = enums::<Urgency>(&urgencies, "rule.when.urgencies", v);
    let channels = enums::<Channel>(&channels, "rule.when.channels", v);
    v.check(
        max_sentiment.is_some_and(|s| !(-1.0..=1.0).contains(&s)),
        "rule.when.max_sentiment",
        "must be between -1 and 1",
    );
    let lane = required_lane(rule.lane, "rule.lane", v);
    let priority = priority(&rule.priority, "rule.priority", v);
    let queue = rule.queue.trim().to_owned();
    v.check(!valid_key(&queue), "rule.queue", KEY_RULE);
    let required_skills = keys(&rule.required_skills, "rule.required_skills", v);
    Some(RuleInput {
        enabled: rule.enabled,
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

impl Check for CreateRoutingRuleRequest {
    type Input = NewRule;

    fn check(&self) -> Result<NewRule, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id).to_owned();
        let rule = check_rule(self.rule.as_ref(), &mut v);
        v.into_result()?;
        let rule = rule.ok_or_else(|| invalid("rule", "is required"))?;
        Ok(NewRule { request_id, rule })
    }
}

impl Check for UpdateRoutingRuleRequest {
    type Input = RuleChange;

    fn check(&self) -> Result<RuleChange, ServiceError> {
        let mut v = FieldViolations::new();
        let (id, version) = match self.rule.as_ref() {
            Some(rule) => {
                v.version(rule.version, "rule.version");
                (v.id(&rule.rule_id, "rule.rule_id"), rule.version)
            }
            None => (None, 0),
        };
        let rule = check_rule(self.rule.as_ref(), &mut v);
        v.into_result()?;
        let (Some(id), Some(rule)) = (id, rule) else {
            return Err(invalid("rule", "is required"));
        };
        Ok(RuleChange {
            rule_id: Versioned { id, version },
            rule,
        })
    }
}

impl Check for DeleteRoutingRuleRequest {
    type Input = Versioned;

    fn check(&self) -> Result<Versioned, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.rule_id, "rule_id");
        v.version(self.version, "version");
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("rule_id", "is required"))?;
        Ok(Versioned {
            id,
            version: self.version,
        })
    }
}

impl Check for ListRoutingRulesRequest {
    type Input = Paged<()>;

    fn check(&self) -> Result<Paged<()>, ServiceError> {
        Paged::of(self.page_size, &self.page_token)
    }
}

impl Check for PutAgentRequest {
    type Input = AgentInput;

    fn check(&self) -> Result<AgentInput, ServiceError> {
        let mut v = FieldViolations::new();
        let Some(a) = self.agent.as_ref() else {
            return Err(invalid("agent", "is required"));
        };
        v.check(
            !valid_agent_id(&a.agent_id),
            "agent.agent_id",
            AGENT_ID_RULE,
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
}

impl Check for ListAgentsRequest {
    type Input = AgentFilter;

    fn check(&self) -> Result<AgentFilter, ServiceError> {
        let mut v = FieldViolations::new();
        let queue = optional_key(&self.queue, "queue", &mut v);
        let expert_topic = optional_key(&self.expert_topic, "expert_topic", &mut v);
        v.into_result()?;
        let page = Paged::<()>::of(self.page_size, &self.page_token)?;
        Ok(AgentFilter {
            queue,
            expert_topic,
            after: page.after,
            limit: page.limit,
        })
    }
}

/// A case id, its version and an optional agent id (empty: let the service choose).
pub fn case_and_agent(
    case_id: &str,
    version: i64,
    agent_id: &str,
) -> Result<Assignment, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(case_id, "case_id");
    v.version(version, "version");
    v.check(
        !agent_id.is_empty() && !valid_agent_id(agent_id),
        "agent_id",
        AGENT_ID_RULE,
    );
    v.into_result()?;
    let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
    Ok(Assignment {
        case: Versioned { id, version },
        agent_id: (!agent_id.is_empty()).then(|| agent_id.to_owned()),
        force: false,
    })
}

impl Check for AssignCaseRequest {
    type Input = Assignment;

    fn check(&self) -> Result<Assignment, ServiceError> {
        let assignment = case_and_agent(&self.case_id, self.version, &self.agent_id)?;
        Ok(Assignment {
            force: self.force,
            ..assignment
        })
    }
}

impl Check for AddExpertRequest {
    type Input = Assignment;

    fn check(&self) -> Result<Assignment, ServiceError> {
        case_and_agent(&self.case_id, self.version, &self.agent_id)
    }
}

pub fn rule(row: RuleRow) -> RoutingRule {
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
        lane: lane_to(row.lane) as i32,
        priority: row.priority.to_string(),
        queue: row.queue,
        required_skills: row.required_skills,
        version: row.version,
        created_at: Some(timestamp(row.created_at)),
        enabled: Some(row.enabled),
    }
}

pub fn agent(load: AgentLoad) -> Agent {
    let row = load.agent;
    Agent {
        agent_id: row.agent_id,
        display_name: row.display_name,
        queues: row.queues,
        skills: row.skills,
        capacity: u32::try_from(row.capacity).unwrap_or(0),
        available: row.available,
        expert_topics: row.expert_topics,
        version: row.version,
        open_cases: u32::try_from(load.open_cases).unwrap_or(u32::MAX),
    }
}
