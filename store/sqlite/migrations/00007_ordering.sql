-- Per-prompt ordering (issue 12). A webhook with ordering 'per-prompt' gets its deliveries of
-- one key (the prompt's id; a custom event's orderingKey) one at a time, in event order.
--
-- * deliveries.ordering_key / sequence: the key and the delivery's place in its key's line
--   (NULL for unordered deliveries). Only the head of a key's line is ever due: the others
--   wait with status 'pending' and next_attempt_at NULL, so the claim, which reads due rows
--   only, never sees them and needs no change; the change that finishes a head (or queues
--   into an empty line) makes the next one due in the same transaction.
-- * ordering_keys: each (webhook, key)'s last sequence. Every change to a key's line first
--   upserts or locks its row, so that changes to one line are serialised (PostgreSQL) and
--   sequences follow commit order.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
ALTER TABLE deliveries ADD COLUMN ordering_key TEXT;
ALTER TABLE deliveries ADD COLUMN sequence INTEGER;
CREATE INDEX deliveries_line_idx ON deliveries (webhook_id, ordering_key, sequence)
    WHERE ordering_key IS NOT NULL AND status IN ('pending', 'delivering');

CREATE TABLE ordering_keys (
    webhook_id    TEXT    NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    ordering_key  TEXT    NOT NULL,
    last_sequence INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, ordering_key)
) STRICT;

-- +goose Down
DROP TABLE ordering_keys;
DROP INDEX deliveries_line_idx;
ALTER TABLE deliveries DROP COLUMN sequence;
ALTER TABLE deliveries DROP COLUMN ordering_key;
ALTER TABLE webhooks DROP COLUMN ordering;
