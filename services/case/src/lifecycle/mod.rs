//! A case's lifecycle: new → open → pending customer / pending internal →
//! resolved → closed, a resolved case reopened, and two cases folded into
//! one. Every move is checked against the lifecycle, audited, moves the SLA
//! clocks and tells subscribers.

pub mod store;

use earshot_outbox::{Outbox, new_event};
use earshot_proto::events::v1::{CaseResolved, event};
use earshot_server::ServiceError;
use serde_json::json;
use sqlx::PgPool;

use crate::audit::{self, Record};
use crate::record::{self, CaseRow, Merge, StatusChange, Versioned};
use crate::vocabulary::Status;
use crate::{outcomes, sla};

/// Whether a case may move from `from` to `to`: new → open → pending customer
/// / pending internal → resolved → closed; a resolved case may be reopened; a
/// closed one is final.
pub fn can_move(from: Status, to: Status) -> bool {
    use Status::*;
    matches!(
        (from, to),
        (New, Open)
            | (New, Resolved)
            | (Open, PendingCustomer)
            | (Open, PendingInternal)
            | (Open, Resolved)
            | (PendingCustomer, Open)
            | (PendingCustomer, PendingInternal)
            | (PendingCustomer, Resolved)
            | (PendingInternal, Open)
            | (PendingInternal, PendingCustomer)
            | (PendingInternal, Resolved)
            | (Resolved, Open)
            | (Resolved, Closed)
    )
}

/// What a move does to the case's resolution time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolvedAt {
    /// Resolved now.
    Now,
    /// Closed: it stays resolved when it was.
    Keep,
    /// Open again.
    Clear,
}

impl ResolvedAt {
    pub fn after_move_to(to: Status) -> Self {
        match to {
            Status::Resolved => ResolvedAt::Now,
            Status::Closed => ResolvedAt::Keep,
            _ => ResolvedAt::Clear,
        }
    }
}

/// A checked `UpdateCaseStatus` or `ResolveCase`.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub case: Versioned,
    pub to: Status,
    /// Recorded in the case's outcome when given.
    pub resolution_code: Option<String>,
}

/// Moves a case if the caller read the current version and the lifecycle
/// allows it; audits it and enqueues `CaseUpdated` (and `CaseResolved`).
pub async fn update_status(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    update: StatusUpdate,
) -> Result<CaseRow, ServiceError> {
    let StatusUpdate {
        case,
        to,
        resolution_code,
    } = update;
    let id = case.id;
    let mut tx = pool.begin().await?;
    let current = record::store::lock(&mut tx, tenant_id, case).await?;
    let from = current.status;
    if !can_move(from, to) {
        return Err(ServiceError::FailedPrecondition(format!(
            "a case cannot move from {} to {}",
            from.label(),
            to.label()
        )));
    }
    sla::on_status(
        &mut tx,
        &[StatusChange {
            case_id: id,
            from,
            to,
        }],
    )
    .await?;
    let row = store::move_to(&mut tx, id, to, resolution_code.as_deref()).await?;
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[Record::case(
            id,
            "case.status_changed",
            json!({ "status": from.label(), "version": current.version }),
            json!({ "status": to.label(), "version": row.version, "resolution_code": row.resolution_code }),
        )],
    )
    .await?;
    let mut events = vec![record::case_updated(tenant_id, id, to, row.version)];
    if to == Status::Resolved {
        let goodwill = outcomes::store::goodwill_of(&mut tx, tenant_id, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        events.push(new_event(
            record::PRODUCER,
            tenant_id,
            id.to_string(),
            event::Payload::CaseResolved(CaseResolved {
                case_id: id.to_string(),
                resolution_code: row.resolution_code.clone().unwrap_or_default(),
                goodwill: goodwill.iter().map(outcomes::gesture_event).collect(),
                customer_id: row.customer_id.map(|c| c.to_string()).unwrap_or_default(),
            }),
        ));
    }
    record::store::enqueue(&mut tx, outbox, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(row)
}

/// Folds the source case into the target: the source's messages move to the
/// target, the source is closed and points at the target; both are audited
/// and both versions checked.
pub async fn merge(
    pool: &PgPool,
    outbox: &Outbox,
    tenant_id: &str,
    actor: &str,
    merge: Merge,
) -> Result<CaseRow, ServiceError> {
    let (source, target) = (merge.source.id, merge.target.id);
    let mut tx = pool.begin().await?;
    let (src, tgt) =
        record::store::lock_pair(&mut tx, tenant_id, merge.source, merge.target).await?;
    for (row, which) in [(&src, "source"), (&tgt, "target")] {
        if let Some(into) = row.merged_into {
            return Err(ServiceError::FailedPrecondition(format!(
                "the {which} case {} was already merged into {into}",
                row.id
            )));
        }
        if row.status == Status::Closed {
            return Err(ServiceError::FailedPrecondition(format!(
                "the {which} case {} is closed",
                row.id
            )));
        }
    }
    let closing = StatusChange {
        case_id: source,
        from: src.status,
        to: Status::Closed,
    };
    sla::on_status(&mut tx, &[closing]).await?;
    let moved = record::messages::move_all(&mut tx, source, target).await?;
    let closed = store::close_into(&mut tx, source, target).await?;
    let merged = record::store::bump(&mut tx, target).await?;
    audit::store::append(
        &mut tx,
        tenant_id,
        actor,
        &[
            Record::case(
                source,
                "case.merged_into",
                json!({ "status": src.status.label() }),
                json!({ "status": Status::Closed.label(), "merged_into": target.to_string(), "messages_moved": moved }),
            ),
            Record::case(
                target,
                "case.merged_from",
                json!({}),
                json!({ "merged_from": source.to_string(), "messages_moved": moved }),
            ),
        ],
    )
    .await?;
    let events = vec![
        record::case_updated(tenant_id, source, Status::Closed, closed.version),
        record::case_updated(tenant_id, target, merged.status, merged.version),
    ];
    record::store::enqueue(&mut tx, outbox, events).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    #[test]
    fn closed_is_final_and_nothing_returns_to_new() {
        for to in Status::ALL {
            assert!(!can_move(Closed, to), "closed -> {to:?}");
            assert!(!can_move(to, New), "{to:?} -> new");
        }
    }

    #[test]
    fn the_happy_path_is_allowed() {
        let path = [New, Open, PendingCustomer, Open, Resolved, Closed];
        for pair in path.windows(2) {
            assert!(can_move(pair[0], pair[1]), "{:?} -> {:?}", pair[0], pair[1]);
        }
        assert!(can_move(Resolved, Open), "reopen");
        assert!(
            !can_move(New, Closed),
            "a case is resolved before it is closed"
        );
        assert!(!can_move(Open, Open), "no self-transition");
    }

    #[test]
    fn resolving_stamps_closing_keeps_and_reopening_clears_the_resolution_time() {
        assert_eq!(ResolvedAt::after_move_to(Resolved), ResolvedAt::Now);
        assert_eq!(ResolvedAt::after_move_to(Closed), ResolvedAt::Keep);
        assert_eq!(ResolvedAt::after_move_to(Open), ResolvedAt::Clear);
    }
}
