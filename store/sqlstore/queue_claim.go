package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/promptd/promptd"
)

// claimedColumns are what a claim returns of each leased delivery.
const claimedColumns = `id, project_id, webhook_id, event_id, event_type, attempt_count, attempt_base, target, format, format_options`

type claimedRow struct {
	id, projectID, webhookID, eventID, eventType string
	attempt, attemptBase                         int
	target                                       string
	// format and formatOptions are the webhook's payload format and options when the
	// delivery was queued; NULL for deliveries that take the webhook's current ones.
	format, formatOptions sql.NullString
}

func scanClaimed(rows *sql.Rows) ([]claimedRow, error) {
	defer rows.Close()
	var out []claimedRow
	for rows.Next() {
		var c claimedRow
		if err := rows.Scan(&c.id, &c.projectID, &c.webhookID, &c.eventID, &c.eventType, &c.attempt, &c.attemptBase, &c.target, &c.format, &c.formatOptions); err != nil {
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
// A claim costs one index probe per webhook (deliveries_due_idx) however long the queue is;
// on PostgreSQL (Dialect.ArrayParams) it selects and leases in one statement (leaseDue).
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
		var (
			cands []candidate
			want  []hookWant
		)
		for _, h := range hooks {
			n := h.maxInFlight
			if free, ok := r.Free[h.id]; ok {
				n = free
			}
			if n = min(n, r.Limit); n <= 0 {
				continue
			}
			if tx.arrays {
				want = append(want, hookWant{h.id, n, !h.enabled})
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
		var claimed []claimedRow
		if tx.arrays {
			if claimed, err = leaseDue(ctx, tx, want, now, r.Lease, r.Limit); err != nil {
				return err
			}
		} else {
			if len(cands) == 0 {
				return nil
			}
			if len(hooks) > 1 {
				slices.SortFunc(cands, func(a, b candidate) int {
					return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.id, b.id))
				})
			}
			cands = cands[:min(len(cands), r.Limit)]
			if claimed, err = lease(ctx, tx, cands, now, r.Lease); err != nil {
				return err
			}
		}
		if len(claimed) == 0 {
			return nil
		}
		revisions := make(map[string]int64, len(hooks))
		for _, h := range hooks {
			revisions[h.id] = h.revision
		}
		if jobs, err = s.buildJobs(ctx, tx, claimed, revisions, now); err != nil {
			return err
		}
		if r.Leasing != nil && len(jobs) > 0 {
			r.Leasing(jobs)
		}
		return nil
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

// hookWant is how many due deliveries a claim takes at most from one webhook, and whether
// only its test deliveries (it is disabled).
type hookWant struct {
	id        string
	n         int
	testsOnly bool
}

// leaseDue is the claim in one statement, for dialects that take arrays (PostgreSQL): for
// each webhook its n oldest due deliveries, locked and skipping those other claims hold,
// the oldest limit of them over all webhooks leased (delivering until now+lease, attempt
// counted). It returns them oldest due first.
func leaseDue(ctx context.Context, tx *writeTx, want []hookWant, now time.Time, lease time.Duration, limit int) ([]claimedRow, error) {
	if len(want) == 0 {
		return nil, nil
	}
	ids, ns, testsOnly := make([]string, len(want)), make([]int32, len(want)), make([]bool, len(want))
	for i, w := range want {
		ids[i], ns[i], testsOnly[i] = w.id, int32(w.n), w.testsOnly
	}
	rows, err := tx.QueryContext(ctx, `UPDATE deliveries SET status = 'delivering', next_attempt_at = $1,
			attempt_count = deliveries.attempt_count + 1, updated_at = $2
		FROM (SELECT c.id, c.due FROM unnest($3::text[], $4::integer[], $5::boolean[]) AS h(id, n, tests_only),
			LATERAL (SELECT d.id, d.next_attempt_at AS due FROM deliveries d
				WHERE d.webhook_id = h.id AND d.status IN ('pending', 'delivering') AND d.next_attempt_at <= $2
				AND (NOT h.tests_only OR d.event_type = '`+promptd.EventWebhookTest+`')
				ORDER BY d.next_attempt_at LIMIT h.n FOR UPDATE OF d SKIP LOCKED) AS c
			ORDER BY c.due, c.id LIMIT $6) AS c
		WHERE deliveries.id = c.id
		RETURNING deliveries.id, deliveries.project_id, deliveries.webhook_id, deliveries.event_id, deliveries.event_type,
			deliveries.attempt_count, deliveries.attempt_base, deliveries.target, deliveries.format, deliveries.format_options, c.due`,
		millis(now.Add(lease)), millis(now), ids, ns, testsOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("leasing: %w", err)
	}
	defer rows.Close()
	type leased struct {
		claimedRow
		due int64
	}
	var got []leased
	for rows.Next() {
		var l leased
		if err := rows.Scan(&l.id, &l.projectID, &l.webhookID, &l.eventID, &l.eventType, &l.attempt, &l.attemptBase, &l.target, &l.format, &l.formatOptions, &l.due); err != nil {
			return nil, fmt.Errorf("leasing: %w", err)
		}
		got = append(got, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leasing: %w", err)
	}
	slices.SortFunc(got, func(a, b leased) int { return cmp.Or(cmp.Compare(a.due, b.due), strings.Compare(a.id, b.id)) })
	out := make([]claimedRow, len(got))
	for i, l := range got {
		out[i] = l.claimedRow
	}
	return out, nil
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
// events' payloads, then makes the jobs (jobsOf).
func (s *Store) buildJobs(ctx context.Context, tx *writeTx, claimed []claimedRow, revisions map[string]int64, now time.Time) ([]*promptd.Job, error) {
	var (
		eventIDs []string
		payloads = map[string][]byte{}
	)
	for _, c := range claimed {
		if _, ok := payloads[c.eventID]; !ok {
			payloads[c.eventID] = nil
			eventIDs = append(eventIDs, c.eventID)
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
	return s.jobsOf(ctx, tx, claimed, payloads, revisions, now)
}

// jobsOf makes the jobs of leased deliveries whose events' payloads are known: the
// webhooks' settings and secrets come from the cache when it holds their revision
// (revisions, when given, are the webhooks' current ones), decrypting only the others, in
// the payload format each delivery was queued in. A delivery whose webhook is gone yields
// no job.
func (s *Store) jobsOf(ctx context.Context, tx *writeTx, claimed []claimedRow, payloads map[string][]byte, revisions map[string]int64, now time.Time) ([]*promptd.Job, error) {
	box, err := s.secretBox()
	if err != nil {
		return nil, err
	}
	var hookIDs []string
	for _, c := range claimed {
		if !slices.Contains(hookIDs, c.webhookID) {
			hookIDs = append(hookIDs, c.webhookID)
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
		w, err := queuedFormat(cfg, c)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, &promptd.Job{
			DeliveryID: c.id, ProjectID: c.projectID, EventID: c.eventID, EventType: c.eventType,
			Attempt: c.attempt, AttemptBase: c.attemptBase, Target: c.target, Payload: payload, Webhook: w, Secrets: ks,
		})
	}
	return jobs, nil
}

// queuedFormat returns the webhook settings delivery c is sent with: the webhook's, in the
// payload format and options it had when c was queued. Changing a webhook's format thus
// never changes the deliveries already queued, nor their retries. Only a delivery queued
// under another format than the current one gets a copy of the (shared) settings.
func queuedFormat(cfg *hookConfig, c claimedRow) (*promptd.Webhook, error) {
	if !c.format.Valid || c.format.String == cfg.webhook.Format && c.formatOptions.String == cfg.formatOptions {
		return cfg.webhook, nil
	}
	w := *cfg.webhook
	w.Format, w.FormatOptions = c.format.String, promptd.FormatOptions{}
	if err := json.Unmarshal([]byte(c.formatOptions.String), &w.FormatOptions); err != nil {
		return nil, fmt.Errorf("delivery %s: decoding its format options: %w", c.id, err)
	}
	return &w, nil
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
		options, err := json.Marshal(w.FormatOptions)
		if err != nil {
			rows.Close()
			return nil, err
		}
		loaded[w.ID] = &hookConfig{revision: r.revision, webhook: w, formatOptions: string(options)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading webhooks: %w", err)
	}

	if err := slackTokens(ctx, tx, box, loaded); err != nil {
		return nil, err
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
