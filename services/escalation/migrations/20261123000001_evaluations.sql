-- Every mention escalation evaluated against the tenant's guidelines, and the outcome.
CREATE TABLE evaluations (
    id                 uuid        PRIMARY KEY,
    tenant_id          text        NOT NULL,
    event_id           uuid        NOT NULL UNIQUE,
    mention_id         text        NOT NULL,
    outcome            text        NOT NULL,
    guideline_versions text[]      NOT NULL DEFAULT '{}',
    evaluated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX evaluations_by_tenant ON evaluations (tenant_id, evaluated_at DESC, id DESC);
