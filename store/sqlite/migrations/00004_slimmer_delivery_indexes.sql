-- Every delivery changes state at least twice (pending → delivering → succeeded), and every
-- index that holds its status pays for each change. Two indexes now hold fewer rows:
--
-- * deliveries_project_status_idx, which serves the delivery list filtered by status, keeps
--   only the states worth finding among many: pending, failed and cancelled. The list finds
--   succeeded deliveries (most of them) and delivering ones (a handful at any time) through
--   deliveries_project_idx.
-- * deliveries_finished_idx is gone: the retention purge walks the primary key instead (ids
--   are UUIDv7, ordered by creation, and a delivery last updated before the cutoff was
--   created before it).

-- +goose Up
DROP INDEX deliveries_project_status_idx;
CREATE INDEX deliveries_project_status_idx ON deliveries (project_id, status, id) WHERE status IN ('pending', 'failed', 'cancelled');
DROP INDEX deliveries_finished_idx;

-- +goose Down
CREATE INDEX deliveries_finished_idx ON deliveries (updated_at) WHERE status IN ('succeeded', 'failed', 'cancelled');
DROP INDEX deliveries_project_status_idx;
CREATE INDEX deliveries_project_status_idx ON deliveries (project_id, status, id);
