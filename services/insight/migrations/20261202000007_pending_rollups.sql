-- Deltas appended by each batch for the three rollups every case change
-- touches; the scheduler's compaction folds them into the daily and
-- monthly tables and deletes them. Reads take the pending rows of their
-- tenant and days through an index: the table churns, and a scan of it
-- would read every page the deleted rows left behind.
CREATE TABLE case_rollups_pending (LIKE case_rollups INCLUDING DEFAULTS);
CREATE TABLE case_durations_pending (LIKE case_durations INCLUDING DEFAULTS);
CREATE TABLE fairness_rollups_pending (LIKE fairness_rollups INCLUDING DEFAULTS);
CREATE INDEX case_rollups_pending_by_day ON case_rollups_pending (tenant_id, dim, day);
CREATE INDEX case_durations_pending_by_day ON case_durations_pending (tenant_id, dim, day);
CREATE INDEX fairness_rollups_pending_by_day ON fairness_rollups_pending (tenant_id, day);
