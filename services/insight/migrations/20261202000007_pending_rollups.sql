-- Deltas appended by each batch for the three rollups every case change
-- touches; the scheduler's compaction folds them into the daily and
-- monthly tables and deletes them. No index: rows live for a moment, and
-- every read takes them whole.
CREATE TABLE case_rollups_pending (LIKE case_rollups INCLUDING DEFAULTS);
CREATE TABLE case_durations_pending (LIKE case_durations INCLUDING DEFAULTS);
CREATE TABLE fairness_rollups_pending (LIKE fairness_rollups INCLUDING DEFAULTS);
