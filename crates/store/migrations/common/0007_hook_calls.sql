-- How many hook calls were answered, per UTC day, service, hook and profile version: the
-- denominator of "the share of calls that fired" in the governance console. Counts only, no
-- patient and no call id. The writer adds each batch's counts with one upsert per key, so a call
-- costs the hook path an increment in memory, never a query.
CREATE TABLE hook_calls (
    -- Days since 1970-01-01 (UTC).
    day             BIGINT NOT NULL,
    service         TEXT   NOT NULL,
    hook            TEXT   NOT NULL,
    profile_version TEXT   NOT NULL,
    calls           BIGINT NOT NULL,
    PRIMARY KEY (day, service, hook, profile_version)
);
