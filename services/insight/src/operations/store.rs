//! `escalation_facts` and `commitment_facts`: each event sets its own
//! columns (the earliest acknowledgement, the first resolution), so any
//! order of arrival ends in the same row.

use earshot_proto::insight::v1 as pb;
use sqlx::{PgConnection, PgPool};

use super::Fact;
use crate::range::Days;

pub async fn record(conn: &mut PgConnection, tenant_id: &str, f: &Fact) -> Result<(), sqlx::Error> {
    match f {
        Fact::Raised {
            escalation_id,
            at,
            severity,
            team,
            trigger,
        } => {
            sqlx::query(
                "INSERT INTO escalation_facts (tenant_id, escalation_id, raised_at, severity, team, trigger)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id, escalation_id) DO UPDATE
                    SET raised_at = excluded.raised_at, severity = excluded.severity,
                        team = excluded.team, trigger = excluded.trigger",
            )
            .bind(tenant_id)
            .bind(escalation_id)
            .bind(at)
            .bind(severity)
            .bind(team)
            .bind(trigger)
            .execute(conn)
            .await?;
        }
        Fact::Acknowledged { escalation_id, at } => {
            sqlx::query(
                "INSERT INTO escalation_facts (tenant_id, escalation_id, acknowledged_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, escalation_id) DO UPDATE
                    SET acknowledged_at = LEAST(escalation_facts.acknowledged_at, excluded.acknowledged_at)",
            )
            .bind(tenant_id)
            .bind(escalation_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        Fact::Reescalated { escalation_id } => {
            sqlx::query(
                "INSERT INTO escalation_facts (tenant_id, escalation_id, reescalations)
                 VALUES ($1, $2, 1)
                 ON CONFLICT (tenant_id, escalation_id) DO UPDATE
                    SET reescalations = escalation_facts.reescalations + 1",
            )
            .bind(tenant_id)
            .bind(escalation_id)
            .execute(conn)
            .await?;
        }
        Fact::Resolved { escalation_id, at } => {
            sqlx::query(
                "INSERT INTO escalation_facts (tenant_id, escalation_id, resolved_at)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, escalation_id) DO UPDATE
                    SET resolved_at = LEAST(escalation_facts.resolved_at, excluded.resolved_at)",
            )
            .bind(tenant_id)
            .bind(escalation_id)
            .bind(at)
            .execute(conn)
            .await?;
        }
        Fact::Overdue {
            commitment_id,
            case_id,
            made_by,
            due_at,
        } => {
            sqlx::query(
                "INSERT INTO commitment_facts (tenant_id, commitment_id, case_id, made_by, due_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (tenant_id, commitment_id) DO NOTHING",
            )
            .bind(tenant_id)
            .bind(commitment_id)
            .bind(case_id)
            .bind(made_by)
            .bind(due_at)
            .execute(conn)
            .await?;
        }
        Fact::IncidentOpened {
            incident_id,
            at,
            severity,
        } => {
            sqlx::query(
                "INSERT INTO incident_facts (tenant_id, incident_id, opened_at, severity)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, incident_id) DO UPDATE
                    SET opened_at = excluded.opened_at, severity = excluded.severity",
            )
            .bind(tenant_id)
            .bind(incident_id)
            .bind(at)
            .bind(severity)
            .execute(conn)
            .await?;
        }
        // The latest state told wins, whatever order the events came in.
        Fact::IncidentState {
            incident_id,
            at,
            state,
        } => {
            sqlx::query(
                "INSERT INTO incident_facts (tenant_id, incident_id, state, state_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, incident_id) DO UPDATE
                    SET state = excluded.state, state_at = excluded.state_at
                  WHERE incident_facts.state_at IS NULL OR incident_facts.state_at <= excluded.state_at",
            )
            .bind(tenant_id)
            .bind(incident_id)
            .bind(state)
            .bind(at)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

/// Team, raised, acknowledged, ack p50 and p90 seconds, re-escalated, resolved.
type TeamRow = (String, i64, i64, Option<f64>, Option<f64>, i64, i64);

pub async fn escalations_by_team(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<Vec<pb::EscalationsByTeam>, sqlx::Error> {
    let rows: Vec<TeamRow> = sqlx::query_as(
        "SELECT team, count(*)::int8, count(acknowledged_at)::int8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - raised_at))
                    FILTER (WHERE acknowledged_at IS NOT NULL),
                percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM acknowledged_at - raised_at))
                    FILTER (WHERE acknowledged_at IS NOT NULL),
                count(*) FILTER (WHERE reescalations > 0)::int8,
                count(resolved_at)::int8
           FROM escalation_facts
          WHERE tenant_id = $1 AND raised_at >= $2 AND raised_at < $3
          GROUP BY team
          ORDER BY count(*) DESC, team",
    )
    .bind(tenant_id)
    .bind(days.start())
    .bind(days.end())
    .fetch_all(pool)
    .await?;
    let u = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(
            |(team, raised, acked, p50, p90, reescalated, resolved)| pb::EscalationsByTeam {
                team,
                raised: u(raised),
                acknowledged: u(acked),
                ack_p50_secs: p50.unwrap_or(0.0).max(0.0),
                ack_p90_secs: p90.unwrap_or(0.0).max(0.0),
                reescalated: u(reescalated),
                resolved: u(resolved),
            },
        )
        .collect())
}

pub async fn overdue_by_agent(
    pool: &PgPool,
    tenant_id: &str,
    days: Days,
) -> Result<Vec<pb::OverdueCommitments>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT made_by, count(*)::int8 FROM commitment_facts
          WHERE tenant_id = $1 AND due_at >= $2 AND due_at < $3
          GROUP BY made_by ORDER BY count(*) DESC, made_by",
    )
    .bind(tenant_id)
    .bind(days.start())
    .bind(days.end())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(agent, n)| pb::OverdueCommitments {
            agent,
            overdue: u64::try_from(n).unwrap_or(0),
        })
        .collect())
}
