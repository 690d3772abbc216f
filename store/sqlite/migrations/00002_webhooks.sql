-- Webhooks, their secrets, and the delivery queue. Times are Unix milliseconds; ids are UUIDv7
-- text, so that ordering by id is ordering by creation. Tables are STRICT.
--
-- The deliveries table is the queue. next_attempt_at is when a pending delivery is due and,
-- while a delivery is 'delivering', when its lease ends: one indexed range scan
-- (status IN ('pending', 'delivering') AND next_attempt_at <= now) finds due work and expired
-- leases alike.

-- +goose Up
CREATE TABLE webhooks (
    id                   TEXT    PRIMARY KEY,
    project_id           TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name                 TEXT    NOT NULL,
    url                  TEXT    NOT NULL,
    enabled              INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    events               TEXT    NOT NULL, -- JSON array of event types, sorted; [] = every type
    filters              TEXT    NOT NULL, -- JSON {"promptNames": [...], "labels": [...], "tags": [...]}
    headers              BLOB    NOT NULL, -- sealed (AES-256-GCM) JSON object of custom headers
    signature_header     TEXT    NOT NULL,
    retry                TEXT    NOT NULL, -- JSON {"scheduleMs": [...], "retryOn": "..."}
    timeout_seconds      INTEGER NOT NULL,
    max_in_flight        INTEGER NOT NULL,
    disabled_reason      TEXT    NOT NULL DEFAULT '',
    disabled_at          INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0, -- failed deliveries since the last success
    first_failure_at     INTEGER,                    -- when the first of them failed
    revision             INTEGER NOT NULL DEFAULT 1, -- bumped by every change of settings or secrets
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE INDEX webhooks_project_idx ON webhooks (project_id, id);

CREATE TABLE webhook_secrets (
    id         TEXT    PRIMARY KEY,
    webhook_id TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    secret     BLOB    NOT NULL, -- sealed
    created_at INTEGER NOT NULL,
    expires_at INTEGER           -- NULL for the current secret; set when rotated out
) STRICT;
CREATE INDEX webhook_secrets_webhook_idx ON webhook_secrets (webhook_id, created_at);
CREATE UNIQUE INDEX webhook_secrets_current_idx ON webhook_secrets (webhook_id) WHERE expires_at IS NULL;

CREATE TABLE deliveries (
    id               TEXT    PRIMARY KEY,
    project_id       TEXT    NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    webhook_id       TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         TEXT    NOT NULL REFERENCES events (id), -- an event outlives its deliveries
    event_type       TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'delivering', 'succeeded', 'failed', 'cancelled')),
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER, -- pending: due time; delivering: lease deadline; otherwise NULL
    last_status_code INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX deliveries_queue_idx ON deliveries (next_attempt_at) WHERE status IN ('pending', 'delivering');
CREATE INDEX deliveries_finished_idx ON deliveries (updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX deliveries_project_idx ON deliveries (project_id, id);
CREATE INDEX deliveries_project_status_idx ON deliveries (project_id, status, id);
CREATE INDEX deliveries_webhook_idx ON deliveries (webhook_id, id);
CREATE INDEX deliveries_event_idx ON deliveries (event_id);

-- The attempt log. Numbers are not unique: a recovered delivery starts a new series, and an
-- engine whose lease ran out still logs the attempt it made.
CREATE TABLE attempts (
    id               TEXT    PRIMARY KEY, -- UUIDv7: sorts by recording
    delivery_id      TEXT    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    number           INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    url              TEXT    NOT NULL,
    request_headers  TEXT    NOT NULL, -- JSON object
    status_code      INTEGER NOT NULL DEFAULT 0,
    response_headers TEXT    NOT NULL, -- JSON object
    response_body    TEXT    NOT NULL DEFAULT '',
    error            TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX attempts_delivery_idx ON attempts (delivery_id, id);

-- +goose Down
DROP TABLE attempts;
DROP TABLE deliveries;
DROP TABLE webhook_secrets;
DROP TABLE webhooks;
