-- The work queue: cases before RESOLVED (5) by SLA due time, soonest first;
-- cases with no running clock (NULL) come last.
CREATE INDEX cases_queue_by_due ON cases (tenant_id, sla_due_at, id) WHERE status < 5;
