-- Registrations per client address, so the register limit holds across instances.
CREATE TABLE register_attempts (
    id              BIGSERIAL PRIMARY KEY,
    key             TEXT NOT NULL,
    attempted_at_ms BIGINT NOT NULL
);

CREATE INDEX register_attempts_by_key ON register_attempts (key, attempted_at_ms);
CREATE INDEX register_attempts_by_time ON register_attempts (attempted_at_ms);

-- Expired failed logins are forgotten for every key at once.
CREATE INDEX login_failures_by_time ON login_failures (failed_at_ms);

-- A dataset's detail response, built once at upload: the JSON served as is and its
-- strong ETag. NULL for datasets stored before this migration, which are built per read.
ALTER TABLE datasets ADD COLUMN detail TEXT;
ALTER TABLE datasets ADD COLUMN etag TEXT;
