-- A rule may run silently: its cards are recorded, never shown. `active` for every card shown.
ALTER TABLE audit_cards ADD COLUMN mode TEXT NOT NULL DEFAULT 'active';
