-- Business hours: one weekly calendar per tenant, in its own time zone. An SLA
-- policy may count only those hours; each clock remembers whether it does, so
-- pausing and resuming it count the same way it started.

CREATE TABLE business_hours (
    tenant_id  text        PRIMARY KEY,
    -- An IANA zone name PostgreSQL knows (pg_timezone_names).
    time_zone  text        NOT NULL,
    -- Minutes after local midnight by ISO weekday (1 Monday … 7 Sunday);
    -- opens = closes means closed all day.
    opens      smallint[]  NOT NULL CHECK (cardinality(opens) = 7),
    closes     smallint[]  NOT NULL CHECK (cardinality(closes) = 7),
    version    bigint      NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL
);

ALTER TABLE sla_policies ADD COLUMN business_hours boolean NOT NULL DEFAULT false;
ALTER TABLE case_sla_timers ADD COLUMN business_hours boolean NOT NULL DEFAULT false;

-- Whether a calendar is open at some time of the week.
CREATE FUNCTION business_hours_open(cal business_hours) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(cal.opens, cal.closes) AS d(opens, closes)
                    WHERE d.closes > d.opens)
$$;

-- The moment `secs` seconds of the tenant's business hours after `start` have
-- passed. Without a calendar (or one never open) every hour counts.
CREATE FUNCTION business_due(tenant text, start timestamptz, secs double precision)
RETURNS timestamptz LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal       business_hours;
    wall      timestamp;
    day       timestamp;
    opens_at  timestamp;
    closes_at timestamp;
    open_secs double precision;
    left_secs double precision := greatest(secs, 0);
    dow       int;
BEGIN
    SELECT * INTO cal FROM business_hours WHERE tenant_id = tenant;
    IF NOT FOUND OR NOT business_hours_open(cal) THEN
        RETURN start + make_interval(secs => left_secs);
    END IF;
    wall := start AT TIME ZONE cal.time_zone;
    LOOP
        day := date_trunc('day', wall);
        dow := extract(isodow FROM day)::int;
        opens_at := day + make_interval(mins => cal.opens[dow]);
        closes_at := day + make_interval(mins => cal.closes[dow]);
        IF closes_at > opens_at AND wall < closes_at THEN
            wall := greatest(wall, opens_at);
            open_secs := extract(epoch FROM closes_at - wall);
            IF open_secs >= left_secs THEN
                RETURN (wall + make_interval(secs => left_secs)) AT TIME ZONE cal.time_zone;
            END IF;
            left_secs := left_secs - open_secs;
        END IF;
        wall := day + interval '1 day';
    END LOOP;
END
$$;

-- Seconds of the tenant's business hours between `from_at` and `until_at`
-- (0 when `until_at` is not later). Without a calendar every hour counts.
CREATE FUNCTION business_seconds(tenant text, from_at timestamptz, until_at timestamptz)
RETURNS double precision LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
    cal       business_hours;
    wall      timestamp;
    wall_end  timestamp;
    day       timestamp;
    opens_at  timestamp;
    closes_at timestamp;
    total     double precision := 0;
    dow       int;
BEGIN
    IF until_at <= from_at THEN
        RETURN 0;
    END IF;
    SELECT * INTO cal FROM business_hours WHERE tenant_id = tenant;
    IF NOT FOUND OR NOT business_hours_open(cal) THEN
        RETURN extract(epoch FROM until_at - from_at);
    END IF;
    wall := from_at AT TIME ZONE cal.time_zone;
    wall_end := until_at AT TIME ZONE cal.time_zone;
    WHILE wall < wall_end LOOP
        day := date_trunc('day', wall);
        dow := extract(isodow FROM day)::int;
        opens_at := day + make_interval(mins => cal.opens[dow]);
        closes_at := day + make_interval(mins => cal.closes[dow]);
        total := total + greatest(0, extract(epoch FROM least(closes_at, wall_end)
                                                      - greatest(opens_at, wall)));
        wall := day + interval '1 day';
    END LOOP;
    RETURN total;
END
$$;
