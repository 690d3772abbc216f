-- Resend and recover keep the delivery's history (issue 15, item 12).
--
-- * deliveries.attempt_base: the attempts made before the delivery's current attempt series.
--   Recover starts a new series without restarting attempt numbers (attempt_count and the
--   x-promptd-attempt header keep counting); the retry schedule counts from attempt_base.
-- * deliveries.resend_of: the delivery a resend was made of (the API's resendOf; the
--   original's resentAs lists its resends through the index).

-- +goose Up
ALTER TABLE deliveries ADD COLUMN attempt_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN resend_of TEXT;
CREATE INDEX deliveries_resend_of_idx ON deliveries (resend_of) WHERE resend_of IS NOT NULL;

-- +goose Down
DROP INDEX deliveries_resend_of_idx;
ALTER TABLE deliveries DROP COLUMN resend_of;
ALTER TABLE deliveries DROP COLUMN attempt_base;
