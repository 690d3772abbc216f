package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/promptd/promptd"
)

// hookMatch is a webhook as the fan-out sees it: its id, state and compiled matcher.
type hookMatch struct {
	id      string
	enabled bool
	m       *promptd.Matcher
}

// fanOut creates, in the caller's transaction, one delivery per event and matching webhook
// of the event's project: pending and due now when the webhook is enabled, cancelled when it
// is not (so that a disabled webhook's missed events are visible and can be recovered).
// webhook.test events are never fanned out. Each project's webhooks are loaded once per call.
func (s *Store) fanOut(ctx context.Context, tx *writeTx, events []*promptd.Event) error {
	var projects []string
	byProject := map[string][]*promptd.Event{}
	for _, ev := range events {
		if ev.Type == promptd.EventWebhookTest {
			continue
		}
		if _, ok := byProject[ev.ProjectID]; !ok {
			projects = append(projects, ev.ProjectID)
		}
		byProject[ev.ProjectID] = append(byProject[ev.ProjectID], ev)
	}
	for _, projectID := range projects {
		hooks, err := s.projectHooks(ctx, tx, projectID)
		if err != nil {
			return err
		}
		if len(hooks) == 0 {
			continue
		}
		var out []newDelivery
		for _, ev := range byProject[projectID] {
			for _, h := range hooks {
				if h.m.Match(ev) {
					out = append(out, newDelivery{webhookID: h.id, event: ev, pending: h.enabled})
				}
			}
		}
		if err := s.insertDeliveries(ctx, tx, projectID, out); err != nil {
			return err
		}
	}
	return nil
}

// projectHooks loads the project's webhooks with their matchers, compiling only those whose
// revision the cache does not hold.
func (s *Store) projectHooks(ctx context.Context, tx *writeTx, projectID string) ([]hookMatch, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT id, enabled, revision, events, filters FROM webhooks WHERE project_id = $1 ORDER BY id`, projectID)
	if err != nil {
		return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
	}
	defer rows.Close()
	var hooks []hookMatch
	for rows.Next() {
		var (
			h               hookMatch
			revision        int64
			events, filters string
		)
		if err := rows.Scan(&h.id, &h.enabled, &revision, &events, &filters); err != nil {
			return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
		}
		if h.m = s.hooks.matcher(h.id, revision); h.m == nil {
			w := promptd.Webhook{ID: h.id}
			if err := decodeMatching(events, filters, &w); err != nil {
				return nil, err
			}
			if h.m, err = promptd.NewMatcher(&w); err != nil {
				return nil, fmt.Errorf("webhook %s: %w", h.id, err)
			}
			s.hooks.putMatcher(h.id, revision, h.m)
		}
		hooks = append(hooks, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading webhooks for fan-out: %w", err)
	}
	return hooks, nil
}

// newDelivery is a delivery to create: pending and due now, or cancelled because the
// webhook is disabled.
type newDelivery struct {
	webhookID string
	event     *promptd.Event
	pending   bool
}

// insertDeliveries inserts the deliveries of one project, created now, with multi-row
// INSERTs (see rowChunks). When any is pending, the transaction wakes the engines.
func (s *Store) insertDeliveries(ctx context.Context, tx *writeTx, projectID string, ds []newDelivery) error {
	queued := false
	for chunk := range inRowChunks(ds) {
		var a args
		project, now := a.add(projectID), a.add(millis(tx.now))
		values := make([]string, len(chunk))
		for i, d := range chunk {
			status, next, lastError := any(promptd.StatusPending), any(millis(tx.now)), ""
			if d.pending {
				queued = true
			} else {
				status, next, lastError = promptd.StatusCancelled, nil, webhookDisabledError
			}
			values[i] = "(" + a.add(newID()) + ", " + project + ", " + a.add(d.webhookID) + ", " + a.add(d.event.ID) + ", " +
				a.add(d.event.Type) + ", " + a.add(status) + ", " + a.add(next) + ", " + a.add(lastError) + ", " + now + ", " + now + ")"
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, next_attempt_at, last_error, created_at, updated_at)
			 VALUES `+strings.Join(values, ", "), a...); err != nil {
			return fmt.Errorf("inserting deliveries: %w", err)
		}
	}
	if queued {
		return s.queue(ctx, tx)
	}
	return nil
}
