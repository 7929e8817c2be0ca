-- Insight's facts (one row per case, mention and reply, as their producers
-- told them) and the rollups every report reads. A rollup row is a sum of
-- the contributions of the facts behind it: a batch of events computes each
-- changed fact's contribution before and after and adds the difference, so
-- the rollups always equal a recomputation from the facts, whatever order
-- the events arrived in.

-- A case at the highest version heard (CaseOpened / CaseUpdated facts).
CREATE TABLE case_facts (
    tenant_id                  text             NOT NULL,
    case_id                    uuid             NOT NULL,
    version                    bigint           NOT NULL,
    status                     text             NOT NULL,
    channel                    smallint         NOT NULL,
    public                     boolean          NOT NULL,
    topic                      text             NOT NULL,
    intent                     smallint         NOT NULL,
    priority                   text             NOT NULL,
    lane                       text             NOT NULL,
    queue                      text             NOT NULL,
    agent                      text             NOT NULL,
    customer_id                uuid,
    followers                  bigint           NOT NULL,
    vip                        boolean          NOT NULL,
    mention_id                 uuid,
    opened_at                  timestamptz      NOT NULL,
    first_response_secs        double precision,
    first_response_business_secs double precision,
    resolved_at                timestamptz,
    resolution_secs            double precision,
    resolution_business_secs   double precision,
    reopens                    integer          NOT NULL,
    replies                    integer          NOT NULL,
    inbound_messages           integer          NOT NULL,
    channel_switches           integer          NOT NULL,
    -- earshot.case.v1.SlaState per target (0 no clock): first response,
    -- next response, resolution.
    sla_first_response         smallint         NOT NULL,
    sla_next_response          smallint         NOT NULL,
    sla_resolution             smallint         NOT NULL,
    goodwill_gestures          integer          NOT NULL,
    goodwill_minor             bigint           NOT NULL,
    csat                       smallint         NOT NULL,
    moved_private              boolean          NOT NULL,
    consent_granted            boolean          NOT NULL,
    merged                     boolean          NOT NULL,
    PRIMARY KEY (tenant_id, case_id)
);
-- Drill-downs page newest opened first; the opening mention finds its case.
CREATE INDEX case_facts_by_opened ON case_facts (tenant_id, opened_at DESC, case_id DESC);
CREATE INDEX case_facts_by_mention ON case_facts (tenant_id, mention_id) WHERE mention_id IS NOT NULL;
CREATE INDEX case_facts_by_customer ON case_facts (tenant_id, customer_id) WHERE customer_id IS NOT NULL;

-- A mention as listening classified it (MentionClassified); the driver is its
-- first topic × intent × first matched rule.
CREATE TABLE mention_facts (
    tenant_id  text             NOT NULL,
    mention_id uuid             NOT NULL,
    posted_at  timestamptz      NOT NULL,
    channel    smallint         NOT NULL,
    public     boolean          NOT NULL,
    topic      text             NOT NULL,
    intent     smallint         NOT NULL,
    rule_id    text             NOT NULL,
    -- "<channel>:<user id or handle>", '' when nobody can be recognised or
    -- the author was erased.
    author     text             NOT NULL,
    handle     text             NOT NULL,
    followers  bigint           NOT NULL,
    thread_key text             NOT NULL,
    -- VADER compound, NULL when not scored.
    sentiment  double precision,
    -- The words, kept only for praise and high fives (success stories).
    praise     text,
    -- The same author contacted about the same topic and intent in the 7
    -- days before (ties broken by id).
    recurrent  boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, mention_id)
);
CREATE INDEX mention_facts_by_posted ON mention_facts (tenant_id, posted_at DESC, mention_id DESC);
CREATE INDEX mention_facts_by_author_driver
    ON mention_facts (tenant_id, author, topic, intent, posted_at, mention_id) WHERE author <> '';
CREATE INDEX mention_facts_by_driver ON mention_facts (tenant_id, topic, intent, posted_at);
CREATE INDEX mention_facts_praise ON mention_facts (tenant_id, posted_at DESC, mention_id DESC)
    WHERE praise IS NOT NULL;

-- A reply as the case service sent it (ReplySent).
CREATE TABLE reply_facts (
    tenant_id          text        NOT NULL,
    reply_id           uuid        NOT NULL,
    case_id            uuid        NOT NULL,
    sent_at            timestamptz NOT NULL,
    agent              text        NOT NULL,
    queue              text        NOT NULL,
    channel            smallint    NOT NULL,
    public             boolean     NOT NULL,
    -- earshot.events.v1.AuthenticityFinding.Kind, distinct.
    findings           smallint[]  NOT NULL,
    -- The body's words lower-cased, hashed: equal hashes are reused replies.
    body_hash          bigint      NOT NULL,
    excerpt            text        NOT NULL,
    kb_article_id      text        NOT NULL,
    kb_article_version integer     NOT NULL,
    PRIMARY KEY (tenant_id, reply_id)
);
CREATE INDEX reply_facts_by_sent ON reply_facts (tenant_id, sent_at);
CREATE INDEX reply_facts_by_case ON reply_facts (tenant_id, case_id);

-- Cases by the day they opened and one dimension's value (dim 0 = all, with
-- value ''; see Dimension in insight_service.proto).
CREATE TABLE case_rollups (
    tenant_id        text     NOT NULL,
    dim              smallint NOT NULL,
    value            text     NOT NULL,
    day              date     NOT NULL,
    opened           bigint   NOT NULL DEFAULT 0,
    resolved         bigint   NOT NULL DEFAULT 0,
    reopened         bigint   NOT NULL DEFAULT 0,
    one_touch        bigint   NOT NULL DEFAULT 0,
    fr_met           bigint   NOT NULL DEFAULT 0,
    fr_breached      bigint   NOT NULL DEFAULT 0,
    nr_met           bigint   NOT NULL DEFAULT 0,
    nr_breached      bigint   NOT NULL DEFAULT 0,
    res_met          bigint   NOT NULL DEFAULT 0,
    res_breached     bigint   NOT NULL DEFAULT 0,
    inbound          bigint   NOT NULL DEFAULT 0,
    channel_switches bigint   NOT NULL DEFAULT 0,
    -- Day before value: a report reads one dimension over a range of days.
    PRIMARY KEY (tenant_id, dim, day, value)
);

-- Histograms of times by opening day: metric 0 first response, 1 first
-- response in business hours, 2 resolution, 3 resolution in business hours;
-- bucket 0 holds times under a second, bucket b ≥ 1 times in
-- [2^((b-1)/8), 2^(b/8)) seconds.
CREATE TABLE case_durations (
    tenant_id text     NOT NULL,
    dim       smallint NOT NULL,
    value     text     NOT NULL,
    metric    smallint NOT NULL,
    day       date     NOT NULL,
    bucket    smallint NOT NULL,
    n         bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, dim, day, value, metric, bucket)
);

-- Cases by the day they were resolved, for the backlog.
CREATE TABLE case_resolutions (
    tenant_id text     NOT NULL,
    dim       smallint NOT NULL,
    value     text     NOT NULL,
    day       date     NOT NULL,
    n         bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, dim, day, value)
);

-- Cases by opening day and fairness stratum (driver × priority) and group:
-- social or traditional channel, and reach (the decimal digits of the
-- customer's follower count: 0 for none, 5 for 10 000..99 999), so a report
-- can split high from low reach at any power of ten.
CREATE TABLE fairness_rollups (
    tenant_id       text             NOT NULL,
    day             date             NOT NULL,
    topic           text             NOT NULL,
    intent          smallint         NOT NULL,
    priority        text             NOT NULL,
    social          boolean          NOT NULL,
    reach           smallint         NOT NULL,
    cases           bigint           NOT NULL DEFAULT 0,
    goodwill_cases  bigint           NOT NULL DEFAULT 0,
    goodwill_sum    double precision NOT NULL DEFAULT 0,
    goodwill_sq     double precision NOT NULL DEFAULT 0,
    resolved        bigint           NOT NULL DEFAULT 0,
    -- ln(1 + resolution seconds): sums and sums of squares.
    log_res_sum     double precision NOT NULL DEFAULT 0,
    log_res_sq      double precision NOT NULL DEFAULT 0,
    sla_met         bigint           NOT NULL DEFAULT 0,
    sla_breached    bigint           NOT NULL DEFAULT 0,
    moved_private   bigint           NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, topic, intent, priority, social, reach)
);

-- Mentions by posting day and driver.
CREATE TABLE driver_rollups (
    tenant_id text     NOT NULL,
    day       date     NOT NULL,
    topic     text     NOT NULL,
    intent    smallint NOT NULL,
    rule_id   text     NOT NULL,
    contacts  bigint   NOT NULL DEFAULT 0,
    recurrent bigint   NOT NULL DEFAULT 0,
    negative  bigint   NOT NULL DEFAULT 0,
    positive  bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day, topic, intent, rule_id)
);

-- Improvement items and the drivers they address.
CREATE TABLE improvements (
    tenant_id  text        NOT NULL,
    id         uuid        NOT NULL,
    title      text        NOT NULL,
    owner      text        NOT NULL,
    team       text        NOT NULL,
    -- earshot.insight.v1.ImprovementStatus
    status     smallint    NOT NULL,
    due_on     date,
    fixed_on   date,
    note       text        NOT NULL DEFAULT '',
    request_id text,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT improvements_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE INDEX improvements_by_created ON improvements (tenant_id, created_at DESC, id DESC);

CREATE TABLE improvement_drivers (
    tenant_id      text     NOT NULL,
    improvement_id uuid     NOT NULL,
    topic          text     NOT NULL,
    intent         smallint NOT NULL,
    rule_id        text     NOT NULL,
    PRIMARY KEY (tenant_id, improvement_id, topic, intent, rule_id),
    FOREIGN KEY (tenant_id, improvement_id) REFERENCES improvements (tenant_id, id)
);

-- Who was told a driver is fixed: each author once per driver.
CREATE TABLE fix_notices (
    tenant_id      text        NOT NULL,
    topic          text        NOT NULL,
    intent         smallint    NOT NULL,
    author         text        NOT NULL,
    improvement_id uuid        NOT NULL,
    told_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, topic, intent, author)
);
CREATE INDEX fix_notices_by_item ON fix_notices (tenant_id, improvement_id);
