//! The case read: the SLA clocks, goodwill and commitments of case rows as
//! arrays, FROM-clause joins with one aggregate scan per child table (an
//! aggregate without GROUP BY always yields one row, empty arrays included),
//! so a case and everything on it is one round trip.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::CaseView;
use crate::commitments::store::CommitmentRow;
use crate::outcomes::store::GestureRow;
use crate::record::CaseRow;
use crate::record::store::COLUMNS;
use crate::sla::store::TimerRow;
use crate::vocabulary::{CommitmentState, GoodwillKind, SlaState, SlaTarget};

const DETAILS: &str = "
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(t.target ORDER BY t.target), '{}') AS t_target,
        COALESCE(array_agg(t.state ORDER BY t.target), '{}') AS t_state,
        COALESCE(array_agg(t.due_at ORDER BY t.target), '{}') AS t_due_at,
        COALESCE(array_agg(t.remaining_secs ORDER BY t.target), '{}') AS t_remaining,
        COALESCE(array_agg(t.breached_at ORDER BY t.target), '{}') AS t_breached_at
      FROM case_sla_timers t WHERE t.case_id = cases.id) timers
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(g.id ORDER BY g.given_at, g.id), '{}') AS g_id,
        COALESCE(array_agg(g.kind ORDER BY g.given_at, g.id), '{}') AS g_kind,
        COALESCE(array_agg(g.amount_minor ORDER BY g.given_at, g.id), '{}') AS g_amount,
        COALESCE(array_agg(g.currency ORDER BY g.given_at, g.id), '{}') AS g_currency,
        COALESCE(array_agg(g.note ORDER BY g.given_at, g.id), '{}') AS g_note
      FROM goodwill_gestures g WHERE g.case_id = cases.id) goodwill
    CROSS JOIN LATERAL (SELECT
        COALESCE(array_agg(m.id ORDER BY m.due_at, m.id), '{}') AS c_id,
        COALESCE(array_agg(m.text ORDER BY m.due_at, m.id), '{}') AS c_text,
        COALESCE(array_agg(m.due_at ORDER BY m.due_at, m.id), '{}') AS c_due_at,
        COALESCE(array_agg(m.state ORDER BY m.due_at, m.id), '{}') AS c_state,
        COALESCE(array_agg(m.made_by ORDER BY m.due_at, m.id), '{}') AS c_made_by,
        COALESCE(array_agg(m.kept_at ORDER BY m.due_at, m.id), '{}') AS c_kept_at,
        COALESCE(array_agg(m.kept_at > m.due_at ORDER BY m.due_at, m.id), '{}') AS c_late
      FROM commitments m WHERE m.case_id = cases.id) promised";

/// The columns [`DETAILS`] adds.
const DETAIL_COLUMNS: &str = "timers.*, goodwill.*, promised.*";

#[derive(Debug, sqlx::FromRow)]
struct Details {
    t_target: Vec<SlaTarget>,
    t_state: Vec<SlaState>,
    t_due_at: Vec<Option<DateTime<Utc>>>,
    t_remaining: Vec<Option<f64>>,
    t_breached_at: Vec<Option<DateTime<Utc>>>,
    g_id: Vec<Uuid>,
    g_kind: Vec<GoodwillKind>,
    g_amount: Vec<i64>,
    g_currency: Vec<String>,
    g_note: Vec<String>,
    c_id: Vec<Uuid>,
    c_text: Vec<String>,
    c_due_at: Vec<DateTime<Utc>>,
    c_state: Vec<CommitmentState>,
    c_made_by: Vec<String>,
    c_kept_at: Vec<Option<DateTime<Utc>>>,
    c_late: Vec<Option<bool>>,
}

impl Details {
    /// The arrays, one entry per element, zipped back into rows.
    fn with(self, case: CaseRow) -> CaseView {
        let clocks = (0..self.t_target.len().min(self.t_state.len()))
            .map(|i| TimerRow {
                case_id: case.id,
                target: self.t_target[i],
                state: self.t_state[i],
                due_at: self.t_due_at.get(i).copied().flatten(),
                remaining_secs: self.t_remaining.get(i).copied().flatten(),
                breached_at: self.t_breached_at.get(i).copied().flatten(),
            })
            .collect();
        let goodwill = (0..self.g_id.len().min(self.g_kind.len()))
            .map(|i| GestureRow {
                id: self.g_id[i],
                kind: self.g_kind[i],
                amount_minor: self.g_amount.get(i).copied().unwrap_or(0),
                currency: self.g_currency.get(i).cloned().unwrap_or_default(),
                note: self.g_note.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        let commitments = (0..self
            .c_id
            .len()
            .min(self.c_due_at.len())
            .min(self.c_state.len()))
            .map(|i| CommitmentRow {
                id: self.c_id[i],
                text: self.c_text.get(i).cloned().unwrap_or_default(),
                due_at: self.c_due_at[i],
                state: self.c_state[i],
                made_by: self.c_made_by.get(i).cloned().unwrap_or_default(),
                kept_at: self.c_kept_at.get(i).copied().flatten(),
                late: self.c_late.get(i).copied().flatten().unwrap_or(false),
            })
            .collect();
        CaseView {
            case,
            clocks,
            goodwill,
            commitments,
        }
    }
}

#[derive(sqlx::FromRow)]
struct DetailedRow {
    #[sqlx(flatten)]
    case: CaseRow,
    #[sqlx(flatten)]
    details: Details,
}

/// A case with its SLA clocks, goodwill and commitments, in one query.
pub async fn get(
    pool: &PgPool,
    tenant_id: &str,
    id: Uuid,
) -> Result<Option<CaseView>, sqlx::Error> {
    let row: Option<DetailedRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, {DETAIL_COLUMNS} FROM cases {DETAILS} \
         WHERE cases.tenant_id = $1 AND cases.id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.details.with(r.case)))
}

/// The SLA clocks, goodwill and commitments of `rows`, in one query.
pub async fn details_of(
    pool: &PgPool,
    tenant_id: &str,
    rows: Vec<CaseRow>,
) -> Result<Vec<CaseView>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    #[derive(sqlx::FromRow)]
    struct ById {
        id: Uuid,
        #[sqlx(flatten)]
        details: Details,
    }
    let mut found: HashMap<Uuid, Details> = sqlx::query_as::<_, ById>(&format!(
        "SELECT cases.id, {DETAIL_COLUMNS} FROM cases {DETAILS} \
         WHERE cases.tenant_id = $1 AND cases.id = ANY($2)"
    ))
    .bind(tenant_id)
    .bind(&ids)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.id, r.details))
    .collect();
    Ok(rows
        .into_iter()
        .map(|case| match found.remove(&case.id) {
            Some(details) => details.with(case),
            None => CaseView {
                case,
                clocks: Vec::new(),
                goodwill: Vec::new(),
                commitments: Vec::new(),
            },
        })
        .collect())
}
