-- Every mention heard, once per (tenant, source, external id).
CREATE TABLE mentions (
    id                 uuid        PRIMARY KEY,
    tenant_id          text        NOT NULL,
    source             text        NOT NULL,
    external_id        text        NOT NULL,
    channel            smallint    NOT NULL,
    is_public          boolean     NOT NULL,
    author_external_id text        NOT NULL,
    author_handle      text        NOT NULL,
    author_name        text        NOT NULL,
    author_followers   bigint      NOT NULL,
    author_verified    boolean     NOT NULL,
    body               text        NOT NULL,
    language           text        NOT NULL,
    thread_key         text        NOT NULL,
    posted_at          timestamptz NOT NULL,
    received_at        timestamptz NOT NULL DEFAULT now(),
    intent             smallint    NOT NULL,
    actionable         boolean     NOT NULL,
    cues               text[]      NOT NULL,
    CONSTRAINT mentions_identity UNIQUE (tenant_id, source, external_id)
);

-- The newest-first listing of a tenant's mentions (keyset pagination).
CREATE INDEX mentions_by_tenant_received ON mentions (tenant_id, received_at DESC, id DESC);
