-- Batches whose delivery failed are retried one at a time, so one a consumer
-- can never take (a poison batch) delays only itself; this index finds them.
CREATE INDEX outbox_delivery_retrying ON outbox_delivery (subscriber, batch_id)
    WHERE attempts > 0;
