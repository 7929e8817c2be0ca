//! The work queue: a tenant's cases by SLA due time (breached ones first,
//! since their due time has passed, then the soonest due, then cases with no
//! clock running), with filters, paginated by a keyset on (due time, id).

pub mod store;

use chrono::{DateTime, Utc};
use earshot_server::ServiceError;
use earshot_server::convert::Cursor;
use sqlx::PgPool;
use uuid::Uuid;

use crate::record::CaseRow;
use crate::vocabulary::{Lane, Priority, Status};

/// The cursor time of cases with no clock running, which sort last. Far past
/// any real due time (those are at most 90 days ahead).
pub fn no_due() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A checked `ListQueue`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// None: every status before resolution.
    pub statuses: Vec<Status>,
    pub lane: Option<Lane>,
    pub priority: Option<Priority>,
    pub queue: Option<String>,
    pub assignee: Option<String>,
    pub unassigned: bool,
    pub channel: Option<i16>,
    pub topic: Option<String>,
    pub customer_id: Option<Uuid>,
}

/// The next page's cursor: where this page ended.
pub fn cursor(row: &CaseRow) -> Cursor {
    Cursor {
        at: row.sla_due_at.unwrap_or_else(no_due),
        id: row.id,
    }
}

/// One page of the queue: cases with a clock by due time, then (once those
/// run out) cases without one by id. Each part is an ordered range scan of
/// the queue index, so deep pages cost what the first does.
pub async fn list(
    pool: &PgPool,
    tenant_id: &str,
    f: &Filter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<CaseRow>, ServiceError> {
    let in_tail = after.as_ref().is_some_and(|c| c.at >= no_due());
    let mut rows = if in_tail {
        Vec::new()
    } else {
        store::page(pool, tenant_id, f, after.as_ref(), false, limit).await?
    };
    let left = limit - rows.len() as i64;
    if left > 0 {
        let tail_after = after.as_ref().filter(|_| in_tail);
        rows.extend(store::page(pool, tenant_id, f, tail_after, true, left).await?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_without_a_clock_page_after_every_due_time() {
        let due = Utc::now();
        assert!(no_due() > due + chrono::Duration::days(3650));
        let token = Cursor {
            at: no_due(),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode(&token.encode()).expect("round trip"),
            Some(token)
        );
    }
}
