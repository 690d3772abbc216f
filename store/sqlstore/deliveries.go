package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// deliveryColumns are the columns scanDelivery reads.
const deliveryColumns = `id, project_id, webhook_id, event_id, event_type, status, attempt_count, next_attempt_at,
	last_status_code, last_error, created_at, updated_at, ordering_key, sequence, target, resend_of`

func scanDelivery(row scanner) (*promptd.Delivery, error) {
	var (
		d                promptd.Delivery
		next             sql.NullInt64
		created, updated int64
		orderingKey      sql.NullString
		sequence         sql.NullInt64
		resendOf         sql.NullString
	)
	if err := row.Scan(&d.ID, &d.ProjectID, &d.WebhookID, &d.EventID, &d.EventType, &d.Status, &d.AttemptCount, &next,
		&d.LastStatusCode, &d.LastError, &created, &updated, &orderingKey, &sequence, &d.Target, &resendOf); err != nil {
		return nil, err
	}
	d.ResendOf = resendOf.String
	d.OrderingKey, d.Sequence = orderingKey.String, sequence.Int64
	if next.Valid {
		t := fromMillis(next.Int64)
		d.NextAttemptAt = &t
	}
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
	return &d, nil
}

func deliveryNotFound(id string) error {
	return promptd.Errorf(promptd.ENOTFOUND, "delivery %q not found", id)
}

func getDelivery(ctx context.Context, q querier, projectID, id string) (*promptd.Delivery, error) {
	d, err := scanDelivery(q.QueryRowContext(ctx,
		`SELECT `+deliveryColumns+` FROM deliveries WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, deliveryNotFound(id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading delivery: %w", err)
	}
	return d, nil
}

// ListDeliveries returns the project's deliveries, newest first, without their attempts, one
// page at a time. Returns EINVALID for an unknown status or a bad cursor. See
// promptd.DeliveryService.
func (s *Store) ListDeliveries(ctx context.Context, projectID string, f promptd.DeliveryFilter) (*promptd.Page[promptd.Delivery], error) {
	if err := f.PageRequest.Normalize(); err != nil {
		return nil, err
	}
	if f.Status != "" && !slices.Contains(promptd.DeliveryStatuses, f.Status) {
		return nil, promptd.Invalid("query.status", "must be one of %s, got %q", strings.Join(promptd.DeliveryStatuses, ", "), f.Status)
	}
	var a args
	where := []string{"project_id = " + a.add(projectID)}
	if f.Cursor != "" {
		before, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, err
		}
		where = append(where, "id < "+a.add(before))
	}
	if f.WebhookID != "" {
		where = append(where, "webhook_id = "+a.add(f.WebhookID))
	}
	if f.EventID != "" {
		where = append(where, "event_id = "+a.add(f.EventID))
	}
	if f.Status != "" {
		// A literal (the status is one of DeliveryStatuses, checked above), so that the
		// planner can prove the partial deliveries_project_status_idx applies.
		where = append(where, "status = '"+f.Status+"'")
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+a.add(millis(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+a.add(millis(f.Until)))
	}
	c, err := s.acquire(ctx, s.rdb, "list deliveries")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(f.Limit+1), a...)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list deliveries: %w", err), false)
	}
	page, err := readPage(rows, f.Limit, scanDelivery, func(d *promptd.Delivery) string { return d.ID })
	if err != nil {
		return nil, s.fault(fmt.Errorf("list deliveries: %w", err), false)
	}
	return page, nil
}

// FindDelivery returns one delivery of the project with all its attempts, oldest first.
// Returns ENOTFOUND. See promptd.DeliveryService.
func (s *Store) FindDelivery(ctx context.Context, projectID, id string) (*promptd.Delivery, error) {
	var out *promptd.Delivery
	err := s.read(ctx, "find delivery", func(tx *sql.Tx) error {
		d, err := getDelivery(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if d.Attempts, err = getAttempts(ctx, tx, id); err != nil {
			return err
		}
		if d.ResentAs, err = resendsOf(ctx, tx, id); err != nil {
			return err
		}
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// resendsOf returns the ids of the resends of a delivery, oldest first (nil for none).
func resendsOf(ctx context.Context, q querier, deliveryID string) ([]string, error) {
	ids, err := queryStrings(ctx, q, `SELECT id FROM deliveries WHERE resend_of = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("loading resends: %w", err)
	}
	return ids, nil
}

func getAttempts(ctx context.Context, q querier, deliveryID string) ([]promptd.Attempt, error) {
	rows, err := q.QueryContext(ctx,
		`SELECT number, started_at, duration_ms, url, request_headers, status_code, response_headers, response_body, error,
			request_body
		 FROM attempts WHERE delivery_id = $1 ORDER BY id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("loading attempts: %w", err)
	}
	defer rows.Close()
	out := []promptd.Attempt{}
	for rows.Next() {
		var (
			at                promptd.Attempt
			started           int64
			reqHdrs, respHdrs string
			reqBody           []byte
		)
		if err := rows.Scan(&at.Number, &started, &at.DurationMs, &at.URL, &reqHdrs, &at.StatusCode, &respHdrs,
			&at.ResponseBody, &at.Error, &reqBody); err != nil {
			return nil, fmt.Errorf("loading attempts: %w", err)
		}
		at.StartedAt = fromMillis(started)
		at.RequestBody = string(reqBody)
		if err := json.Unmarshal([]byte(reqHdrs), &at.RequestHeaders); err != nil {
			return nil, fmt.Errorf("attempt of delivery %s: decoding request headers: %w", deliveryID, err)
		}
		if err := json.Unmarshal([]byte(respHdrs), &at.ResponseHeaders); err != nil {
			return nil, fmt.Errorf("attempt of delivery %s: decoding response headers: %w", deliveryID, err)
		}
		if len(at.ResponseHeaders) == 0 {
			at.ResponseHeaders = nil
		}
		out = append(out, at)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading attempts: %w", err)
	}
	return out, nil
}

// requireEnabled returns ENOTFOUND when the webhook is not the project's, and ECONFLICT when
// it is disabled: work queued for a disabled webhook would never be sent. It locks the
// webhook against deletion (Dialect.ForKeyShare) until the transaction ends.
func (s *Store) requireEnabled(ctx context.Context, tx *writeTx, projectID, webhookID string) error {
	var enabled bool
	err := tx.QueryRowContext(ctx, `SELECT enabled FROM webhooks WHERE project_id = $1 AND id = $2`+s.d.ForKeyShare, projectID, webhookID).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return webhookNotFound(webhookID)
	}
	if err != nil {
		return fmt.Errorf("loading webhook: %w", err)
	}
	if !enabled {
		return promptd.Errorf(promptd.ECONFLICT, "webhook %q is disabled: enable it first", webhookID)
	}
	return nil
}

// insertDelivery inserts one pending delivery of ev to the webhook's target (a Slack channel,
// or a part of the event; see promptd.Delivery.Target), due at due, and wakes the engines
// when the transaction commits.
func (s *Store) insertDelivery(ctx context.Context, tx *writeTx, projectID, webhookID, eventID, eventType, target string, due time.Time) (*promptd.Delivery, error) {
	d := &promptd.Delivery{
		ID: newID(), ProjectID: projectID, WebhookID: webhookID, EventID: eventID, EventType: eventType,
		Status: promptd.StatusPending, NextAttemptAt: &due, Target: target, CreatedAt: tx.now, UpdatedAt: tx.now,
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at, target)
		 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7, $8)`,
		d.ID, projectID, webhookID, eventID, eventType, millis(due), millis(tx.now), target); err != nil {
		return nil, fmt.Errorf("inserting delivery: %w", err)
	}
	return d, s.queue(ctx, tx)
}

// insertOrderedDelivery queues a new delivery of d's event at the end of d's line.
func (s *Store) insertOrderedDelivery(ctx context.Context, tx *writeTx, d *promptd.Delivery, now time.Time) (*promptd.Delivery, error) {
	l := line{d.WebhookID, d.OrderingKey}
	seq, err := takeSequences(ctx, tx, l, 1)
	if err != nil {
		return nil, err
	}
	out := &promptd.Delivery{
		ID: newID(), ProjectID: d.ProjectID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType,
		Status: promptd.StatusPending, OrderingKey: d.OrderingKey, Sequence: seq, Target: d.Target, CreatedAt: now, UpdatedAt: now,
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, created_at, updated_at, ordering_key, sequence, target)
		 VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $7, $8, $9)`,
		out.ID, out.ProjectID, out.WebhookID, out.EventID, out.EventType, millis(now), out.OrderingKey, seq, out.Target); err != nil {
		return nil, fmt.Errorf("inserting delivery: %w", err)
	}
	if err := s.advanceLines(ctx, tx, []line{l}, now); err != nil {
		return nil, err
	}
	return getDelivery(ctx, tx, d.ProjectID, out.ID)
}

// ResendDelivery sends a delivery's event again: a finished delivery gets a new delivery
// of the same event, due now (an ordered one joins the end of its line), linked to it by
// resend_of; one still pending or delivering is brought forward instead (due now when it
// waits for a retry; left in place while it waits in its line or is being attempted) and
// returned, so that the receiver does not get the event twice. Returns ENOTFOUND, or
// ECONFLICT when the webhook is disabled. See promptd.DeliveryService.
func (s *Store) ResendDelivery(ctx context.Context, projectID, id string) (*promptd.Delivery, error) {
	var out *promptd.Delivery
	err := s.write(ctx, "resend delivery", func(tx *writeTx, now time.Time) error {
		d, err := getDelivery(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if err := s.requireEnabled(ctx, tx, projectID, d.WebhookID); err != nil {
			return err
		}
		if d.Status == promptd.StatusPending || d.Status == promptd.StatusDelivering {
			out, err = s.bringForward(ctx, tx, d, now)
			return err
		}
		if err := s.lockEvent(ctx, tx, d); err != nil {
			return err
		}
		if d.OrderingKey != "" {
			out, err = s.insertOrderedDelivery(ctx, tx, d, now)
		} else {
			out, err = s.insertDelivery(ctx, tx, projectID, d.WebhookID, d.EventID, d.EventType, d.Target, now)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET resend_of = $1 WHERE id = $2`, d.ID, out.ID); err != nil {
			return fmt.Errorf("linking the resend to its original: %w", err)
		}
		out.ResendOf = d.ID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockEvent locks the event of d, which a resend is about to refer to again, against the
// retention purge (Dialect.ForKeyShare) until the transaction ends. The purge deletes an
// event only once no delivery refers to it, and d did when the transaction read it: an
// event already gone means that d went meanwhile, and ENOTFOUND is returned.
func (s *Store) lockEvent(ctx context.Context, tx *writeTx, d *promptd.Delivery) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM events WHERE id = $1`+s.d.ForKeyShare, d.EventID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return deliveryNotFound(d.ID)
	}
	if err != nil {
		return fmt.Errorf("locking the delivery's event: %w", err)
	}
	return nil
}

// bringForward makes a pending delivery that waits for a retry due now, and returns the
// delivery with its resends. A delivery being attempted (delivering, lease running) or
// waiting in its line for the ones before it (no due time) is left as it is.
func (s *Store) bringForward(ctx context.Context, tx *writeTx, d *promptd.Delivery, now time.Time) (*promptd.Delivery, error) {
	res, err := tx.ExecContext(ctx,
		`UPDATE deliveries SET next_attempt_at = $1, updated_at = $1
		 WHERE id = $2 AND status = 'pending' AND next_attempt_at > $1`, millis(now), d.ID)
	if err != nil {
		return nil, fmt.Errorf("bringing the delivery forward: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("bringing the delivery forward: %w", err)
	} else if n > 0 {
		if err := s.queue(ctx, tx); err != nil {
			return nil, err
		}
	}
	out, err := getDelivery(ctx, tx, d.ProjectID, d.ID)
	if err != nil {
		return nil, err
	}
	if out.ResentAs, err = resendsOf(ctx, tx, d.ID); err != nil {
		return nil, err
	}
	return out, nil
}

// RecoverDeliveries re-queues the webhook's failed and cancelled deliveries created since
// since: each becomes pending, due now, with a new attempt series (attempt_base set to the
// attempts made so far, so that attempt numbers keep counting while the retry schedule starts
// again; earlier attempts stay in the log). Ordered ones join the end of their lines, in their old order. It returns how many. Returns ENOTFOUND, or ECONFLICT when the
// webhook is disabled. See promptd.DeliveryService.
func (s *Store) RecoverDeliveries(ctx context.Context, projectID, webhookID string, since time.Time) (int, error) {
	var n int64
	err := s.write(ctx, "recover deliveries", func(tx *writeTx, now time.Time) error {
		if err := s.requireEnabled(ctx, tx, projectID, webhookID); err != nil {
			return err
		}
		ordered, err := s.requeueInLines(ctx, tx, webhookID, since, now)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET status = 'pending', attempt_base = attempt_count, next_attempt_at = $1, updated_at = $1
			 WHERE webhook_id = $2 AND status IN ('failed', 'cancelled') AND created_at >= $3 AND ordering_key IS NULL`,
			millis(now), webhookID, millis(since))
		if err != nil {
			return fmt.Errorf("re-queueing deliveries: %w", err)
		}
		if n, err = res.RowsAffected(); err != nil {
			return fmt.Errorf("re-queueing deliveries: %w", err)
		}
		n += ordered
		if n > ordered {
			return s.queue(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// testEventMessage is the message of every webhook.test event.
const testEventMessage = "This is a test event from promptd."

// CreateTestDelivery records a webhook.test event (not fanned out) and one pending delivery
// of it to this webhook, whatever its filters and state, due after promptd.TestReservation.
// Returns ENOTFOUND. See promptd.DeliveryService.
func (s *Store) CreateTestDelivery(ctx context.Context, projectID, webhookID string) (*promptd.Delivery, error) {
	return s.createTestDelivery(ctx, "create test delivery", projectID, webhookID, func(name string, now time.Time) (*promptd.Event, error) {
		data, err := json.Marshal(struct {
			WebhookID string `json:"webhookId"`
			Name      string `json:"name"`
			Message   string `json:"message"`
		}{webhookID, name, testEventMessage})
		if err != nil {
			return nil, fmt.Errorf("encoding the test event: %w", err)
		}
		return promptd.NewDataEvent(projectID, promptd.EventWebhookTest, data, now)
	})
}

// CreateDryRunDelivery records ev (not fanned out) and one pending delivery of it to this
// webhook, whatever its filters and state, due after promptd.TestReservation. Returns
// ENOTFOUND, or EINVALID when ev is of another project. See promptd.DeliveryService.
func (s *Store) CreateDryRunDelivery(ctx context.Context, projectID, webhookID string, ev *promptd.Event) (*promptd.Delivery, error) {
	if ev == nil || ev.ProjectID != projectID {
		return nil, promptd.Invalid("body", "the dry run's event must belong to the project")
	}
	return s.createTestDelivery(ctx, "create dry run delivery", projectID, webhookID, func(string, time.Time) (*promptd.Event, error) {
		return ev, nil
	})
}

// createTestDelivery records the event made by build for the webhook (given its name) and a
// delivery of it to that webhook only.
func (s *Store) createTestDelivery(ctx context.Context, op, projectID, webhookID string, build func(name string, now time.Time) (*promptd.Event, error)) (*promptd.Delivery, error) {
	var out *promptd.Delivery
	err := s.write(ctx, op, func(tx *writeTx, now time.Time) error {
		var name, typ, dest string
		err := tx.QueryRowContext(ctx, `SELECT name, type, destination FROM webhooks WHERE project_id = $1 AND id = $2`+s.d.ForKeyShare, projectID, webhookID).Scan(&name, &typ, &dest)
		if errors.Is(err, sql.ErrNoRows) {
			return webhookNotFound(webhookID)
		}
		if err != nil {
			return fmt.Errorf("loading webhook: %w", err)
		}
		ev, err := build(name, now)
		if err != nil {
			return err
		}
		if err := insertEventRows(ctx, tx, []*promptd.Event{ev}); err != nil {
			return err
		}
		// A test goes to one target: a slack webhook's first channel.
		targets, err := deliveryTargets(typ, dest)
		if err != nil {
			return fmt.Errorf("webhook %s: %w", webhookID, err)
		}
		out, err = s.insertDelivery(ctx, tx, projectID, webhookID, ev.ID, ev.Type, targets[0], now.Add(promptd.TestReservation))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
