//! Claims and outcomes. An agent claims a case for replying; while the claim
//! lasts others see the holder and their replies are refused. Outcomes: the
//! resolution code (set when resolving), goodwill given to the customer, and
//! the customer's satisfaction score when they give one.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_proto::case::v1::{AddGoodwillRequest, CaseStatus};
use earshot_proto::events::v1::GoodwillGesture;
use earshot_proto::events::v1::goodwill_gesture::Kind;
use earshot_server::{FieldViolations, ServiceError, invalid};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::audit::Record;
use crate::cases::{self, CaseRow, Versioned};

/// How long a claim holds unless released or renewed.
pub const CLAIM_MINUTES: i32 = 10;
const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// Goodwill given on `cases`, oldest first per case.
pub async fn goodwill_of<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    tenant_id: &str,
    cases: &[Uuid],
) -> Result<HashMap<Uuid, Vec<GoodwillGesture>>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, i16, i64, String, String)> = sqlx::query_as(
        "SELECT case_id, id, kind, amount_minor, currency, note FROM goodwill_gestures
          WHERE tenant_id = $1 AND case_id = ANY($2) ORDER BY case_id, given_at, id",
    )
    .bind(tenant_id)
    .bind(cases)
    .fetch_all(executor)
    .await?;
    let mut out: HashMap<Uuid, Vec<GoodwillGesture>> = HashMap::new();
    for (case_id, id, kind, amount_minor, currency, note) in rows {
        out.entry(case_id).or_default().push(GoodwillGesture {
            gesture_id: id.to_string(),
            kind: i32::from(kind),
            amount_minor,
            currency,
            note,
        });
    }
    Ok(out)
}

/// The other agent holding `row` now, if any.
pub fn held_by_other<'a>(row: &'a CaseRow, actor: &str, now: DateTime<Utc>) -> Option<&'a str> {
    match (&row.claimed_by, row.claim_expires_at) {
        (Some(holder), Some(until)) if until > now && holder != actor => Some(holder),
        _ => None,
    }
}

/// Claims a case for `actor` (or renews their claim), or releases it.
pub async fn claim(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    (id, version): Versioned,
    release: bool,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = cases::lock(&mut tx, tenant_id, id, version).await?;
    if let Some(holder) = held_by_other(&current, actor, Utc::now()) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is held by {holder} until {}",
            current
                .claim_expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        )));
    }
    if !release && current.status() == CaseStatus::Closed {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is closed"
        )));
    }
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases
            SET claimed_by = CASE WHEN $2 THEN NULL ELSE $3 END,
                claim_expires_at = CASE WHEN $2 THEN NULL
                                        ELSE now() + make_interval(mins => $4) END,
                version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {}",
        cases::COLUMNS
    ))
    .bind(id)
    .bind(release)
    .bind(actor)
    .bind(CLAIM_MINUTES)
    .fetch_one(&mut *tx)
    .await?;
    let record = Record::case(
        id,
        if release {
            "case.released"
        } else {
            "case.claimed"
        },
        json!({ "claimed_by": current.claimed_by }),
        json!({ "claimed_by": row.claimed_by, "until": row.claim_expires_at.map(|t| t.to_rfc3339()) }),
    );
    cases::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

/// A checked `AddGoodwill`.
#[derive(Debug, Clone)]
pub struct Gesture {
    pub request_id: String,
    pub case: Versioned,
    pub kind: i16,
    pub amount_minor: i64,
    pub currency: String,
    pub note: String,
}

pub fn validate_goodwill(req: &AddGoodwillRequest) -> Result<Gesture, ServiceError> {
    let mut v = FieldViolations::new();
    let request_id = v.request_id(&req.request_id);
    let id = v.id(&req.case_id, "case_id");
    v.version(req.version, "version");
    let g = req.gesture.clone().unwrap_or_default();
    if req.gesture.is_none() {
        v.add("gesture", "is required");
    } else {
        v.check(
            matches!(Kind::try_from(g.kind), Ok(Kind::Unspecified) | Err(_)),
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
                && !(g.currency.len() == 3 && g.currency.bytes().all(|b| b.is_ascii_uppercase())),
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
    let id = id.ok_or_else(|| invalid("case_id", "is required"))?;
    Ok(Gesture {
        request_id: request_id.to_owned(),
        case: (id, req.version),
        kind: i16::try_from(g.kind).unwrap_or(0),
        amount_minor: g.amount_minor,
        currency: g.currency,
        note: g.note.trim().to_owned(),
    })
}

/// Records goodwill on a case, once per `request_id`.
pub async fn add_goodwill(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    g: Gesture,
) -> Result<CaseRow, ServiceError> {
    let (id, version) = g.case;
    let mut tx = pool.begin().await?;
    let done: Option<Uuid> = sqlx::query_scalar(
        "SELECT case_id FROM goodwill_gestures WHERE tenant_id = $1 AND request_id = $2",
    )
    .bind(tenant_id)
    .bind(&g.request_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(case_id) = done {
        drop(tx);
        return cases::get(pool, tenant_id, case_id).await;
    }
    let current = cases::lock(&mut tx, tenant_id, id, version).await?;
    if let Some(into) = current.merged_into {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} was merged into {into}; record goodwill there"
        )));
    }
    let gesture_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO goodwill_gestures (id, tenant_id, case_id, kind, amount_minor, currency, note,
                                        request_id, given_by, given_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())",
    )
    .bind(gesture_id)
    .bind(tenant_id)
    .bind(id)
    .bind(g.kind)
    .bind(g.amount_minor)
    .bind(&g.currency)
    .bind(&g.note)
    .bind(&g.request_id)
    .bind(actor)
    .execute(&mut *tx)
    .await?;
    let row = cases::bump(&mut tx, id).await?;
    let kind = Kind::try_from(i32::from(g.kind))
        .unwrap_or(Kind::Unspecified)
        .as_str_name();
    let record = Record::case(
        id,
        "case.goodwill_given",
        json!({}),
        json!({ "gesture_id": gesture_id.to_string(), "kind": kind, "amount_minor": g.amount_minor, "currency": g.currency, "note": g.note }),
    );
    cases::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

pub fn validate_csat(case_id: &str, score: u32, comment: &str) -> Result<Uuid, ServiceError> {
    let mut v = FieldViolations::new();
    let id = v.id(case_id, "case_id");
    v.check(!(1..=5).contains(&score), "score", "must be 1 to 5");
    v.check(
        comment.chars().count() > 2000,
        "comment",
        "must be at most 2000 characters",
    );
    v.into_result()?;
    id.ok_or_else(|| invalid("case_id", "is required"))
}

/// Records the customer's satisfaction with a resolved (or closed) case. It
/// comes from a survey, which has no version to give; the last score counts.
pub async fn record_csat(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    id: Uuid,
    score: u32,
    comment: &str,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current: CaseRow = sqlx::query_as(&format!(
        "SELECT {} FROM cases WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        cases::COLUMNS
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ServiceError::NotFound(format!("case {id}")))?;
    if !matches!(current.status(), CaseStatus::Resolved | CaseStatus::Closed) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is not resolved yet; satisfaction is asked after resolution"
        )));
    }
    let row: CaseRow = sqlx::query_as(&format!(
        "UPDATE cases SET csat = $2, csat_comment = $3, version = version + 1, updated_at = now()
          WHERE id = $1 RETURNING {}",
        cases::COLUMNS
    ))
    .bind(id)
    .bind(i16::try_from(score).unwrap_or(0))
    .bind(comment.trim())
    .fetch_one(&mut *tx)
    .await?;
    let record = Record::case(
        id,
        "case.csat_recorded",
        json!({ "csat": current.csat }),
        json!({ "csat": score, "comment": comment.trim() }),
    );
    cases::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodwill_and_csat_name_their_bad_fields() {
        let err = validate_goodwill(&AddGoodwillRequest {
            gesture: Some(GoodwillGesture {
                kind: 0,
                amount_minor: 500,
                currency: "euro".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
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
            validate_csat("", 6, "")
                .expect_err("invalid")
                .to_string()
                .contains("score")
        );
    }
}
