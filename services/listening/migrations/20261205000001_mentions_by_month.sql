-- Mentions partitioned by the month they arrived in, so that a year of
-- mentions costs ingest what a month does (the partition it writes to and
-- its indexes stay the size of a month) and retention drops whole months
-- instead of deleting rows (see mention::partitions).
--
-- The partition key is the id: a UUIDv7 minted at ingest, so its leading
-- 48 bits are the arrival time in milliseconds, and the primary key
-- (tenant_id, id), the labels' foreign key and every read by id stay as they
-- were. The identity that makes ingest idempotent, (tenant_id, source,
-- external_id), cannot be a unique constraint of a table partitioned by
-- time, so it moves to mention_keys, which ingest writes first.

CREATE TABLE mention_keys (
    tenant_id   text NOT NULL,
    source      text NOT NULL,
    external_id text NOT NULL,
    mention_id  uuid NOT NULL,
    PRIMARY KEY (tenant_id, source, external_id)
);
-- Retention and erasure remove a mention's key with it.
CREATE INDEX mention_keys_by_mention ON mention_keys (tenant_id, mention_id);
INSERT INTO mention_keys (tenant_id, source, external_id, mention_id)
    SELECT tenant_id, source, external_id, id FROM mentions;

ALTER TABLE mention_labels DROP CONSTRAINT mention_labels_tenant_id_mention_id_fkey;

CREATE TABLE mentions_by_month (LIKE mentions INCLUDING DEFAULTS) PARTITION BY RANGE (id);

-- The smallest UUIDv7 of an instant: its millisecond prefix, the rest zero.
CREATE FUNCTION mention_id_floor(at timestamptz) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN (lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid;

-- A partition for every month from the oldest mention's to two months
-- ahead (the service keeps creating them ahead), and a default one for ids
-- outside them.
DO $$
DECLARE
    month date := date_trunc('month', coalesce(
        (SELECT to_timestamp(('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0)
           FROM mentions ORDER BY id LIMIT 1),
        now()) AT TIME ZONE 'UTC')::date;
    last date := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '2 months')::date;
BEGIN
    WHILE month <= last LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF mentions_by_month FOR VALUES FROM (%L) TO (%L)',
            'mentions_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM'),
            mention_id_floor(month::timestamp AT TIME ZONE 'UTC'),
            mention_id_floor((month + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
        month := month + interval '1 month';
    END LOOP;
END $$;
CREATE TABLE mentions_default PARTITION OF mentions_by_month DEFAULT;

INSERT INTO mentions_by_month SELECT * FROM mentions;
DROP TABLE mentions;
ALTER TABLE mentions_by_month RENAME TO mentions;
ALTER TABLE mentions ADD CONSTRAINT mentions_pkey PRIMARY KEY (tenant_id, id);
-- Listing dropped mentions; noise is a small share, so the index stays small.
CREATE INDEX mentions_dropped ON mentions (tenant_id, id DESC) WHERE dropped_reason IS NOT NULL;

ALTER TABLE mention_labels
    ADD CONSTRAINT mention_labels_tenant_id_mention_id_fkey
    FOREIGN KEY (tenant_id, mention_id) REFERENCES mentions (tenant_id, id);
