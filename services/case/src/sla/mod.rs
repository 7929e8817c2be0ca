//! SLAs: per-tenant policies by priority and lane, the clocks of each case
//! (started when it opens, paused while it waits on the customer, met when
//! answered or resolved), and the scheduled job that marks overdue clocks
//! breached. The job keeps no state of its own: it claims due rows with
//! `FOR UPDATE SKIP LOCKED`, so replicas share the work, and marks a breach in
//! the transaction that enqueues its `SlaBreached`, so a restart neither loses
//! nor repeats one.

pub mod store;

use std::future::Future;
use std::pin::Pin;

use earshot_outbox::Outbox;
use earshot_server::convert::Cursor;
use earshot_server::scheduler::Job;
use earshot_server::{ServiceError, invalid};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use self::store::{HoursRow, PolicyRow};
use crate::audit;
use crate::record::StatusChange;
use crate::vocabulary::{Lane, Priority, Status};

/// Longest clock a policy may set: 90 days.
pub const MAX_SECONDS: u32 = 90 * 24 * 3600;

/// A checked policy.
#[derive(Debug, Clone)]
pub struct PolicyInput {
    pub priority: Priority,
    pub lane: Lane,
    pub first_response: i32,
    pub next_response: i32,
    pub resolution: i32,
    pub business_hours: bool,
    pub version: i64,
}

impl PolicyInput {
    fn same_clocks(&self, row: &PolicyRow) -> bool {
        (
            row.first_response_secs,
            row.next_response_secs,
            row.resolution_secs,
            row.business_hours,
        ) == (
            self.first_response,
            self.next_response,
            self.resolution,
            self.business_hours,
        )
    }
}

/// Creates (version 0) or updates the tenant's policy for a priority and lane.
/// New clocks follow it; running ones keep the due time they started with.
pub async fn put_policy(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    p: PolicyInput,
) -> Result<PolicyRow, ServiceError> {
    if p.business_hours && store::get_hours(pool, tenant_id).await?.is_none() {
        return Err(ServiceError::FailedPrecondition(
            "policy.business_hours needs the tenant's business hours: PutBusinessHours first"
                .into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let row = if p.version == 0 {
        store::insert_policy(&mut tx, tenant_id, &p).await?
    } else {
        store::update_policy(&mut tx, tenant_id, &p).await?
    };
    if let Some(row) = row {
        let action = if p.version == 0 {
            "sla_policy.created"
        } else {
            "sla_policy.updated"
        };
        audit::store::commit_configuration(tx, tenant_id, actor, action, p.version, &row).await?;
        return Ok(row);
    }
    drop(tx);
    let current = store::get_policy(pool, tenant_id, p.priority, p.lane)
        .await?
        .map(|row| (row.version, p.same_clocks(&row), row));
    let what = format!("SLA policy for {} priority", p.priority);
    unapplied_put(&what, p.version, current)
}

/// The answer to a versioned put (`asked` 0 creates, else the version read)
/// that neither inserted nor updated, given what is stored now: its version,
/// whether it already holds what was asked, and the row. A retried create of
/// the same content answers with it.
pub(crate) fn unapplied_put<R>(
    what: &str,
    asked: i64,
    current: Option<(i64, bool, R)>,
) -> Result<R, ServiceError> {
    Err(match current {
        None => ServiceError::NotFound(what.to_owned()),
        Some((1, true, row)) if asked == 0 => return Ok(row),
        Some((version, _, _)) if asked == 0 => ServiceError::AlreadyExists(format!(
            "{what}: version {version} exists; update it with that version"
        )),
        Some((version, _, _)) => ServiceError::Aborted(format!(
            "{what} changed since version {asked}; it is at version {version}"
        )),
    })
}

pub async fn list_policies(
    pool: &PgPool,
    tenant_id: &str,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<PolicyRow>, ServiceError> {
    Ok(store::list_policies(pool, tenant_id, after, limit).await?)
}

/// Checked business hours: the week as stored and the version read.
#[derive(Debug, Clone, PartialEq)]
pub struct HoursInput {
    pub time_zone: String,
    pub opens: [i16; 7],
    pub closes: [i16; 7],
    pub version: i64,
}

/// The tenant's business hours; NOT_FOUND until it sets them.
pub async fn get_hours(pool: &PgPool, tenant_id: &str) -> Result<HoursRow, ServiceError> {
    store::get_hours(pool, tenant_id)
        .await?
        .ok_or_else(|| ServiceError::NotFound("business hours".into()))
}

/// Creates (version 0) or updates the tenant's business hours.
pub async fn put_hours(
    pool: &PgPool,
    tenant_id: &str,
    actor: &str,
    h: HoursInput,
) -> Result<HoursRow, ServiceError> {
    if !store::known_time_zone(pool, &h.time_zone).await? {
        return Err(invalid(
            "hours.time_zone",
            "is not a time zone this database knows; use an IANA name such as Europe/Berlin",
        ));
    }
    let mut tx = pool.begin().await?;
    if let Some(row) = store::put_hours(&mut tx, tenant_id, &h).await? {
        let action = if h.version == 0 {
            "business_hours.created"
        } else {
            "business_hours.updated"
        };
        audit::store::commit_configuration(tx, tenant_id, actor, action, h.version, &row).await?;
        return Ok(row);
    }
    drop(tx);
    let current = store::get_hours(pool, tenant_id).await?.map(|row| {
        let same = row.time_zone == h.time_zone && row.opens == h.opens && row.closes == h.closes;
        (row.version, same, row)
    });
    unapplied_put("business hours", h.version, current)
}

/// What status changes do to clocks: the cases whose clocks pause, resume,
/// stop, and whose resolution clock starts afresh.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ClockMoves {
    /// Waiting on the customer.
    pub pause: Vec<Uuid>,
    /// No longer waiting on the customer, and not done.
    pub resume: Vec<Uuid>,
    /// Resolved or closed.
    pub stop: Vec<Uuid>,
    /// Resolved, then opened again: the reopened problem gets the policy's
    /// whole resolution time again.
    pub reopen: Vec<Uuid>,
}

impl ClockMoves {
    pub fn of(changes: &[StatusChange]) -> Self {
        let pick = |f: &dyn Fn(Status, Status) -> bool| -> Vec<Uuid> {
            changes
                .iter()
                .filter(|c| f(c.from, c.to))
                .map(|c| c.case_id)
                .collect()
        };
        let done = |s: Status| matches!(s, Status::Resolved | Status::Closed);
        Self {
            pause: pick(&|_, to| to == Status::PendingCustomer),
            resume: pick(&|from, to| from == Status::PendingCustomer && !done(to)),
            stop: pick(&|_, to| done(to)),
            reopen: pick(&|from, to| from == Status::Resolved && to == Status::Open),
        }
    }
}

/// Moves the clocks of cases whose status changed (see [`ClockMoves`]).
pub async fn on_status(
    conn: &mut PgConnection,
    changes: &[StatusChange],
) -> Result<(), sqlx::Error> {
    let moves = ClockMoves::of(changes);
    store::move_clocks(conn, &moves).await?;
    let touched: Vec<Uuid> = changes.iter().map(|c| c.case_id).collect();
    store::refresh_due(conn, &touched).await
}

/// Marks overdue clocks breached, audits them and enqueues `SlaBreached`, a
/// batch per round of the service's scheduler.
pub struct BreachJob;

impl Job for BreachJob {
    fn name(&self) -> &'static str {
        "sla breaches"
    }

    fn round<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        outbox: &'a Outbox,
        limit: i64,
    ) -> Pin<Box<dyn Future<Output = Result<u64, sqlx::Error>> + Send + 'a>> {
        Box::pin(async move { store::breach_due(tx, outbox, limit).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_changes_pause_resume_stop_and_reopen_clocks() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
        let change = |i: usize, from, to| StatusChange {
            case_id: ids[i],
            from,
            to,
        };
        let moves = ClockMoves::of(&[
            change(0, Status::Open, Status::PendingCustomer),
            change(1, Status::PendingCustomer, Status::Open),
            change(2, Status::PendingCustomer, Status::Resolved),
            change(3, Status::Resolved, Status::Open),
        ]);
        assert_eq!(moves.pause, [ids[0]]);
        assert_eq!(moves.resume, [ids[1]]);
        assert_eq!(moves.stop, [ids[2]]);
        assert_eq!(moves.reopen, [ids[3]]);
    }

    #[test]
    fn an_unapplied_put_says_why() {
        assert!(matches!(unapplied_put("p", 0, Some((1, true, ()))), Ok(())));
        assert!(matches!(
            unapplied_put("p", 0, Some((2, true, ()))),
            Err(ServiceError::AlreadyExists(_))
        ));
        assert!(matches!(
            unapplied_put("p", 3, Some((4, false, ()))),
            Err(ServiceError::Aborted(_))
        ));
        assert!(matches!(
            unapplied_put::<()>("p", 3, None),
            Err(ServiceError::NotFound(_))
        ));
    }
}
