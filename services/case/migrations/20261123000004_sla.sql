-- SLAs: per-tenant policies by priority and lane, and each case's clocks.
-- The scheduler's whole state is in case_sla_timers: a running clock past its
-- due time is claimed (FOR UPDATE SKIP LOCKED), marked breached and its
-- SlaBreached event enqueued in one transaction.

CREATE TABLE sla_policies (
    id                    uuid        NOT NULL UNIQUE,
    tenant_id             text        NOT NULL,
    priority              text        NOT NULL,
    lane                  smallint    NOT NULL,
    first_response_secs   integer     NOT NULL,
    next_response_secs    integer     NOT NULL,
    resolution_secs       integer     NOT NULL,
    version               bigint      NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, priority, lane)
);

CREATE TABLE case_sla_timers (
    case_id        uuid        NOT NULL REFERENCES cases (id),
    tenant_id      text        NOT NULL,
    -- earshot.case.v1.SlaTarget
    target         smallint    NOT NULL,
    -- earshot.case.v1.SlaState
    state          smallint    NOT NULL,
    due_at         timestamptz,
    remaining_secs double precision,
    breached_at    timestamptz,
    PRIMARY KEY (case_id, target)
);
-- What the scheduler looks for: running clocks by due time.
CREATE INDEX case_sla_timers_running ON case_sla_timers (due_at) WHERE state = 1;

ALTER TABLE cases ADD COLUMN sla_due_at timestamptz;
