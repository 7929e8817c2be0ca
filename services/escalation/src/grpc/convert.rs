//! Rows to protos.

use earshot_proto::escalation::v1 as pb;
use earshot_server::convert::timestamp;
use uuid::Uuid;

use crate::drills::DrillRow;
use crate::escalations::store::EscalationRow;
use crate::guidelines::store::GuidelineRow;
use crate::incidents::IncidentRow;
use crate::spikes::store::{AlertRow, DetectorRow};
use crate::timeline::EntryRow;

fn id(id: Option<Uuid>) -> String {
    id.map(|u| u.to_string()).unwrap_or_default()
}

pub fn guideline(row: &GuidelineRow) -> pb::Guideline {
    let input = row.input();
    pb::Guideline {
        guideline_id: row.id.to_string(),
        version: u32::try_from(row.version).unwrap_or(0),
        name: input.name,
        severity: input.severity,
        condition: input.condition,
        actions: input.actions,
        enabled: input.enabled,
        built_in: row.built_in,
        created_at: Some(timestamp(row.created_at)),
        created_by: row.created_by.clone(),
    }
}

pub fn timeline(rows: Vec<EntryRow>) -> Vec<pb::TimelineEntry> {
    rows.into_iter()
        .map(|r| pb::TimelineEntry {
            at: Some(timestamp(r.at)),
            kind: r.kind,
            actor: r.actor,
            detail: r.detail,
        })
        .collect()
}

pub fn escalation(row: &EscalationRow, timeline: Vec<pb::TimelineEntry>) -> pb::Escalation {
    pb::Escalation {
        escalation_id: row.id.to_string(),
        guideline_id: row.guideline_id.to_string(),
        guideline_version: u32::try_from(row.guideline_version).unwrap_or(0),
        guideline_name: row.guideline_name.clone(),
        trigger: Some(pb::Trigger {
            kind: row.trigger_kind.proto() as i32,
            mention_id: row.mention_id.clone(),
            case_id: id(row.case_id),
            spike_alert_id: id(row.spike_alert_id),
            incident_id: id(row.incident_id),
            event_id: id(row.event_id),
        }),
        severity: row.severity.proto() as i32,
        team: row.team.proto() as i32,
        state: row.state.proto() as i32,
        level: u32::try_from(row.level).unwrap_or(0),
        repeat: u32::try_from(row.repeat).unwrap_or(0),
        reason: row.reason.clone(),
        raised_at: Some(timestamp(row.raised_at)),
        ack_due_at: row.ack_due_at.map(timestamp),
        acknowledged_at: row.acknowledged_at.map(timestamp),
        acknowledged_by: row.acknowledged_by.clone().unwrap_or_default(),
        acknowledged_for: row.acknowledged_for.map_or(0, |t| t.proto() as i32),
        resolved_at: row.resolved_at.map(timestamp),
        resolved_by: row.resolved_by.clone().unwrap_or_default(),
        incident_id: id(row.incident_id),
        drill: row.drill_id.is_some(),
        drill_id: id(row.drill_id),
        timeline,
    }
}

pub fn incident(row: &IncidentRow, timeline: Vec<pb::TimelineEntry>) -> pb::Incident {
    pb::Incident {
        incident_id: row.id.to_string(),
        title: row.title.clone(),
        severity: row.severity.proto() as i32,
        commander: row.commander.clone(),
        state: row.state.proto() as i32,
        guideline_id: id(row.guideline_id),
        guideline_version: row
            .guideline_version
            .map_or(0, |v| u32::try_from(v).unwrap_or(0)),
        escalation_ids: row.escalation_ids.iter().map(Uuid::to_string).collect(),
        mention_ids: row.mention_ids.clone(),
        case_ids: row.case_ids.iter().map(Uuid::to_string).collect(),
        statement: Some(pb::Statement {
            proposed: row.statement_proposed.clone(),
            approved: row.statement_approved.clone(),
            approved_by: row.approved_by.clone().unwrap_or_default(),
            approved_at: row.approved_at.map(timestamp),
            first_posted_at: row.first_posted_at.map(timestamp),
            last_posted_at: row.last_posted_at.map(timestamp),
            updates_posted: u32::try_from(row.updates_posted).unwrap_or(0),
            next_due_at: row.statement_due_at.map(timestamp),
            overdue: u32::try_from(row.statements_overdue).unwrap_or(0),
            first_within_seconds: u32::try_from(row.first_within_seconds).unwrap_or(0),
            update_every_seconds: u32::try_from(row.update_every_seconds).unwrap_or(0),
        }),
        learning_note: row.learning_note.clone(),
        drill: row.drill_id.is_some(),
        drill_id: id(row.drill_id),
        opened_at: Some(timestamp(row.opened_at)),
        updated_at: Some(timestamp(row.updated_at)),
        version: u32::try_from(row.version).unwrap_or(0),
        timeline,
    }
}

pub fn detector(row: &DetectorRow) -> pb::SpikeDetector {
    let marked_true = u64::try_from(row.marked_true).unwrap_or(0);
    let marked_false = u64::try_from(row.marked_false).unwrap_or(0);
    pb::SpikeDetector {
        detector_id: row.id.to_string(),
        name: row.name.clone(),
        scope: row.scope.proto() as i32,
        settings: Some(row.settings_proto()),
        enabled: row.enabled,
        version: u32::try_from(row.version).unwrap_or(0),
        alerts: u64::try_from(row.alerts).unwrap_or(0),
        marked_true,
        marked_false,
        precision: earshot_spikes::precision(marked_true, marked_false),
    }
}

pub fn alert(row: &AlertRow) -> pb::SpikeAlert {
    pb::SpikeAlert {
        alert_id: row.id.to_string(),
        detector_id: row.detector_id.to_string(),
        series: row.series.clone(),
        kind: row.kind.clone(),
        minute: Some(timestamp(row.minute)),
        count: u32::try_from(row.count).unwrap_or(0),
        expected: row.expected,
        p_value: row.p_value,
        negative_share: row.negative_share,
        verdict: row.verdict,
        marked_by: row.marked_by.clone().unwrap_or_default(),
        raised_at: Some(timestamp(row.raised_at)),
    }
}

pub fn drill(
    row: &DrillRow,
    escalations: &[EscalationRow],
    incidents: &[IncidentRow],
    live: Option<(f64, Vec<pb::DrillCheck>)>,
) -> pb::Drill {
    let (score, checks) = match live {
        Some(live) => live,
        None => (row.score.unwrap_or(0.0), row.checks()),
    };
    pb::Drill {
        drill_id: row.id.to_string(),
        guideline_id: row.guideline_id.to_string(),
        guideline_version: u32::try_from(row.guideline_version).unwrap_or(0),
        state: row.state.proto() as i32,
        started_at: Some(timestamp(row.started_at)),
        ended_at: row.ended_at.map(timestamp),
        replayed: u32::try_from(row.replayed).unwrap_or(0),
        scenario_size: u32::try_from(row.scenario_size).unwrap_or(0),
        escalation_ids: escalations.iter().map(|e| e.id.to_string()).collect(),
        incident_ids: incidents.iter().map(|i| i.id.to_string()).collect(),
        score,
        checks,
        started_by: row.started_by.clone(),
    }
}
