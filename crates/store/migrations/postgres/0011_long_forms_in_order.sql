-- SQLite's migration 11 rebuilds `long_form_sheets` as a table that appends its rows in order.
-- A PostgreSQL table is a heap that appends already, with its primary key a separate index:
-- nothing to change. (A migration of the same number keeps the two backends' versions alike.)
SELECT 1;
