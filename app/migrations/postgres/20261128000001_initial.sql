-- Users, datasets, the change log that live streams read, and failed-login records.
-- Identifiers are UUIDv7 text, so ordering by id is ordering by creation time.
-- Timestamps are RFC 3339 UTC text with milliseconds (the same representation as SQLite).
-- Dataset ids compare bytewise (COLLATE "C"), as in SQLite, so cursors page the same way.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE datasets (
    id           TEXT COLLATE "C" PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    size_bytes   BIGINT NOT NULL,
    row_count    BIGINT NOT NULL,
    column_count BIGINT NOT NULL,
    analysis     TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX datasets_by_visibility ON datasets (visibility, id);
CREATE INDEX datasets_by_owner ON datasets (owner_id, id);

-- One row per change, written in the change's own transaction. Writers take a table lock
-- before inserting (see db::events::record), so `seq` values become visible in order.
CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('dataset.created', 'dataset.deleted')),
    dataset_id TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Wakes every instance's listener when an event commits: NOTIFY is transactional, so the
-- notification is delivered at commit and never for a rolled-back change.
CREATE FUNCTION flotilla_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flotilla_events', NEW.seq::text);
    RETURN NEW;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION flotilla_notify_event();

-- Failed logins, keyed `account:<email>` or `ip:<address>`, shared by every instance.
CREATE TABLE login_failures (
    id           BIGSERIAL PRIMARY KEY,
    key          TEXT NOT NULL,
    failed_at_ms BIGINT NOT NULL
);

CREATE INDEX login_failures_by_key ON login_failures (key, failed_at_ms);
