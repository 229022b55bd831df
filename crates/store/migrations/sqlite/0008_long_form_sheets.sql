-- Cards' long forms as bytes: `lookup` is 16 bytes of a hash of the link's id, `sealed` the
-- packed sheet encrypted under a key derived from the id (which is not stored), both as BLOBs
-- (base64 and hex cost a third and a half again), in a table without rowids, so that the key is
-- stored once, not in the table and again in its index. `card_long_forms` keeps the rows of the
-- release before until they expire (at most `cards.long_form_ttl_s`); nothing writes it now.
CREATE TABLE long_form_sheets (
    lookup          BLOB    NOT NULL PRIMARY KEY,
    expires_at_ms   BIGINT  NOT NULL,
    sealed          BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX long_form_sheets_expires ON long_form_sheets (expires_at_ms);
