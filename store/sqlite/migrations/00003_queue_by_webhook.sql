-- The queue is read per webhook: a claim takes, for each webhook, at most the deliveries it
-- has free in-flight slots for, oldest due first, and the next due time is the earliest of
-- the webhooks' own. One index serves both: the queued deliveries of each webhook in due
-- order. It replaces the index on next_attempt_at alone, whose walk had to skip the rows of
-- saturated webhooks on every claim.

-- +goose Up
CREATE INDEX deliveries_due_idx ON deliveries (webhook_id, next_attempt_at) WHERE status IN ('pending', 'delivering');
DROP INDEX deliveries_queue_idx;

-- +goose Down
CREATE INDEX deliveries_queue_idx ON deliveries (next_attempt_at) WHERE status IN ('pending', 'delivering');
DROP INDEX deliveries_due_idx;
