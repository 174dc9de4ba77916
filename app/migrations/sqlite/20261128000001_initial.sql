-- Users, datasets, the change log that live streams read, and failed-login records.
-- Identifiers are UUIDv7 text, so ordering by id is ordering by creation time.
-- Timestamps are RFC 3339 UTC text with milliseconds.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE datasets (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    visibility   TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    size_bytes   INTEGER NOT NULL,
    row_count    INTEGER NOT NULL,
    column_count INTEGER NOT NULL,
    analysis     TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX datasets_by_visibility ON datasets (visibility, id);
CREATE INDEX datasets_by_owner ON datasets (owner_id, id);

-- One row per change, written in the change's own transaction. AUTOINCREMENT keeps `seq`
-- strictly increasing and never reused, which is what resumable streams rely on.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL CHECK (kind IN ('dataset.created', 'dataset.deleted')),
    dataset_id TEXT NOT NULL,
    owner_id   TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Failed logins, keyed `account:<email>` or `ip:<address>`, shared by every instance.
CREATE TABLE login_failures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    failed_at_ms INTEGER NOT NULL
);

CREATE INDEX login_failures_by_key ON login_failures (key, failed_at_ms);
