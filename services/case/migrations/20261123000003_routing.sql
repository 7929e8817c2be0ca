-- Routing: per-tenant rules deciding a new case's lane, priority, queue and
-- required skills; agents with queues, skills, capacity and expert topics.

CREATE TABLE routing_rules (
    id              uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    name            text        NOT NULL,
    ord             integer     NOT NULL DEFAULT 0,
    -- Conditions: empty arrays and NULLs always hold.
    tiers           text[]      NOT NULL DEFAULT '{}',
    vip             boolean     NOT NULL DEFAULT false,
    min_followers   bigint      NOT NULL DEFAULT 0,
    topics          text[]      NOT NULL DEFAULT '{}',
    intents         smallint[]  NOT NULL DEFAULT '{}',
    urgencies       smallint[]  NOT NULL DEFAULT '{}',
    max_sentiment   double precision,
    channels        smallint[]  NOT NULL DEFAULT '{}',
    -- Decision.
    lane            smallint    NOT NULL,
    priority        text        NOT NULL,
    queue           text        NOT NULL,
    required_skills text[]      NOT NULL DEFAULT '{}',
    request_id      text,
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    CONSTRAINT routing_rules_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE INDEX routing_rules_by_tenant ON routing_rules (tenant_id, ord, created_at, id);

CREATE TABLE agents (
    tenant_id     text        NOT NULL,
    agent_id      text        NOT NULL,
    -- Surrogate key for list cursors.
    id            uuid        NOT NULL UNIQUE,
    display_name  text        NOT NULL DEFAULT '',
    queues        text[]      NOT NULL DEFAULT '{}',
    skills        text[]      NOT NULL DEFAULT '{}',
    capacity      integer     NOT NULL,
    available     boolean     NOT NULL,
    expert_topics text[]      NOT NULL DEFAULT '{}',
    version       bigint      NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
);
CREATE INDEX agents_by_queue ON agents USING gin (queues);

ALTER TABLE cases
    ADD COLUMN lane            smallint NOT NULL DEFAULT 1,
    ADD COLUMN queue           text     NOT NULL DEFAULT 'general',
    ADD COLUMN assignee        text,
    ADD COLUMN required_skills text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN experts         text[]   NOT NULL DEFAULT '{}',
    ADD COLUMN routing_rule_id uuid;

-- An agent's load: open cases assigned to them (status below RESOLVED = 5).
CREATE INDEX cases_open_by_assignee ON cases (tenant_id, assignee)
    WHERE assignee IS NOT NULL AND status < 5;
