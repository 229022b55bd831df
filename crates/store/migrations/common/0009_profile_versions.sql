-- What each knowledge profile version is, for the governance console: the content hash that
-- card records and call counts carry (`profile_version`, `name@hash`) mapped to the version and
-- change note its author wrote in profile.toml. Written once per version, at start-up; a row is
-- never changed (the same hash is the same files, so the same version and note).
CREATE TABLE profile_versions (
    profile_version TEXT   NOT NULL PRIMARY KEY,
    version         TEXT   NOT NULL,
    change_note     TEXT   NOT NULL,
    -- When a replica first ran it (Unix milliseconds).
    first_seen_ms   BIGINT NOT NULL
);
