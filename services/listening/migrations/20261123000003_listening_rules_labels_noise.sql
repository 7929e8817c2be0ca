-- What the pipeline learnt about each mention beyond its intent.
ALTER TABLE mentions
    ADD COLUMN is_share          boolean          NOT NULL DEFAULT false,
    ADD COLUMN language_detected boolean          NOT NULL DEFAULT false,
    -- VADER compound score; NULL for mentions stored before sentiment existed.
    ADD COLUMN sentiment         double precision,
    ADD COLUMN topics            text[]           NOT NULL DEFAULT '{}',
    -- Ids of the rules that matched (versions are in details), for search by rule.
    ADD COLUMN rule_ids          uuid[]           NOT NULL DEFAULT '{}',
    -- Noise: why the mention was dropped (kept for audit and listing, never deleted).
    ADD COLUMN dropped_reason    text,
    ADD COLUMN dropped_detail    text,
    -- The full classification with its cues, the extracted entities and the
    -- matched rule versions, as the protobuf the API returns (compact, and
    -- written without JSON parsing on the ingest path).
    ADD COLUMN details           bytea,
    -- The intent cues now travel inside details with every other cue; the
    -- column keeps those of mentions stored before.
    ALTER COLUMN cues SET DEFAULT '{}';

-- Two indexes instead of three: ids are UUIDv7, minted in arrival order, so
-- (tenant, id) both finds a tenant's mention and lists its mentions newest
-- first. Every index costs the ingest path a B-tree insert per mention.
ALTER TABLE mentions DROP CONSTRAINT mentions_pkey;
ALTER TABLE mentions ADD PRIMARY KEY (tenant_id, id);
DROP INDEX mentions_by_tenant_received;

-- Listing dropped mentions; noise is a small share, so the index stays small.
CREATE INDEX mentions_dropped ON mentions (tenant_id, id DESC)
    WHERE dropped_reason IS NOT NULL;

-- Listening rules. The row holds the current version; every version,
-- including the current one, is in rule_versions.
CREATE TABLE rules (
    id          uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    name        text        NOT NULL,
    query       text        NOT NULL,
    version     integer     NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    request_id  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT rules_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE UNIQUE INDEX rules_active_name ON rules (tenant_id, lower(name)) WHERE active;
CREATE INDEX rules_by_tenant ON rules (tenant_id, created_at, id);

CREATE TABLE rule_versions (
    rule_id     uuid        NOT NULL REFERENCES rules (id),
    version     integer     NOT NULL,
    name        text        NOT NULL,
    query       text        NOT NULL,
    active      boolean     NOT NULL,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL,
    PRIMARY KEY (rule_id, version)
);

-- Agents' relevance judgements and corrections. rule_id is the nil UUID for
-- a judgement about the tenant's listening as a whole.
CREATE TABLE mention_labels (
    tenant_id   text             NOT NULL,
    mention_id  uuid             NOT NULL,
    rule_id     uuid             NOT NULL,
    relevant    boolean          NOT NULL,
    intent      smallint         NOT NULL,
    sentiment   double precision,
    labelled_by text             NOT NULL,
    labelled_at timestamptz      NOT NULL,
    PRIMARY KEY (tenant_id, mention_id, rule_id),
    FOREIGN KEY (tenant_id, mention_id) REFERENCES mentions (tenant_id, id)
);

-- Per-tenant topic taxonomy (NULL: the default one) and noise settings.
CREATE TABLE tenant_settings (
    tenant_id     text        PRIMARY KEY,
    version       integer     NOT NULL,
    topics        jsonb,
    brand_handles text[]      NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- Bumped by every change to a tenant's rules or settings, so that each
-- replica reloads its compiled copy with one cheap read per ingest batch.
CREATE TABLE tenant_revisions (
    tenant_id text   PRIMARY KEY,
    revision  bigint NOT NULL
);
