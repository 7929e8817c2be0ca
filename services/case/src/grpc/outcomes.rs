//! Claim, outcome and commitment requests checked into what the domain takes.

use chrono::Utc;
use earshot_proto::case::v1::{
    AddCommitmentRequest, AddGoodwillRequest, ClaimCaseRequest, KeepCommitmentRequest,
    RecordCsatRequest,
};
use earshot_proto::events::v1::goodwill_gesture::Kind;
use earshot_server::convert::from_timestamp;
use earshot_server::{FieldViolations, ServiceError, invalid};

use super::Check;
use super::routing::case_and_agent;
use crate::claims::Claim;
use crate::commitments::{Keep, Promise};
use crate::outcomes::{Csat, Gesture, MAX_AMOUNT_MINOR};
use crate::record::Versioned;
use crate::vocabulary::GoodwillKind;

impl Check for ClaimCaseRequest {
    type Input = Claim;

    fn check(&self) -> Result<Claim, ServiceError> {
        let assignment = case_and_agent(&self.case_id, self.version, "")?;
        Ok(Claim {
            case: assignment.case,
            release: self.release,
        })
    }
}

fn goodwill_kind(raw: i32) -> Option<GoodwillKind> {
    Some(match Kind::try_from(raw).ok()? {
        Kind::Unspecified => return None,
        Kind::Refund => GoodwillKind::Refund,
        Kind::Credit => GoodwillKind::Credit,
        Kind::Replacement => GoodwillKind::Replacement,
        Kind::Other => GoodwillKind::Other,
    })
}

impl Check for AddGoodwillRequest {
    type Input = Gesture;

    fn check(&self) -> Result<Gesture, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id);
        let id = v.id(&self.case_id, "case_id");
        v.version(self.version, "version");
        let g = self.gesture.clone().unwrap_or_default();
        let kind = goodwill_kind(g.kind);
        if self.gesture.is_none() {
            v.add("gesture", "is required");
        } else {
            v.check(
                kind.is_none(),
                "gesture.kind",
                "must be REFUND, CREDIT, REPLACEMENT or OTHER",
            );
            v.check(
                !(0..=MAX_AMOUNT_MINOR).contains(&g.amount_minor),
                "gesture.amount_minor",
                "must be 0 or more (minor units), and sensible",
            );
            v.check(
                g.amount_minor > 0
                    && !(g.currency.len() == 3
                        && g.currency.bytes().all(|b| b.is_ascii_uppercase())),
                "gesture.currency",
                "must be an ISO 4217 code such as EUR when there is an amount",
            );
            v.check(
                g.note.chars().count() > 500,
                "gesture.note",
                "must be at most 500 characters",
            );
        }
        v.into_result()?;
        let (Some(id), Some(kind)) = (id, kind) else {
            return Err(invalid("case_id", "is required"));
        };
        Ok(Gesture {
            request_id: request_id.to_owned(),
            case: Versioned {
                id,
                version: self.version,
            },
            kind,
            amount_minor: g.amount_minor,
            currency: g.currency,
            note: g.note.trim().to_owned(),
        })
    }
}

impl Check for RecordCsatRequest {
    type Input = Csat;

    fn check(&self) -> Result<Csat, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.case_id, "case_id");
        v.check(!(1..=5).contains(&self.score), "score", "must be 1 to 5");
        v.check(
            self.comment.chars().count() > 2000,
            "comment",
            "must be at most 2000 characters",
        );
        v.into_result()?;
        let case_id = id.ok_or_else(|| invalid("case_id", "is required"))?;
        Ok(Csat {
            case_id,
            score: i16::try_from(self.score).unwrap_or(0),
            comment: self.comment.trim().to_owned(),
        })
    }
}

impl Check for AddCommitmentRequest {
    type Input = Promise;

    fn check(&self) -> Result<Promise, ServiceError> {
        let mut v = FieldViolations::new();
        let request_id = v.request_id(&self.request_id);
        let id = v.id(&self.case_id, "case_id");
        v.version(self.version, "version");
        let text = self.text.trim();
        v.check(text.is_empty(), "text", "is required");
        v.check(
            text.chars().count() > 500,
            "text",
            "must be at most 500 characters",
        );
        let due_at = match self.due_at.as_ref() {
            None => {
                v.add("due_at", "is required");
                None
            }
            Some(ts) => match from_timestamp(ts, "due_at") {
                Ok(at) if at <= Utc::now() => {
                    v.add("due_at", "must be in the future");
                    None
                }
                Ok(at) => Some(at),
                Err(_) => {
                    v.add("due_at", "is not a valid timestamp");
                    None
                }
            },
        };
        v.into_result()?;
        match (id, due_at) {
            (Some(id), Some(due_at)) => Ok(Promise {
                request_id: request_id.to_owned(),
                case: Versioned {
                    id,
                    version: self.version,
                },
                text: text.to_owned(),
                due_at,
            }),
            _ => Err(invalid("case_id", "is required")),
        }
    }
}

impl Check for KeepCommitmentRequest {
    type Input = Keep;

    fn check(&self) -> Result<Keep, ServiceError> {
        let mut v = FieldViolations::new();
        let id = v.id(&self.case_id, "case_id");
        v.version(self.version, "version");
        let commitment = v.id(&self.commitment_id, "commitment_id");
        v.into_result()?;
        let (Some(id), Some(commitment_id)) = (id, commitment) else {
            return Err(invalid("case_id", "is required"));
        };
        Ok(Keep {
            case: Versioned {
                id,
                version: self.version,
            },
            commitment_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use earshot_proto::events::v1::GoodwillGesture;

    use super::*;

    #[test]
    fn goodwill_and_csat_name_their_bad_fields() {
        let err = AddGoodwillRequest {
            gesture: Some(GoodwillGesture {
                kind: 0,
                amount_minor: 500,
                currency: "euro".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .check()
        .expect_err("invalid");
        let text = err.to_string();
        for field in [
            "request_id",
            "case_id",
            "version",
            "gesture.kind",
            "gesture.currency",
        ] {
            assert!(text.contains(field), "{field} missing from {text}");
        }
        assert!(
            RecordCsatRequest {
                score: 6,
                ..Default::default()
            }
            .check()
            .expect_err("invalid")
            .to_string()
            .contains("score")
        );
    }
}
