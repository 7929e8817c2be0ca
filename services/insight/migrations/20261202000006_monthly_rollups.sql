-- Monthly copies of the rollups a long range reads: a report over a year
-- reads its whole months here (12 rows per key) and only its ragged ends
-- from the daily tables. `day` is the month's first day. They are written
-- with the daily rows, from the same deltas.
CREATE TABLE case_rollups_monthly (LIKE case_rollups INCLUDING ALL);
CREATE TABLE case_durations_monthly (LIKE case_durations INCLUDING ALL);
CREATE TABLE fairness_rollups_monthly (LIKE fairness_rollups INCLUDING ALL);

INSERT INTO case_rollups_monthly
SELECT tenant_id, dim, value, date_trunc('month', day)::date, sum(opened), sum(resolved),
       sum(reopened), sum(one_touch), sum(fr_met), sum(fr_breached), sum(nr_met),
       sum(nr_breached), sum(res_met), sum(res_breached), sum(inbound), sum(channel_switches)
  FROM case_rollups GROUP BY 1, 2, 3, 4;
INSERT INTO case_durations_monthly
SELECT tenant_id, dim, value, metric, date_trunc('month', day)::date, bucket, sum(n)
  FROM case_durations GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO fairness_rollups_monthly
SELECT tenant_id, date_trunc('month', day)::date, topic, intent, priority, social, reach,
       sum(cases), sum(goodwill_cases), sum(goodwill_sum), sum(goodwill_sq), sum(resolved),
       sum(log_res_sum), sum(log_res_sq), sum(sla_met), sum(sla_breached), sum(moved_private)
  FROM fairness_rollups GROUP BY 1, 2, 3, 4, 5, 6, 7;
