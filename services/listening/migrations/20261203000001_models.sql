-- What the learned models said of each mention beyond the intent: the
-- sentiment class and both heads' confidence, for search. NULL for mentions
-- stored before the models.
ALTER TABLE mentions
    ADD COLUMN sentiment_label      smallint,
    ADD COLUMN intent_confidence    real,
    ADD COLUMN sentiment_confidence real;

-- Labels written per tenant, ever (a replaced label counts again): the
-- refit job compares it with what its last refit read.
CREATE TABLE label_counts (
    tenant_id text   PRIMARY KEY,
    written   bigint NOT NULL
);

-- A tenant's adaptation: its active correction layer (0: the shipped
-- models alone), the label count its last refit read, and its last version.
CREATE TABLE tenant_models (
    tenant_id       text    PRIMARY KEY,
    active_version  integer NOT NULL DEFAULT 0,
    labels_at_refit bigint  NOT NULL DEFAULT 0,
    last_version    integer NOT NULL DEFAULT 0
);

-- Every correction layer a refit made, with its held-out scores before
-- (the shipped models alone) and after (with it). A refit writes its row,
-- the tenant's counters and the revision bump in one transaction, so an
-- interrupted one leaves nothing and is redone.
CREATE TABLE model_versions (
    tenant_id           text             NOT NULL,
    version             integer          NOT NULL,
    base_model          text             NOT NULL,
    trained_on          integer          NOT NULL,
    sentiment_held_out  integer          NOT NULL,
    intent_held_out     integer          NOT NULL,
    before_sentiment    double precision,
    before_intent       double precision,
    before_complaint_f1 double precision,
    after_sentiment     double precision,
    after_intent        double precision,
    after_complaint_f1  double precision,
    correction          bytea            NOT NULL,
    trained_at          timestamptz      NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
