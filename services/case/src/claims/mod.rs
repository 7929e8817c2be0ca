//! Claims: an agent claims a case for replying; while the claim lasts others
//! see the holder and their replies are refused.

pub mod store;

use chrono::{DateTime, Utc};
use earshot_outbox::Outbox;
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::PgPool;

use crate::audit::Record;
use crate::record::{self, CaseRow, Versioned};
use crate::vocabulary::Status;

/// How long a claim holds unless released or renewed.
pub const CLAIM_MINUTES: i32 = 10;

/// A checked `ClaimCase`.
#[derive(Debug, Clone, Copy)]
pub struct Claim {
    pub case: Versioned,
    /// Give the claim up instead of taking it.
    pub release: bool,
}

/// The other agent holding `row` now, if any.
pub fn held_by_other<'a>(row: &'a CaseRow, actor: &str, now: DateTime<Utc>) -> Option<&'a str> {
    row.claim_at(now)
        .map(|(holder, _)| holder)
        .filter(|holder| *holder != actor)
}

/// Claims a case for `actor` (or renews their claim), or releases it.
pub async fn claim(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    claim: Claim,
) -> Result<CaseRow, ServiceError> {
    let mut tx = pool.begin().await?;
    let current = record::store::lock(&mut tx, tenant_id, claim.case).await?;
    let id = current.id;
    if let Some(holder) = held_by_other(&current, actor, Utc::now()) {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is held by {holder} until {}",
            current
                .claim_expires_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        )));
    }
    if !claim.release && current.status == Status::Closed {
        return Err(ServiceError::FailedPrecondition(format!(
            "case {id} is closed"
        )));
    }
    let row = if claim.release {
        store::release(&mut tx, id).await?
    } else {
        store::take(&mut tx, id, actor, CLAIM_MINUTES).await?
    };
    let record = Record::case(
        id,
        if claim.release {
            "case.released"
        } else {
            "case.claimed"
        },
        json!({ "claimed_by": current.claimed_by }),
        json!({ "claimed_by": row.claimed_by, "until": row.claim_expires_at.map(|t| t.to_rfc3339()) }),
    );
    record::store::commit_update(tx, outbox, tenant_id, actor, row, record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_claim_of_someone_else_holds() {
        let now = Utc::now();
        let mut row = crate::record::tests::row();
        assert_eq!(held_by_other(&row, "ann", now), None);
        row.claimed_by = Some("bob".into());
        row.claim_expires_at = Some(now + chrono::Duration::minutes(5));
        assert_eq!(held_by_other(&row, "ann", now), Some("bob"));
        assert_eq!(held_by_other(&row, "bob", now), None, "one's own claim");
        row.claim_expires_at = Some(now - chrono::Duration::minutes(1));
        assert_eq!(held_by_other(&row, "ann", now), None, "expired");
    }
}
