package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promptd/promptd"
)

// Record stores the outcomes of attempts in one transaction. For each result it logs the
// attempt (always, also for a stale result) and moves the delivery to its new state, fenced
// on the claim that made the attempt (status delivering and the attempt count of the job):
// an engine whose lease ran out and was overtaken by a newer claim cannot overwrite it. It
// then keeps the webhooks' health: a failed delivery counts a consecutive failure, a
// succeeded one resets the count; a webhook that promptd.ShouldAutoDisable, or whose result
// carries a DisableReason, is disabled, its queued deliveries are cancelled and a
// webhook.disabled event is emitted (and fanned out to the webhooks subscribed to it). A
// retry recorded for a webhook that is disabled by then is cancelled. Times are the store
// clock's. See promptd.Queue.
func (s *Store) Record(ctx context.Context, results []*promptd.JobResult) error {
	for i, res := range results {
		if res == nil || res.Job == nil || res.Job.Webhook == nil {
			return promptd.Errorf(promptd.EINVALID, "record: result %d has no job", i)
		}
		switch res.Status {
		case promptd.StatusSucceeded, promptd.StatusFailed, promptd.StatusPending:
		default:
			return promptd.Errorf(promptd.EINVALID, "record: result %d has status %q, want succeeded, failed or pending", i, res.Status)
		}
	}
	if len(results) == 0 {
		return nil
	}
	return s.write(ctx, "record deliveries", func(tx *writeTx, now time.Time) error {
		applied, finished, err := updateDeliveries(ctx, tx, results, now)
		if err != nil {
			return err
		}
		if err := s.advanceLines(ctx, tx, finished, now); err != nil {
			return err
		}
		if err := insertAttempts(ctx, tx, results, applied); err != nil {
			return err
		}
		disabled, err := s.keepHealth(ctx, tx, results, applied, now)
		if err != nil {
			return err
		}
		if err := s.cancelDisabledRetries(ctx, tx, results, applied, now); err != nil {
			return err
		}
		return s.insertEvents(ctx, tx, disabled)
	})
}

// updateDeliveries moves each delivery to its result's state, fenced on its claim, and
// reports which updates applied, and the lines (see ordering.go) whose head finished. It is
// one UPDATE … FROM unnest(…) for all the results where the dialect takes arrays
// (PostgreSQL), else one UPDATE … FROM (VALUES …) per chunk of rows (see rowChunks): one
// statement, and on PostgreSQL one round trip, for many results.
func updateDeliveries(ctx context.Context, tx *writeTx, results []*promptd.JobResult, now time.Time) ([]bool, []line, error) {
	type key struct {
		id      string
		attempt int
	}
	next := func(res *promptd.JobResult) *int64 {
		if res.Status != promptd.StatusPending {
			return nil
		}
		due := res.NextAttemptAt
		if due.IsZero() {
			due = now
		}
		ms := millis(due)
		return &ms
	}
	const returning = ` RETURNING deliveries.id, deliveries.attempt_count, deliveries.webhook_id, deliveries.ordering_key, deliveries.status`
	type statement struct {
		query string
		args  []any
	}
	var statements []statement
	if tx.arrays {
		// The fence's status comes with each row (v.held) rather than as a constant: from a
		// constant the planner proves the rows to be in the partial queue index
		// (deliveries_due_idx) and, with statistics that count the queue small, reads that
		// index whole in a bitmap scan, the entries of every recently finished delivery
		// included (dead until vacuum), where the primary key finds each row at once: under
		// load that scan took milliseconds per batch. The ids also come as one array
		// (id = ANY($2)), which the primary key looks up one by one and which bounds the
		// statement to the partitions that hold them, and the statement is planned with
		// its values every time (Dialect.PlanEachTime).
		var (
			ids, statuses, errs = make([]string, len(results)), make([]string, len(results)), make([]string, len(results))
			held                = make([]string, len(results))
			nexts               = make([]*int64, len(results))
			codes, attempts     = make([]int32, len(results)), make([]int32, len(results))
		)
		for i, res := range results {
			ids[i], statuses[i], nexts[i] = res.Job.DeliveryID, res.Status, next(res)
			codes[i], errs[i], attempts[i] = int32(res.Attempt.StatusCode), storedText(res.Attempt.Error), int32(res.Job.Attempt)
			held[i] = promptd.StatusDelivering
		}
		statements = append(statements, statement{`UPDATE deliveries SET status = v.status, next_attempt_at = v.next,
				last_status_code = v.code, last_error = v.err, updated_at = $1
			FROM unnest($2::text[], $3::text[], $4::bigint[], $5::integer[], $6::text[], $7::integer[], $8::text[])
				AS v(id, status, next, code, err, attempt, held)
			WHERE deliveries.id = ANY($2) AND deliveries.id = v.id
				AND deliveries.status = v.held AND deliveries.attempt_count = v.attempt` + returning,
			tx.planned(millis(now), ids, statuses, nexts, codes, errs, attempts, held)})
	} else {
		for chunk := range inRowChunks(results) {
			var a args
			nowP := a.add(millis(now))
			values := make([]string, len(chunk))
			for i, res := range chunk {
				var due any
				if n := next(res); n != nil {
					due = *n
				}
				values[i] = "(CAST(" + a.add(res.Job.DeliveryID) + " AS TEXT), CAST(" + a.add(res.Status) + " AS TEXT), CAST(" +
					a.add(due) + " AS BIGINT), CAST(" + a.add(res.Attempt.StatusCode) + " AS INTEGER), CAST(" +
					a.add(storedText(res.Attempt.Error)) + " AS TEXT), CAST(" + a.add(res.Job.Attempt) + " AS INTEGER))"
			}
			statements = append(statements, statement{`UPDATE deliveries SET status = v.column2, next_attempt_at = v.column3,
					last_status_code = v.column4, last_error = v.column5, updated_at = ` + nowP + `
				FROM (VALUES ` + strings.Join(values, ", ") + `) AS v
				WHERE deliveries.id = v.column1 AND deliveries.status = 'delivering' AND deliveries.attempt_count = v.column6` + returning, a})
		}
	}
	applied := make([]bool, len(results))
	done := make(map[key]bool, len(results))
	var finished []line
	for _, st := range statements {
		rows, err := tx.QueryContext(ctx, st.query, st.args...)
		if err != nil {
			return nil, nil, fmt.Errorf("updating deliveries: %w", err)
		}
		for rows.Next() {
			var (
				k                 key
				webhookID, status string
				orderingKey       sql.NullString
			)
			if err := rows.Scan(&k.id, &k.attempt, &webhookID, &orderingKey, &status); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("updating deliveries: %w", err)
			}
			done[k] = true
			if orderingKey.Valid && status != promptd.StatusPending {
				finished = append(finished, line{webhookID, orderingKey.String})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("updating deliveries: %w", err)
		}
	}
	for i, res := range results {
		k := key{res.Job.DeliveryID, res.Job.Attempt}
		applied[i] = done[k]
		delete(done, k) // a result recorded twice applies once
	}
	return applied, finished, nil
}

// attemptsPerInsert bounds the rows of one INSERT into attempts, and the ids of one IN list
// (small: SQLite looks up each $N placeholder in a linear list while it parses, so a
// statement's parse time grows with the square of its placeholders).
const attemptsPerInsert = 32

// insertAttempts logs the attempts of the results whose delivery still exists (a delivery
// whose webhook was deleted while it was in flight is gone, and so is its log), each
// attempt once: a result that did not apply is logged only when its delivery has no
// attempt of the same number started at the same time yet. That is a result recorded again
// — the journal's replay of one whose commit a kill -9 overtook, or the same result twice —
// not an attempt of a lease that ran out (logged, though it no longer moves the delivery).
func insertAttempts(ctx context.Context, tx *writeTx, results []*promptd.JobResult, applied []bool) error {
	type attemptKey struct {
		delivery string
		number   int
		started  int64
	}
	keyOf := func(res *promptd.JobResult) attemptKey {
		return attemptKey{res.Job.DeliveryID, res.Attempt.Number, millis(res.Attempt.StartedAt)}
	}
	var stale []string
	for i, res := range results {
		if !applied[i] {
			stale = append(stale, res.Job.DeliveryID)
		}
	}
	exists, logged := map[string]bool{}, map[attemptKey]bool{}
	for chunk := range slices.Chunk(stale, attemptsPerInsert) {
		var a args
		rows, err := tx.QueryContext(ctx, `SELECT d.id, a.number, a.started_at FROM deliveries d
			LEFT JOIN attempts a ON a.delivery_id = d.id WHERE d.id IN `+a.in(chunk), a...)
		if err != nil {
			return fmt.Errorf("looking up stale deliveries: %w", err)
		}
		for rows.Next() {
			var (
				id      string
				number  sql.NullInt64
				started sql.NullInt64
			)
			if err := rows.Scan(&id, &number, &started); err != nil {
				rows.Close()
				return fmt.Errorf("looking up stale deliveries: %w", err)
			}
			exists[id] = true
			if number.Valid {
				logged[attemptKey{id, int(number.Int64), started.Int64}] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("looking up stale deliveries: %w", err)
		}
	}
	var keep []*promptd.JobResult
	for i, res := range results {
		k := keyOf(res)
		if applied[i] || (exists[k.delivery] && !logged[k]) {
			keep = append(keep, res)
			logged[k] = true // the same result twice in one batch is logged once
		}
	}
	if tx.arrays {
		return insertAttemptArrays(ctx, tx, keep)
	}
	for chunk := range inRowChunks(keep) {
		var a args
		values := make([]string, len(chunk))
		for i, res := range chunk {
			at := res.Attempt
			values[i] = "(" + strings.Join([]string{
				a.add(newID()), a.add(res.Job.DeliveryID), a.add(at.Number), a.add(millis(at.StartedAt)), a.add(at.DurationMs),
				a.add(storedText(at.URL)), a.add(storedHeaders(at.RequestHeaders, at.RequestHeadersJSON)), a.add(at.StatusCode),
				a.add(storedHeaders(at.ResponseHeaders, at.ResponseHeadersJSON)), a.add(storedText(at.ResponseBody)), a.add(storedText(at.Error)),
				a.add(requestBody(at.RequestBody)),
			}, ", ") + ")"
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, url, request_headers, status_code,
				response_headers, response_body, error, request_body) VALUES `+strings.Join(values, ", "), a...); err != nil {
			return fmt.Errorf("logging attempts: %w", err)
		}
	}
	return nil
}

// insertAttemptArrays logs the results' attempts with one INSERT … SELECT FROM unnest(…)
// (Dialect.ArrayParams).
func insertAttemptArrays(ctx context.Context, tx *writeTx, results []*promptd.JobResult) error {
	if len(results) == 0 {
		return nil
	}
	n := len(results)
	var (
		ids, deliveryIDs, urls  = make([]string, n), make([]string, n), make([]string, n)
		reqHeaders, respHeaders = make([]string, n), make([]string, n)
		respBodies, errs        = make([]string, n), make([]string, n)
		numbers, codes          = make([]int32, n), make([]int32, n)
		started, durations      = make([]int64, n), make([]int64, n)
		reqBodies               = make([][]byte, n)
	)
	for i, res := range results {
		at := res.Attempt
		ids[i], deliveryIDs[i], numbers[i] = newID(), res.Job.DeliveryID, int32(at.Number)
		started[i], durations[i], urls[i] = millis(at.StartedAt), at.DurationMs, storedText(at.URL)
		reqHeaders[i], codes[i], respHeaders[i] = storedHeaders(at.RequestHeaders, at.RequestHeadersJSON), int32(at.StatusCode),
			storedHeaders(at.ResponseHeaders, at.ResponseHeadersJSON)
		respBodies[i], errs[i] = storedText(at.ResponseBody), storedText(at.Error)
		if at.RequestBody != "" {
			reqBodies[i] = []byte(at.RequestBody)
		}
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, url, request_headers, status_code,
			response_headers, response_body, error, request_body)
		 SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
			$8::integer[], $9::text[], $10::text[], $11::text[], $12::bytea[])`,
		ids, deliveryIDs, numbers, started, durations, urls, reqHeaders, codes, respHeaders, respBodies, errs, reqBodies); err != nil {
		return fmt.Errorf("logging attempts: %w", err)
	}
	return nil
}

// requestBody is how an attempt's request body is stored: NULL when it was the event's
// payload (empty).
func requestBody(b string) any {
	if b == "" {
		return nil
	}
	return []byte(b)
}

// storedText makes s storable as text in every database: valid UTF-8 without NUL bytes
// (which PostgreSQL text refuses), each offending byte replaced by U+FFFD.
func storedText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// storedHeaders is how an attempt's headers h are stored: as the engine encoded them
// (Attempt.RequestHeadersJSON: json.Marshal's bytes, valid UTF-8 already) unless it did not or
// they hold a NUL, which json.Marshal escapes and headersJSON cleans; else headersJSON(h).
func storedHeaders(h map[string]string, encoded string) string {
	if encoded != "" && !strings.Contains(encoded, `\u0000`) {
		return encoded
	}
	return headersJSON(h)
}

// headersJSON encodes logged headers as a JSON object with sorted keys, made storable (see
// storedText). It writes the bytes encoding/json would, without its reflection: every
// attempt logs two header maps, in the committer's transaction.
func headersJSON(h map[string]string) string {
	if len(h) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(h))
	size := 2
	for k, v := range h {
		if storedText(k) != k { // rare: cleaned keys may collide, and sort otherwise
			clean := make(map[string]string, len(h))
			for k, v := range h {
				clean[storedText(k)] = storedText(v)
			}
			enc, _ := json.Marshal(clean) // a map of strings always encodes
			return string(enc)
		}
		keys = append(keys, k)
		size += len(k) + len(v) + 6
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		appendJSONString(&b, k)
		b.WriteByte(':')
		appendJSONString(&b, storedText(h[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// appendJSONString writes s as a JSON string: as it is when it holds nothing to escape, and
// through encoding/json (escaping as it does) otherwise.
func appendJSONString(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // a string always encodes
			b.Write(enc)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
