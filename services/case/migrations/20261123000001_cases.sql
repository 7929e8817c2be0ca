-- Cases: one per cry for help (opened from a mention) or per traditional-channel
-- contact (opened by API). `version` guards concurrent updates.
CREATE TABLE cases (
    id              uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    status          smallint    NOT NULL,
    channel         smallint    NOT NULL,
    subject         text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    customer_handle text        NOT NULL,
    -- The mention that opened it; NULL for cases created by API.
    mention_id      text,
    thread_key      text        NOT NULL DEFAULT '',
    priority        text        NOT NULL,
    -- The client's idempotency key for cases created by API.
    request_id      text,
    version         bigint      NOT NULL DEFAULT 1,
    opened_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT cases_one_per_mention UNIQUE (tenant_id, mention_id),
    CONSTRAINT cases_one_per_request UNIQUE (tenant_id, request_id)
);

CREATE INDEX cases_by_tenant_opened ON cases (tenant_id, opened_at DESC, id DESC);
CREATE INDEX cases_by_tenant_status_opened ON cases (tenant_id, status, opened_at DESC, id DESC);
