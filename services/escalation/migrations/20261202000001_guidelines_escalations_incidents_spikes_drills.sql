-- Escalation in full: guidelines (versioned), escalations with their ladder,
-- incidents with holding statements, spike detection, drills. Enumerations
-- are smallints bound from the Rust enums in src/vocabulary.rs.

-- A tenant escalation has heard of: its default guidelines and detectors
-- were made once, and `revision` moves with every change to its guidelines
-- or detectors, so replicas know when their compiled copies are stale. It
-- starts at the creation's microsecond rather than 1: a replica may have
-- compiled a tenant made in a transaction that then rolled back, and the
-- tenant made again must not look like the copy it holds.
CREATE TABLE escalation_tenants (
    tenant_id  text        PRIMARY KEY,
    revision   bigint      NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE guidelines (
    id             uuid        PRIMARY KEY,
    tenant_id      text        NOT NULL REFERENCES escalation_tenants (tenant_id),
    -- The newest version: the one in force.
    version        integer     NOT NULL,
    built_in       boolean     NOT NULL DEFAULT false,
    request_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, request_id)
);

CREATE INDEX guidelines_by_tenant ON guidelines (tenant_id, created_at, id);

-- Every version of every guideline, immutable once written. `definition` is
-- the earshot.escalation.v1.GuidelineInput as protobuf, so a version reads
-- back exactly as it was written.
CREATE TABLE guideline_versions (
    guideline_id uuid        NOT NULL REFERENCES guidelines (id),
    version      integer     NOT NULL,
    tenant_id    text        NOT NULL,
    name         text        NOT NULL,
    enabled      boolean     NOT NULL,
    definition   bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL,
    PRIMARY KEY (guideline_id, version)
);

-- The guideline versions in force at each revision of a tenant's rules:
-- an evaluation names its revision instead of repeating the list.
CREATE TABLE guideline_revisions (
    tenant_id text   NOT NULL,
    revision  bigint NOT NULL,
    versions  text[] NOT NULL,
    PRIMARY KEY (tenant_id, revision)
);

-- What escalation evaluated: mentions (their MentionClassified kept, so a
-- drill can replay a recorded window) and case events.
-- An evaluation's id is its event's id, so the event id needs no index of
-- its own (the primary key answers ON CONFLICT).
ALTER TABLE evaluations DROP CONSTRAINT evaluations_event_id_key;
ALTER TABLE evaluations
    ADD COLUMN revision       bigint,
    ADD COLUMN case_id        uuid,
    ADD COLUMN escalation_ids uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN mention        bytea;
ALTER TABLE evaluations ALTER COLUMN mention SET STORAGE EXTERNAL;

CREATE TABLE escalations (
    id                uuid        PRIMARY KEY,
    tenant_id         text        NOT NULL,
    guideline_id      uuid        NOT NULL REFERENCES guidelines (id),
    guideline_version integer     NOT NULL,
    guideline_name    text        NOT NULL,
    trigger_kind      smallint    NOT NULL,
    -- The mention, case, spike alert or overdue statement that raised it:
    -- one guideline never fires twice for one of them.
    trigger_key       text        NOT NULL,
    mention_id        text        NOT NULL DEFAULT '',
    case_id           uuid,
    spike_alert_id    uuid,
    incident_id       uuid,
    event_id          uuid,
    severity          smallint    NOT NULL,
    team              smallint    NOT NULL,
    state             smallint    NOT NULL,
    level             integer     NOT NULL DEFAULT 0,
    repeat            integer     NOT NULL DEFAULT 0,
    reason            text        NOT NULL,
    -- The guideline asked to notify webhooks of its steps.
    notify            boolean     NOT NULL,
    raised_at         timestamptz NOT NULL DEFAULT now(),
    -- When the ladder takes its next step; NULL once acknowledged, resolved
    -- or at the top of its ladder.
    ack_due_at        timestamptz,
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    acknowledged_for  smallint,
    -- Ladder level the acknowledgement came at.
    acknowledged_level integer,
    resolved_at       timestamptz,
    resolved_by       text,
    drill_id          uuid,
    UNIQUE NULLS NOT DISTINCT (tenant_id, guideline_id, trigger_kind, trigger_key, drill_id)
);

CREATE INDEX escalations_by_tenant ON escalations (tenant_id, raised_at DESC, id DESC);
-- The ladder's next steps, for the scheduler.
CREATE INDEX escalations_ladder_due ON escalations (ack_due_at) WHERE ack_due_at IS NOT NULL;
CREATE INDEX escalations_by_drill ON escalations (drill_id) WHERE drill_id IS NOT NULL;
-- An incident's escalations are those naming it.
CREATE INDEX escalations_by_incident ON escalations (incident_id, raised_at, id)
    WHERE incident_id IS NOT NULL;

-- Every step of an escalation, incident or drill, oldest first.
CREATE TABLE timeline (
    id         bigserial   PRIMARY KEY,
    tenant_id  text        NOT NULL,
    subject_id uuid        NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    kind       text        NOT NULL,
    actor      text        NOT NULL,
    detail     text        NOT NULL DEFAULT ''
);

CREATE INDEX timeline_by_subject ON timeline (tenant_id, subject_id, id);

CREATE TABLE incidents (
    id                    uuid        PRIMARY KEY,
    tenant_id             text        NOT NULL,
    title                 text        NOT NULL,
    severity              smallint    NOT NULL,
    commander             text        NOT NULL,
    state                 smallint    NOT NULL,
    -- Triage or live: a guideline's further escalations join it rather than
    -- opening another.
    active                boolean     NOT NULL DEFAULT true,
    guideline_id          uuid        REFERENCES guidelines (id),
    guideline_version     integer,
    drill_id              uuid,
    -- Links made by hand; escalations a guideline joined to the incident
    -- name it in their incident_id.
    escalation_ids        uuid[]      NOT NULL DEFAULT '{}',
    mention_ids           text[]      NOT NULL DEFAULT '{}',
    case_ids              uuid[]      NOT NULL DEFAULT '{}',
    statement_proposed    text        NOT NULL DEFAULT '',
    statement_approved    text        NOT NULL DEFAULT '',
    approved_by           text,
    approved_at           timestamptz,
    first_posted_at       timestamptz,
    last_posted_at        timestamptz,
    updates_posted        integer     NOT NULL DEFAULT 0,
    -- The next statement's deadline while the incident is active; NULL
    -- once it was escalated as overdue, until the next statement.
    statement_due_at      timestamptz,
    statements_overdue    integer     NOT NULL DEFAULT 0,
    first_within_seconds  integer     NOT NULL DEFAULT 0,
    update_every_seconds  integer     NOT NULL DEFAULT 0,
    learning_note         text        NOT NULL DEFAULT '',
    -- Its events go to webhooks (the guideline's choice; by hand: yes).
    notify                boolean     NOT NULL DEFAULT true,
    opened_at             timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer     NOT NULL DEFAULT 1,
    request_id            text,
    UNIQUE (tenant_id, request_id)
);

CREATE INDEX incidents_by_tenant ON incidents (tenant_id, opened_at DESC, id DESC);
CREATE UNIQUE INDEX incidents_one_active_per_guideline
    ON incidents (tenant_id, guideline_id, drill_id) NULLS NOT DISTINCT
    WHERE active AND guideline_id IS NOT NULL;
CREATE INDEX incidents_statement_due ON incidents (statement_due_at)
    WHERE statement_due_at IS NOT NULL;

CREATE TABLE spike_detectors (
    id           uuid        PRIMARY KEY,
    tenant_id    text        NOT NULL REFERENCES escalation_tenants (tenant_id),
    name         text        NOT NULL,
    scope        smallint    NOT NULL,
    -- earshot.escalation.v1.SpikeSettings as protobuf.
    settings     bytea       NOT NULL,
    enabled      boolean     NOT NULL DEFAULT true,
    version      integer     NOT NULL DEFAULT 1,
    alerts       bigint      NOT NULL DEFAULT 0,
    marked_true  bigint      NOT NULL DEFAULT 0,
    marked_false bigint      NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, name)
);

-- One detector's state for one series ("all", "topic:<key>", "rule:<id>"):
-- the open minute, the CUSUM, the recent minutes and the overall rate,
-- rewritten once per batch that touches the series. `generation` is a
-- random number written with every change: a replica whose copy of the
-- state carries the same one need not read it (or its cells) again.
-- Half-empty pages let the updates stay on their page (HOT), since no
-- indexed column changes.
CREATE TABLE spike_series (
    detector_id uuid        NOT NULL REFERENCES spike_detectors (id) ON DELETE CASCADE,
    series      text        NOT NULL,
    tenant_id   text        NOT NULL,
    state       bytea       NOT NULL,
    generation  bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (detector_id, series)
) WITH (fillfactor = 50);

-- The hour-of-week baseline of a series, one row per cell (0 = Monday
-- 00:00 UTC): a closing minute rewrites the one cell it falls in, not all
-- 168. A cell never written is zero.
CREATE TABLE spike_cells (
    detector_id uuid             NOT NULL,
    series      text             NOT NULL,
    cell        smallint         NOT NULL,
    sum         double precision NOT NULL,
    minutes     double precision NOT NULL,
    PRIMARY KEY (detector_id, series, cell),
    FOREIGN KEY (detector_id, series) REFERENCES spike_series (detector_id, series) ON DELETE CASCADE
) WITH (fillfactor = 50);

-- Mentions per series and closed minute: the history backtests run over.
CREATE TABLE spike_buckets (
    tenant_id text        NOT NULL,
    series    text        NOT NULL,
    minute    timestamptz NOT NULL,
    count     integer     NOT NULL,
    negative  integer     NOT NULL,
    PRIMARY KEY (tenant_id, series, minute)
);

CREATE TABLE spike_alerts (
    id             uuid        PRIMARY KEY,
    tenant_id      text        NOT NULL,
    detector_id    uuid        NOT NULL REFERENCES spike_detectors (id) ON DELETE CASCADE,
    series         text        NOT NULL,
    kind           text        NOT NULL,
    minute         timestamptz NOT NULL,
    count          integer     NOT NULL,
    expected       double precision NOT NULL,
    p_value        double precision NOT NULL,
    negative_share double precision NOT NULL,
    verdict        boolean,
    marked_by      text,
    marked_at      timestamptz,
    raised_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX spike_alerts_by_tenant ON spike_alerts (tenant_id, raised_at DESC, id DESC);

CREATE TABLE drills (
    id                 uuid        PRIMARY KEY,
    tenant_id          text        NOT NULL,
    guideline_id       uuid        NOT NULL REFERENCES guidelines (id),
    guideline_version  integer     NOT NULL,
    state              smallint    NOT NULL,
    started_at         timestamptz NOT NULL DEFAULT now(),
    -- The drill ends on its own by then.
    ends_at            timestamptz NOT NULL,
    ended_at           timestamptz,
    scenario_size      integer     NOT NULL,
    replayed           integer     NOT NULL DEFAULT 0,
    score              double precision,
    -- earshot.escalation.v1.DrillCheck list as protobuf (a Drill with only
    -- its checks), written when the drill ends.
    checks             bytea,
    started_by         text        NOT NULL,
    request_id         text,
    UNIQUE (tenant_id, request_id)
);

CREATE INDEX drills_by_tenant ON drills (tenant_id, started_at DESC, id DESC);
CREATE INDEX drills_running ON drills (ends_at) WHERE ended_at IS NULL;

-- A drill's scenario, each mention due at its time; a step is deleted once
-- replayed.
CREATE TABLE drill_steps (
    drill_id   uuid        NOT NULL REFERENCES drills (id) ON DELETE CASCADE,
    seq        integer     NOT NULL,
    tenant_id  text        NOT NULL,
    due_at     timestamptz NOT NULL,
    mention_id text        NOT NULL,
    -- earshot.events.v1.MentionClassified as protobuf.
    mention    bytea       NOT NULL,
    PRIMARY KEY (drill_id, seq)
);

CREATE INDEX drill_steps_due ON drill_steps (due_at);
