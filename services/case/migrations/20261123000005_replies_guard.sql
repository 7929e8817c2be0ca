-- Replies are outbound case messages: public or private, with the MinHash
-- signature the authenticity guard compares drafts with, and its findings.

ALTER TABLE case_messages
    ADD COLUMN public     boolean NOT NULL DEFAULT false,
    ADD COLUMN request_id text,
    ADD COLUMN signature  bigint[],
    -- earshot.events.v1.AuthenticityFinding, encoded protobuf.
    ADD COLUMN findings   bytea,
    ADD CONSTRAINT case_messages_one_per_request UNIQUE (tenant_id, request_id);

-- The tenant's recent replies, newest first. 2 = MESSAGE_DIRECTION_OUTBOUND.
CREATE INDEX case_messages_recent_replies ON case_messages (tenant_id, created_at DESC)
    WHERE direction = 2;

CREATE TABLE guard_policies (
    tenant_id        text             PRIMARY KEY,
    block            boolean          NOT NULL,
    threshold        double precision NOT NULL,
    lookback         integer          NOT NULL,
    extra_kinds      smallint[]       NOT NULL DEFAULT '{}',
    extra_phrases    text[]           NOT NULL DEFAULT '{}',
    disabled_phrases text[]           NOT NULL DEFAULT '{}',
    version          bigint           NOT NULL DEFAULT 1
);
