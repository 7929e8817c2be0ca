-- Event batches are written once and read once, soon after: compressing them
-- costs the database more CPU on the ingest path than the disk it saves.
ALTER TABLE outbox_batch ALTER COLUMN payload SET STORAGE EXTERNAL;
