//! Guidelines: what a tenant escalates and how. A guideline's definition is
//! its `GuidelineInput` proto, checked once when written ([`check`]) and
//! compiled when loaded ([`Compiled`]) into conditions that evaluate a
//! [`Subject`] without touching the database.

pub mod defaults;
pub mod store;

use std::collections::HashSet;
use std::time::Duration;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use earshot_proto::common::v1::{Intent, Urgency};
use earshot_proto::escalation::v1::{self as pb, condition};
use earshot_proto::events::v1::{MentionClassified, SlaBreached};
use earshot_server::FieldViolations;
use uuid::Uuid;

use crate::vocabulary::{Severity, Team};

/// Deepest nesting of `all`/`any` a guideline may have.
pub const MAX_DEPTH: usize = 6;
/// Most conditions (leaves and lists) in one guideline.
pub const MAX_CONDITIONS: usize = 64;
/// Most entries in one condition's list (phrases, topics, rules, ...).
pub const MAX_LIST: usize = 200;
pub const MAX_NAME_CHARS: usize = 120;
pub const MAX_PHRASE_CHARS: usize = 200;
pub const MAX_TEMPLATE_CHARS: usize = 2000;
pub const MAX_LADDER_LEVELS: usize = 6;
pub const MAX_LADDER_REPEATS: u32 = 5;
/// Shortest acknowledgement window: shorter pages nobody can answer.
pub const MIN_ACK_SECONDS: u32 = 60;
/// Longest: a week.
pub const MAX_ACK_SECONDS: u32 = 7 * 24 * 3600;
/// Placeholders a holding statement may use.
pub const PLACEHOLDERS: &[&str] = &["guideline", "severity", "topic", "trigger"];

/// What an evaluation looks at: a mention, a case event or a spike alert.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Mention(&'a MentionClassified),
    CaseOpened { vip: bool, topic: &'a str },
    SlaBreach(&'a SlaBreached),
    Spike(&'a SpikeFacts),
}

/// What a spike condition sees of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeFacts {
    pub detector_id: Uuid,
    pub series: String,
    pub negative_share: f64,
}

/// A condition ready to evaluate.
#[derive(Debug, Clone)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Urgency(Vec<i32>),
    Influencer {
        min_followers: u64,
        verified: bool,
    },
    Vip,
    SentimentAtOrBelow(f64),
    Intent(Vec<i32>),
    Topic(Vec<String>),
    Rule(Vec<String>),
    Phrase(AhoCorasick),
    SlaBreach {
        target: String,
        lane: String,
    },
    Spike {
        detector_id: Option<Uuid>,
        series: String,
        min_negative_share: f64,
    },
}

impl Cond {
    pub fn matches(&self, subject: Subject<'_>) -> bool {
        use Subject::*;
        match (self, subject) {
            (Cond::All(list), _) => list.iter().all(|c| c.matches(subject)),
            (Cond::Any(list), _) => list.iter().any(|c| c.matches(subject)),
            (Cond::Urgency(any_of), Mention(m)) => classification(m)
                .is_some_and(|c| c.urgency.iter().any(|u| any_of.contains(&u.urgency))),
            (
                Cond::Influencer {
                    min_followers,
                    verified,
                },
                Mention(m),
            ) => m.author.as_ref().is_some_and(|a| {
                (*verified && a.verified) || (*min_followers > 0 && a.followers >= *min_followers)
            }),
            (Cond::Vip, CaseOpened { vip, .. }) => vip,
            (Cond::SentimentAtOrBelow(threshold), Mention(m)) => classification(m)
                .and_then(|c| c.sentiment.as_ref())
                .is_some_and(|s| s.compound <= *threshold),
            (Cond::Intent(any_of), Mention(m)) => {
                classification(m).is_some_and(|c| any_of.contains(&c.intent))
            }
            (Cond::Topic(any_of), Mention(m)) => classification(m)
                .is_some_and(|c| c.topics.iter().any(|t| any_of.contains(&t.topic))),
            (Cond::Topic(any_of), CaseOpened { topic, .. }) => any_of.iter().any(|t| t == topic),
            (Cond::Rule(ids), Mention(m)) => {
                m.matched_rules.iter().any(|r| ids.contains(&r.rule_id))
            }
            // The automaton folds ASCII case itself; other letters (Ü, É)
            // are folded by lowering the text as the phrases were lowered.
            (Cond::Phrase(phrases), Mention(m)) => {
                if m.text.is_ascii() {
                    has_phrase(phrases, &m.text)
                } else {
                    has_phrase(phrases, &m.text.to_lowercase())
                }
            }
            (Cond::SlaBreach { target, lane }, SlaBreach(b)) => {
                (target.is_empty() || target.eq_ignore_ascii_case(&b.target))
                    && (lane.is_empty() || lane.eq_ignore_ascii_case(&b.lane))
            }
            (
                Cond::Spike {
                    detector_id,
                    series,
                    min_negative_share,
                },
                Spike(alert),
            ) => {
                detector_id.is_none_or(|id| id == alert.detector_id)
                    && (series.is_empty() || *series == alert.series)
                    && alert.negative_share >= *min_negative_share
            }
            // A condition about something the subject does not carry.
            _ => false,
        }
    }

    /// Whether any leaf of this condition is about spikes (so a guideline
    /// without one need not look at alerts).
    fn mentions_spikes(&self) -> bool {
        match self {
            Cond::All(list) | Cond::Any(list) => list.iter().any(Cond::mentions_spikes),
            Cond::Spike { .. } => true,
            _ => false,
        }
    }
}

fn classification(m: &MentionClassified) -> Option<&earshot_proto::common::v1::Classification> {
    m.classification.as_ref()
}

/// A guideline version as evaluations use it.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub id: Uuid,
    pub version: i32,
    pub name: String,
    pub enabled: bool,
    pub severity: Severity,
    pub team: Team,
    pub condition: Cond,
    pub watches_spikes: bool,
    pub actions: pb::Actions,
}

impl Compiled {
    /// Compiles a definition that [`check`] accepted when it was written.
    pub fn new(id: Uuid, version: i32, input: &pb::GuidelineInput) -> Self {
        let condition = compile(input.condition.as_ref());
        let actions = input.actions.clone().unwrap_or_default();
        Self {
            id,
            version,
            name: input.name.clone(),
            enabled: input.enabled,
            severity: Severity::from_proto(input.severity).unwrap_or(Severity::Sev3),
            team: Team::from_proto(actions.team).unwrap_or(Team::Support),
            watches_spikes: condition.mentions_spikes(),
            condition,
            actions,
        }
    }

    /// "<id>@<version>", as evaluations record the versions in force.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }

    pub fn ack_within(&self) -> Duration {
        Duration::from_secs(u64::from(
            self.actions.ack_within_seconds.max(MIN_ACK_SECONDS),
        ))
    }

    pub fn fires_on(&self, subject: Subject<'_>) -> bool {
        self.enabled && self.condition.matches(subject)
    }
}

fn compile(condition: Option<&pb::Condition>) -> Cond {
    let Some(kind) = condition.and_then(|c| c.kind.as_ref()) else {
        // Rejected when written; a guideline without a condition never fires.
        return Cond::Any(Vec::new());
    };
    match kind {
        condition::Kind::All(list) => {
            Cond::All(list.conditions.iter().map(|c| compile(Some(c))).collect())
        }
        condition::Kind::Any(list) => {
            Cond::Any(list.conditions.iter().map(|c| compile(Some(c))).collect())
        }
        condition::Kind::Urgency(u) => Cond::Urgency(u.any_of.clone()),
        condition::Kind::Influencer(i) => Cond::Influencer {
            min_followers: i.min_followers,
            verified: i.verified,
        },
        condition::Kind::Vip(_) => Cond::Vip,
        condition::Kind::Sentiment(s) => Cond::SentimentAtOrBelow(s.at_or_below),
        condition::Kind::Intent(i) => Cond::Intent(i.any_of.clone()),
        condition::Kind::Topic(t) => Cond::Topic(t.any_of.clone()),
        condition::Kind::Rule(r) => Cond::Rule(r.rule_ids.clone()),
        condition::Kind::Phrase(p) => match phrase_matcher(&p.any_of) {
            Ok(matcher) => Cond::Phrase(matcher),
            Err(error) => {
                tracing::error!(%error, "a stored phrase list does not compile; it never matches");
                Cond::Any(Vec::new())
            }
        },
        condition::Kind::SlaBreach(b) => Cond::SlaBreach {
            target: b.target.clone(),
            lane: b.lane.clone(),
        },
        condition::Kind::Spike(s) => Cond::Spike {
            detector_id: Uuid::parse_str(&s.detector_id).ok(),
            series: s.series.clone(),
            min_negative_share: s.min_negative_share,
        },
    }
}

/// Whether one of the phrases occurs in `text` as words: "sue" is found in
/// "I will sue" but not in "an issue". Overlapping matches are all tried, so
/// a phrase inside a longer word never hides one that stands alone.
fn has_phrase(phrases: &AhoCorasick, text: &str) -> bool {
    phrases.find_overlapping_iter(text).any(|m| {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn phrase_matcher(phrases: &[String]) -> Result<AhoCorasick, aho_corasick::BuildError> {
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .build(phrases.iter().map(|p| p.to_lowercase()))
}

/// Checks a guideline as a caller wrote it, naming every field at fault
/// under `field` (e.g. `guideline`).
pub fn check(input: &pb::GuidelineInput, field: &str, v: &mut FieldViolations) {
    let name = input.name.trim();
    v.check(name.is_empty(), format!("{field}.name"), "is required");
    v.check(
        name.chars().count() > MAX_NAME_CHARS,
        format!("{field}.name"),
        "must be at most 120 characters",
    );
    v.check(
        Severity::from_proto(input.severity).is_none(),
        format!("{field}.severity"),
        "must be SEV1, SEV2, SEV3 or SEV4",
    );
    match &input.condition {
        None => v.add(format!("{field}.condition"), "is required"),
        Some(c) => {
            let mut count = 0;
            check_condition(c, &format!("{field}.condition"), 1, &mut count, v);
            v.check(
                count > MAX_CONDITIONS,
                format!("{field}.condition"),
                "must hold at most 64 conditions",
            );
        }
    }
    match &input.actions {
        None => v.add(format!("{field}.actions"), "is required"),
        Some(a) => check_actions(a, &format!("{field}.actions"), v),
    }
}

fn check_condition(
    c: &pb::Condition,
    field: &str,
    depth: usize,
    count: &mut usize,
    v: &mut FieldViolations,
) {
    *count += 1;
    if depth > MAX_DEPTH {
        v.add(field, "nests all/any more than 6 deep");
        return;
    }
    let Some(kind) = &c.kind else {
        v.add(field, "must say what it looks for");
        return;
    };
    match kind {
        condition::Kind::All(list) | condition::Kind::Any(list) => {
            let which = if matches!(kind, condition::Kind::All(_)) {
                "all"
            } else {
                "any"
            };
            v.check(
                list.conditions.is_empty(),
                format!("{field}.{which}.conditions"),
                "must hold at least one condition",
            );
            for (i, inner) in list.conditions.iter().enumerate() {
                check_condition(
                    inner,
                    &format!("{field}.{which}.conditions[{i}]"),
                    depth + 1,
                    count,
                    v,
                );
            }
        }
        condition::Kind::Urgency(u) => {
            let at = format!("{field}.urgency.any_of");
            check_list_size(u.any_of.len(), &at, v);
            for (i, &value) in u.any_of.iter().enumerate() {
                v.check(
                    !matches!(Urgency::try_from(value), Ok(x) if x != Urgency::Unspecified),
                    format!("{at}[{i}]"),
                    "must be an urgency class",
                );
            }
        }
        condition::Kind::Influencer(i) => v.check(
            i.min_followers == 0 && !i.verified,
            format!("{field}.influencer"),
            "must ask for min_followers or verified",
        ),
        condition::Kind::Vip(_) => {}
        condition::Kind::Sentiment(s) => v.check(
            !(-1.0..=1.0).contains(&s.at_or_below),
            format!("{field}.sentiment.at_or_below"),
            "must be between -1 and 1",
        ),
        condition::Kind::Intent(i) => {
            let at = format!("{field}.intent.any_of");
            check_list_size(i.any_of.len(), &at, v);
            for (n, &value) in i.any_of.iter().enumerate() {
                v.check(
                    !matches!(Intent::try_from(value), Ok(x) if x != Intent::Unspecified),
                    format!("{at}[{n}]"),
                    "must be an intent",
                );
            }
        }
        condition::Kind::Topic(t) => check_keys(&t.any_of, &format!("{field}.topic.any_of"), v),
        condition::Kind::Rule(r) => {
            let at = format!("{field}.rule.rule_ids");
            check_list_size(r.rule_ids.len(), &at, v);
            for (i, id) in r.rule_ids.iter().enumerate() {
                v.check(
                    id.trim().is_empty() || id.len() > 128,
                    format!("{at}[{i}]"),
                    "must be a rule id",
                );
            }
        }
        condition::Kind::Phrase(p) => {
            let at = format!("{field}.phrase.any_of");
            check_list_size(p.any_of.len(), &at, v);
            for (i, phrase) in p.any_of.iter().enumerate() {
                v.check(
                    phrase.trim().is_empty() || phrase.chars().count() > MAX_PHRASE_CHARS,
                    format!("{at}[{i}]"),
                    "must be a phrase of 1 to 200 characters",
                );
            }
        }
        condition::Kind::SlaBreach(b) => {
            v.check(
                !b.target.is_empty()
                    && !["FIRST_RESPONSE", "NEXT_RESPONSE", "RESOLUTION"]
                        .contains(&b.target.as_str()),
                format!("{field}.sla_breach.target"),
                "must be FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION or empty",
            );
            v.check(
                !b.lane.is_empty() && !["FAST", "STANDARD"].contains(&b.lane.as_str()),
                format!("{field}.sla_breach.lane"),
                "must be FAST, STANDARD or empty",
            );
        }
        condition::Kind::Spike(s) => {
            v.check(
                !s.detector_id.is_empty() && Uuid::parse_str(&s.detector_id).is_err(),
                format!("{field}.spike.detector_id"),
                "must be a UUID or empty",
            );
            v.check(
                !s.series.is_empty() && !crate::spikes::is_series(&s.series),
                format!("{field}.spike.series"),
                "must be all, topic:<key>, rule:<id> or empty",
            );
            v.check(
                !(0.0..=1.0).contains(&s.min_negative_share),
                format!("{field}.spike.min_negative_share"),
                "must be between 0 and 1",
            );
        }
    }
}

fn check_list_size(len: usize, field: &str, v: &mut FieldViolations) {
    v.check(len == 0, field, "must name at least one");
    v.check(len > MAX_LIST, field, "must name at most 200");
}

fn check_keys(keys: &[String], field: &str, v: &mut FieldViolations) {
    check_list_size(keys.len(), field, v);
    for (i, key) in keys.iter().enumerate() {
        v.check(
            key.is_empty()
                || key.len() > 64
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)),
            format!("{field}[{i}]"),
            "must be a topic key (a-z, 0-9, - _ ., at most 64)",
        );
    }
}

fn check_actions(a: &pb::Actions, field: &str, v: &mut FieldViolations) {
    v.check(
        Team::from_proto(a.team).is_none(),
        format!("{field}.team"),
        "must name the team that owns the escalation",
    );
    check_ack_window(
        a.ack_within_seconds,
        &format!("{field}.ack_within_seconds"),
        v,
    );
    v.check(
        a.ladder.len() > MAX_LADDER_LEVELS,
        format!("{field}.ladder"),
        "must have at most 6 levels",
    );
    for (i, level) in a.ladder.iter().enumerate() {
        v.check(
            Team::from_proto(level.team).is_none(),
            format!("{field}.ladder[{i}].team"),
            "must name a team",
        );
        check_ack_window(
            level.ack_within_seconds,
            &format!("{field}.ladder[{i}].ack_within_seconds"),
            v,
        );
    }
    v.check(
        a.ladder_repeats > MAX_LADDER_REPEATS,
        format!("{field}.ladder_repeats"),
        "must be at most 5",
    );
    v.check(
        a.ladder_repeats > 0 && a.ladder.is_empty(),
        format!("{field}.ladder_repeats"),
        "needs a ladder to repeat",
    );
    if let Some(statement) = &a.holding_statement {
        check_statement(statement, &format!("{field}.holding_statement"), v);
    }
}

fn check_ack_window(seconds: u32, field: &str, v: &mut FieldViolations) {
    v.check(
        !(MIN_ACK_SECONDS..=MAX_ACK_SECONDS).contains(&seconds),
        field,
        "must be between 60 seconds and a week",
    );
}

/// Checks a holding statement and its cadence.
pub fn check_statement(s: &pb::HoldingStatement, field: &str, v: &mut FieldViolations) {
    v.check(
        s.template.trim().is_empty() || s.template.chars().count() > MAX_TEMPLATE_CHARS,
        format!("{field}.template"),
        "must be a text of 1 to 2000 characters",
    );
    if let Err(unknown) = placeholders(&s.template) {
        v.add(
            format!("{field}.template"),
            format!("has an unknown placeholder {{{unknown}}}; use {{guideline}}, {{severity}}, {{topic}} or {{trigger}}"),
        );
    }
    v.check(
        !(60..=86_400).contains(&s.first_within_seconds),
        format!("{field}.first_within_seconds"),
        "must be between 60 seconds and a day",
    );
    v.check(
        !(60..=86_400).contains(&s.update_every_seconds),
        format!("{field}.update_every_seconds"),
        "must be between 60 seconds and a day",
    );
}

/// The placeholders a template uses, or the first unknown one.
fn placeholders(template: &str) -> Result<HashSet<&str>, &str> {
    let mut found = HashSet::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(name);
        }
        found.insert(name);
        rest = &after[close + 1..];
    }
    Ok(found)
}

/// A holding statement's template with its placeholders filled in.
pub fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::common::v1::{
        Author, Classification, RuleMatch, Sentiment, TopicMatch, UrgencySignal,
    };

    fn leaf(kind: condition::Kind) -> pb::Condition {
        pb::Condition { kind: Some(kind) }
    }

    fn mention() -> MentionClassified {
        MentionClassified {
            mention_id: "m1".into(),
            text: "I will SUE you over this late delivery".into(),
            author: Some(Author {
                followers: 50_000,
                verified: false,
                ..Default::default()
            }),
            classification: Some(Classification {
                intent: Intent::Complaint as i32,
                sentiment: Some(Sentiment {
                    compound: -0.6,
                    ..Default::default()
                }),
                urgency: vec![UrgencySignal {
                    urgency: Urgency::LegalThreat as i32,
                    cues: vec!["sue".into()],
                }],
                topics: vec![TopicMatch {
                    topic: "delivery".into(),
                    cues: vec![],
                }],
                ..Default::default()
            }),
            matched_rules: vec![RuleMatch {
                rule_id: "r-1".into(),
                name: "brand".into(),
                version: 1,
            }],
            ..Default::default()
        }
    }

    fn cond(kind: condition::Kind) -> Cond {
        compile(Some(&leaf(kind)))
    }

    #[test]
    fn each_mention_condition_matches_what_the_mention_carries() {
        let m = mention();
        let s = Subject::Mention(&m);
        assert!(
            cond(condition::Kind::Urgency(pb::UrgencyCondition {
                any_of: vec![Urgency::LegalThreat as i32]
            }))
            .matches(s)
        );
        assert!(
            !cond(condition::Kind::Urgency(pb::UrgencyCondition {
                any_of: vec![Urgency::Safety as i32]
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Influencer(pb::InfluencerCondition {
                min_followers: 10_000,
                verified: false
            }))
            .matches(s)
        );
        assert!(
            !cond(condition::Kind::Influencer(pb::InfluencerCondition {
                min_followers: 0,
                verified: true
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Sentiment(pb::SentimentCondition {
                at_or_below: -0.5
            }))
            .matches(s)
        );
        assert!(
            !cond(condition::Kind::Sentiment(pb::SentimentCondition {
                at_or_below: -0.7
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Intent(pb::IntentCondition {
                any_of: vec![Intent::Complaint as i32]
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Topic(pb::TopicCondition {
                any_of: vec!["delivery".into()]
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Rule(pb::RuleCondition {
                rule_ids: vec!["r-1".into()]
            }))
            .matches(s)
        );
        assert!(
            cond(condition::Kind::Phrase(pb::PhraseCondition {
                any_of: vec!["Late Delivery".into()]
            }))
            .matches(s)
        );
        assert!(
            !cond(condition::Kind::Phrase(pb::PhraseCondition {
                any_of: vec!["refund".into()]
            }))
            .matches(s)
        );
        // Not carried by a mention.
        assert!(!cond(condition::Kind::Vip(pb::VipCondition {})).matches(s));
        assert!(!cond(condition::Kind::SlaBreach(pb::SlaBreachCondition::default())).matches(s));
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let sue = cond(condition::Kind::Phrase(pb::PhraseCondition {
            any_of: vec!["sue".into(), "charged twice".into()],
        }));
        let says = |text: &str| MentionClassified {
            text: text.into(),
            ..Default::default()
        };
        assert!(sue.matches(Subject::Mention(&says("I will SUE you."))));
        assert!(sue.matches(Subject::Mention(&says("Charged twice, again!"))));
        assert!(!sue.matches(Subject::Mention(&says("There is an issue with my card"))));
        assert!(!sue.matches(Subject::Mention(&says("pursued by fees"))));
        // A phrase inside a word does not hide the same phrase standing alone.
        assert!(sue.matches(Subject::Mention(&says("issue: I will sue"))));
    }

    #[test]
    fn case_and_spike_conditions_match_their_subjects() {
        let vip = Subject::CaseOpened {
            vip: true,
            topic: "billing",
        };
        assert!(cond(condition::Kind::Vip(pb::VipCondition {})).matches(vip));
        assert!(
            cond(condition::Kind::Topic(pb::TopicCondition {
                any_of: vec!["billing".into()]
            }))
            .matches(vip)
        );
        let breach = SlaBreached {
            target: "FIRST_RESPONSE".into(),
            lane: "FAST".into(),
            ..Default::default()
        };
        let fast = cond(condition::Kind::SlaBreach(pb::SlaBreachCondition {
            target: String::new(),
            lane: "FAST".into(),
        }));
        assert!(fast.matches(Subject::SlaBreach(&breach)));
        let standard = SlaBreached {
            lane: "STANDARD".into(),
            ..breach.clone()
        };
        assert!(!fast.matches(Subject::SlaBreach(&standard)));
        let detector = Uuid::now_v7();
        let alert = SpikeFacts {
            detector_id: detector,
            series: "topic:delivery".into(),
            negative_share: 0.7,
        };
        let spike = cond(condition::Kind::Spike(pb::SpikeCondition {
            detector_id: String::new(),
            series: "topic:delivery".into(),
            min_negative_share: 0.5,
        }));
        assert!(spike.matches(Subject::Spike(&alert)));
        let calm = SpikeFacts {
            negative_share: 0.2,
            ..alert.clone()
        };
        assert!(!spike.matches(Subject::Spike(&calm)));
        let other_detector = cond(condition::Kind::Spike(pb::SpikeCondition {
            detector_id: Uuid::now_v7().to_string(),
            ..Default::default()
        }));
        assert!(!other_detector.matches(Subject::Spike(&alert)));
    }

    #[test]
    fn all_and_any_combine() {
        let m = mention();
        let legal = leaf(condition::Kind::Urgency(pb::UrgencyCondition {
            any_of: vec![Urgency::LegalThreat as i32],
        }));
        let positive = leaf(condition::Kind::Sentiment(pb::SentimentCondition {
            at_or_below: -0.9,
        }));
        let all = compile(Some(&leaf(condition::Kind::All(pb::ConditionList {
            conditions: vec![legal.clone(), positive.clone()],
        }))));
        let any = compile(Some(&leaf(condition::Kind::Any(pb::ConditionList {
            conditions: vec![legal, positive],
        }))));
        assert!(!all.matches(Subject::Mention(&m)));
        assert!(any.matches(Subject::Mention(&m)));
    }

    #[test]
    fn check_names_each_field_at_fault() {
        let input = pb::GuidelineInput {
            name: " ".into(),
            severity: 9,
            condition: Some(leaf(condition::Kind::All(pb::ConditionList {
                conditions: vec![
                    leaf(condition::Kind::Sentiment(pb::SentimentCondition {
                        at_or_below: -3.0,
                    })),
                    pb::Condition { kind: None },
                    leaf(condition::Kind::Topic(pb::TopicCondition {
                        any_of: vec!["Bad Key".into()],
                    })),
                ],
            }))),
            actions: Some(pb::Actions {
                team: 0,
                ack_within_seconds: 5,
                ladder: vec![pb::LadderLevel {
                    team: 1,
                    ack_within_seconds: 0,
                }],
                ladder_repeats: 9,
                holding_statement: Some(pb::HoldingStatement {
                    template: "About {brand}".into(),
                    first_within_seconds: 300,
                    update_every_seconds: 1200,
                }),
                ..Default::default()
            }),
            enabled: true,
        };
        let mut v = FieldViolations::new();
        check(&input, "guideline", &mut v);
        let fields: Vec<&str> = v.iter().map(|x| x.field.as_str()).collect();
        for expected in [
            "guideline.name",
            "guideline.severity",
            "guideline.condition.all.conditions[0].sentiment.at_or_below",
            "guideline.condition.all.conditions[1]",
            "guideline.condition.all.conditions[2].topic.any_of[0]",
            "guideline.actions.team",
            "guideline.actions.ack_within_seconds",
            "guideline.actions.ladder[0].ack_within_seconds",
            "guideline.actions.ladder_repeats",
            "guideline.actions.holding_statement.template",
        ] {
            assert!(
                fields.contains(&expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn the_defaults_pass_their_own_check() {
        for input in defaults::guidelines() {
            let mut v = FieldViolations::new();
            check(&input, "guideline", &mut v);
            assert!(v.is_empty(), "{}: {v}", input.name);
        }
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut c = leaf(condition::Kind::Vip(pb::VipCondition {}));
        for _ in 0..MAX_DEPTH + 1 {
            c = leaf(condition::Kind::All(pb::ConditionList {
                conditions: vec![c],
            }));
        }
        let mut v = FieldViolations::new();
        let mut count = 0;
        check_condition(&c, "condition", 1, &mut count, &mut v);
        assert!(v.iter().any(|x| x.description.contains("6 deep")), "{v}");
    }

    #[test]
    fn statements_render_their_placeholders() {
        assert_eq!(
            render(
                "{severity}: about {topic}",
                &[("severity", "SEV1"), ("topic", "delivery")]
            ),
            "SEV1: about delivery"
        );
        assert_eq!(placeholders("no {brand}"), Err("brand"));
    }
}
