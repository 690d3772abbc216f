-- Payload formats (docs/formats.md) and what they need:
--
-- * webhooks.format: the body, event names and signature headers receivers get;
--   format_options tunes some formats (JSON, e.g. {"stageLabels": [...]});
--   single_signature_secret says which valid secret signs the one-signature headers during a
--   rotation's overlap ('newest' or 'oldest').
-- * prompts.number: a stable integer per project (PromptLayer's prompt_template_id), given
--   from projects.last_prompt_number, so a deleted prompt's number is never reused.
--   Existing prompts are numbered in creation order.
-- * attempts.request_body: the body sent, when it is not the event's stored payload (every
--   format but promptd); NULL means the payload.

-- +goose Up
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'promptd';
ALTER TABLE webhooks ADD COLUMN format_options TEXT NOT NULL DEFAULT '{}';
ALTER TABLE webhooks ADD COLUMN single_signature_secret TEXT NOT NULL DEFAULT 'newest';
ALTER TABLE projects ADD COLUMN last_prompt_number INTEGER NOT NULL DEFAULT 0;
ALTER TABLE prompts ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
UPDATE prompts SET number = (
    SELECT COUNT(*) FROM prompts p2
    WHERE p2.project_id = prompts.project_id
      AND (p2.created_at < prompts.created_at OR (p2.created_at = prompts.created_at AND p2.id <= prompts.id)));
UPDATE projects SET last_prompt_number = (SELECT COALESCE(MAX(number), 0) FROM prompts WHERE prompts.project_id = projects.id);
CREATE UNIQUE INDEX prompts_number_idx ON prompts (project_id, number);
ALTER TABLE attempts ADD COLUMN request_body BLOB;

-- +goose Down
ALTER TABLE attempts DROP COLUMN request_body;
DROP INDEX prompts_number_idx;
ALTER TABLE prompts DROP COLUMN number;
ALTER TABLE projects DROP COLUMN last_prompt_number;
ALTER TABLE webhooks DROP COLUMN single_signature_secret;
ALTER TABLE webhooks DROP COLUMN format_options;
ALTER TABLE webhooks DROP COLUMN format;
