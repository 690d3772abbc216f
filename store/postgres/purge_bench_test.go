package postgres

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/store/storetest"
)

// BenchmarkPurgeMillion measures the retention purge of 1,000,000 finished deliveries (each
// with one attempt) made 40 days ago, on one day, for 100,000 events × 10 webhooks: the wall
// time of Store.Purge, whose client and server share the machine. "deliveries" keeps the
// events within the retention, so the purge removes deliveries and attempts only; "with
// events" makes the events as old, so it removes them too (row by row, as before). Where
// deliveries is partitioned (migration 00012) the day's partitions are created first, as the
// store would have made them that day; "with events, 30 days" also creates the (empty)
// partitions of the 30 days before today, as a 30-day retention has them. Not part of
// `make test` (benchmarks run with -bench):
//
//	go test ./store/postgres -run '^$' -bench PurgeMillion -benchtime 1x
func BenchmarkPurgeMillion(b *testing.B) {
	for _, c := range []struct {
		name       string
		withEvents bool
		days       int
	}{{"deliveries", false, 0}, {"with events", true, 0}, {"with events, 30 days", true, 30}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s, before := fillMillion(b, c.withEvents, c.days)
				b.StartTimer()
				start := time.Now()
				n, err := s.Purge(b.Context(), before)
				elapsed := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n), "rows")
				b.ReportMetric(elapsed.Seconds(), "purge-s")
			}
		})
	}
}

// fillMillion makes a migrated schema holding the million finished deliveries and returns
// the store and the cutoff to purge them with.
func fillMillion(b *testing.B, oldEvents bool, days int) (*sqlstore.Store, time.Time) {
	b.Helper()
	ctx := b.Context()
	url := pgtest.URL(b)
	s, err := Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	s.SetSecretBox(storetest.NewSecretBox(b))
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { raw.Close() })
	p, err := s.CreateProject(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	var hooks []string
	for i := range 10 {
		w := &promptd.Webhook{Name: fmt.Sprintf("hook-%d", i), URL: "https://hooks.example.com/hook", Enabled: true}
		if err := w.Normalize(promptd.URLPolicy{}); err != nil {
			b.Fatal(err)
		}
		if w, err = s.CreateWebhook(ctx, p.ID, w, promptd.NewWebhookSecret()); err != nil {
			b.Fatal(err)
		}
		hooks = append(hooks, w.ID)
	}
	now := time.Now().UTC()
	day := now.Truncate(24*time.Hour).AddDate(0, 0, -40)
	at := day.Add(12 * time.Hour)
	var partitioned bool
	if err := raw.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'deliveries'::regclass)`).Scan(&partitioned); err != nil {
		b.Fatal(err)
	}
	if partitioned {
		mk := []time.Time{day}
		for i := range days {
			mk = append(mk, now.Truncate(24*time.Hour).AddDate(0, 0, -1-i))
		}
		for _, d := range mk {
			from, to := idOfDay(d), idOfDay(d.AddDate(0, 0, 1))
			for _, table := range []string{"deliveries", "attempts"} {
				if _, err := raw.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE %s_p%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
					table, d.Format("20060102"), table, from, to)); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	eventAt := now.UnixMilli()
	if oldEvents {
		eventAt = at.UnixMilli()
	}
	ms := at.UnixMilli()
	// Ids: the day's millisecond prefix and a counter; events e-<n>.
	prefix := fmt.Sprintf("%08x-%04x-7000-8000-", ms>>16, ms&0xffff)
	if _, err := raw.ExecContext(ctx, `INSERT INTO events (id, project_id, type, created_at, payload)
		SELECT 'e-' || lpad(g::text, 8, '0'), $1, 'a.b', $2, '\x7b7d' FROM generate_series(1, 100000) g`, p.ID, eventAt); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO deliveries (id, project_id, webhook_id, event_id, event_type, status, attempt_count, created_at, updated_at)
		SELECT $1 || lpad(to_hex(g), 12, '0'), $2, ($3::text[])[1 + g % 10], 'e-' || lpad((1 + g / 10)::text, 8, '0'), 'a.b', 'succeeded', 1, $4, $4
		FROM generate_series(0, 999999) g`, prefix, p.ID, hooks, ms); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO attempts (id, delivery_id, number, started_at, duration_ms, url, request_headers, status_code, response_headers)
		SELECT $1 || lpad(to_hex(g + 1000000), 12, '0'), $1 || lpad(to_hex(g), 12, '0'), 1, $2, 5, 'https://hooks.example.com/hook',
			'{"content-type":"application/json","webhook-id":"x","webhook-timestamp":"1","webhook-signature":"v1,x"}', 200, '{}'
		FROM generate_series(0, 999999) g`, prefix, ms); err != nil {
		b.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return s, now.Add(-30 * 24 * time.Hour)
}
