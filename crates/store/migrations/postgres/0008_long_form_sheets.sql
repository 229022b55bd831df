-- Cards' long forms as bytes: `lookup` is 16 bytes of a hash of the link's id, `sealed` the
-- packed sheet encrypted under a key derived from the id (which is not stored), both as BYTEA
-- (base64 and hex cost a third and a half again). `card_long_forms` keeps the rows of the
-- release before until they expire (at most `cards.long_form_ttl_s`); nothing writes it now.
CREATE TABLE long_form_sheets (
    lookup          BYTEA   NOT NULL PRIMARY KEY,
    expires_at_ms   BIGINT  NOT NULL,
    sealed          BYTEA   NOT NULL
);
CREATE INDEX long_form_sheets_expires ON long_form_sheets (expires_at_ms);
