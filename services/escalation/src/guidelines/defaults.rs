//! The guidelines every tenant starts with: what a support team would set up
//! on its first day, visible and editable through the API like any other.

use earshot_proto::common::v1::Urgency;
use earshot_proto::escalation::v1::{self as pb, condition};

use crate::vocabulary::{Severity, Team};

fn leaf(kind: condition::Kind) -> pb::Condition {
    pb::Condition { kind: Some(kind) }
}

fn urgency(u: Urgency) -> pb::Condition {
    leaf(condition::Kind::Urgency(pb::UrgencyCondition {
        any_of: vec![u as i32],
    }))
}

fn level(team: Team, minutes: u32) -> pb::LadderLevel {
    pb::LadderLevel {
        team: team as i32,
        ack_within_seconds: minutes * 60,
    }
}

fn guideline(
    name: &str,
    severity: Severity,
    condition: pb::Condition,
    actions: pb::Actions,
) -> pb::GuidelineInput {
    pb::GuidelineInput {
        name: name.to_owned(),
        severity: severity as i32,
        condition: Some(condition),
        actions: Some(actions),
        enabled: true,
    }
}

/// The defaults, in the order they are listed.
pub fn guidelines() -> Vec<pb::GuidelineInput> {
    vec![
        guideline(
            "Legal threat",
            Severity::Sev2,
            urgency(Urgency::LegalThreat),
            pb::Actions {
                team: Team::Legal as i32,
                ack_within_seconds: 30 * 60,
                ladder: vec![level(Team::Legal, 30), level(Team::Executive, 60)],
                ladder_repeats: 0,
                raise_case_priority: true,
                notify_webhooks: true,
                ..Default::default()
            },
        ),
        guideline(
            "Safety",
            Severity::Sev2,
            urgency(Urgency::Safety),
            pb::Actions {
                team: Team::ServiceLead as i32,
                ack_within_seconds: 15 * 60,
                ladder: vec![level(Team::ServiceLead, 15), level(Team::Executive, 30)],
                ladder_repeats: 1,
                raise_case_priority: true,
                notify_webhooks: true,
                ..Default::default()
            },
        ),
        guideline(
            "Media or influencer, negative",
            Severity::Sev2,
            leaf(condition::Kind::All(pb::ConditionList {
                conditions: vec![
                    leaf(condition::Kind::Any(pb::ConditionList {
                        conditions: vec![
                            urgency(Urgency::MediaAttention),
                            leaf(condition::Kind::Influencer(pb::InfluencerCondition {
                                min_followers: 10_000,
                                verified: true,
                            })),
                        ],
                    })),
                    leaf(condition::Kind::Sentiment(pb::SentimentCondition {
                        at_or_below: -0.3,
                    })),
                ],
            })),
            pb::Actions {
                team: Team::Pr as i32,
                ack_within_seconds: 15 * 60,
                ladder: vec![level(Team::Pr, 15), level(Team::Executive, 30)],
                ladder_repeats: 0,
                raise_case_priority: true,
                open_incident: true,
                notify_webhooks: true,
                holding_statement: Some(pb::HoldingStatement {
                    template: "We've seen what is being said about {topic} and we are looking \
                               into it right now. We'll share an update here within 20 minutes."
                        .to_owned(),
                    first_within_seconds: 5 * 60,
                    update_every_seconds: 20 * 60,
                }),
            },
        ),
        guideline(
            "Fast-lane SLA breach",
            Severity::Sev3,
            leaf(condition::Kind::SlaBreach(pb::SlaBreachCondition {
                target: String::new(),
                lane: "FAST".to_owned(),
            })),
            pb::Actions {
                team: Team::ServiceLead as i32,
                ack_within_seconds: 30 * 60,
                ladder: vec![level(Team::Executive, 60)],
                ladder_repeats: 0,
                raise_case_priority: false,
                notify_webhooks: true,
                ..Default::default()
            },
        ),
        guideline(
            "Negative spike",
            Severity::Sev2,
            leaf(condition::Kind::Spike(pb::SpikeCondition {
                detector_id: String::new(),
                series: String::new(),
                min_negative_share: 0.5,
            })),
            pb::Actions {
                team: Team::Pr as i32,
                ack_within_seconds: 10 * 60,
                ladder: vec![level(Team::Pr, 10), level(Team::Executive, 20)],
                ladder_repeats: 1,
                raise_case_priority: false,
                open_incident: true,
                notify_webhooks: true,
                holding_statement: Some(pb::HoldingStatement {
                    template: "We know many of you are having trouble with {topic}. Our team is \
                               on it and we'll post an update within 20 minutes."
                        .to_owned(),
                    first_within_seconds: 5 * 60,
                    update_every_seconds: 20 * 60,
                }),
            },
        ),
    ]
}
