-- The initial schema. Times are Unix milliseconds; ids are UUIDv7 text. Tables are STRICT so
-- that SQLite enforces the column types.

-- +goose Up
CREATE TABLE projects (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id             TEXT    PRIMARY KEY,
    project_id     TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    role           TEXT    NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    instance_admin INTEGER NOT NULL DEFAULT 0 CHECK (instance_admin IN (0, 1)),
    hash           BLOB    NOT NULL UNIQUE, -- SHA-256 of the secret
    prefix         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_project_idx ON api_keys (project_id, created_at);

CREATE TABLE prompts (
    id           TEXT    PRIMARY KEY,
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    tags         TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings, sorted
    last_version INTEGER NOT NULL DEFAULT 0,    -- highest number ever given: never reused
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (project_id, name)
) STRICT;

CREATE TABLE versions (
    id                TEXT    PRIMARY KEY,
    prompt_id         TEXT    NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    number            INTEGER NOT NULL CHECK (number > 0),
    type              TEXT    NOT NULL CHECK (type IN ('text', 'chat')),
    content           TEXT    NOT NULL, -- JSON: a string or an array of messages
    config            TEXT    NOT NULL, -- JSON object
    commit_message    TEXT    NOT NULL DEFAULT '',
    created_by_key_id TEXT    NOT NULL DEFAULT '',
    created_by_name   TEXT    NOT NULL DEFAULT '',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (prompt_id, number)
) STRICT;

-- One row per label of a prompt: the primary key keeps a label on one version at most.
CREATE TABLE labels (
    prompt_id TEXT    NOT NULL,
    label     TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, label),
    FOREIGN KEY (prompt_id, version) REFERENCES versions (prompt_id, number) ON DELETE CASCADE
) STRICT;
CREATE INDEX labels_version_idx ON labels (prompt_id, version);

CREATE TABLE events (
    id         TEXT    PRIMARY KEY, -- UUIDv7: sorts by time
    project_id TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    type       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    payload    BLOB    NOT NULL     -- the exact bytes receivers get
) STRICT;
CREATE INDEX events_project_idx ON events (project_id, id);
CREATE INDEX events_project_type_idx ON events (project_id, type, id);
CREATE INDEX events_created_idx ON events (created_at);

CREATE TABLE idempotency_keys (
    project_id   TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    idem_key     TEXT    NOT NULL,
    request_hash BLOB    NOT NULL, -- SHA-256 of type and compacted data
    event_id     TEXT    NOT NULL REFERENCES events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (project_id, idem_key)
) STRICT;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
CREATE INDEX idempotency_keys_event_idx ON idempotency_keys (event_id);

-- One row once the store is initialised; Bootstrap locks it to run once.
CREATE TABLE instance (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    initialized_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE instance;
DROP TABLE idempotency_keys;
DROP TABLE events;
DROP TABLE labels;
DROP TABLE versions;
DROP TABLE prompts;
DROP TABLE api_keys;
DROP TABLE projects;
