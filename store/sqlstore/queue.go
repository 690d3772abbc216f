package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/promptd/promptd"
)

// The queue lives in the deliveries table. A delivery is due when its status is pending or
// delivering and next_attempt_at has passed: for a pending delivery that is its due time, for
// a delivering one the end of its lease, so work whose engine died comes back by itself. The
// queue is read per webhook, through deliveries_due_idx (webhook_id, next_attempt_at): the
// deliveries an engine may take are those of enabled webhooks, and test deliveries, which go
// to their webhook whatever its state.

// claimedColumns are what a claim returns of each leased delivery.
const claimedColumns = `id, project_id, webhook_id, event_id, event_type, attempt_count`

type claimedRow struct {
	id, projectID, webhookID, eventID, eventType string
	attempt                                      int
}

func scanClaimed(rows *sql.Rows) ([]claimedRow, error) {
	defer rows.Close()
	var out []claimedRow
	for rows.Next() {
		var c claimedRow
		if err := rows.Scan(&c.id, &c.projectID, &c.webhookID, &c.eventID, &c.eventType, &c.attempt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// queuedHook is a webhook as a claim sees it.
type queuedHook struct {
	id          string
	enabled     bool
	maxInFlight int
	revision    int64
}

// dueOf selects, oldest due first, a webhook's due deliveries ($1 the webhook, $2 now, $3 how
// many at most); dueTestsOf the same for a disabled webhook, whose test deliveries only are
// claimable.
const (
	dueOf = `SELECT id, next_attempt_at FROM deliveries
		WHERE webhook_id = $1 AND status IN ('pending', 'delivering') AND next_attempt_at <= $2
		ORDER BY next_attempt_at LIMIT $3`
	dueTestsOf = `SELECT id, next_attempt_at FROM deliveries
		WHERE webhook_id = $1 AND status IN ('pending', 'delivering') AND next_attempt_at <= $2
		AND event_type = '` + promptd.EventWebhookTest + `'
		ORDER BY next_attempt_at LIMIT $3`
)

// idsPerStatement bounds the ids of one IN list of a claim (padded, see inPadded): a
// claim of the engine's default batch takes one statement per step.
const idsPerStatement = 256

// candidate is a due delivery a claim may lease.
type candidate struct {
	id  string
	due int64
}

// Claim leases up to r.Limit due deliveries (pending and due, or delivering with an expired
// lease), taking from each webhook at most r.Free[webhook] (or, for a webhook not in r.Free,
// its MaxInFlight) of its oldest due ones and, over all webhooks, the oldest due first. It
// returns them as jobs: status delivering, next_attempt_at the end of the lease, attempt
// count incremented. Concurrent claims never lease one delivery twice: on PostgreSQL they
// skip each other's locked rows, on SQLite write transactions are serialised. Jobs of one
// webhook share one *promptd.Webhook, which callers must not modify. Returns EINTERNAL when
// no secret box is set. See promptd.Queue.
//
// A claim costs one index probe per webhook (deliveries_due_idx) however long the queue is.
func (s *Store) Claim(ctx context.Context, r promptd.ClaimRequest) ([]*promptd.Job, error) {
	if r.Limit <= 0 {
		return nil, nil
	}
	if r.Lease <= 0 {
		return nil, promptd.Errorf(promptd.EINVALID, "claim: the lease must be positive, got %s", r.Lease)
	}
	if _, err := s.secretBox(); err != nil {
		return nil, err
	}
	now := r.Now
	if now.IsZero() {
		now = s.clock()
	}
	var jobs []*promptd.Job
	err := s.write(ctx, "claim deliveries", func(tx *writeTx, _ time.Time) error {
		hooks, err := queuedHooks(ctx, tx)
		if err != nil {
			return err
		}
		var cands []candidate
		for _, h := range hooks {
			n := h.maxInFlight
			if free, ok := r.Free[h.id]; ok {
				n = free
			}
			if n = min(n, r.Limit); n <= 0 {
				continue
			}
			q := dueOf
			if !h.enabled {
				q = dueTestsOf
			}
			if cands, err = appendDue(ctx, tx, cands, q+s.d.SkipLocked, h.id, millis(now), n); err != nil {
				return err
			}
		}
		if len(cands) == 0 {
			return nil
		}
		if len(hooks) > 1 {
			slices.SortFunc(cands, func(a, b candidate) int {
				return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.id, b.id))
			})
		}
		cands = cands[:min(len(cands), r.Limit)]
		claimed, err := lease(ctx, tx, cands, now, r.Lease)
		if err != nil {
			return err
		}
		revisions := make(map[string]int64, len(hooks))
		for _, h := range hooks {
			revisions[h.id] = h.revision
		}
		jobs, err = s.buildJobs(ctx, tx, claimed, revisions, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return jobs, nil
}

// queuedHooks returns every webhook, in id order.
func queuedHooks(ctx context.Context, tx *writeTx) ([]queuedHook, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, enabled, max_in_flight, revision FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("loading webhooks: %w", err)
	}
	defer rows.Close()
	var hooks []queuedHook
	for rows.Next() {
		var h queuedHook
		if err := rows.Scan(&h.id, &h.enabled, &h.maxInFlight, &h.revision); err != nil {
			return nil, fmt.Errorf("loading webhooks: %w", err)
		}
		hooks = append(hooks, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading webhooks: %w", err)
	}
	return hooks, nil
}

// appendDue appends to cands what query (dueOf or dueTestsOf) selects.
func appendDue(ctx context.Context, tx *writeTx, cands []candidate, query, webhookID string, now int64, n int) ([]candidate, error) {
	rows, err := tx.QueryContext(ctx, query, webhookID, now, n)
	if err != nil {
		return nil, fmt.Errorf("finding due deliveries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.due); err != nil {
			return nil, fmt.Errorf("finding due deliveries: %w", err)
		}
		cands = append(cands, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding due deliveries: %w", err)
	}
	return cands, nil
}

// lease marks the candidates delivering until now+lease and counts their attempt, and
// returns them in the candidates' order.
func lease(ctx context.Context, tx *writeTx, cands []candidate, now time.Time, lease time.Duration) ([]claimedRow, error) {
	ids := make([]string, len(cands))
	order := make(map[string]int, len(cands))
	for i, c := range cands {
		ids[i] = c.id
		order[c.id] = i
	}
	claimed := make([]claimedRow, 0, len(cands))
	for chunk := range slices.Chunk(ids, idsPerStatement) {
		var a args
		nowP, leaseP := a.add(millis(now)), a.add(millis(now.Add(lease)))
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET status = 'delivering', next_attempt_at = `+leaseP+`,
				attempt_count = attempt_count + 1, updated_at = `+nowP+`
			WHERE id IN `+a.inPadded(chunk)+` RETURNING `+claimedColumns, a...)
		if err != nil {
			return nil, fmt.Errorf("leasing: %w", err)
		}
		got, err := scanClaimed(rows)
		if err != nil {
			return nil, fmt.Errorf("leasing: %w", err)
		}
		claimed = append(claimed, got...)
	}
	slices.SortFunc(claimed, func(a, b claimedRow) int { return cmp.Compare(order[a.id], order[b.id]) })
	return claimed, nil
}

// ClaimDelivery leases one pending delivery by id, whatever its due time and its webhook's
// state. Returns ENOTFOUND, ECONFLICT when it is not pending, or EINTERNAL when no secret box
// is set. See promptd.Queue.
func (s *Store) ClaimDelivery(ctx context.Context, id string, now time.Time, lease time.Duration) (*promptd.Job, error) {
	if lease <= 0 {
		return nil, promptd.Errorf(promptd.EINVALID, "claim: the lease must be positive, got %s", lease)
	}
	if _, err := s.secretBox(); err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = s.clock()
	}
	var jobs []*promptd.Job
	err := s.write(ctx, "claim delivery", func(tx *writeTx, _ time.Time) error {
		rows, err := tx.QueryContext(ctx,
			`UPDATE deliveries SET status = 'delivering', next_attempt_at = $1, attempt_count = attempt_count + 1, updated_at = $2
			 WHERE id = $3 AND status = 'pending' RETURNING `+claimedColumns,
			millis(now.Add(lease)), millis(now), id)
		if err != nil {
			return fmt.Errorf("leasing: %w", err)
		}
		claimed, err := scanClaimed(rows)
		if err != nil {
			return err
		}
		if len(claimed) == 1 {
			jobs, err = s.buildJobs(ctx, tx, claimed, nil, now)
			return err
		}
		var status string
		err = tx.QueryRowContext(ctx, `SELECT status FROM deliveries WHERE id = $1`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return deliveryNotFound(id)
		}
		if err != nil {
			return fmt.Errorf("loading delivery: %w", err)
		}
		return promptd.Errorf(promptd.ECONFLICT, "delivery %q is %s, not pending", id, status)
	})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 { // its webhook was deleted meanwhile, and the delivery with it
		return nil, deliveryNotFound(id)
	}
	return jobs[0], nil
}

// buildJobs turns leased deliveries into jobs, in the claim's transaction: it reads the
// events' payloads and takes the webhooks' settings and secrets from the cache when it holds
// their revision (revisions, when given, are the webhooks' current ones), decrypting only
// the others. A delivery whose webhook is gone yields no job.
func (s *Store) buildJobs(ctx context.Context, tx *writeTx, claimed []claimedRow, revisions map[string]int64, now time.Time) ([]*promptd.Job, error) {
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	var (
		eventIDs, hookIDs []string
		payloads          = map[string][]byte{}
	)
	for _, c := range claimed {
		if _, ok := payloads[c.eventID]; !ok {
			payloads[c.eventID] = nil
			eventIDs = append(eventIDs, c.eventID)
		}
		if !slices.Contains(hookIDs, c.webhookID) {
			hookIDs = append(hookIDs, c.webhookID)
		}
	}
	for chunk := range slices.Chunk(eventIDs, idsPerStatement) {
		var a args
		rows, err := tx.QueryContext(ctx, `SELECT id, payload FROM events WHERE id IN `+a.inPadded(chunk), a...)
		if err != nil {
			return nil, fmt.Errorf("loading payloads: %w", err)
		}
		for rows.Next() {
			var (
				id      string
				payload []byte
			)
			if err := rows.Scan(&id, &payload); err != nil {
				rows.Close()
				return nil, fmt.Errorf("loading payloads: %w", err)
			}
			payloads[id] = payload
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("loading payloads: %w", err)
		}
	}
	configs, err := s.hookConfigs(ctx, tx, box, hookIDs, revisions)
	if err != nil {
		return nil, err
	}
	secrets := make(map[string][]string, len(configs))
	jobs := make([]*promptd.Job, 0, len(claimed))
	for _, c := range claimed {
		cfg := configs[c.webhookID]
		if cfg == nil {
			continue
		}
		payload := payloads[c.eventID]
		if payload == nil {
			return nil, fmt.Errorf("delivery %s: event %s is missing", c.id, c.eventID)
		}
		ks, ok := secrets[c.webhookID]
		if !ok {
			ks = cfg.secretsAt(now)
			secrets[c.webhookID] = ks
		}
		jobs = append(jobs, &promptd.Job{
			DeliveryID: c.id, ProjectID: c.projectID, EventID: c.eventID, EventType: c.eventType,
			Attempt: c.attempt, Payload: payload, Webhook: cfg.webhook, Secrets: ks,
		})
	}
	return jobs, nil
}

// hookConfigs returns the decrypted settings and secrets of the webhooks that still exist,
// from the cache when it holds their current revision. revisions, when not nil, holds the
// current revisions (read in the same transaction); otherwise they are read here.
func (s *Store) hookConfigs(ctx context.Context, tx *writeTx, box SecretBox, ids []string, revisions map[string]int64) (map[string]*hookConfig, error) {
	out := make(map[string]*hookConfig, len(ids))
	if revisions == nil {
		revisions = map[string]int64{}
		var a args
		rows, err := tx.QueryContext(ctx, `SELECT id, revision FROM webhooks WHERE id IN `+a.in(ids), a...)
		if err != nil {
			return nil, fmt.Errorf("loading webhooks: %w", err)
		}
		for rows.Next() {
			var (
				id  string
				rev int64
			)
			if err := rows.Scan(&id, &rev); err != nil {
				rows.Close()
				return nil, fmt.Errorf("loading webhooks: %w", err)
			}
			revisions[id] = rev
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("loading webhooks: %w", err)
		}
	}
	var missing []string
	for _, id := range ids {
		rev, ok := revisions[id]
		if !ok {
			continue // deleted
		}
		if cfg := s.hooks.config(id, rev); cfg != nil {
			out[id] = cfg
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}

	var a args
	rows, err := tx.QueryContext(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id IN `+a.in(missing), a...)
	if err != nil {
		return nil, fmt.Errorf("loading webhooks: %w", err)
	}
	loaded := map[string]*hookConfig{}
	for rows.Next() {
		r, err := scanWebhook(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("loading webhooks: %w", err)
		}
		w, err := r.open(box)
		if err != nil {
			rows.Close()
			return nil, err
		}
		loaded[w.ID] = &hookConfig{revision: r.revision, webhook: w}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading webhooks: %w", err)
	}

	a = nil
	rows, err = tx.QueryContext(ctx, `SELECT `+secretColumns+` FROM webhook_secrets WHERE webhook_id IN `+a.in(missing)+secretOrder, a...)
	if err != nil {
		return nil, fmt.Errorf("loading secrets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		id, k, err := scanSecret(rows, box)
		if err != nil {
			return nil, fmt.Errorf("loading secrets: %w", err)
		}
		if cfg := loaded[id]; cfg != nil {
			cfg.secrets = append(cfg.secrets, k)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading secrets: %w", err)
	}
	for id, cfg := range loaded {
		s.hooks.putConfig(id, cfg)
		out[id] = cfg
	}
	return out, nil
}

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
// reports which updates applied, and the lines (see ordering.go) whose head finished. It takes the results rowChunks at a time, one UPDATE … FROM
// (VALUES …) each: one statement (and on PostgreSQL one round trip) for many results.
func updateDeliveries(ctx context.Context, tx *writeTx, results []*promptd.JobResult, now time.Time) ([]bool, []line, error) {
	type key struct {
		id      string
		attempt int
	}
	applied := make([]bool, len(results))
	done := make(map[key]bool, len(results))
	var finished []line
	for chunk := range inRowChunks(results) {
		var a args
		nowP := a.add(millis(now))
		values := make([]string, len(chunk))
		for i, res := range chunk {
			var next any
			if res.Status == promptd.StatusPending {
				due := res.NextAttemptAt
				if due.IsZero() {
					due = now
				}
				next = millis(due)
			}
			values[i] = "(CAST(" + a.add(res.Job.DeliveryID) + " AS TEXT), CAST(" + a.add(res.Status) + " AS TEXT), CAST(" +
				a.add(next) + " AS BIGINT), CAST(" + a.add(res.Attempt.StatusCode) + " AS INTEGER), CAST(" +
				a.add(storedText(res.Attempt.Error)) + " AS TEXT), CAST(" + a.add(res.Job.Attempt) + " AS INTEGER))"
		}
		rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET status = v.column2, next_attempt_at = v.column3,
				last_status_code = v.column4, last_error = v.column5, updated_at = `+nowP+`
			FROM (VALUES `+strings.Join(values, ", ")+`) AS v
			WHERE deliveries.id = v.column1 AND deliveries.status = 'delivering' AND deliveries.attempt_count = v.column6
			RETURNING deliveries.id, deliveries.attempt_count, deliveries.webhook_id, deliveries.ordering_key, deliveries.status`, a...)
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
// whose webhook was deleted while it was in flight is gone, and so is its log).
func insertAttempts(ctx context.Context, tx *writeTx, results []*promptd.JobResult, applied []bool) error {
	var stale []string
	for i, res := range results {
		if !applied[i] {
			stale = append(stale, res.Job.DeliveryID)
		}
	}
	exists := map[string]bool{}
	for chunk := range slices.Chunk(stale, attemptsPerInsert) {
		var a args
		rows, err := tx.QueryContext(ctx, `SELECT id FROM deliveries WHERE id IN `+a.in(chunk), a...)
		if err != nil {
			return fmt.Errorf("looking up stale deliveries: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("looking up stale deliveries: %w", err)
			}
			exists[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("looking up stale deliveries: %w", err)
		}
	}
	var keep []*promptd.JobResult
	for i, res := range results {
		if applied[i] || exists[res.Job.DeliveryID] {
			keep = append(keep, res)
		}
	}
	for chunk := range inRowChunks(keep) {
		var a args
		values := make([]string, len(chunk))
		for i, res := range chunk {
			at := res.Attempt
			values[i] = "(" + strings.Join([]string{
				a.add(newID()), a.add(res.Job.DeliveryID), a.add(at.Number), a.add(millis(at.StartedAt)), a.add(at.DurationMs),
				a.add(storedText(at.URL)), a.add(headersJSON(at.RequestHeaders)), a.add(at.StatusCode),
				a.add(headersJSON(at.ResponseHeaders)), a.add(storedText(at.ResponseBody)), a.add(storedText(at.Error)),
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

// health is what one Record batch did to one webhook's health.
type health struct {
	projectID     string
	reset         bool // a delivery succeeded: the failures before it no longer count
	failures      int  // failed deliveries (after the last success)
	disableReason string
}

// keepHealth applies the results to their webhooks' failure counts, disables the webhooks
// that must be, and returns their webhook.disabled events. Webhooks are updated in id order
// so that concurrent batches lock them in the same order.
func (s *Store) keepHealth(ctx context.Context, tx *writeTx, results []*promptd.JobResult, applied []bool, now time.Time) ([]*promptd.Event, error) {
	byHook := map[string]*health{}
	for i, res := range results {
		id := res.Job.Webhook.ID
		h := byHook[id]
		if h == nil {
			h = &health{projectID: res.Job.ProjectID}
			byHook[id] = h
		}
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
		}
	}
	return events, nil
}

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

// purgeBatch bounds the rows one purge transaction deletes, so that a large purge never holds
// the database (SQLite's single writer) for long.
const purgeBatch = 1000

// Purge deletes, in batches of short transactions: idempotency keys older than
// promptd.IdempotencyWindow; finished (succeeded, failed, cancelled) deliveries last updated
// before before, with their attempts; and events created before before that have no delivery
// and no live idempotency key left. It returns how many rows went. Where the dialect has a
// TryPurgeLock, a process that does not get it returns at once: one instance purges at a
// time. See promptd.Queue.
func (s *Store) Purge(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	steps := []func(tx *writeTx, now time.Time) (int64, error){
		func(tx *writeTx, now time.Time) (int64, error) {
			return execCount(ctx, tx, `DELETE FROM idempotency_keys WHERE (project_id, idem_key) IN (
				SELECT project_id, idem_key FROM idempotency_keys WHERE created_at < $1 LIMIT `+strconv.Itoa(purgeBatch)+`)`,
				millis(now.Add(-promptd.IdempotencyWindow)))
		},
		func(tx *writeTx, _ time.Time) (int64, error) {
			// Walk the primary key from the oldest: a delivery last updated before the
			// cutoff was created before it, and ids (UUIDv7) sort by creation time.
			rows, err := tx.QueryContext(ctx, `SELECT id FROM deliveries
				WHERE id < $1 AND status IN ('succeeded', 'failed', 'cancelled') AND updated_at < $2
				ORDER BY id LIMIT `+strconv.Itoa(purgeBatch), idBefore(before), millis(before))
			if err != nil {
				return 0, err
			}
			var ids []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return 0, err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(ids) == 0 {
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
			return execCount(ctx, tx, `DELETE FROM events WHERE id IN (
				SELECT e.id FROM events e WHERE e.created_at < $1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)
				AND NOT EXISTS (SELECT 1 FROM idempotency_keys k WHERE k.event_id = e.id)
				LIMIT `+strconv.Itoa(purgeBatch)+`)`, millis(before))
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
				return total, err
			}
			if !locked {
				return total, nil
			}
			total += n
			if n < purgeBatch {
				break
			}
		}
	}
	return total, nil
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
