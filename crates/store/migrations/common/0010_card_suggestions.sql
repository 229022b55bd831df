-- A card's suggestions in its own row (issue 26): one line per suggestion, its uuid, a space and
-- its label. A row of `audit_suggestions` for each suggestion cost about 210 bytes with its key
-- index, a third of a card record's bytes, for a join that only feedback needs. So the writer
-- now keeps them here, and writes an `audit_suggestions` row only for a suggestion a clinician
-- accepted (from this column, when the feedback is stored); the reports' join is unchanged.
-- Rows of the release before keep theirs in `audit_suggestions`, and are read as before.
ALTER TABLE audit_cards ADD COLUMN suggestions TEXT;

-- Nothing looks cards up by rule alone: the reports group by rule over a range of issue times,
-- which `audit_cards_issued_at` answers. The index cost about 15 bytes per card.
DROP INDEX IF EXISTS audit_cards_rule;
