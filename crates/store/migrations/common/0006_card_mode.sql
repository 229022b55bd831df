-- A card of a rule that runs silently is recorded as one that would have been shown, and never
-- sent (issue 28): `active` or `silent`. Every card recorded before was shown, so the default is
-- `active`. The same statement on SQLite and PostgreSQL; adding a column with a constant
-- default rewrites no row on either.
ALTER TABLE audit_cards ADD COLUMN mode TEXT NOT NULL DEFAULT 'active';
