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
