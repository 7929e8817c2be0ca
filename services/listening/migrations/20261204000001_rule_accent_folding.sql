-- Per rule: compare words with accents folded out (`nino` matches "Niño").
-- Off for every existing rule, so what they match does not change.
ALTER TABLE rules ADD COLUMN fold_accents boolean NOT NULL DEFAULT false;
ALTER TABLE rule_versions ADD COLUMN fold_accents boolean NOT NULL DEFAULT false;
