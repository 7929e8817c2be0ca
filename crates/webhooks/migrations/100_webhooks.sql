-- Webhooks (earshot-webhooks), in the schema of each service that offers
-- them. Versions 100.. sit between the outbox's (1..) and the services' own
-- (dated), so they never collide.

-- A tenant's endpoint. The secret signs every delivery, so it is kept as the
-- signer needs it; the previous one keeps signing beside it for a while
-- after a rotation.
CREATE TABLE webhook_endpoints (
    id                         uuid        PRIMARY KEY,
    tenant_id                  text        NOT NULL,
    url                        text        NOT NULL,
    -- Empty: every type the service offers.
    event_types                text[]      NOT NULL,
    accept_drills              boolean     NOT NULL,
    enabled                    boolean     NOT NULL DEFAULT true,
    disabled_reason            text        NOT NULL DEFAULT '',
    description                text        NOT NULL,
    secret                     text        NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    secret_rotated_at          timestamptz,
    request_id                 text        NOT NULL,
    version                    bigint      NOT NULL DEFAULT 1,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_one_per_request UNIQUE (tenant_id, request_id)
);

-- Lists page by (created_at, id); fan-out looks up a batch's tenants.
CREATE INDEX webhook_endpoints_of_tenant ON webhook_endpoints (tenant_id, created_at, id);

-- An event some endpoint hears, with the body every delivery of it sends:
-- rendered once, so retries and replays send the very same bytes.
CREATE TABLE webhook_events (
    event_id    uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    event_type  text        NOT NULL,
    drill       boolean     NOT NULL,
    occurred_at timestamptz NOT NULL,
    body        text        NOT NULL
);

-- One event for one endpoint. Its id is the webhook-id every attempt sends.
-- state: 1 pending, 2 delivered, 3 failed, 4 disabled (DeliveryState).
CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL REFERENCES webhook_events (event_id),
    state           smallint    NOT NULL,
    -- Attempts made, replays included; the retry schedule counts from
    -- replayed_after (the attempts made before the last replay).
    attempts        integer     NOT NULL DEFAULT 0,
    replayed_after  integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- HTTP status of the last attempt; NULL when none answered.
    last_status     integer,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- A redelivered outbox batch fans out to nothing new.
    CONSTRAINT webhook_deliveries_once_per_endpoint UNIQUE (endpoint_id, event_id)
);

-- The delivery job claims due pending rows, soonest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 1;
-- Lists, newest first, of a tenant or of one endpoint (the unique index
-- above leads with endpoint_id but orders by event).
CREATE INDEX webhook_deliveries_of_tenant ON webhook_deliveries (tenant_id, created_at, id);
CREATE INDEX webhook_deliveries_of_endpoint ON webhook_deliveries (endpoint_id, created_at, id);

-- Every POST of a delivery.
CREATE TABLE webhook_attempts (
    delivery_id uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     integer     NOT NULL,
    at          timestamptz NOT NULL,
    -- NULL when nothing answered (timeout, refused connection).
    status_code integer,
    error       text        NOT NULL,
    duration_ms integer     NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
