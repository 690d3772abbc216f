-- The release workflow: protected labels (with their quality gates), promotion requests and
-- evaluations. Times are Unix milliseconds (BIGINT); ids are UUIDv7 text
-- (COLLATE "C" where they are ordered, as on SQLite).
--
-- A promotion outlives its prompt (the request and its decision are history), so it keeps
-- the prompt's id and name without a foreign key; an evaluation belongs to its version and
-- goes with it.

-- +goose Up
CREATE TABLE protected_labels (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    label      TEXT NOT NULL,
    gate       TEXT NOT NULL DEFAULT '', -- JSON {"evaluation": "...", "scores": {...}}; '' = no gate
    PRIMARY KEY (project_id, label)
);

CREATE TABLE release_settings (
    project_id         TEXT    PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    required_approvals INTEGER NOT NULL CHECK (required_approvals >= 1)
);

CREATE TABLE promotions (
    id                  TEXT    COLLATE "C" PRIMARY KEY,
    project_id          TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    prompt_id           TEXT    NOT NULL,
    prompt_name         TEXT    NOT NULL, -- the name when requested; the prompt's current name wins while it exists
    version             INTEGER NOT NULL,
    label               TEXT    NOT NULL,
    comment             TEXT    NOT NULL DEFAULT '',
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled', 'superseded')),
    previous_version    INTEGER NOT NULL DEFAULT 0, -- the version that had the label (0: none)
    required_approvals  INTEGER NOT NULL,
    reviews             TEXT    NOT NULL DEFAULT '[]', -- JSON array of {actor, decision, comment, createdAt}
    reason              TEXT    NOT NULL DEFAULT '',
    requested_by_key_id TEXT    NOT NULL,
    requested_by_name   TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL,
    decided_at          BIGINT
);
CREATE INDEX promotions_project_idx ON promotions (project_id, id);
CREATE INDEX promotions_pending_idx ON promotions (prompt_id, label) WHERE state = 'pending';

CREATE TABLE evaluations (
    id                   TEXT    COLLATE "C" PRIMARY KEY,
    project_id           TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    prompt_id            TEXT    NOT NULL,
    version_id           TEXT    NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    version              INTEGER NOT NULL,
    name                 TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
    metadata             TEXT    NOT NULL DEFAULT '{}',
    scores               TEXT    NOT NULL DEFAULT '{}',
    summary              TEXT    NOT NULL DEFAULT '',
    url                  TEXT    NOT NULL DEFAULT '',
    created_by_key_id    TEXT    NOT NULL,
    created_by_name      TEXT    NOT NULL,
    completed_by_key_id  TEXT    NOT NULL DEFAULT '',
    completed_by_name    TEXT    NOT NULL DEFAULT '',
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    completed_at         BIGINT
);
CREATE INDEX evaluations_version_idx ON evaluations (version_id, id);
CREATE INDEX evaluations_project_idx ON evaluations (project_id, id);

-- +goose Down
DROP TABLE evaluations;
DROP TABLE promotions;
DROP TABLE release_settings;
DROP TABLE protected_labels;
