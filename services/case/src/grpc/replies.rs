//! Reply requests checked into what the domain takes, and the guard's report
//! and policy as the API shows them.

use earshot_proto::case::v1::{
    AuthenticityReport, CheckReplyRequest, GuardMode, GuardPhrase, GuardPolicy,
    PutGuardPolicyRequest, SendReplyRequest,
};
use earshot_proto::events::v1::authenticity_finding::Kind;
use earshot_server::{FieldViolations, ServiceError, invalid};

use super::Check;
use crate::record::Versioned;
use crate::replies::guard::{self, Report};
use crate::replies::store::PolicyRow;
use crate::replies::{Draft, GuardSettings, Outgoing};

const MAX_BODY_CHARS: usize = 10_000;
const MAX_LOOKBACK: u32 = 10_000;
const MAX_PHRASES: usize = 200;

fn check_body(body: &str, v: &mut FieldViolations) {
    v.check(body.trim().is_empty(), "body", "is required");
    v.check(
        body.chars().count() > MAX_BODY_CHARS,
        "body",
        "must be at most 10000 characters",
    );
}

impl Check for CheckReplyRequest {
    type Input = Draft;

    fn check(&self) -> Result<Draft, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.case_id, "case_id");
        check_body(&self.body, &mut v);
        v.into_result()?;
        let case_id = id.ok_or_else(|| invalid("case_id", "is required"))?;
        Ok(Draft {
            case_id,
            body: self.body.clone(),
        })
    }
}

impl Check for SendReplyRequest {
    type Input = Outgoing;

    fn check(&self) -> Result<Outgoing, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id);
        let id = v.id(&self.case_id, "case_id");
        v.version(self.version, "version");
        check_body(&self.body, &mut v);
        let cites = match (self.kb_article_id.is_empty(), self.kb_article_version) {
            (true, 0) => None,
            (true, _) => {
                v.add("kb_article_id", "is required with kb_article_version");
                None
            }
            (false, 0) => {
                v.add("kb_article_version", "is required with kb_article_id");
                None
            }
            (false, version) => v
                .id(&self.kb_article_id, "kb_article_id")
                .map(|id| (id, i32::try_from(version).unwrap_or(i32::MAX))),
        };
        v.into_result()?;
        let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
        Ok(Outgoing {
            cites,
            request_id: request_id.to_owned(),
            case: Versioned {
                id,
                version: self.version,
            },
            body: self.body.trim().to_owned(),
            public: self.public,
        })
    }
}

impl Check for PutGuardPolicyRequest {
    type Input = GuardSettings;

    /// Checks a guard policy, naming bad fields under `policy.`.
    fn check(&self) -> Result<GuardSettings, ServiceError> {
        let Some(p) = self.policy.as_ref() else {
            return Err(invalid("policy", "is required"));
        };
        let mut v = FieldViolations::new();
        let block = match GuardMode::try_from(p.mode) {
            Ok(GuardMode::Warn) => false,
            Ok(GuardMode::Block) => true,
            _ => {
                v.add("policy.mode", "must be WARN or BLOCK");
                false
            }
        };
        v.check(
            !(0.0..=1.0).contains(&p.similarity_threshold),
            "policy.similarity_threshold",
            "must be between 0 and 1 (0 means 0.5)",
        );
        v.check(
            p.lookback_replies > MAX_LOOKBACK,
            "policy.lookback_replies",
            "must be at most 10000",
        );
        v.check(
            p.extra_phrases.len() + p.disabled_phrases.len() > MAX_PHRASES,
            "policy.extra_phrases",
            "at most 200 phrases in all",
        );
        let mut extra = Vec::new();
        for (i, phrase) in p.extra_phrases.iter().enumerate() {
            let kind = Kind::try_from(phrase.kind).unwrap_or(Kind::Unspecified);
            if matches!(kind, Kind::Unspecified | Kind::NearDuplicate) {
                v.add(
                    format!("policy.extra_phrases[{i}].kind"),
                    "must be HEDGING, BOILERPLATE, REFLEX_DM or CUSTOM",
                );
            }
            let text = guard::normalise(&phrase.phrase);
            if text.is_empty() || text.chars().count() > 200 {
                v.add(
                    format!("policy.extra_phrases[{i}].phrase"),
                    "must hold 1 to 200 characters of words",
                );
            }
            extra.push((kind, text));
        }
        let disabled_phrases: Vec<String> = p
            .disabled_phrases
            .iter()
            .map(|d| guard::normalise(d))
            .collect();
        v.check(
            p.version < 0,
            "policy.version",
            "must be 0 to create, else the version last read",
        );
        v.into_result()?;
        let default_lookback = i32::try_from(guard::DEFAULT_LOOKBACK).unwrap_or(1000);
        Ok(GuardSettings {
            block,
            threshold: if p.similarity_threshold == 0.0 {
                guard::DEFAULT_THRESHOLD
            } else {
                p.similarity_threshold
            },
            lookback: if p.lookback_replies == 0 {
                default_lookback
            } else {
                i32::try_from(p.lookback_replies).unwrap_or(default_lookback)
            },
            extra,
            disabled_phrases,
            version: p.version,
        })
    }
}

pub fn report(report: Report) -> AuthenticityReport {
    let (id, similarity, excerpt) = report
        .most_similar
        .map(|(id, s, e)| (id.to_string(), s, e))
        .unwrap_or_default();
    AuthenticityReport {
        findings: report.findings,
        most_similar_reply_id: id,
        most_similar_similarity: similarity,
        most_similar_excerpt: excerpt,
        blocked: report.blocked,
    }
}

pub fn policy(row: PolicyRow) -> GuardPolicy {
    GuardPolicy {
        mode: if row.block {
            GuardMode::Block
        } else {
            GuardMode::Warn
        } as i32,
        similarity_threshold: row.threshold,
        lookback_replies: u32::try_from(row.lookback).unwrap_or(0),
        extra_phrases: row
            .extra_kinds
            .iter()
            .zip(&row.extra_phrases)
            .map(|(k, p)| GuardPhrase {
                kind: i32::from(*k),
                phrase: p.clone(),
            })
            .collect(),
        disabled_phrases: row.disabled_phrases,
        version: row.version,
    }
}
