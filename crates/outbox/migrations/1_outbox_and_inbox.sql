-- Transactional outbox: one row per committed batch of events, written in the
-- same transaction as the change that caused them, and one delivery row per
-- configured subscriber. Relays claim delivery rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox_batch (
    id          bigserial   PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    event_count integer     NOT NULL CHECK (event_count > 0),
    -- earshot.events.v1.EventBatch, protobuf-encoded
    payload     bytea       NOT NULL
);

CREATE TABLE outbox_delivery (
    subscriber      text        NOT NULL,
    batch_id        bigint      NOT NULL REFERENCES outbox_batch (id) ON DELETE CASCADE,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    PRIMARY KEY (subscriber, batch_id)
);

CREATE INDEX outbox_delivery_batch ON outbox_delivery (batch_id);

-- Consumer inbox: events already handled, so a redelivery is handled once.
CREATE TABLE inbox (
    event_id   uuid        PRIMARY KEY,
    tenant_id  text        NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
