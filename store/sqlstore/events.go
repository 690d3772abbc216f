package sqlstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/promptd/promptd"
)

// insertEvents writes events in the caller's transaction, so they commit or roll back with
// the change that caused them (the transactional outbox), and fans them out to the matching
// webhooks' deliveries in the same transaction (fanOut), so a committed event always has its
// deliveries. Every event of every method goes through here, except the webhook.test event
// of CreateTestDelivery, which is addressed to one webhook. The payload is stored as the
// exact bytes receivers will get.
func (s *Store) insertEvents(ctx context.Context, tx *writeTx, events []*promptd.Event) error {
	if err := insertEventRows(ctx, tx, events); err != nil {
		return err
	}
	return s.fanOut(ctx, tx, events)
}

// insertEventRows writes events without fanning them out, in multi-row INSERTs (one
// INSERT … SELECT FROM unnest(…) where the dialect takes arrays).
func insertEventRows(ctx context.Context, tx *writeTx, events []*promptd.Event) error {
	for _, ev := range events {
		tx.events = append(tx.events, ev.Type)
	}
	if tx.arrays && len(events) > 0 {
		n := len(events)
		ids, projects, types := make([]string, n), make([]string, n), make([]string, n)
		created, payloads := make([]int64, n), make([][]byte, n)
		for i, ev := range events {
			ids[i], projects[i], types[i], created[i], payloads[i] = ev.ID, ev.ProjectID, ev.Type, millis(ev.Timestamp), []byte(ev.Payload)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, project_id, type, created_at, payload)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])`,
			ids, projects, types, created, payloads); err != nil {
			return fmt.Errorf("inserting events: %w", err)
		}
		return nil
	}
	for chunk := range inRowChunks(events) {
		var a args
		values := make([]string, len(chunk))
		for i, ev := range chunk {
			values[i] = "(" + a.add(ev.ID) + ", " + a.add(ev.ProjectID) + ", " + a.add(ev.Type) + ", " +
				a.add(millis(ev.Timestamp)) + ", " + a.add([]byte(ev.Payload)) + ")"
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO events (id, project_id, type, created_at, payload) VALUES `+strings.Join(values, ", "), a...); err != nil {
			return fmt.Errorf("inserting events: %w", err)
		}
	}
	return nil
}

const eventColumns = `id, project_id, type, created_at, payload`

func scanEvent(row scanner) (*promptd.Event, error) {
	var (
		ev      promptd.Event
		created int64
		payload []byte
	)
	if err := row.Scan(&ev.ID, &ev.ProjectID, &ev.Type, &created, &payload); err != nil {
		return nil, err
	}
	ev.Timestamp = fromMillis(created)
	ev.Payload = json.RawMessage(payload)
	return &ev, nil
}

func getEvent(ctx context.Context, q querier, projectID, id string) (*promptd.Event, error) {
	ev, err := scanEvent(q.QueryRowContext(ctx,
		`SELECT `+eventColumns+` FROM events WHERE project_id = $1 AND id = $2`, projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, promptd.Errorf(promptd.ENOTFOUND, "event %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event: %w", err)
	}
	return ev, nil
}

// compactJSON returns data without insignificant whitespace, and whether it is valid JSON.
// Data without whitespace outside its strings (what JSON encoders write) is returned as it
// is, only validated: json.Compact would copy it.
func compactJSON(data []byte) ([]byte, bool) {
	if !hasSpace(data) {
		return data, json.Valid(data)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, false
	}
	return compact.Bytes(), true
}

// hasSpace reports whether JSON text holds a space, tab, newline or carriage return outside
// its strings. Its answer for text that is not valid JSON does not matter.
func hasSpace(data []byte) bool {
	inString := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case inString && c == '\\':
			i++ // the escaped byte
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return true
		}
	}
	return false
}

// MaxIdempotencyKeyLength bounds the length of an Idempotency-Key.
const MaxIdempotencyKeyLength = 255

// idempotencyKeyField names the Idempotency-Key in errors.
const idempotencyKeyField = "header.Idempotency-Key"

// PublishEvent records a custom event, deduplicated by in.IdempotencyKey for
// promptd.IdempotencyWindow. See promptd.EventService.
func (s *Store) PublishEvent(ctx context.Context, projectID string, in promptd.PublishEventInput) (*promptd.Event, bool, error) {
	if err := promptd.ValidateCustomEventType("body.type", in.Type); err != nil {
		return nil, false, err
	}
	data := bytes.TrimSpace(in.Data)
	if len(data) == 0 {
		data = []byte(`{}`)
	}
	data, ok := compactJSON(data)
	if !ok {
		return nil, false, promptd.Invalid("body.data", "must be a JSON value")
	}
	key := in.IdempotencyKey
	if len(key) > MaxIdempotencyKeyLength {
		return nil, false, promptd.Invalid(idempotencyKeyField, "must be at most %d characters", MaxIdempotencyKeyLength)
	}
	if strings.IndexFunc(key, unicode.IsControl) >= 0 {
		return nil, false, promptd.Invalid(idempotencyKeyField, "must not contain control characters")
	}
	if err := promptd.ValidateOrderingKey("body.orderingKey", in.OrderingKey); err != nil {
		return nil, false, err
	}

	if key == "" {
		ev, err := s.pub.publish(ctx, projectID, in.Type, data, in.OrderingKey)
		return ev, false, err
	}
	var (
		out      *promptd.Event
		replayed bool
	)
	err := s.write(ctx, "publish event", func(tx *writeTx, now time.Time) error {
		ev, err := promptd.NewCompactDataEvent(projectID, in.Type, data, now)
		if err != nil {
			return err
		}
		ev.OrderingKey = in.OrderingKey
		out = ev
		replay, err := s.claimIdempotencyKey(ctx, tx, projectID, key, requestHash(in.Type, data, in.OrderingKey), ev.ID, now)
		if err != nil {
			return err
		}
		if replay != nil {
			out, replayed = replay, true
			return nil
		}
		return s.insertEvents(ctx, tx, []*promptd.Event{ev})
	})
	if err != nil {
		return nil, false, err
	}
	return out, replayed, nil
}

// claimIdempotencyKey makes key name the request with this hash and event eventID. When the
// key names a request of the last IdempotencyWindow, it returns that request's event if the
// hashes match (a replay) and ECONFLICT if not; an older key is taken over. A concurrent
// transaction claiming the same key waits on the INSERT until this one ends, then finds the
// row, so two publishes with one key never both create an event.
func (s *Store) claimIdempotencyKey(ctx context.Context, tx *writeTx, projectID, key string, hash []byte, eventID string, now time.Time) (replay *promptd.Event, err error) {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO idempotency_keys (project_id, idem_key, request_hash, event_id, created_at)
		 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, idem_key) DO NOTHING`,
		projectID, key, hash, eventID, millis(now))
	if err != nil {
		return nil, fmt.Errorf("claiming idempotency key: %w", err)
	}
	claimed, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("claiming idempotency key: %w", err)
	}
	if claimed == 1 {
		return nil, nil
	}

	var (
		storedHash []byte
		storedID   string
		created    int64
	)
	if err := tx.QueryRowContext(ctx,
		`SELECT request_hash, event_id, created_at FROM idempotency_keys
		 WHERE project_id = $1 AND idem_key = $2`+s.d.ForUpdate,
		projectID, key).Scan(&storedHash, &storedID, &created); err != nil {
		return nil, fmt.Errorf("loading idempotency key: %w", err)
	}
	if now.Sub(fromMillis(created)) < promptd.IdempotencyWindow {
		if !bytes.Equal(storedHash, hash) {
			return nil, promptd.Errorf(promptd.ECONFLICT,
				"Idempotency-Key %q was used with a different request; use a new key for a new event", key)
		}
		return getEvent(ctx, tx, projectID, storedID)
	}
	if _, err := tx.ExecContext(ctx,
		`UPDATE idempotency_keys SET request_hash = $1, event_id = $2, created_at = $3
		 WHERE project_id = $4 AND idem_key = $5`,
		hash, eventID, millis(now), projectID, key); err != nil {
		return nil, fmt.Errorf("renewing idempotency key: %w", err)
	}
	return nil, nil
}

// requestHash identifies a publish request for idempotency: its type, compacted data and
// orderingKey. A request without an orderingKey hashes as it did before orderingKey
// existed, so keys stored by an older promptd still match their replays; with one, the key
// follows a NUL, which compacted JSON never contains, so the two forms cannot collide.
func requestHash(typ string, data []byte, orderingKey string) []byte {
	h := sha256.New()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write(data)
	if orderingKey != "" {
		h.Write([]byte{0})
		h.Write([]byte(orderingKey))
	}
	return h.Sum(nil)
}

// FindEvent returns one event of the project. See promptd.EventService.
func (s *Store) FindEvent(ctx context.Context, projectID, id string) (*promptd.Event, error) {
	ev, err := getEvent(ctx, s.rdb, projectID, id)
	if err != nil {
		return nil, s.fault(wrap("find event", err), false)
	}
	return ev, nil
}

// ListEvents returns the project's events, newest first, one page at a time. See
// promptd.EventService.
func (s *Store) ListEvents(ctx context.Context, projectID string, f promptd.EventFilter) (*promptd.Page[promptd.Event], error) {
	if err := f.PageRequest.Normalize(); err != nil {
		return nil, err
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
	if f.Type != "" {
		where = append(where, "type = "+a.add(f.Type))
	}
	if p := strings.TrimSuffix(strings.TrimSuffix(f.TypePrefix, "*"), "."); p != "" {
		where = append(where, "(type = "+a.add(p)+" OR type LIKE "+a.add(escapeLike(p)+".%")+` ESCAPE '\')`)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= "+a.add(millis(f.Since)))
	}
	if !f.Until.IsZero() {
		where = append(where, "created_at < "+a.add(millis(f.Until)))
	}
	c, err := s.acquire(ctx, s.rdb, "list events")
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, `SELECT `+eventColumns+` FROM events WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id DESC LIMIT `+strconv.Itoa(f.Limit+1), a...)
	if err != nil {
		return nil, s.fault(fmt.Errorf("list events: %w", err), false)
	}
	page, err := readPage(rows, f.Limit, scanEvent, func(ev *promptd.Event) string { return ev.ID })
	if err != nil {
		return nil, s.fault(fmt.Errorf("list events: %w", err), false)
	}
	return page, nil
}
