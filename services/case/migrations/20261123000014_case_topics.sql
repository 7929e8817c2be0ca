-- Every topic a case is about (`topic` stays its first): a message from the
-- customer on any of them threads into the case.
ALTER TABLE cases ADD COLUMN topics text[] NOT NULL DEFAULT '{}';
UPDATE cases SET topics = ARRAY[topic] WHERE topic <> '';
