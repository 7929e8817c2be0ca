-- What the dashboard plots beside the reports: when each open case's
-- earliest running SLA clock falls due (the case service tells it in every
-- case's facts), and incidents as the escalation service told them.
ALTER TABLE case_facts ADD COLUMN sla_due_at timestamptz;
-- The open queue by due time reads only open cases.
CREATE INDEX case_facts_open_by_due ON case_facts (tenant_id, sla_due_at)
    WHERE status NOT IN ('RESOLVED', 'CLOSED') AND NOT merged;

CREATE TABLE incident_facts (
    tenant_id   text        NOT NULL,
    incident_id text        NOT NULL,
    opened_at   timestamptz,
    severity    text        NOT NULL DEFAULT '',
    -- TRIAGE, LIVE, RESOLVED, LEARNING or CLOSED; the latest told wins.
    state       text        NOT NULL DEFAULT 'TRIAGE',
    state_at    timestamptz,
    PRIMARY KEY (tenant_id, incident_id)
);
CREATE INDEX incident_facts_by_opened ON incident_facts (tenant_id, opened_at);
