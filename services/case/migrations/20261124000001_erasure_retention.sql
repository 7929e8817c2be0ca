-- Forgetting a customer (GDPR erasure) and the tenant's retention period.

-- One erasure per customer, idempotent on the client's request_id. It holds
-- nothing of what was erased: who asked, when, and how many rows.
CREATE TABLE erasures (
    id           uuid        PRIMARY KEY,
    tenant_id    text        NOT NULL,
    customer_id  uuid        NOT NULL REFERENCES customers (id),
    request_id   text        NOT NULL,
    requested_by text        NOT NULL,
    requested_at timestamptz NOT NULL,
    CONSTRAINT erasures_one_per_request UNIQUE (tenant_id, request_id),
    CONSTRAINT erasures_one_per_customer UNIQUE (tenant_id, customer_id)
);

-- What each service did: the case service's own row is done when the erasure
-- is recorded; every service it told reports with ErasureCompleted.
CREATE TABLE erasure_progress (
    erasure_id     uuid        NOT NULL REFERENCES erasures (id),
    service        text        NOT NULL,
    records_erased bigint      NOT NULL DEFAULT 0,
    completed_at   timestamptz,
    PRIMARY KEY (erasure_id, service)
);

-- The audit trail stays append-only but for one change: an erasure blanks
-- what an entry recorded (before and after) and keeps who did what and when.
CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id AND NEW.tenant_id = OLD.tenant_id
       AND NEW.case_id IS NOT DISTINCT FROM OLD.case_id
       AND NEW.customer_id IS NOT DISTINCT FROM OLD.customer_id
       AND NEW.actor = OLD.actor AND NEW.action = OLD.action AND NEW.at = OLD.at
       AND NEW.before = '{"erased": true}'::jsonb AND NEW.after = '{"erased": true}'::jsonb THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_entries is append-only';
END
$$;

-- How long the tenant's data is kept, in days; 0 keeps it forever.
CREATE TABLE retention_policies (
    tenant_id  text        PRIMARY KEY,
    days       integer     NOT NULL CHECK (days >= 0),
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL
);

-- The retention job finds a tenant's oldest messages by this.
CREATE INDEX case_messages_by_tenant_created ON case_messages (tenant_id, created_at);
