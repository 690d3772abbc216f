-- deliveries loses its foreign keys (issue 17, item 2): each was a lookup and a row lock
-- (FOR KEY SHARE) in the referenced table for every delivery inserted, about a tenth of
-- PostgreSQL's CPU under load. The store keeps what they guaranteed (sqlstore):
--
-- * webhook_id (was ON DELETE CASCADE): DeleteWebhook locks the webhook, then deletes its
--   attempts, deliveries and the webhook itself. Every transaction that inserts deliveries
--   first reads their webhooks FOR KEY SHARE (Dialect.ForKeyShare: once per webhook and
--   transaction, where the key checked every row), so a delivery is never inserted for a
--   webhook being deleted, and a deletion waits for the inserts already under way.
-- * event_id (no cascade: an event outlives its deliveries): deliveries are inserted in the
--   transaction that inserts their event, but for a resend, which reads its event FOR KEY
--   SHARE; the retention purge locks the events it means to delete before it checks, in a
--   statement of its own, that no delivery refers to them.
-- * project_id (was ON DELETE CASCADE): projects are never deleted.
--
-- attempts lost its key to deliveries in 00012. SQLite keeps all of them.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r record;
BEGIN
    -- The partitioned table's keys first (their copies on the partitions go with them), then
    -- any a partition holds of its own.
    FOR r IN
        SELECT c.conname, c.conrelid::regclass::text AS tab
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.conparentid = 0
          AND (c.conrelid = 'deliveries'::regclass
               OR c.conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'deliveries'::regclass))
        ORDER BY c.conrelid <> 'deliveries'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', r.tab, r.conname);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DELETE FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id)
    OR NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = d.project_id);
DELETE FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id);
ALTER TABLE deliveries ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD FOREIGN KEY (event_id) REFERENCES events (id);
