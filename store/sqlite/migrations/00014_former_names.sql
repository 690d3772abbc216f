-- Issue 12 leftovers.
--
-- * prompts.former_names (B1): the names a prompt had before its renames, newest last, at
--   most 100, as a JSON array of strings. Deleting the prompt or one of its versions
--   matches webhooks whose promptNames match any of them, so a webhook that watched the
--   prompt under an old name hears that it is gone.
-- * deliveries.format / format_options: the payload format (and its options) of the webhook
--   when the delivery was queued. A delivery is rendered in it on every attempt, so that
--   changing a webhook's format never changes deliveries already queued. NULL (resends,
--   tests, deliveries queued before this migration): the webhook's format when sent.

-- +goose Up
ALTER TABLE prompts ADD COLUMN former_names TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deliveries ADD COLUMN format TEXT;
ALTER TABLE deliveries ADD COLUMN format_options TEXT;

-- +goose Down
ALTER TABLE deliveries DROP COLUMN format_options;
ALTER TABLE deliveries DROP COLUMN format;
ALTER TABLE prompts DROP COLUMN former_names;
