-- The tenant's retention period as the case service told it (RetentionChanged):
-- mentions heard more than `days` ago are deleted; 0 keeps them.
CREATE TABLE retention_policies (
    tenant_id  text        PRIMARY KEY,
    days       integer     NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);
