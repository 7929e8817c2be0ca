//! Cross-channel consistency: a customer who asks on X and one who calls
//! about the same problem should hear the same answer. Social and the
//! traditional teams answer from the same knowledge base, but each cites what
//! it knows: an article's older version, or none at all. For every driver
//! (the case's topic × intent) answered on two channels or more in a range,
//! the report compares what the replies cited, channel by channel, and flags
//! a driver whose answers do not come from a single version of the truth,
//! with the cases on each side so a lead can see both answers.
//!
//! The flags, in order:
//! - VERSIONS: the replies cited two or more distinct (article, version)
//!   pairs, on whatever channels;
//! - MISSING_ARTICLE: all cited the same one, but a channel cited none in any
//!   of its replies while another cited it. A channel that cites the article
//!   in some replies and not in others (a thank-you needs none) is not
//!   flagged: it knows the article.

pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use earshot_proto::insight::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::drivers;
use crate::range::Days;

/// Cases listed per side at most.
pub const CASES_PER_SIDE: usize = 20;

/// How one channel answered a driver, as the store groups the replies.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Side {
    pub topic: String,
    pub intent: i16,
    pub channel: i16,
    /// Empty for replies citing no article (version 0).
    pub kb_article_id: String,
    pub kb_article_version: i32,
    pub replies: i64,
    /// Newest opened first, at most [`CASES_PER_SIDE`].
    pub case_ids: Vec<Uuid>,
}

impl Side {
    fn cites(&self) -> bool {
        !self.kb_article_id.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Versions,
    MissingArticle,
}

impl Flag {
    pub fn word(self) -> &'static str {
        match self {
            Flag::Versions => "VERSIONS",
            Flag::MissingArticle => "MISSING_ARTICLE",
        }
    }
}

/// The driver was answered on more than one channel, so it can be compared.
pub fn checked(sides: &[Side]) -> bool {
    sides
        .iter()
        .map(|s| s.channel)
        .collect::<BTreeSet<_>>()
        .len()
        >= 2
}

/// What is wrong with one driver's sides, if anything (see the module's doc).
pub fn flag(sides: &[Side]) -> Option<Flag> {
    if !checked(sides) {
        return None;
    }
    let cited: BTreeSet<(&str, i32)> = sides
        .iter()
        .filter(|s| s.cites())
        .map(|s| (s.kb_article_id.as_str(), s.kb_article_version))
        .collect();
    if cited.len() >= 2 {
        return Some(Flag::Versions);
    }
    let citing: BTreeSet<i16> = sides
        .iter()
        .filter(|s| s.cites())
        .map(|s| s.channel)
        .collect();
    let silent = sides.iter().any(|s| !citing.contains(&s.channel));
    (!citing.is_empty() && silent).then_some(Flag::MissingArticle)
}

fn side(s: &Side) -> pb::ConsistencySide {
    pb::ConsistencySide {
        channel: i32::from(s.channel),
        kb_article_id: s.kb_article_id.clone(),
        kb_article_version: u32::try_from(s.kb_article_version).unwrap_or(0),
        replies: u64::try_from(s.replies).unwrap_or(0),
        case_ids: s.case_ids.iter().map(Uuid::to_string).collect(),
    }
}

/// The report from every side of every driver: flagged drivers with most
/// replies first, each side in channel and article order.
pub fn assemble(sides: Vec<Side>) -> pb::ConsistencyReport {
    let mut by_driver: BTreeMap<(String, i16), Vec<Side>> = BTreeMap::new();
    for s in sides {
        by_driver
            .entry((s.topic.clone(), s.intent))
            .or_default()
            .push(s);
    }
    let mut drivers_checked = 0;
    let mut findings: Vec<(i64, pb::ConsistencyFinding)> = Vec::new();
    for ((topic, intent), mut sides) in by_driver {
        if checked(&sides) {
            drivers_checked += 1;
        }
        let Some(flag) = flag(&sides) else { continue };
        sides.sort_by(|a, b| {
            (a.channel, &a.kb_article_id, a.kb_article_version).cmp(&(
                b.channel,
                &b.kb_article_id,
                b.kb_article_version,
            ))
        });
        findings.push((
            sides.iter().map(|s| s.replies).sum(),
            pb::ConsistencyFinding {
                driver: Some(drivers::key(&topic, intent, "")),
                kind: flag.word().to_owned(),
                sides: sides.iter().map(side).collect(),
            },
        ));
    }
    // Stable: ties stay in driver order.
    findings.sort_by_key(|(replies, _)| std::cmp::Reverse(*replies));
    pb::ConsistencyReport {
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        drivers_checked,
    }
}

/// The consistency of the replies sent in `days`.
pub async fn report(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<pb::ConsistencyReport, sqlx::Error> {
    Ok(assemble(store::sides(pool, tenant_id, days).await?))
}

#[cfg(test)]
mod tests {
    use earshot_proto::common::v1::Channel;

    use super::*;

    const X: i16 = Channel::X as i16;
    const EMAIL: i16 = Channel::Email as i16;
    const PHONE: i16 = Channel::Phone as i16;

    fn s(channel: i16, article: &str, version: i32) -> Side {
        Side {
            topic: "delivery".into(),
            intent: 1,
            channel,
            kb_article_id: article.into(),
            kb_article_version: version,
            replies: 1,
            case_ids: vec![Uuid::now_v7()],
        }
    }

    #[test]
    fn one_channel_is_never_compared() {
        assert!(!checked(&[s(X, "kb-1", 1), s(X, "kb-1", 2), s(X, "", 0)]));
        assert_eq!(flag(&[s(X, "kb-1", 1), s(X, "kb-1", 2)]), None);
    }

    #[test]
    fn two_versions_of_the_truth_are_flagged_wherever_they_were_cited() {
        assert_eq!(
            flag(&[s(X, "kb-1", 2), s(EMAIL, "kb-1", 1)]),
            Some(Flag::Versions)
        );
        assert_eq!(
            flag(&[s(X, "kb-1", 1), s(EMAIL, "kb-2", 1)]),
            Some(Flag::Versions)
        );
        // Both versions on X, the newer on e-mail: still two versions.
        assert_eq!(
            flag(&[s(X, "kb-1", 1), s(X, "kb-1", 2), s(EMAIL, "kb-1", 2)]),
            Some(Flag::Versions)
        );
        // Versions win over a missing article.
        assert_eq!(
            flag(&[s(X, "kb-1", 1), s(EMAIL, "kb-1", 2), s(PHONE, "", 0)]),
            Some(Flag::Versions)
        );
    }

    #[test]
    fn a_channel_that_never_cites_the_article_is_flagged_one_that_sometimes_does_is_not() {
        assert_eq!(
            flag(&[s(X, "kb-1", 1), s(EMAIL, "", 0)]),
            Some(Flag::MissingArticle)
        );
        assert_eq!(
            flag(&[
                s(X, "kb-1", 1),
                s(X, "", 0),
                s(EMAIL, "kb-1", 1),
                s(EMAIL, "", 0)
            ]),
            None
        );
        assert_eq!(
            flag(&[s(X, "kb-1", 1), s(EMAIL, "kb-1", 1), s(PHONE, "", 0)]),
            Some(Flag::MissingArticle)
        );
        // The same article everywhere, or none anywhere: consistent.
        assert_eq!(flag(&[s(X, "kb-1", 1), s(EMAIL, "kb-1", 1)]), None);
        assert_eq!(flag(&[s(X, "", 0), s(EMAIL, "", 0)]), None);
    }

    #[test]
    fn the_report_counts_every_compared_driver_and_lists_the_flagged_largest_first() {
        let mut refund = vec![s(EMAIL, "", 0), s(X, "kb-2", 1)];
        for side in &mut refund {
            side.topic = "refund".into();
            side.replies = 3;
        }
        let mut billing = vec![s(X, "kb-3", 1), s(EMAIL, "kb-3", 1)];
        for side in &mut billing {
            side.topic = "billing".into();
        }
        let mut login = vec![s(X, "kb-4", 1), s(X, "kb-4", 2)];
        for side in &mut login {
            side.topic = "login".into();
        }
        let delivery = vec![s(X, "kb-1", 2), s(EMAIL, "kb-1", 1)];
        let sides = [refund, billing, login, delivery].concat();
        let report = assemble(sides);
        assert_eq!(report.drivers_checked, 3);
        let found: Vec<(&str, &str)> = report
            .findings
            .iter()
            .map(|f| {
                (
                    f.driver.as_ref().map_or("", |d| d.topic.as_str()),
                    f.kind.as_str(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [("refund", "MISSING_ARTICLE"), ("delivery", "VERSIONS")]
        );
        // Sides in channel order: X (1) before e-mail (5).
        let channels: Vec<i32> = report.findings[0].sides.iter().map(|s| s.channel).collect();
        assert_eq!(channels, [i32::from(X), i32::from(EMAIL)]);
    }
}
