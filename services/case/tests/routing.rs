//! Routing rules, agents with capacity, assignment and experts, against a
//! real case service and Postgres.

mod common;

use common::{Harness, Mention, assert_code, assert_invalid, audit, configuration_trail};
use earshot_proto::case::v1::case_service_client::CaseServiceClient;
use earshot_proto::case::v1::{
    AddExpertRequest, Agent, AssignCaseRequest, Case, CreateCustomerRequest,
    CreateRoutingRuleRequest, CustomerAttributes, DeleteRoutingRuleRequest, Identity, Lane,
    ListAgentsRequest, ListAuditEntriesRequest, ListCasesRequest, ListRoutingRulesRequest,
    PutAgentRequest, RoutingConditions, RoutingRule, UpdateRoutingRuleRequest,
};
use earshot_proto::common::v1::{Channel, Intent};
use earshot_testkit::AuthedChannel;
use tonic::Code;

type Client = CaseServiceClient<AuthedChannel>;

fn rule(
    name: &str,
    order: i32,
    when: RoutingConditions,
    lane: Lane,
    priority: &str,
    queue: &str,
    skills: &[&str],
) -> RoutingRule {
    RoutingRule {
        name: name.into(),
        order,
        when: Some(when),
        lane: lane as i32,
        priority: priority.into(),
        queue: queue.into(),
        required_skills: skills.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

async fn create_rule(client: &mut Client, request_id: &str, rule: RoutingRule) -> RoutingRule {
    client
        .create_routing_rule(CreateRoutingRuleRequest {
            request_id: request_id.into(),
            rule: Some(rule),
        })
        .await
        .expect("rule created")
        .into_inner()
}

fn agent(id: &str, queues: &[&str], skills: &[&str], capacity: u32, experts: &[&str]) -> Agent {
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
    Agent {
        agent_id: id.into(),
        display_name: id.into(),
        queues: owned(queues),
        skills: owned(skills),
        capacity,
        available: true,
        expert_topics: owned(experts),
        ..Default::default()
    }
}

async fn put_agent(client: &mut Client, agent: Agent) -> Agent {
    client
        .put_agent(PutAgentRequest { agent: Some(agent) })
        .await
        .expect("agent put")
        .into_inner()
}

async fn case_of(client: &mut Client, mention_id: &str) -> Case {
    client
        .list_cases(ListCasesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .cases
        .into_iter()
        .find(|c| c.mention_id == mention_id)
        .unwrap_or_else(|| panic!("a case for {mention_id}"))
}

/// Acme's routing: VIPs to a French-speaking fast lane, angry customers and
/// large audiences fast, card delivery to the cards queue.
async fn set_up(h: &Harness) -> Client {
    let mut acme = h.client("acme");
    create_rule(
        &mut acme,
        "r-vip",
        rule(
            "VIP",
            1,
            RoutingConditions {
                vip: true,
                ..Default::default()
            },
            Lane::Fast,
            "urgent",
            "vip",
            &["fr"],
        ),
    )
    .await;
    create_rule(
        &mut acme,
        "r-angry",
        rule(
            "Angry on X",
            2,
            RoutingConditions {
                max_sentiment: Some(-0.5),
                channels: vec![Channel::X as i32],
                ..Default::default()
            },
            Lane::Fast,
            "high",
            "social",
            &[],
        ),
    )
    .await;
    create_rule(
        &mut acme,
        "r-audience",
        rule(
            "Audience",
            3,
            RoutingConditions {
                min_followers: 100_000,
                ..Default::default()
            },
            Lane::Fast,
            "high",
            "social",
            &[],
        ),
    )
    .await;
    create_rule(
        &mut acme,
        "r-cards",
        rule(
            "Card delivery",
            4,
            RoutingConditions {
                topics: vec!["card_delivery".into()],
                ..Default::default()
            },
            Lane::Standard,
            "normal",
            "cards",
            &[],
        ),
    )
    .await;
    put_agent(&mut acme, agent("ann", &["vip"], &["fr", "en"], 1, &[])).await;
    put_agent(&mut acme, agent("bob", &["vip", "social"], &["en"], 5, &[])).await;
    put_agent(
        &mut acme,
        agent("cy", &["cards"], &["en"], 2, &["card_delivery"]),
    )
    .await;
    acme.create_customer(CreateCustomerRequest {
        request_id: "vip-1".into(),
        display_name: "Very Important".into(),
        attributes: Some(CustomerAttributes {
            vip: true,
            tier: "gold".into(),
            ..Default::default()
        }),
        identities: vec![Identity {
            platform: "x".into(),
            value: "vip1".into(),
        }],
        ..Default::default()
    })
    .await
    .expect("vip created");
    acme
}

#[tokio::test]
async fn rules_route_new_cases_and_agents_take_them_by_load_capacity_and_skill() {
    let h = Harness::start().await;
    let mut acme = set_up(&h).await;
    h.deliver(vec![
        Mention {
            mention_id: "vip-a",
            author: "vip1",
            thread: "a",
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "vip-b",
            author: "vip1",
            thread: "b",
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "angry",
            author: "u2",
            thread: "c",
            sentiment: Some(-0.8),
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "calm",
            author: "u3",
            thread: "d",
            sentiment: Some(0.4),
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "famous",
            author: "u4",
            thread: "e",
            followers: 250_000,
            ..Default::default()
        }
        .event(),
        Mention {
            mention_id: "card",
            author: "u5",
            thread: "f",
            topic: "card_delivery",
            ..Default::default()
        }
        .event(),
    ])
    .await;

    let vip = case_of(&mut acme, "vip-a").await;
    assert_eq!(
        (
            vip.lane,
            vip.priority.as_str(),
            vip.queue.as_str(),
            vip.assignee.as_str()
        ),
        (Lane::Fast as i32, "urgent", "vip", "ann")
    );
    assert_eq!(vip.required_skills, ["fr"]);
    assert!(!vip.routing_rule_id.is_empty());
    // Ann is full; Bob is in the queue but lacks French: the second waits.
    let waiting = case_of(&mut acme, "vip-b").await;
    assert_eq!(
        (waiting.queue.as_str(), waiting.assignee.as_str()),
        ("vip", "")
    );
    let angry = case_of(&mut acme, "angry").await;
    assert_eq!(
        (angry.lane, angry.queue.as_str(), angry.assignee.as_str()),
        (Lane::Fast as i32, "social", "bob")
    );
    let calm = case_of(&mut acme, "calm").await;
    assert_eq!(
        (
            calm.lane,
            calm.priority.as_str(),
            calm.queue.as_str(),
            calm.routing_rule_id.as_str()
        ),
        (Lane::Standard as i32, "normal", "general", "")
    );
    let famous = case_of(&mut acme, "famous").await;
    assert_eq!(
        (famous.queue.as_str(), famous.assignee.as_str()),
        ("social", "bob")
    );
    let card = case_of(&mut acme, "card").await;
    assert_eq!(
        (card.queue.as_str(), card.assignee.as_str()),
        ("cards", "cy")
    );

    let agents = acme
        .list_agents(ListAgentsRequest {
            queue: "vip".into(),
            ..Default::default()
        })
        .await
        .expect("agents")
        .into_inner()
        .agents;
    let loads: Vec<_> = agents
        .iter()
        .map(|a| (a.agent_id.as_str(), a.open_cases))
        .collect();
    assert_eq!(loads, [("ann", 1), ("bob", 2)]);

    // No one with room and the skill: auto-assignment says so; by hand works.
    assert_code(
        acme.assign_case(AssignCaseRequest {
            case_id: waiting.case_id.clone(),
            version: waiting.version,
            agent_id: String::new(),
            force: false,
        })
        .await,
        Code::FailedPrecondition,
    );
    let by_hand = acme
        .assign_case(AssignCaseRequest {
            case_id: waiting.case_id.clone(),
            version: waiting.version,
            agent_id: "bob".into(),
            force: false,
        })
        .await
        .expect("assigned by hand")
        .into_inner();
    assert_eq!(
        (by_hand.assignee.as_str(), by_hand.version),
        ("bob", waiting.version + 1)
    );
    assert_code(
        acme.assign_case(AssignCaseRequest {
            case_id: waiting.case_id.clone(),
            version: waiting.version,
            agent_id: "ann".into(),
            force: false,
        })
        .await,
        Code::Aborted,
    );
    assert_code(
        acme.assign_case(AssignCaseRequest {
            case_id: waiting.case_id.clone(),
            version: by_hand.version,
            agent_id: "nobody".into(),
            force: false,
        })
        .await,
        Code::NotFound,
    );
    // Ann gets room: the case goes back to her by auto-assignment.
    let ann = agents
        .into_iter()
        .find(|a| a.agent_id == "ann")
        .expect("ann");
    let roomier = put_agent(
        &mut acme,
        Agent {
            capacity: 2,
            ..ann.clone()
        },
    )
    .await;
    assert_eq!(roomier.version, ann.version + 1);
    let err = acme
        .put_agent(PutAgentRequest {
            agent: Some(Agent { capacity: 3, ..ann }),
        })
        .await;
    assert_code(err, Code::Aborted);
    let auto = acme
        .assign_case(AssignCaseRequest {
            case_id: waiting.case_id.clone(),
            version: by_hand.version,
            agent_id: String::new(),
            force: false,
        })
        .await
        .expect("auto-assigned")
        .into_inner();
    assert_eq!(auto.assignee, "ann");
    let trail = audit(
        &mut acme,
        ListAuditEntriesRequest {
            case_id: waiting.case_id.clone(),
            ..Default::default()
        },
    )
    .await;
    let assigned: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "case.assigned")
        .map(|e| e.after.clone())
        .collect();
    assert_eq!(assigned.len(), 2);
    assert!(
        assigned[0].contains("bob") && assigned[1].contains("ann"),
        "{assigned:?}"
    );

    // Experts: Cy knows card delivery; nobody else does.
    let with_expert = acme
        .add_expert(AddExpertRequest {
            case_id: card.case_id.clone(),
            version: card.version,
            agent_id: String::new(),
        })
        .await
        .expect("expert pulled in")
        .into_inner();
    assert_eq!(with_expert.experts, ["cy"]);
    assert_code(
        acme.add_expert(AddExpertRequest {
            case_id: card.case_id.clone(),
            version: with_expert.version,
            agent_id: String::new(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_code(
        acme.add_expert(AddExpertRequest {
            case_id: card.case_id.clone(),
            version: with_expert.version,
            agent_id: "bob".into(),
        })
        .await,
        Code::FailedPrecondition,
    );
    assert_code(
        acme.add_expert(AddExpertRequest {
            case_id: calm.case_id.clone(),
            version: calm.version,
            agent_id: String::new(),
        })
        .await,
        Code::FailedPrecondition,
    );
}

#[tokio::test]
async fn rules_are_created_once_updated_by_version_deleted_and_listed() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    let when = RoutingConditions {
        intents: vec![Intent::Complaint as i32],
        tiers: vec!["gold".into()],
        ..Default::default()
    };
    let created = create_rule(
        &mut acme,
        "r-1",
        rule(
            "Gold complaints",
            1,
            when.clone(),
            Lane::Fast,
            "high",
            "gold",
            &[],
        ),
    )
    .await;
    let again = create_rule(
        &mut acme,
        "r-1",
        rule("Gold complaints", 1, when, Lane::Fast, "high", "gold", &[]),
    )
    .await;
    assert_eq!(created.rule_id, again.rule_id);
    assert_eq!(created.version, 1);
    for i in 2..=3 {
        create_rule(
            &mut acme,
            &format!("r-{i}"),
            rule(
                &format!("rule {i}"),
                i,
                RoutingConditions::default(),
                Lane::Standard,
                "low",
                "general",
                &[],
            ),
        )
        .await;
    }
    let updated = acme
        .update_routing_rule(UpdateRoutingRuleRequest {
            rule: Some(RoutingRule {
                priority: "urgent".into(),
                ..created.clone()
            }),
        })
        .await
        .expect("updated")
        .into_inner();
    assert_eq!((updated.version, updated.priority.as_str()), (2, "urgent"));
    assert_code(
        acme.update_routing_rule(UpdateRoutingRuleRequest {
            rule: Some(created.clone()),
        })
        .await,
        Code::Aborted,
    );
    assert_code(
        acme.delete_routing_rule(DeleteRoutingRuleRequest {
            rule_id: created.rule_id.clone(),
            version: 1,
        })
        .await,
        Code::Aborted,
    );
    acme.delete_routing_rule(DeleteRoutingRuleRequest {
        rule_id: created.rule_id.clone(),
        version: 2,
    })
    .await
    .expect("deleted");
    assert_code(
        acme.delete_routing_rule(DeleteRoutingRuleRequest {
            rule_id: created.rule_id.clone(),
            version: 2,
        })
        .await,
        Code::NotFound,
    );
    let first = acme
        .list_routing_rules(ListRoutingRulesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("page 1")
        .into_inner();
    let second = acme
        .list_routing_rules(ListRoutingRulesRequest {
            page_size: 1,
            page_token: first.next_page_token,
        })
        .await
        .expect("page 2")
        .into_inner();
    let names: Vec<_> = first
        .rules
        .iter()
        .chain(&second.rules)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["rule 2", "rule 3"]);

    // Every change to the rules is in the configuration trail, with its
    // actor; the refused ones left nothing.
    let trail = configuration_trail(&mut acme).await;
    let of_created: Vec<(&str, &str, &str)> = trail
        .iter()
        .filter(|e| e.after.contains(&created.rule_id))
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.before.as_str()))
        .collect();
    assert_eq!(
        of_created,
        [
            ("routing_rule.created", "test-user", "{}"),
            ("routing_rule.updated", "test-user", r#"{"version": 1}"#),
            ("routing_rule.deleted", "test-user", r#"{"version": 2}"#),
        ]
    );
    assert_eq!(
        trail.len(),
        5,
        "three creations, an update, a deletion: {trail:?}"
    );
    assert!(
        trail
            .iter()
            .all(|e| e.case_id.is_empty() && e.customer_id.is_empty())
    );
}

#[tokio::test]
async fn bad_input_on_every_routing_call_names_the_field() {
    let h = Harness::start().await;
    let mut acme = h.client("acme");
    assert_invalid(
        acme.create_routing_rule(CreateRoutingRuleRequest {
            request_id: String::new(),
            rule: Some(RoutingRule {
                when: Some(RoutingConditions {
                    tiers: vec!["Gold Tier".into()],
                    intents: vec![0],
                    max_sentiment: Some(-3.0),
                    channels: vec![99],
                    ..Default::default()
                }),
                priority: "asap".into(),
                ..Default::default()
            }),
        })
        .await,
        &[
            "request_id",
            "rule.name",
            "rule.when.tiers[0]",
            "rule.when.intents[0]",
            "rule.when.channels[0]",
            "rule.when.max_sentiment",
            "rule.lane",
            "rule.priority",
            "rule.queue",
        ],
    );
    assert_invalid(
        acme.update_routing_rule(UpdateRoutingRuleRequest { rule: None })
            .await,
        &["rule"],
    );
    assert_invalid(
        acme.delete_routing_rule(DeleteRoutingRuleRequest {
            rule_id: "x".into(),
            version: 0,
        })
        .await,
        &["rule_id", "version"],
    );
    assert_invalid(
        acme.list_routing_rules(ListRoutingRulesRequest {
            page_size: 501,
            ..Default::default()
        })
        .await,
        &["page_size"],
    );
    assert_invalid(
        acme.put_agent(PutAgentRequest {
            agent: Some(Agent {
                agent_id: "has space".into(),
                queues: vec!["OK?".into()],
                capacity: 0,
                ..Default::default()
            }),
        })
        .await,
        &["agent.agent_id", "agent.queues[0]", "agent.capacity"],
    );
    assert_invalid(
        acme.list_agents(ListAgentsRequest {
            queue: "Bad Queue".into(),
            ..Default::default()
        })
        .await,
        &["queue"],
    );
    assert_invalid(
        acme.assign_case(AssignCaseRequest {
            case_id: String::new(),
            version: 0,
            agent_id: "a b".into(),
            force: false,
        })
        .await,
        &["case_id", "version", "agent_id"],
    );
    assert_invalid(
        acme.add_expert(AddExpertRequest {
            case_id: "x".into(),
            version: 1,
            agent_id: String::new(),
        })
        .await,
        &["case_id"],
    );
}

#[tokio::test]
async fn one_tenants_routing_never_touches_another_tenant() {
    let h = Harness::start().await;
    let mut acme = set_up(&h).await;
    let mut globex = h.client("globex");
    // Globex's rules and agents are its own.
    assert!(
        globex
            .list_routing_rules(ListRoutingRulesRequest::default())
            .await
            .expect("list")
            .into_inner()
            .rules
            .is_empty()
    );
    assert!(
        globex
            .list_agents(ListAgentsRequest::default())
            .await
            .expect("list")
            .into_inner()
            .agents
            .is_empty()
    );
    put_agent(&mut globex, agent("ann", &["general"], &[], 1, &[])).await;
    h.deliver(vec![
        Mention {
            tenant: "globex",
            mention_id: "g-1",
            author: "vip1",
            thread: "a",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let theirs = case_of(&mut globex, "g-1").await;
    assert_eq!(
        (theirs.lane, theirs.queue.as_str(), theirs.assignee.as_str()),
        (Lane::Standard as i32, "general", "ann"),
        "acme's VIP rule does not apply to globex"
    );
    assert_code(
        acme.assign_case(AssignCaseRequest {
            case_id: theirs.case_id.clone(),
            version: theirs.version,
            agent_id: "ann".into(),
            force: false,
        })
        .await,
        Code::NotFound,
    );
    let rules = acme
        .list_routing_rules(ListRoutingRulesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .rules;
    assert_code(
        globex
            .delete_routing_rule(DeleteRoutingRuleRequest {
                rule_id: rules[0].rule_id.clone(),
                version: 1,
            })
            .await,
        Code::NotFound,
    );
    // Acme's ann is untouched by globex's ann.
    let acme_ann = acme
        .list_agents(ListAgentsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .agents;
    assert_eq!(acme_ann[0].queues, ["vip"]);
}

#[tokio::test]
async fn routing_and_loads_survive_a_restart() {
    let mut h = Harness::start().await;
    let mut acme = set_up(&h).await;
    h.deliver(vec![
        Mention {
            mention_id: "vip-a",
            author: "vip1",
            thread: "a",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    h.service.restart().await;
    h.deliver(vec![
        Mention {
            mention_id: "vip-b",
            author: "vip1",
            thread: "b",
            ..Default::default()
        }
        .event(),
    ])
    .await;
    let first = case_of(&mut acme, "vip-a").await;
    let second = case_of(&mut acme, "vip-b").await;
    assert_eq!(first.assignee, "ann");
    assert_eq!(
        (second.queue.as_str(), second.assignee.as_str()),
        ("vip", ""),
        "ann is still full"
    );
}
