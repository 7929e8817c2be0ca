-- Customers with their linked identities, threading (messages on a case,
-- topic, merges), and the append-only audit trail.

CREATE TABLE customers (
    id              uuid        PRIMARY KEY,
    tenant_id       text        NOT NULL,
    display_name    text        NOT NULL DEFAULT '',
    -- The customer's id in the tenant's CRM.
    crm_external_id text,
    tier            text        NOT NULL DEFAULT '',
    vip             boolean     NOT NULL DEFAULT false,
    followers       bigint      NOT NULL DEFAULT 0,
    language        text        NOT NULL DEFAULT '',
    -- earshot.case.v1.Consent
    consent         smallint    NOT NULL DEFAULT 0,
    -- Set when this profile was merged into another; it then holds no identity.
    merged_into     uuid        REFERENCES customers (id),
    -- The client's idempotency key for customers created by API.
    request_id      text,
    version         bigint      NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT customers_one_per_request UNIQUE (tenant_id, request_id)
);
CREATE UNIQUE INDEX customers_one_per_crm_id ON customers (tenant_id, crm_external_id)
    WHERE crm_external_id IS NOT NULL AND merged_into IS NULL;

-- An identity belongs to one customer of a tenant at a time.
CREATE TABLE customer_identities (
    tenant_id   text        NOT NULL,
    platform    text        NOT NULL,
    value       text        NOT NULL,
    customer_id uuid        NOT NULL REFERENCES customers (id),
    linked_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, platform, value)
);
CREATE INDEX customer_identities_by_customer ON customer_identities (customer_id);

ALTER TABLE cases
    ADD COLUMN customer_id uuid REFERENCES customers (id),
    ADD COLUMN topic       text NOT NULL DEFAULT '',
    ADD COLUMN merged_into uuid REFERENCES cases (id),
    ADD COLUMN resolved_at timestamptz;

-- Cases from before customers existed: one profile per handle they named.
CREATE TEMPORARY TABLE legacy_handles ON COMMIT DROP AS
    SELECT tenant_id, customer_handle, gen_random_uuid() AS id, min(opened_at) AS first_seen
      FROM cases GROUP BY tenant_id, customer_handle;
INSERT INTO customers (id, tenant_id, display_name, created_at, updated_at)
    SELECT id, tenant_id, customer_handle, first_seen, first_seen FROM legacy_handles;
INSERT INTO customer_identities (tenant_id, platform, value, customer_id, linked_at)
    SELECT tenant_id, 'legacy', customer_handle, id, first_seen FROM legacy_handles;
UPDATE cases c SET customer_id = l.id
  FROM legacy_handles l
 WHERE l.tenant_id = c.tenant_id AND l.customer_handle = c.customer_handle;

-- Threading looks for a case still open (not closed) in the same thread, or of
-- the same customer on the same topic. 6 = CASE_STATUS_CLOSED.
CREATE INDEX cases_open_by_thread ON cases (tenant_id, thread_key)
    WHERE thread_key <> '' AND status <> 6;
CREATE INDEX cases_open_by_customer_topic ON cases (tenant_id, customer_id, topic)
    WHERE topic <> '' AND status <> 6;
CREATE INDEX cases_by_customer ON cases (customer_id);

-- What the customer said on a case (and, later, what the team answered).
CREATE TABLE case_messages (
    id          uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    case_id     uuid        NOT NULL REFERENCES cases (id),
    -- earshot.case.v1.MessageDirection
    direction   smallint    NOT NULL,
    channel     smallint    NOT NULL,
    author      text        NOT NULL,
    body        text        NOT NULL,
    mention_id  text,
    posted_at   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT case_messages_one_per_mention UNIQUE (tenant_id, mention_id)
);
CREATE INDEX case_messages_by_case ON case_messages (tenant_id, case_id, created_at, id);

-- Every change to a case or a customer, with who made it and when. Rows are
-- never changed nor deleted.
CREATE TABLE audit_entries (
    id          uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    case_id     uuid,
    customer_id uuid,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    before      jsonb       NOT NULL DEFAULT '{}',
    after       jsonb       NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL
);
CREATE INDEX audit_entries_by_case ON audit_entries (tenant_id, case_id, at, id)
    WHERE case_id IS NOT NULL;
CREATE INDEX audit_entries_by_customer ON audit_entries (tenant_id, customer_id, at, id)
    WHERE customer_id IS NOT NULL;

CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entries is append-only';
END
$$;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
