//! Drill-down: the cases and mentions behind any figure, newest first, a
//! keyset page at a time, read from the facts with the same filters the
//! figures were counted with.

pub mod store;

use earshot_proto::common::v1::Channel;
use earshot_proto::insight::v1 as pb;
use earshot_proto::insight::v1::Dimension;
use earshot_server::convert::{Cursor, timestamp};
use earshot_server::{FieldViolations, Keyed, ServiceError};

use crate::drivers::check_key;
use crate::facts::{CaseFact, MentionFact, SLA_BREACHED};
use crate::range::{self, Days};

/// A checked case filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Cases {
    pub days: Days,
    /// The column a dimension filters on and the value bound for it.
    pub dimension: Option<(Dimension, String)>,
    pub driver: Option<(String, i16)>,
    /// 0 first response, 1 next response, 2 resolution.
    pub sla_breached: Option<usize>,
    pub reopened_only: bool,
    pub goodwill_only: bool,
}

/// A channel named by its word ("X", "EMAIL").
pub fn channel_of(word: &str) -> Option<i16> {
    Channel::from_str_name(&format!("CHANNEL_{}", word.trim().to_ascii_uppercase()))
        .filter(|c| *c != Channel::Unspecified)
        .and_then(|c| i16::try_from(c as i32).ok())
}

pub const SLA_TARGETS: [&str; 3] = ["FIRST_RESPONSE", "NEXT_RESPONSE", "RESOLUTION"];

pub fn check_cases(f: Option<&pb::CaseFilter>, field: &str) -> Result<Cases, ServiceError> {
    let Some(f) = f else {
        return Err(earshot_server::invalid(field, "is required"));
    };
    let days = range::required(f.range.as_ref(), &format!("{field}.range"))?;
    let mut v = FieldViolations::new();
    let dimension = match Dimension::try_from(f.dimension) {
        Err(_) => {
            v.add(format!("{field}.dimension"), "must be a known dimension");
            None
        }
        Ok(Dimension::Unspecified) => {
            v.check(
                !f.value.is_empty(),
                format!("{field}.value"),
                "needs a dimension",
            );
            None
        }
        Ok(Dimension::Channel) => {
            v.check(
                channel_of(&f.value).is_none(),
                format!("{field}.value"),
                "must be a channel (X, FACEBOOK, INSTAGRAM, REVIEW, EMAIL, CHAT, PHONE, WEB_FORM)",
            );
            Some((Dimension::Channel, f.value.clone()))
        }
        Ok(dim) => Some((dim, f.value.clone())),
    };
    let driver = f.driver.as_ref().map(|k| {
        check_key(k, &format!("{field}.driver"), false, &mut v);
        (k.topic.clone(), i16::try_from(k.intent).unwrap_or(0))
    });
    let sla_breached = if f.sla_breached.is_empty() {
        None
    } else {
        let slot = SLA_TARGETS.iter().position(|t| *t == f.sla_breached);
        v.check(
            slot.is_none(),
            format!("{field}.sla_breached"),
            "must be FIRST_RESPONSE, NEXT_RESPONSE or RESOLUTION",
        );
        slot
    };
    v.into_result()?;
    Ok(Cases {
        days,
        dimension,
        driver,
        sla_breached,
        reopened_only: f.reopened_only,
        goodwill_only: f.goodwill_only,
    })
}

/// A checked mention filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Mentions {
    pub days: Days,
    pub driver: Option<pb::DriverKey>,
    pub recurrent_only: bool,
    pub negative_only: bool,
}

pub fn check_mentions(
    f: Option<&pb::MentionFilter>,
    field: &str,
) -> Result<Mentions, ServiceError> {
    let Some(f) = f else {
        return Err(earshot_server::invalid(field, "is required"));
    };
    let days = range::required(f.range.as_ref(), &format!("{field}.range"))?;
    let mut v = FieldViolations::new();
    if let Some(k) = &f.driver {
        check_key(k, &format!("{field}.driver"), true, &mut v);
    }
    v.into_result()?;
    Ok(Mentions {
        days,
        driver: f.driver.clone(),
        recurrent_only: f.recurrent_only,
        negative_only: f.negative_only,
    })
}

/// Drill-downs page cases by opening and mentions by posting, newest first.
impl Keyed for CaseFact {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.opened_at,
            id: self.case_id,
        }
    }
}

impl Keyed for MentionFact {
    fn cursor(&self) -> Cursor {
        Cursor {
            at: self.posted_at,
            id: self.mention_id,
        }
    }
}

pub fn case_fact(f: &CaseFact) -> pb::CaseFact {
    pb::CaseFact {
        case_id: f.case_id.to_string(),
        version: f.version,
        status: f.status.clone(),
        channel: i32::from(f.channel),
        public: f.public,
        topic: f.topic.clone(),
        intent: i32::from(f.intent),
        priority: f.priority.clone(),
        lane: f.lane.clone(),
        queue: f.queue.clone(),
        agent: f.agent.clone(),
        opened_at: Some(timestamp(f.opened_at)),
        first_response_secs: f.first_response_secs.unwrap_or(0.0),
        resolution_secs: f.resolution_secs.unwrap_or(0.0),
        reopens: u32::try_from(f.reopens).unwrap_or(0),
        goodwill_gestures: u32::try_from(f.goodwill_gestures).unwrap_or(0),
        goodwill_minor: f.goodwill_minor,
        csat: u32::try_from(f.csat).unwrap_or(0),
        sla_breached: f
            .sla_states()
            .iter()
            .zip(SLA_TARGETS)
            .filter(|(s, _)| **s == SLA_BREACHED)
            .map(|(_, t)| t.to_owned())
            .collect(),
    }
}

pub fn mention_fact(m: &MentionFact) -> pb::MentionFact {
    pb::MentionFact {
        mention_id: m.mention_id.to_string(),
        channel: i32::from(m.channel),
        public: m.public,
        driver: Some(crate::drivers::key(&m.topic, m.intent, &m.rule_id)),
        author: m.author.clone(),
        posted_at: Some(timestamp(m.posted_at)),
        sentiment: m.sentiment.unwrap_or(0.0),
        recurrent: m.recurrent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_proto::insight::v1::{Day, DayRange};

    fn range() -> Option<DayRange> {
        Some(DayRange {
            from: Some(Day {
                year: 2026,
                month: 3,
                day: 1,
            }),
            to: Some(Day {
                year: 2026,
                month: 3,
                day: 31,
            }),
        })
    }

    #[test]
    fn case_filters_name_each_bad_field() {
        let f = pb::CaseFilter {
            range: range(),
            dimension: Dimension::Channel as i32,
            value: "pigeon".into(),
            sla_breached: "LUNCH".into(),
            driver: Some(pb::DriverKey {
                topic: String::new(),
                intent: 99,
                rule_id: String::new(),
            }),
            ..Default::default()
        };
        let err = check_cases(Some(&f), "filter")
            .expect_err("bad")
            .to_string();
        for field in [
            "filter.value",
            "filter.sla_breached",
            "filter.driver.topic",
            "filter.driver.intent",
        ] {
            assert!(err.contains(field), "{field} in {err}");
        }
        let ok = pb::CaseFilter {
            range: range(),
            dimension: Dimension::Channel as i32,
            value: "x".into(),
            sla_breached: "RESOLUTION".into(),
            ..Default::default()
        };
        let c = check_cases(Some(&ok), "filter").expect("ok");
        assert_eq!(c.sla_breached, Some(2));
        assert_eq!(channel_of("x"), Some(Channel::X as i16));
        assert!(check_cases(None, "filter").is_err());
    }
}
