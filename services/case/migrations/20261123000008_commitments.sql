-- Promises made to customers, with due dates. The scheduler marks open ones
-- past due as overdue and enqueues CommitmentOverdue in one transaction.
CREATE TABLE commitments (
    id         uuid        PRIMARY KEY,
    tenant_id  text        NOT NULL,
    case_id    uuid        NOT NULL REFERENCES cases (id),
    text       text        NOT NULL,
    due_at     timestamptz NOT NULL,
    -- earshot.case.v1.CommitmentState
    state      smallint    NOT NULL,
    made_by    text        NOT NULL,
    made_at    timestamptz NOT NULL,
    kept_at    timestamptz,
    request_id text        NOT NULL,
    CONSTRAINT commitments_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE INDEX commitments_by_case ON commitments (case_id, due_at);
CREATE INDEX commitments_open_by_due ON commitments (due_at) WHERE state = 1;
