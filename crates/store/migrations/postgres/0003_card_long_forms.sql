-- Cards' long forms (GET /cards/{id}), shared by the replicas of one store until they expire.
-- `lookup` is a hash of the link's id and `sealed` the page encrypted under a key derived from
-- the id, which is not stored: without the link, a row can be neither found nor read.
CREATE TABLE card_long_forms (
    lookup          TEXT    NOT NULL PRIMARY KEY,
    expires_at_ms   BIGINT  NOT NULL,
    sealed          TEXT    NOT NULL
);
CREATE INDEX card_long_forms_expires ON card_long_forms (expires_at_ms);
