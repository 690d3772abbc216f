package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// pgSchema is a schema of its own for one run on a shared PostgreSQL database.
type pgSchema struct {
	db   *sql.DB
	Name string
	URL  string // the base URL with search_path and application_name set to the schema's name
}

// createSchema connects to base and creates an empty schema with a random name; the URL it
// returns selects it through the search_path parameter.
func createSchema(ctx context.Context, base string) (*pgSchema, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("-database-url: %w", err)
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return nil, fmt.Errorf("-database-url: the bench talks to 127.0.0.1 only, not %q", h)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to %s: %w", u.Redacted(), err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "promptd_bench_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating schema %s: %w", name, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	// Its backends are told apart from other users of the server by this name (pgCPU).
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return &pgSchema{db: db, Name: name, URL: u.String()}, nil
}

// drop removes the schema and everything in it, even after ctx ended.
func (s *pgSchema) drop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+s.Name+" CASCADE")
	s.db.Close()
	return err
}

// pastPartitions creates the (empty) daily partitions of deliveries and attempts for the days
// before today, as a promptd that has run for that many days with that retention has them
// (see store/sqlstore/queue_partitions.go), so that a run measures the queue with them. It
// returns a note saying what it did, also when the schema is not partitioned (an older
// promptd) and nothing was made.
func (s *pgSchema) pastPartitions(ctx context.Context, days int) (string, error) {
	var partitioned bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass($1))`,
		s.Name+".deliveries").Scan(&partitioned); err != nil {
		return "", fmt.Errorf("-pg-days: %w", err)
	}
	if !partitioned {
		return fmt.Sprintf("-pg-days %d: deliveries is not partitioned by this promptd; no partition made", days), nil
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i := 1; i <= days; i++ {
		day := today.AddDate(0, 0, -i)
		from, to := dayID(day), dayID(day.AddDate(0, 0, 1))
		for _, table := range []string{"deliveries", "attempts"} {
			q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %[1]s.%[2]s_p%[3]s PARTITION OF %[1]s.%[2]s FOR VALUES FROM ('%[4]s') TO ('%[5]s')`,
				s.Name, table, day.Format("20060102"), from, to)
			if _, err := s.db.ExecContext(ctx, q); err != nil {
				return "", fmt.Errorf("-pg-days: %w", err)
			}
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = to_regclass($1)`, s.Name+".deliveries").Scan(&n); err != nil {
		return "", fmt.Errorf("-pg-days: %w", err)
	}
	return fmt.Sprintf("-pg-days %d: the deliveries table has %d partitions (the past days' ones empty)", days, n), nil
}

// dayID is the smallest UUIDv7 (as text) of the UTC midnight starting day: where that day's
// partition begins.
func dayID(day time.Time) string {
	ms := day.UnixMilli()
	return fmt.Sprintf("%08x-%04x-7000-8000-000000000000", ms>>16, ms&0xffff)
}
