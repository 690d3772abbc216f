-- Dashboard sessions and key use (issue 16).
--
-- * sessions: one row per signed-in browser, so that sign-out and key revocation end a
--   session at once on every instance. The cookie holds a random token; the row holds its
--   SHA-256 (hash), so that reading the database does not let anyone sign in. Revoking a
--   key deletes its sessions (ON DELETE CASCADE); expired rows are deleted as new sessions
--   start.
-- * api_keys.last_used_at: when the key last authenticated (API or dashboard), written at
--   most once a minute per key; NULL when never used since this migration.

-- +goose Up
CREATE TABLE sessions (
    hash       BYTEA   PRIMARY KEY,
    api_key_id TEXT    NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL
);
CREATE INDEX sessions_key_idx ON sessions (api_key_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

-- +goose Down
ALTER TABLE api_keys DROP COLUMN last_used_at;
DROP TABLE sessions;
