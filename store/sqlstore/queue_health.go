package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// health is what one Record batch did to one webhook's health.
type health struct {
	projectID     string
	reset         bool // a delivery succeeded: the failures before it no longer count
	failures      int  // failed deliveries (after the last success)
	disableReason string
	last          *promptd.JobResult // the webhook's last result, marked Disabled when it is
}

// keepHealth applies the results to their webhooks' failure counts, disables the webhooks
// that must be (marking one result of each, JobResult.Disabled), and returns their
// webhook.disabled events. Webhooks are updated in id order
// so that concurrent batches lock them in the same order.
func (s *Store) keepHealth(ctx context.Context, tx *writeTx, results []*promptd.JobResult, applied []bool, now time.Time) ([]*promptd.Event, error) {
	byHook := map[string]*health{}
	for i, res := range results {
		res.Disabled = "" // a retried Record starts over
		id := res.Job.Webhook.ID
		h := byHook[id]
		if h == nil {
			h = &health{projectID: res.Job.ProjectID}
			byHook[id] = h
		}
		h.last = res
		if applied[i] {
			switch res.Status {
			case promptd.StatusSucceeded:
				h.reset, h.failures = true, 0
			case promptd.StatusFailed:
				h.failures++
			}
		}
		if res.DisableReason != "" {
			h.disableReason = res.DisableReason
		}
	}
	var events []*promptd.Event
	for _, id := range slices.Sorted(maps.Keys(byHook)) {
		h := byHook[id]
		reason := h.disableReason
		if h.failures > 0 || h.reset {
			var (
				enabled     bool
				consecutive int
				first       sql.NullInt64
				row         *sql.Row
			)
			switch {
			case h.reset && h.failures == 0:
				row = tx.QueryRowContext(ctx,
					`UPDATE webhooks SET consecutive_failures = 0, first_failure_at = NULL
					 WHERE id = $1 AND (consecutive_failures <> 0 OR first_failure_at IS NOT NULL)
					 RETURNING enabled, consecutive_failures, first_failure_at`, id)
			case h.reset:
				row = tx.QueryRowContext(ctx,
					`UPDATE webhooks SET consecutive_failures = $1, first_failure_at = $2 WHERE id = $3
					 RETURNING enabled, consecutive_failures, first_failure_at`, h.failures, millis(now), id)
			default:
				row = tx.QueryRowContext(ctx,
					`UPDATE webhooks SET consecutive_failures = consecutive_failures + $1, first_failure_at = COALESCE(first_failure_at, $2)
					 WHERE id = $3 RETURNING enabled, consecutive_failures, first_failure_at`, h.failures, millis(now), id)
			}
			err := row.Scan(&enabled, &consecutive, &first)
			switch {
			case errors.Is(err, sql.ErrNoRows): // already healthy, or deleted
			case err != nil:
				return nil, fmt.Errorf("counting failures of webhook %s: %w", id, err)
			case reason == "" && enabled && h.failures > 0 && first.Valid &&
				promptd.ShouldAutoDisable(consecutive, fromMillis(first.Int64), now):
				reason = fmt.Sprintf("%d consecutive deliveries failed since %s", consecutive,
					fromMillis(first.Int64).Format(time.RFC3339))
			}
		}
		if reason == "" {
			continue
		}
		ev, err := s.disableWebhook(ctx, tx, id, reason, now)
		if err != nil {
			return nil, err
		}
		if ev != nil {
			events = append(events, ev)
			h.last.Disabled = reason
		}
	}
	return events, nil
}
