-- Escalations as the escalation service told them (raised, acknowledged,
-- re-escalated, resolved; each event sets its own columns, so their order
-- does not matter), and commitments the case service reported overdue.
CREATE TABLE escalation_facts (
    tenant_id       text        NOT NULL,
    escalation_id   text        NOT NULL,
    raised_at       timestamptz,
    severity        text        NOT NULL DEFAULT '',
    team            text        NOT NULL DEFAULT '',
    -- MENTION, CASE, SPIKE or INCIDENT.
    trigger         text        NOT NULL DEFAULT '',
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    reescalations   integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, escalation_id)
);
CREATE INDEX escalation_facts_by_raised ON escalation_facts (tenant_id, raised_at);

CREATE TABLE commitment_facts (
    tenant_id     text        NOT NULL,
    commitment_id text        NOT NULL,
    case_id       text        NOT NULL,
    made_by       text        NOT NULL,
    due_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, commitment_id)
);
CREATE INDEX commitment_facts_by_due ON commitment_facts (tenant_id, due_at);
