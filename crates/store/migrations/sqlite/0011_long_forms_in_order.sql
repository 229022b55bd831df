-- Long forms stored in the order they were written (issue 26). Keyed by their random 16-byte
-- lookup, a table without rowids put each new row at a random place in its B-tree: pages
-- split and stayed about three quarters full, 1,085 bytes of pages per 870-byte row on the
-- benchmark patient. A rowid table appends each row at the end, in pages as full as they go,
-- and finds a row by its lookup through a small unique index: 970 bytes per long form, indexes
-- included. Rows also leave from the front, as they expire, so the pages the purge frees are
-- those the next rows fill. The same name and columns: every query is unchanged. (PostgreSQL
-- appends to its tables anyway; its migration 11 changes nothing.)
CREATE TABLE long_form_sheets_in_order (
    lookup          BLOB    NOT NULL UNIQUE,
    expires_at_ms   BIGINT  NOT NULL,
    sealed          BLOB    NOT NULL
);
INSERT INTO long_form_sheets_in_order (lookup, expires_at_ms, sealed)
    SELECT lookup, expires_at_ms, sealed FROM long_form_sheets ORDER BY expires_at_ms;
DROP TABLE long_form_sheets;
ALTER TABLE long_form_sheets_in_order RENAME TO long_form_sheets;
CREATE INDEX long_form_sheets_expires ON long_form_sheets (expires_at_ms);
