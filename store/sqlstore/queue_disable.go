package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// disableWebhook disables an enabled webhook for reason, cancels its queued deliveries and
// returns the webhook.disabled event to emit; it returns nil when the webhook is already
// disabled or gone.
func (s *Store) disableWebhook(ctx context.Context, tx *writeTx, id, reason string, now time.Time) (*promptd.Event, error) {
	var projectID, name, url string
	err := tx.QueryRowContext(ctx,
		`UPDATE webhooks SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, revision = revision + 1, updated_at = $2
		 WHERE id = $3 AND enabled RETURNING project_id, name, url`,
		storedText(reason), millis(now), id).Scan(&projectID, &name, &url)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disabling webhook %s: %w", id, err)
	}
	s.hooks.forget(id)
	if err := cancelQueued(ctx, tx, id, now); err != nil {
		return nil, err
	}
	data, err := json.Marshal(struct {
		WebhookID string `json:"webhookId"`
		Name      string `json:"name"`
		URL       string `json:"url"`
		Reason    string `json:"reason"`
	}{id, name, url, storedText(reason)})
	if err != nil {
		return nil, fmt.Errorf("encoding the webhook.disabled event: %w", err)
	}
	return promptd.NewDataEvent(projectID, promptd.EventWebhookDisabled, data, now)
}

// cancelDisabledRetries cancels the retries just recorded for webhooks that are disabled (by
// this batch or before it), and wakes the engines for the others.
func (s *Store) cancelDisabledRetries(ctx context.Context, tx *writeTx, results []*promptd.JobResult, applied []bool, now time.Time) error {
	var retries []string
	for i, res := range results {
		if applied[i] && res.Status == promptd.StatusPending {
			retries = append(retries, res.Job.DeliveryID)
		}
	}
	if len(retries) == 0 {
		return nil
	}
	var cancelled int64
	for chunk := range slices.Chunk(retries, attemptsPerInsert) {
		var a args
		nowP := a.add(millis(now))
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'cancelled', next_attempt_at = NULL, last_error = '`+webhookDisabledError+`', updated_at = `+nowP+`
			 WHERE id IN `+a.in(chunk)+` AND status = 'pending'
			 AND NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = deliveries.webhook_id AND w.enabled)`, a...)
		if err != nil {
			return fmt.Errorf("cancelling retries of disabled webhooks: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("cancelling retries of disabled webhooks: %w", err)
		}
		cancelled += n
	}
	if cancelled < int64(len(retries)) {
		return s.queue(ctx, tx)
	}
	return nil
}
