-- A dismissal hides a card only for the service whose card was dismissed, and only for the
-- issuer and tenant it was issued to (storing feedback now also checks that the sender is that
-- issuer and tenant). One row per (patient, card fingerprint, caller, service, override reason).
--
-- Expand only: `card_overrides` stays, untouched, for the release before this one (which still
-- reads and writes it during a rolling update); the release after drops it.
CREATE TABLE scoped_overrides (
    patient_hash      TEXT   NOT NULL,
    fingerprint       TEXT   NOT NULL,
    issuer            TEXT   NOT NULL,
    tenant            TEXT   NOT NULL,
    service           TEXT   NOT NULL,
    override_system   TEXT   NOT NULL,
    override_code     TEXT   NOT NULL,
    card_issued_at_ms BIGINT NOT NULL,
    PRIMARY KEY (patient_hash, fingerprint, issuer, tenant, service, override_system, override_code)
);
CREATE INDEX scoped_overrides_issued_at ON scoped_overrides (card_issued_at_ms);

-- The overrides already stored that the new rule keeps: sent to the service that issued the
-- card, by the issuer and tenant it was issued to.
INSERT INTO scoped_overrides (patient_hash, fingerprint, issuer, tenant, service,
                              override_system, override_code, card_issued_at_ms)
SELECT c.patient_hash, c.fingerprint, COALESCE(c.issuer, ''), COALESCE(c.tenant, ''), c.service,
       f.override_system, f.override_code, MAX(c.issued_at_ms)
FROM audit_cards c JOIN feedback f ON f.card_uuid = c.card_uuid
WHERE f.outcome = 'overridden' AND c.fingerprint IS NOT NULL
  AND f.override_system IS NOT NULL AND f.override_code IS NOT NULL
  AND f.service = c.service
  AND COALESCE(f.issuer, '') = COALESCE(c.issuer, '')
  AND COALESCE(f.tenant, '') = COALESCE(c.tenant, '')
GROUP BY c.patient_hash, c.fingerprint, COALESCE(c.issuer, ''), COALESCE(c.tenant, ''),
         c.service, f.override_system, f.override_code;
