package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Per-prompt ordering. At a webhook with ordering per-prompt, each delivery with an ordering
// key joins its key's line with the next sequence of that line (ordering_keys). Only the
// head of a line is ever due: the others wait as pending with next_attempt_at NULL, which no
// claim selects, so a held line costs the claims nothing. A line's head is the pending or
// delivering delivery with the lowest sequence; it stays the head through its retries (a
// retry is pending with a due time) and its lease (a crash leaves it delivering until the
// lease runs out, then it is due again: never overtaken). When it succeeds, finally fails
// or is cancelled, the same transaction makes the next one due (advanceLines).
//
// Every change to a line first upserts or locks the line's ordering_keys row, in (webhook,
// key) order, so that on PostgreSQL two transactions changing one line are serialised: the
// second sees the first's deliveries and sequences follow commit order. Only the head may
// ever be due; recovered and resent deliveries therefore join the end of their line.

// line is one (webhook, ordering key) line.
type line struct {
	webhookID, key string
}

func compareLines(a, b line) int {
	return cmp.Or(strings.Compare(a.webhookID, b.webhookID), strings.Compare(a.key, b.key))
}

// takeSequences reserves n sequences at the end of l's line, locking its row until the
// transaction ends, and returns the first.
func takeSequences(ctx context.Context, tx *writeTx, l line, n int) (int64, error) {
	var last int64
	err := tx.QueryRowContext(ctx,
		`INSERT INTO ordering_keys (webhook_id, ordering_key, last_sequence) VALUES ($1, $2, $3)
		 ON CONFLICT (webhook_id, ordering_key) DO UPDATE SET last_sequence = ordering_keys.last_sequence + excluded.last_sequence
		 RETURNING last_sequence`, l.webhookID, l.key, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("taking sequences of ordering key %q: %w", l.key, err)
	}
	return last - int64(n) + 1, nil
}

// advanceLines makes the head of each line due now when it is waiting (the head before it
// finished, or it joined an empty line), locking the lines in order first. It wakes the
// engines when it made one due.
func (s *Store) advanceLines(ctx context.Context, tx *writeTx, lines []line, now time.Time) error {
	slices.SortFunc(lines, compareLines)
	lines = slices.Compact(lines)
	queued := false
	for _, l := range lines {
		if _, err := tx.ExecContext(ctx,
			`UPDATE ordering_keys SET last_sequence = last_sequence WHERE webhook_id = $1 AND ordering_key = $2`,
			l.webhookID, l.key); err != nil {
			return fmt.Errorf("locking ordering key %q: %w", l.key, err)
		}
		var (
			id   string
			next sql.NullInt64
		)
		err := tx.QueryRowContext(ctx,
			`SELECT id, next_attempt_at FROM deliveries
			 WHERE webhook_id = $1 AND ordering_key = $2 AND status IN ('pending', 'delivering')
			 ORDER BY sequence LIMIT 1`, l.webhookID, l.key).Scan(&id, &next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // the line is empty
		case err != nil:
			return fmt.Errorf("finding the head of ordering key %q: %w", l.key, err)
		case next.Valid:
			continue // the head is due, in flight or waiting for its retry
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE deliveries SET next_attempt_at = $1 WHERE id = $2`, millis(now), id); err != nil {
			return fmt.Errorf("advancing ordering key %q: %w", l.key, err)
		}
		queued = true
	}
	if queued {
		return s.queue(ctx, tx)
	}
	return nil
}

// releaseLines makes every waiting delivery of the webhook due now: its ordering went back
// to none, so its lines no longer hold anything back.
func (s *Store) releaseLines(ctx context.Context, tx *writeTx, webhookID string, now time.Time) error {
	res, err := tx.ExecContext(ctx,
		`UPDATE deliveries SET next_attempt_at = $1 WHERE webhook_id = $2 AND status = 'pending' AND next_attempt_at IS NULL`,
		millis(now), webhookID)
	if err != nil {
		return fmt.Errorf("releasing ordered deliveries: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return s.queue(ctx, tx)
	}
	return nil
}

// requeueInLines re-queues the webhook's ordered deliveries with the given ids (failed or
// cancelled ones being recovered) at the end of their lines, in their old order, and
// advances the lines. It returns how many it re-queued.
func (s *Store) requeueInLines(ctx context.Context, tx *writeTx, webhookID string, since, now time.Time) (int64, error) {
	rows, err := tx.QueryContext(ctx,
		`SELECT id, ordering_key FROM deliveries
		 WHERE webhook_id = $1 AND status IN ('failed', 'cancelled') AND created_at >= $2 AND ordering_key IS NOT NULL
		 ORDER BY ordering_key, sequence, id`, webhookID, millis(since))
	if err != nil {
		return 0, fmt.Errorf("finding ordered deliveries to recover: %w", err)
	}
	byKey := map[string][]string{}
	var keys []string
	for rows.Next() {
		var id, key string
		if err := rows.Scan(&id, &key); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finding ordered deliveries to recover: %w", err)
		}
		if _, ok := byKey[key]; !ok {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finding ordered deliveries to recover: %w", err)
	}
	var n int64
	lines := make([]line, 0, len(keys))
	for _, key := range keys { // sorted by the query: locks in order
		l := line{webhookID, key}
		ids := byKey[key]
		first, err := takeSequences(ctx, tx, l, len(ids))
		if err != nil {
			return 0, err
		}
		for i, id := range ids {
			if _, err := tx.ExecContext(ctx,
				`UPDATE deliveries SET status = 'pending', attempt_base = attempt_count, next_attempt_at = NULL, sequence = $1, updated_at = $2
				 WHERE id = $3`, first+int64(i), millis(now), id); err != nil {
				return 0, fmt.Errorf("re-queueing delivery %s: %w", id, err)
			}
			n++
		}
		lines = append(lines, l)
	}
	return n, s.advanceLines(ctx, tx, lines, now)
}

// purgeOrderingKeys deletes up to purgeBatch ordering_keys rows whose lines hold no pending
// or delivering delivery, and returns how many went. Such a line has nothing to keep in
// order: the next delivery of its key starts a new line at sequence 1, behind nothing.
//
// A line found empty may be gaining a delivery in a transaction not yet committed, which
// the finding query cannot see. So each candidate is locked first, in line order like every
// other change to lines, and the delete checks again in a statement that starts after the
// lock was granted, when such a transaction has committed (PostgreSQL's READ COMMITTED takes
// a new snapshot per statement); one that comes later waits for this one and finds no row,
// so it starts the line afresh.
func purgeOrderingKeys(ctx context.Context, tx *writeTx) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT k.webhook_id, k.ordering_key FROM ordering_keys k
		WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = k.webhook_id AND d.ordering_key = k.ordering_key
			AND d.status IN ('pending', 'delivering'))
		LIMIT `+strconv.Itoa(purgeBatch))
	if err != nil {
		return 0, fmt.Errorf("finding idle ordering keys: %w", err)
	}
	var lines []line
	for rows.Next() {
		var l line
		if err := rows.Scan(&l.webhookID, &l.key); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finding idle ordering keys: %w", err)
		}
		lines = append(lines, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finding idle ordering keys: %w", err)
	}
	slices.SortFunc(lines, compareLines)
	var n int64
	for _, l := range lines {
		if _, err := tx.ExecContext(ctx,
			`UPDATE ordering_keys SET last_sequence = last_sequence WHERE webhook_id = $1 AND ordering_key = $2`,
			l.webhookID, l.key); err != nil {
			return n, fmt.Errorf("locking ordering key %q: %w", l.key, err)
		}
		deleted, err := execCount(ctx, tx, `DELETE FROM ordering_keys WHERE webhook_id = $1 AND ordering_key = $2
			AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = $1 AND d.ordering_key = $2
				AND d.status IN ('pending', 'delivering'))`, l.webhookID, l.key)
		if err != nil {
			return n, fmt.Errorf("deleting ordering key %q: %w", l.key, err)
		}
		n += deleted
	}
	return n, nil
}
