-- A routing rule can be disabled without being deleted: it then routes nothing.
ALTER TABLE routing_rules ADD COLUMN enabled boolean NOT NULL DEFAULT true;
