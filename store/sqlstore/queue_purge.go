package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/promptd/promptd"
)

// purgeBatch bounds the rows one purge transaction deletes, so that a large purge never holds
// the database (SQLite's single writer) for long.
const purgeBatch = 1000

// Purge deletes, in batches of short transactions: idempotency keys older than
// promptd.IdempotencyWindow; finished (succeeded, failed, cancelled) deliveries last updated
// before before, with their attempts; the ordering keys whose lines hold nothing pending or
// delivering (see purgeOrderingKeys); and events created before before that have no delivery
// and no live idempotency key left. It returns how many rows went. Where the dialect has a
// TryPurgeLock, a process that does not get it returns at once: one instance purges at a
// time. See promptd.Queue.
//
// Where deliveries and attempts are partitioned by day (PostgreSQL), Purge first creates the
// coming days' partitions, then drops the days wholly older than before that hold nothing to
// keep (see queue_partitions.go), and deletes the rest row by row.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	partErr := s.ensurePartitions(ctx, s.clock())
	dropped, locked, err := s.dropPartitions(ctx, before)
	if err != nil || !locked {
		return dropped, errors.Join(partErr, err)
	}
	total += dropped
	steps := []func(tx *writeTx, now time.Time) (int64, error){
		func(tx *writeTx, now time.Time) (int64, error) {
			return execCount(ctx, tx, `DELETE FROM idempotency_keys WHERE (project_id, idem_key) IN (
				SELECT project_id, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT `+strconv.Itoa(purgeBatch)+`)`,
				millis(now.Add(-promptd.IdempotencyWindow)))
		},
		func(tx *writeTx, _ time.Time) (int64, error) {
			// Walk the primary key from the oldest: a delivery last updated before the
			// cutoff was created before it, and ids (UUIDv7) sort by creation time.
			ids, err := queryStrings(ctx, tx, `SELECT id FROM deliveries
				WHERE id < $1 AND status IN ('succeeded', 'failed', 'cancelled') AND updated_at < $2
				ORDER BY id LIMIT `+strconv.Itoa(purgeBatch), idBefore(before), millis(before))
			if err != nil || len(ids) == 0 {
				return 0, err
			}
			var a args
			in := a.in(ids)
			n, err := execCount(ctx, tx, `DELETE FROM attempts WHERE delivery_id IN `+in, a...)
			if err != nil {
				return 0, err
			}
			m, err := execCount(ctx, tx, `DELETE FROM deliveries WHERE id IN `+in, a...)
			return n + m, err
		},
		func(tx *writeTx, _ time.Time) (int64, error) {
			return purgeOrderingKeys(ctx, tx)
		},
		func(tx *writeTx, _ time.Time) (int64, error) {
			return s.purgeEvents(ctx, tx, before)
		},
	}
	for _, step := range steps {
		for {
			var (
				n      int64
				locked = true
			)
			err := s.write(ctx, "purge", func(tx *writeTx, now time.Time) error {
				if s.d.TryPurgeLock != "" {
					if err := tx.QueryRowContext(ctx, s.d.TryPurgeLock).Scan(&locked); err != nil {
						return fmt.Errorf("taking the purge lock: %w", err)
					}
					if !locked {
						return nil
					}
				}
				var err error
				n, err = step(tx, now)
				return err
			})
			if err != nil {
				return total, errors.Join(partErr, err)
			}
			if !locked {
				return total, partErr
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, partErr
}

// unreferenced is the condition on events e that no delivery and no idempotency key refers
// to them.
const unreferenced = `NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
	AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.event_id = e.id)`

// purgeEvents deletes up to purgeBatch events created before before that nothing refers to,
// and returns how many went. The events are locked first (Dialect.ForUpdate), and checked
// again in the DELETE, a statement of its own: on PostgreSQL, where deliveries have no
// foreign key to events (migration 00015), a resend holds its event FOR KEY SHARE until it
// commits, so the lock waits for it and the check then sees its delivery. (A batch that
// loses some of its events so ends the purge's event step early; the next round goes on.)
func (s *Store) purgeEvents(ctx context.Context, tx *writeTx, before time.Time) (int64, error) {
	ids, err := queryStrings(ctx, tx, `SELECT e.id FROM events e WHERE e.created_at < $1 AND `+unreferenced+`
		LIMIT `+strconv.Itoa(purgeBatch)+s.d.ForUpdate, millis(before))
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var a args
	return execCount(ctx, tx, `DELETE FROM events AS e WHERE e.id IN `+a.in(ids)+` AND `+unreferenced, a...)
}

// idBefore returns the smallest UUIDv7 of time t as text: every id made before t sorts below
// it.
func idBefore(t time.Time) string {
	ms := max(t.UnixMilli(), 0)
	return fmt.Sprintf("%08x-%04x-7000-8000-000000000000", ms>>16, ms&0xffff)
}

func execCount(ctx context.Context, tx *writeTx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
