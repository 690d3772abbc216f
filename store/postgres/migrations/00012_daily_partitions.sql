-- Retention by partition (issue 17, item 4). deliveries and attempts become range-partitioned
-- tables, one partition a day, so that the retention purge drops a day of finished
-- deliveries and their attempts at once instead of deleting them row by row.
--
-- * deliveries is partitioned on its primary key, id: ids are UUIDv7 in text, whose first 12
--   hex digits are the creation time in milliseconds, so a day is the id range from the
--   smallest id of its midnight (UTC) to that of the next one. The primary key stays (id).
-- * attempts is partitioned on delivery_id with the same ranges, so that a delivery's
--   attempts sit in the partition of its day and go with it. Its primary key becomes
--   (delivery_id, id) — a partitioned table's unique keys must hold the partition key; ids
--   are UUIDv7 and unique anyway — and replaces attempts_delivery_idx.
-- * attempts.delivery_id no longer references deliveries: dropping or detaching a referenced
--   partition makes PostgreSQL scan the whole referencing table. The store deletes a
--   delivery's attempts itself where it deletes deliveries (the purge, a webhook's deletion).
-- * The store creates the daily partitions (sqlstore/queue_partitions.go): today's and the
--   next two days' at every start and every retention round. Rows outside every daily range
--   land in deliveries_default / attempts_default, so that an insert never fails for want of
--   a partition; those, like the rows of the partition holding existing data, are purged row
--   by row.
-- * Existing rows stay where they are: the old tables become the partitions
--   deliveries_legacy / attempts_legacy for every id up to the end of the newest row's day
--   (PostgreSQL checks that range with one scan of each). Empty old tables are dropped.
--
-- Indexes are copied from the old tables by definition, so that any index a migration added
-- before this one runs is kept.

-- +goose Up
-- +goose StatementBegin
DO $$
DECLARE
    r           record;
    def         text;
    newest      text;
    cut_ms      bigint;
    cut         text;
    has_rows    boolean;
BEGIN
    ALTER TABLE attempts DROP CONSTRAINT IF EXISTS attempts_delivery_id_fkey;
    ALTER TABLE deliveries RENAME TO deliveries_legacy;
    ALTER TABLE attempts RENAME TO attempts_legacy;
    ALTER INDEX deliveries_pkey RENAME TO deliveries_legacy_pkey;
    ALTER INDEX attempts_pkey RENAME TO attempts_legacy_pkey;

    CREATE TABLE deliveries (LIKE deliveries_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (id);
    ALTER TABLE deliveries ADD PRIMARY KEY (id);
    ALTER TABLE deliveries ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
    ALTER TABLE deliveries ADD FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE;
    ALTER TABLE deliveries ADD FOREIGN KEY (event_id) REFERENCES events (id);
    CREATE TABLE attempts (LIKE attempts_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (delivery_id);
    ALTER TABLE attempts ADD PRIMARY KEY (delivery_id, id);

    -- The old tables' other indexes, on the new ones under their names.
    FOR r IN
        SELECT i.indexrelid::regclass::text AS name, t.relname AS tab
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname IN ('deliveries_legacy', 'attempts_legacy')
          AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND NOT i.indisprimary
    LOOP
        IF r.name = 'attempts_delivery_idx' THEN
            -- (delivery_id, id) is the new primary key.
            CONTINUE;
        END IF;
        def := pg_get_indexdef(r.name::regclass);
        EXECUTE format('ALTER INDEX %I RENAME TO %I', r.name, r.name || '_legacy');
        def := regexp_replace(def, ' ON (\S+\.)?' || r.tab || ' ', ' ON ' ||
            CASE r.tab WHEN 'deliveries_legacy' THEN 'deliveries' ELSE 'attempts' END || ' ');
        EXECUTE def;
    END LOOP;

    SELECT EXISTS (SELECT 1 FROM deliveries_legacy) OR EXISTS (SELECT 1 FROM attempts_legacy) INTO has_rows;
    IF has_rows THEN
        -- Up to the end (UTC) of the newest delivery's day, and at least to the end of today.
        SELECT max(id) INTO newest FROM deliveries_legacy;
        cut_ms := greatest(
            coalesce(('x' || lpad(replace(substr(newest, 1, 13), '-', ''), 16, '0'))::bit(64)::bigint, 0),
            (extract(epoch FROM now()) * 1000)::bigint);
        cut_ms := (cut_ms / 86400000 + 1) * 86400000;
        cut := lpad(to_hex(cut_ms >> 16), 8, '0') || '-' || lpad(to_hex(cut_ms & 65535), 4, '0') || '-7000-8000-000000000000';
        -- Attempts whose delivery is gone (possible before, with the foreign key, only
        -- through races the key prevented) or newer than the cut would fail the attach.
        DELETE FROM attempts_legacy a WHERE NOT EXISTS (SELECT 1 FROM deliveries_legacy d WHERE d.id = a.delivery_id);
        EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cut);
        -- The attach builds the (delivery_id, id) key; the old (id) key and index go.
        ALTER TABLE attempts_legacy DROP CONSTRAINT attempts_legacy_pkey;
        DROP INDEX IF EXISTS attempts_delivery_idx;
        EXECUTE format('ALTER TABLE attempts ATTACH PARTITION attempts_legacy FOR VALUES FROM (MINVALUE) TO (%L)', cut);
    ELSE
        DROP TABLE attempts_legacy;
        DROP TABLE deliveries_legacy;
    END IF;

    CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;
    CREATE TABLE attempts_default PARTITION OF attempts DEFAULT;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    r   record;
    def text;
BEGIN
    CREATE TABLE deliveries_flat (LIKE deliveries INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO deliveries_flat SELECT * FROM deliveries;
    CREATE TABLE attempts_flat (LIKE attempts INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
    INSERT INTO attempts_flat SELECT * FROM attempts;
    CREATE TEMPORARY TABLE index_defs ON COMMIT DROP AS
        SELECT pg_get_indexdef(i.indexrelid) AS def, t.relname AS tab
        FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname IN ('deliveries', 'attempts') AND NOT i.indisprimary
          AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
    DROP TABLE attempts;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_flat RENAME TO deliveries;
    ALTER TABLE attempts_flat RENAME TO attempts;
    ALTER TABLE deliveries ADD PRIMARY KEY (id);
    ALTER TABLE deliveries ADD FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
    ALTER TABLE deliveries ADD FOREIGN KEY (webhook_id) REFERENCES webhooks (id) ON DELETE CASCADE;
    ALTER TABLE deliveries ADD FOREIGN KEY (event_id) REFERENCES events (id);
    ALTER TABLE attempts ADD PRIMARY KEY (id);
    DELETE FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id);
    ALTER TABLE attempts ADD CONSTRAINT attempts_delivery_id_fkey
        FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
    CREATE INDEX attempts_delivery_idx ON attempts (delivery_id, id);
    FOR r IN SELECT * FROM index_defs LOOP
        def := regexp_replace(r.def, ' ON (ONLY )?(\S+\.)?' || r.tab || ' ', ' ON ' || r.tab || ' ');
        EXECUTE def;
    END LOOP;
END
$$;
-- +goose StatementEnd
