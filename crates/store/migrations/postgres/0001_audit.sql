-- The audit trail, clinician feedback and the shared JWT replay guard (PostgreSQL).
-- Times are Unix milliseconds (BIGINT), so the same queries run on SQLite and PostgreSQL.
-- No column holds a raw patient id or free text a clinician typed.

-- One row per card issued.
CREATE TABLE audit_cards (
    card_uuid       TEXT    NOT NULL PRIMARY KEY,
    rule_id         TEXT    NOT NULL,
    indicator       TEXT    NOT NULL,
    profile_version TEXT    NOT NULL,
    service         TEXT    NOT NULL,
    hook            TEXT    NOT NULL,
    hook_instance   TEXT    NOT NULL,
    issued_at_ms    BIGINT  NOT NULL,
    issuer          TEXT,
    tenant          TEXT,
    -- HMAC-SHA256 of the patient id under the deployment's patient key, hex.
    patient_hash    TEXT    NOT NULL
);
CREATE INDEX audit_cards_issued_at ON audit_cards (issued_at_ms);
CREATE INDEX audit_cards_rule ON audit_cards (rule_id);

-- The suggestions each card offered, so feedback can say which were taken.
CREATE TABLE audit_suggestions (
    card_uuid       TEXT    NOT NULL,
    suggestion_uuid TEXT    NOT NULL,
    label           TEXT    NOT NULL,
    PRIMARY KEY (card_uuid, suggestion_uuid)
);

-- One row per feedback item; the same (card, outcome, time) twice is one row.
CREATE TABLE feedback (
    card_uuid       TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    outcome_at_ms   BIGINT  NOT NULL,
    service         TEXT    NOT NULL,
    override_system TEXT,
    override_code   TEXT,
    has_comment     BOOLEAN NOT NULL,
    received_at_ms  BIGINT  NOT NULL,
    issuer          TEXT,
    tenant          TEXT,
    PRIMARY KEY (card_uuid, outcome, outcome_at_ms)
);
CREATE INDEX feedback_received_at ON feedback (received_at_ms);

-- The suggestions a clinician accepted.
CREATE TABLE feedback_suggestions (
    card_uuid       TEXT    NOT NULL,
    outcome_at_ms   BIGINT  NOT NULL,
    suggestion_uuid TEXT    NOT NULL,
    PRIMARY KEY (card_uuid, outcome_at_ms, suggestion_uuid)
);

-- JWT ids already used, until the token they came from expires.
CREATE TABLE jwt_replay (
    iss             TEXT    NOT NULL,
    jti             TEXT    NOT NULL,
    expires_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX jwt_replay_expires ON jwt_replay (expires_at_ms);
