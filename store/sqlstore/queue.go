package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// The queue lives in the deliveries table. A delivery is due when its status is pending or
// delivering and next_attempt_at has passed: for a pending delivery that is its due time, for
// a delivering one the end of its lease, so work whose engine died comes back by itself. The
// queue is read per webhook, through deliveries_due_idx (webhook_id, next_attempt_at): the
// deliveries an engine may take are those of enabled webhooks, and test deliveries, which go
// to their webhook whatever its state.
//
// The queue's code is split by concern: queue_claim.go leases due deliveries, queue_record.go
// stores attempts' outcomes, queue_health.go counts webhooks' consecutive failures,
// queue_disable.go disables webhooks and cancels their queue, queue_purge.go applies the
// retention; this file releases jobs and reports the queue's state.

// Release gives claimed jobs back: pending, due now, without counting the attempt that was
// not made. Each is fenced on the claim that made it (status delivering and the job's
// attempt count), so a job whose lease ran out and was claimed again leaves the newer claim
// alone; deliveries no longer delivering are left alone too. See promptd.Queue.
func (s *Store) Release(ctx context.Context, jobs []*promptd.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	return s.write(ctx, "release deliveries", func(tx *writeTx, now time.Time) error {
		var released int64
		for chunk := range inRowChunks(jobs) {
			var a args
			nowP := a.add(millis(now))
			values := make([]string, len(chunk))
			for i, j := range chunk {
				values[i] = "(CAST(" + a.add(j.DeliveryID) + " AS TEXT), CAST(" + a.add(j.Attempt) + " AS INTEGER))"
			}
			res, err := tx.ExecContext(ctx,
				`UPDATE deliveries SET status = 'pending', next_attempt_at = `+nowP+`,
					attempt_count = CASE WHEN attempt_count > 0 THEN attempt_count - 1 ELSE 0 END, updated_at = `+nowP+`
				 FROM (VALUES `+strings.Join(values, ", ")+`) AS v
				 WHERE deliveries.id = v.column1 AND deliveries.status = 'delivering' AND deliveries.attempt_count = v.column2`, a...)
			if err != nil {
				return fmt.Errorf("releasing: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("releasing: %w", err)
			}
			released += n
		}
		if released > 0 {
			return s.queue(ctx, tx)
		}
		return nil
	})
}

// NextDue returns when the earliest claimable delivery is due (a pending one's due time, a
// delivering one's lease end); ok is false when there is none. It probes each webhook's
// queue once (deliveries_due_idx). See promptd.Queue.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := s.rdb.QueryRowContext(ctx, `SELECT MIN((SELECT d.next_attempt_at FROM deliveries d
			WHERE d.webhook_id = w.id AND d.status IN ('pending', 'delivering') AND d.next_attempt_at IS NOT NULL
			AND (w.enabled OR d.event_type = '`+promptd.EventWebhookTest+`')
			ORDER BY d.next_attempt_at LIMIT 1)) FROM webhooks w`).Scan(&at)
	if err != nil {
		return time.Time{}, false, s.fault(fmt.Errorf("next due delivery: %w", err), false)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(at.Int64), true, nil
}

// Stats counts the queue at now. See promptd.Queue.
func (s *Store) Stats(ctx context.Context, now time.Time) (promptd.QueueStats, error) {
	var st promptd.QueueStats
	if err := s.rdb.QueryRowContext(ctx, `SELECT
			COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'pending' AND next_attempt_at <= $1 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status = 'delivering' THEN 1 ELSE 0 END), 0)
		FROM deliveries WHERE status IN ('pending', 'delivering')`, millis(now)).Scan(&st.Pending, &st.Due, &st.Delivering); err != nil {
		return st, s.fault(fmt.Errorf("queue stats: %w", err), false)
	}
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhooks WHERE NOT enabled`).Scan(&st.DisabledWebhooks); err != nil {
		return st, s.fault(fmt.Errorf("queue stats: %w", err), false)
	}
	return st, nil
}
