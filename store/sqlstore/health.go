package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/promptd/promptd"
)

// healthSampleSize bounds the answered attempts per webhook whose durations make the
// median: the latest ones in the window. Counting is done by the database, over every attempt.
const healthSampleSize = 1001

// attemptOK is the SQL form of promptd.AttemptSucceeded, for attempts aliased a.
const attemptOK = `(a.error = '' AND a.status_code >= 200 AND a.status_code < 300)`

// attemptAnswered is true for attempts aliased a that got an HTTP answer, whatever its
// status: only they have a latency (a refused connection or a timeout has none).
const attemptAnswered = `(a.status_code > 0)`

// WebhookHealth summarises the attempts each webhook of the project started at or after
// since. The database counts them; the median duration is computed here, over the latest
// healthSampleSize answered attempts of each webhook in the window, because the two dialects have no
// common percentile function. See promptd.DeliveryService.
func (s *Store) WebhookHealth(ctx context.Context, projectID string, since time.Time) (map[string]promptd.WebhookHealth, error) {
	out := map[string]promptd.WebhookHealth{}
	err := s.read(ctx, "webhook health", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx,
			`SELECT d.webhook_id, COUNT(*), SUM(CASE WHEN `+attemptOK+` THEN 1 ELSE 0 END),
			        SUM(CASE WHEN `+attemptAnswered+` THEN 1 ELSE 0 END),
			        MAX(CASE WHEN `+attemptOK+` THEN NULL ELSE a.started_at END)
			 FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
			 WHERE d.project_id = $1 AND a.started_at >= $2
			 GROUP BY d.webhook_id`, projectID, millis(since))
		if err != nil {
			return fmt.Errorf("counting attempts: %w", err)
		}
		lastFail := map[string]int64{}
		for rows.Next() {
			var (
				id   string
				h    promptd.WebhookHealth
				last sql.NullInt64
			)
			if err := rows.Scan(&id, &h.Attempts, &h.Succeeded, &h.Answered, &last); err != nil {
				rows.Close()
				return fmt.Errorf("counting attempts: %w", err)
			}
			if last.Valid {
				lastFail[id] = last.Int64
			}
			out[id] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("counting attempts: %w", err)
		}
		for id, h := range out {
			if h.Answered > 0 { // else there is no latency to speak of
				if h.P50Ms, h.P95Ms, err = latencies(ctx, tx, projectID, id, since); err != nil {
					return err
				}
			}
			if at, ok := lastFail[id]; ok {
				if h.LastFailure, err = lastFailure(ctx, tx, projectID, id, at); err != nil {
					return err
				}
				t := fromMillis(at)
				h.LastFailureAt = &t
			}
			out[id] = h
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// latencies are the median (the lower one for an even count) and the 95th percentile
// (nearest rank) of the durations of the webhook's latest answered attempts since since; 0
// when none was answered.
func latencies(ctx context.Context, q querier, projectID, webhookID string, since time.Time) (p50, p95 int64, err error) {
	rows, err := q.QueryContext(ctx,
		`SELECT a.duration_ms FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		 WHERE d.project_id = $1 AND d.webhook_id = $2 AND a.started_at >= $3 AND `+attemptAnswered+`
		 ORDER BY a.started_at DESC LIMIT `+strconv.Itoa(healthSampleSize), projectID, webhookID, millis(since))
	if err != nil {
		return 0, 0, fmt.Errorf("attempt durations: %w", err)
	}
	defer rows.Close()
	var ds []int64
	for rows.Next() {
		var d int64
		if err := rows.Scan(&d); err != nil {
			return 0, 0, fmt.Errorf("attempt durations: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("attempt durations: %w", err)
	}
	if len(ds) == 0 {
		return 0, 0, nil
	}
	slices.Sort(ds)
	rank := (95*len(ds) + 99) / 100 // ⌈0.95 n⌉, 1-based
	return ds[(len(ds)-1)/2], ds[rank-1], nil
}

// lastFailure describes the webhook's failed attempt that started at at: "HTTP <status>"
// when the receiver answered, else its error.
func lastFailure(ctx context.Context, q querier, projectID, webhookID string, at int64) (string, error) {
	var (
		code int
		msg  string
	)
	err := q.QueryRowContext(ctx,
		`SELECT a.status_code, a.error FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
		 WHERE d.project_id = $1 AND d.webhook_id = $2 AND a.started_at = $3 AND NOT `+attemptOK+`
		 ORDER BY a.id DESC LIMIT 1`, projectID, webhookID, at).Scan(&code, &msg)
	if errors.Is(err, sql.ErrNoRows) { // purged between the two queries
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("last failed attempt: %w", err)
	}
	if code != 0 {
		return "HTTP " + strconv.Itoa(code), nil
	}
	return msg, nil
}
