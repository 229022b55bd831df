-- Suppression answered by index lookups, whatever the patient's history. The first queries
-- counted every earlier card with the same fingerprint for the patient (and joined each to the
-- feedback table), so a card issued at every chart opening made each call slower than the last:
-- under the load benchmark, thousands of rows per call.

-- One row per (patient, card fingerprint, caller, override reason) that a clinician overrode a
-- card with. Written with the feedback (the writer copies the card's patient hash, fingerprint
-- and caller from its audit row), so "was this card dismissed?" is one primary-key lookup.
-- `card_issued_at_ms` is the latest such card's issue time: the row is purged with it.
CREATE TABLE card_overrides (
    patient_hash      TEXT   NOT NULL,
    fingerprint       TEXT   NOT NULL,
    issuer            TEXT   NOT NULL,
    tenant            TEXT   NOT NULL,
    override_system   TEXT   NOT NULL,
    override_code     TEXT   NOT NULL,
    card_issued_at_ms BIGINT NOT NULL,
    PRIMARY KEY (patient_hash, fingerprint, issuer, tenant, override_system, override_code)
);
CREATE INDEX card_overrides_issued_at ON card_overrides (card_issued_at_ms);

-- The overrides already stored.
INSERT INTO card_overrides (patient_hash, fingerprint, issuer, tenant, override_system,
                            override_code, card_issued_at_ms)
SELECT c.patient_hash, c.fingerprint, COALESCE(c.issuer, ''), COALESCE(c.tenant, ''),
       f.override_system, f.override_code, MAX(c.issued_at_ms)
FROM audit_cards c JOIN feedback f ON f.card_uuid = c.card_uuid
WHERE f.outcome = 'overridden' AND c.fingerprint IS NOT NULL
  AND f.override_system IS NOT NULL AND f.override_code IS NOT NULL
GROUP BY c.patient_hash, c.fingerprint, COALESCE(c.issuer, ''), COALESCE(c.tenant, ''),
         f.override_system, f.override_code;

-- "Shown since the window opened" is a range of this index, and "shown in this encounter" a
-- prefix of the next one: a matching row is found without reading the ones that do not match.
DROP INDEX audit_cards_patient_fingerprint;
CREATE INDEX audit_cards_patient_fingerprint_issued
    ON audit_cards (patient_hash, fingerprint, issued_at_ms);
CREATE INDEX audit_cards_encounter_fingerprint ON audit_cards (encounter_hash, fingerprint);
