-- Finished deliveries are deleted some days after their last change (the
-- retention job): found by when they finished, oldest first.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (updated_at) WHERE state <> 1;
