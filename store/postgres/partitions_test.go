package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/store/storetest"
)

// partEnv is a migrated schema with a project, a webhook and an event to hang raw delivery
// rows on, and a raw connection to it.
type partEnv struct {
	s       *sqlstore.Store
	raw     *sql.DB
	project string
	webhook string
	event   string
}

func newPartEnv(t *testing.T) *partEnv {
	t.Helper()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := open(t, url)
	s.SetSecretBox(storetest.NewSecretBox(t))
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	w := &promptd.Webhook{Name: "hook", URL: "https://hooks.example.com/hook", Enabled: true}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	w, err = s.CreateWebhook(ctx, p.ID, w, promptd.NewWebhookSecret())
	if err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "a.b"})
	if err != nil {
		t.Fatal(err)
	}
	return &partEnv{s: s, raw: raw, project: p.ID, webhook: w.ID, event: ev.ID}
}

// partitions lists the partitions of table, sorted.
func (e *partEnv) partitions(t *testing.T, table string) []string {
	t.Helper()
	rows, err := e.raw.QueryContext(t.Context(), `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = $1::regclass`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// idAt returns a UUIDv7-shaped id of time at, distinct from the others (a counter in the tail).
func idAt(at time.Time) string {
	ms := at.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-%012x", ms>>16, ms&0xffff, idSeq.Add(1))
}

var idSeq atomic.Int64

// dayPartition creates the partitions of day's deliveries and attempts, as the store does.
func (e *partEnv) dayPartition(t *testing.T, day time.Time) {
	t.Helper()
	from, to := idOfDay(day), idOfDay(day.AddDate(0, 0, 1))
	for _, table := range []string{"deliveries", "attempts"} {
		if _, err := e.raw.ExecContext(t.Context(), fmt.Sprintf(`CREATE TABLE %s_p%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
			table, day.Format("20060102"), table, from, to)); err != nil {
			t.Fatal(err)
		}
	}
}

// idOfDay is the smallest id of the UTC midnight starting day.
func idOfDay(day time.Time) string {
	ms := day.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-000000000000", ms>>16, ms&0xffff)
}

// delivery inserts a delivery made at at with status and one attempt, and returns its id.
func (e *partEnv) delivery(t *testing.T, at time.Time, status string) string {
	t.Helper()
	id := idAt(at)
	var next any
	if status == promptd.StatusPending {
		next = at.Add(time.Hour).UnixMilli()
	}
	if _, err := e.raw.ExecContext(t.Context(), `INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, attempt_count,
		next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 'a.b', $5, 1, $6, $7, $7)`,
		id, e.project, e.webhook, e.event, status, next, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.raw.ExecContext(t.Context(), `INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, url,
		request_headers, response_headers) VALUES ($1, $2, 1, $3, 5, 'https://hooks.example.com/hook', '{}', '{}')`,
		idAt(at), id, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *partEnv) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.raw.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPartitionsAhead: a migrated store has today's and the next two days' partitions of
// deliveries and attempts, plus the default ones; a delivery published now lands in today's,
// and Migrate again (another instance starting) creates nothing twice.
func TestPartitionsAhead(t *testing.T) {
	t.Parallel()
	e := newPartEnv(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for _, table := range []string{"deliveries", "attempts"} {
		want := []string{table + "_default"}
		for i := range 3 {
			want = append(want, table+"_p"+today.AddDate(0, 0, i).Format("20060102"))
		}
		slices.Sort(want)
		if got := e.partitions(t, table); !slices.Equal(got, want) {
			t.Errorf("partitions of %s: %v, want %v", table, got, want)
		}
	}
	if err := e.s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if got := len(e.partitions(t, "deliveries")); got != 4 {
		t.Errorf("%d partitions after a second Migrate, want 4", got)
	}
	// The webhook subscribed to everything: the event published in newPartEnv has a delivery
	// today (a race with midnight would put it in tomorrow's, which is made too).
	if n := e.count(t, `SELECT count(*) FROM deliveries_default`); n != 0 {
		t.Errorf("%d deliveries in the default partition", n)
	}
	if n := e.count(t, `SELECT count(*) FROM deliveries`); n != 1 {
		t.Errorf("%d deliveries, want the published event's one", n)
	}
}

// TestPurgeDropsOldPartitions: a day wholly older than the retention whose deliveries are
// all finished loses its two partitions at once; a day that still holds a pending delivery
// keeps its partitions, loses its finished deliveries row by row and keeps the pending one
// with its attempt; a day within the retention is left alone.
func TestPurgeDropsOldPartitions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	old, held, recent := today.AddDate(0, 0, -40), today.AddDate(0, 0, -39), today.AddDate(0, 0, -5)
	for _, d := range []time.Time{old, held, recent} {
		e.dayPartition(t, d)
	}
	noon := func(d time.Time) time.Time { return d.Add(12 * time.Hour) }
	for range 5 {
		e.delivery(t, noon(old), promptd.StatusSucceeded)
		e.delivery(t, noon(held), promptd.StatusFailed)
		e.delivery(t, noon(recent), promptd.StatusSucceeded)
	}
	e.delivery(t, noon(old), promptd.StatusCancelled)
	pending := e.delivery(t, noon(held), promptd.StatusPending)

	n, err := e.s.Purge(ctx, now.Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// old: 6 deliveries + 6 attempts dropped; held: 5 + 5 deleted; the event stays (it has a
	// delivery today).
	if n != 12+10 {
		t.Errorf("Purge removed %d rows, want 22", n)
	}
	parts := e.partitions(t, "deliveries")
	if slices.Contains(parts, "deliveries_p"+old.Format("20060102")) {
		t.Errorf("the old day's partition is still there: %v", parts)
	}
	if got := e.partitions(t, "attempts"); slices.Contains(got, "attempts_p"+old.Format("20060102")) {
		t.Errorf("the old day's attempts partition is still there: %v", got)
	}
	for _, d := range []time.Time{held, recent} {
		if !slices.Contains(parts, "deliveries_p"+d.Format("20060102")) {
			t.Errorf("the partition of %s was dropped: %v", d.Format(time.DateOnly), parts)
		}
	}
	heldPart := "deliveries_p" + held.Format("20060102")
	if got := e.count(t, `SELECT count(*) FROM `+heldPart); got != 1 {
		t.Errorf("%s holds %d deliveries, want the pending one", heldPart, got)
	}
	if _, err := e.s.FindDelivery(ctx, e.project, pending); err != nil {
		t.Errorf("the pending delivery of a purged day: %v", err)
	}
	if got := e.count(t, `SELECT count(*) FROM attempts WHERE delivery_id = $1`, pending); got != 1 {
		t.Errorf("the pending delivery has %d attempts, want 1", got)
	}
	if got := e.count(t, `SELECT count(*) FROM deliveries_p`+recent.Format("20060102")); got != 5 {
		t.Errorf("the recent day holds %d deliveries, want 5", got)
	}

	// Once the pending delivery is finished (and its update old enough), its day goes whole.
	if _, err := e.raw.ExecContext(ctx, `UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL WHERE id = $1`, pending); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.Purge(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 2 {
		t.Errorf("second Purge: %d, %v; want 2", n, err)
	}
	if parts := e.partitions(t, "deliveries"); slices.Contains(parts, heldPart) {
		t.Errorf("%s is still there once finished: %v", heldPart, parts)
	}
}

// TestPurgeKeepsADayUpdatedLate: a finished delivery created before the cutoff but last
// updated after it keeps its day's partition (retention counts from the last update).
func TestPurgeKeepsADayUpdatedLate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	now := time.Now().UTC()
	day := now.Truncate(24*time.Hour).AddDate(0, 0, -45)
	e.dayPartition(t, day)
	late := e.delivery(t, day.Add(time.Hour), promptd.StatusSucceeded)
	e.delivery(t, day.Add(2*time.Hour), promptd.StatusSucceeded)
	if _, err := e.raw.ExecContext(ctx, `UPDATE deliveries SET updated_at = $1 WHERE id = $2`, now.Add(-time.Hour).UnixMilli(), late); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.Purge(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 2 {
		t.Errorf("Purge: %d, %v; want 2 (one delivery and its attempt)", n, err)
	}
	if _, err := e.s.FindDelivery(ctx, e.project, late); err != nil {
		t.Errorf("the delivery updated within the retention: %v", err)
	}
}

// TestPurgeWaitsForAWriter: while another transaction holds a row of an old day's partition
// locked for update, the purge gives up on that day within its lock timeout (it neither
// drops nor waits forever) and drops it on a later round.
func TestPurgeWaitsForAWriter(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	now := time.Now().UTC()
	day := now.Truncate(24*time.Hour).AddDate(0, 0, -50)
	e.dayPartition(t, day)
	id := e.delivery(t, day.Add(time.Hour), promptd.StatusSucceeded)
	tx, err := e.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET last_error = 'x' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := e.s.Purge(pctx, now.Add(-30*24*time.Hour)); err == nil {
		t.Error("Purge dropped or checked a partition another transaction was writing")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.Purge(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 2 {
		t.Errorf("Purge after the writer ended: %d, %v; want 2", n, err)
	}
}

// TestDeleteWebhookDeletesAttempts: without a foreign key from attempts to deliveries, the
// store deletes a webhook's attempts with its deliveries.
func TestDeleteWebhookDeletesAttempts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	e.delivery(t, time.Now(), promptd.StatusSucceeded)
	if err := e.s.DeleteWebhook(ctx, e.project, e.webhook); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, `SELECT count(*) FROM attempts`); n != 0 {
		t.Errorf("%d attempts left after deleting their webhook", n)
	}
}

// TestMigrateKeepsExistingDeliveries migrates a schema that has deliveries and attempts to
// 00012: they stay, in the partitions deliveries_legacy and attempts_legacy (up to the end
// of today), the daily partitions start after them, and the purge still deletes the old
// finished ones row by row.
func TestMigrateKeepsExistingDeliveries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := open(t, url)
	s.SetSecretBox(storetest.NewSecretBox(t))
	d := Dialect()
	opts := append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true)}, d.GooseOptions...)
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	gp, err := goose.NewProvider(d.Goose, raw, d.Migrations, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gp.UpTo(ctx, 11); err != nil {
		t.Fatal(err)
	}
	// 00014 (the delivery's queued format) is one the code running here needs; migrations may
	// run out of order, and 00012 copies the table's columns whatever they are.
	if _, err := gp.ApplyVersion(ctx, 14, true); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `SELECT 1 FROM pg_class WHERE relname = 'deliveries' AND relkind = 'r'`); err != nil {
		t.Fatal(err)
	}
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	w := &promptd.Webhook{Name: "hook", URL: "https://hooks.example.com/hook", Enabled: true}
	if err := w.Normalize(promptd.URLPolicy{}); err != nil {
		t.Fatal(err)
	}
	if w, err = s.CreateWebhook(ctx, p.ID, w, promptd.NewWebhookSecret()); err != nil {
		t.Fatal(err)
	}
	ev, _, err := s.PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "a.b"})
	if err != nil {
		t.Fatal(err)
	}
	e := &partEnv{s: s, raw: raw, project: p.ID, webhook: w.ID, event: ev.ID}
	now := time.Now().UTC()
	oldID := e.delivery(t, now.AddDate(0, 0, -40), promptd.StatusSucceeded)
	keep := e.delivery(t, now.AddDate(0, 0, -40), promptd.StatusPending)

	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with deliveries in place: %v", err)
	}
	today := now.Truncate(24 * time.Hour)
	for _, table := range []string{"deliveries", "attempts"} {
		want := []string{table + "_default", table + "_legacy",
			table + "_p" + today.AddDate(0, 0, 1).Format("20060102"), table + "_p" + today.AddDate(0, 0, 2).Format("20060102")}
		slices.Sort(want)
		if got := e.partitions(t, table); !slices.Equal(got, want) {
			t.Errorf("partitions of %s: %v, want %v", table, got, want)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM deliveries_legacy`); n != 3 {
		t.Errorf("deliveries_legacy holds %d deliveries, want 3", n)
	}
	if n := e.count(t, `SELECT count(*) FROM attempts_legacy`); n != 2 {
		t.Errorf("attempts_legacy holds %d attempts, want 2", n)
	}
	if _, _, err := s.PublishEvent(ctx, p.ID, promptd.PublishEventInput{Type: "a.b"}); err != nil {
		t.Fatalf("publishing after the migration: %v", err)
	}
	if n, err := s.Purge(ctx, now.Add(-30*24*time.Hour)); err != nil || n != 2 {
		t.Errorf("Purge: %d, %v; want 2 (the old finished delivery and its attempt)", n, err)
	}
	if _, err := s.FindDelivery(ctx, p.ID, oldID); err == nil {
		t.Error("the old finished delivery survived the purge")
	}
	if _, err := s.FindDelivery(ctx, p.ID, keep); err != nil {
		t.Errorf("the old pending delivery: %v", err)
	}
	// 00015: no foreign key left on deliveries, nor on any of its partitions (the legacy
	// one had keys of its own before 00012 attached it).
	if n := e.count(t, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND (conrelid = 'deliveries'::regclass
		OR conrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'deliveries'::regclass))`); n != 0 {
		t.Errorf("%d foreign keys on deliveries and its partitions, want 0", n)
	}
	// And back down: the tables are plain again, with every row.
	if _, err := gp.DownTo(ctx, 11); err != nil {
		t.Fatalf("down from 00012: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM pg_class WHERE relname = 'deliveries' AND relkind = 'r' AND relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`); n != 1 {
		t.Error("deliveries is not a plain table after the down migration")
	}
	if n := e.count(t, `SELECT count(*) FROM deliveries`); n != 3 {
		t.Errorf("%d deliveries after the down migration, want 3", n)
	}
}

// TestPurgeKeepsTheEventOfAResend: deliveries have no foreign key to events (migration
// 00015). A transaction that refers to an old event again (as a resend does) holds it FOR KEY
// SHARE; a purge that meanwhile finds the event unreferenced waits for that lock, then sees
// the new delivery and keeps the event.
func TestPurgeKeepsTheEventOfAResend(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -40)
	eventID := idAt(old)
	if _, err := e.raw.ExecContext(ctx, `INSERT INTO events (id, project_id, type, created_at, payload) VALUES ($1, $2, 'a.b', $3, '{}')`,
		eventID, e.project, old.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	tx, err := e.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var pid int
	if err := tx.QueryRowContext(ctx, `SELECT pg_backend_pid() FROM events WHERE id = $1 FOR KEY SHARE`, eventID).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, next_attempt_at,
		created_at, updated_at) VALUES ($1, $2, $3, $4, 'a.b', 'pending', $5, $5, $5)`,
		idAt(now), e.project, e.webhook, eventID, now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	purged := make(chan error, 1)
	go func() {
		_, err := e.s.Purge(ctx, now.AddDate(0, 0, -30))
		purged <- err
	}()
	// Commit only once the purge waits for the event's lock.
	deadline := time.Now().Add(20 * time.Second)
	for e.count(t, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid) == 0 {
		select {
		case err := <-purged:
			t.Fatalf("the purge ended (%v) without waiting for the event's lock", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the purge never waited for the event's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-purged; err != nil {
		t.Fatalf("Purge: %v", err)
	}
	if n := e.count(t, `SELECT count(*) FROM events WHERE id = $1`, eventID); n != 1 {
		t.Error("the purge deleted an event a delivery refers to")
	}
}

// TestUpdateWebhookBesidePublishing: a publishing transaction holds its project's webhooks
// FOR KEY SHARE (they have no foreign key from deliveries since 00015); changing a webhook's
// settings neither waits for it nor deletes anything, while deleting the webhook waits.
func TestUpdateWebhookBesidePublishing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	e := newPartEnv(t)
	w, err := e.s.FindWebhook(ctx, e.project, e.webhook)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := e.raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM webhooks WHERE id = $1 FOR KEY SHARE`, e.webhook); err != nil {
		t.Fatal(err)
	}
	w.Name = "renamed"
	updated := make(chan error, 1)
	go func() {
		_, err := e.s.UpdateWebhook(ctx, e.project, w)
		updated <- err
	}()
	select {
	case err := <-updated:
		if err != nil {
			t.Fatalf("UpdateWebhook: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("UpdateWebhook waited for a transaction holding the webhook FOR KEY SHARE")
	}
	deleted := make(chan error, 1)
	go func() { deleted <- e.s.DeleteWebhook(ctx, e.project, e.webhook) }()
	select {
	case err := <-deleted:
		t.Fatalf("DeleteWebhook did not wait for a transaction holding the webhook FOR KEY SHARE (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
}
