-- Collision (a claim for replying) and outcomes (resolution code, goodwill, CSAT).

ALTER TABLE cases
    ADD COLUMN claimed_by       text,
    ADD COLUMN claim_expires_at timestamptz,
    ADD COLUMN resolution_code  text,
    ADD COLUMN csat             smallint,
    ADD COLUMN csat_comment     text;

CREATE TABLE goodwill_gestures (
    id           uuid        PRIMARY KEY,
    tenant_id    text        NOT NULL,
    case_id      uuid        NOT NULL REFERENCES cases (id),
    -- earshot.events.v1.GoodwillGesture.Kind
    kind         smallint    NOT NULL,
    amount_minor bigint      NOT NULL,
    currency     text        NOT NULL,
    note         text        NOT NULL,
    request_id   text        NOT NULL,
    given_by     text        NOT NULL,
    given_at     timestamptz NOT NULL,
    CONSTRAINT goodwill_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE INDEX goodwill_by_case ON goodwill_gestures (case_id, given_at);
