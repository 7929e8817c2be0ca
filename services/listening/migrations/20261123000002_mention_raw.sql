-- The source's own item (tweet object, webhook change, review, e-mail as a JSON
-- string, transcript), kept for audit; NULL for mentions sent in Earshot's model.
ALTER TABLE mentions ADD COLUMN raw jsonb;
