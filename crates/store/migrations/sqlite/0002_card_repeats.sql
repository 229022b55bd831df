-- What decides whether a card was already shown (issue 17): a fingerprint of the card (its rule
-- and the identities and dates of the records it rests on, keyed like the patient hash) and a
-- keyed hash of the encounter it was shown in. Older rows have neither, and never match.
ALTER TABLE audit_cards ADD COLUMN fingerprint TEXT;
ALTER TABLE audit_cards ADD COLUMN encounter_hash TEXT;
CREATE INDEX audit_cards_patient_fingerprint ON audit_cards (patient_hash, fingerprint);

-- One row per card that was not shown because a suppression rule hid it: `repeat` (shown
-- already in this encounter or window, at an order hook) or `already-addressed` (a clinician
-- dismissed the same card, same evidence, as already addressed).
CREATE TABLE audit_suppressed (
    rule_id         TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    hook_instance   TEXT    NOT NULL,
    suppressed_at_ms BIGINT NOT NULL,
    issuer          TEXT,
    tenant          TEXT,
    patient_hash    TEXT    NOT NULL
);
CREATE INDEX audit_suppressed_at ON audit_suppressed (suppressed_at_ms);
