-- When a reply or the resolution ended a clock, on time or late: a breached
-- clock stays BREACHED for reporting, but once it is met it no longer sets
-- the case's sla_due_at, which is the due time of its next running clock
-- (an overdue one nobody has met yet counts).
ALTER TABLE case_sla_timers ADD COLUMN met_at timestamptz;
-- Clocks met before this column existed: MET ones, and breached ones whose
-- case is resolved or closed (5, 6).
UPDATE case_sla_timers SET met_at = now() WHERE state = 3;
UPDATE case_sla_timers t SET met_at = now()
  FROM cases c WHERE c.id = t.case_id AND t.state = 4 AND c.status >= 5;
UPDATE cases c
   SET sla_due_at = (SELECT min(t.due_at) FROM case_sla_timers t
                      WHERE t.case_id = c.id AND t.met_at IS NULL AND t.state IN (1, 4));
