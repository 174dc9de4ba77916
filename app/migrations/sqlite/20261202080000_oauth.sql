-- Sign-in with OAuth 2.0 / OpenID Connect providers.

-- An account at a provider (its id from `[[oauth.providers]]` and the subject it names the
-- person by) linked to one of ours. A user may have a password, identities, or both.
CREATE TABLE external_identities (
    provider   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    email      TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);

CREATE INDEX external_identities_by_user ON external_identities (user_id);

-- One-time codes the sign-in callback hands the page (in a URL fragment, never sent to a
-- server); the page trades one for a token once, within a minute. Stored as SHA-256.
CREATE TABLE oauth_login_codes (
    code_hash     TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    expires_at_ms BIGINT NOT NULL
);
