-- A card record made smaller (issue 26): its suggestions in its own row, and two indexes.
--
-- The suggestions: one line per suggestion, its uuid, a space and its label. A row of
-- `audit_suggestions` for each suggestion cost about 210 bytes with its key index, a third of a
-- card record's bytes, for a join that only feedback needs. So the writer now keeps them here,
-- and writes an `audit_suggestions` row only for a suggestion a clinician accepted (from this
-- column, when the feedback is stored); the reports' join is unchanged.
-- Rows of the release before keep theirs in `audit_suggestions`, and are read as before.
ALTER TABLE audit_cards ADD COLUMN suggestions TEXT;

-- Nothing looks cards up by rule alone: the reports group by rule over a range of issue times,
-- which `audit_cards_issued_at` answers. The index cost about 15 bytes per card.
DROP INDEX IF EXISTS audit_cards_rule;

-- "Shown in this encounter" looks up a card by its encounter: a card from a call that named no
-- encounter is never found that way, yet had an entry in the index (about 90 bytes). The index
-- now holds only the cards that have an encounter; `encounter_hash = $1` implies NOT NULL, so
-- both SQLite and PostgreSQL still answer the lookup from it.
CREATE INDEX audit_cards_encounter_fingerprint_set ON audit_cards (encounter_hash, fingerprint)
    WHERE encounter_hash IS NOT NULL;
DROP INDEX audit_cards_encounter_fingerprint;
