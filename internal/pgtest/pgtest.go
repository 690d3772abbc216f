// Package pgtest gives tests an isolated PostgreSQL schema.
//
// URL reads PROMPTD_TEST_POSTGRES_URL (default DefaultURL), creates a fresh schema
// promptd_test_<random> and returns a URL whose connections use it (pgx sends the search_path
// query parameter as a run-time parameter when it connects). The schema is dropped when the
// test ends. When no PostgreSQL answers, the test is skipped with a message saying so, or
// fails when CI=true, so that CI never passes by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvURL names the environment variable holding the URL of the test database.
const EnvURL = "PROMPTD_TEST_POSTGRES_URL"

// DefaultURL is used when EnvURL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SchemaPrefix starts the name of every schema URL creates.
const SchemaPrefix = "promptd_test_"

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
	adminURL  string
)

// admin returns the process-wide pool used to create and drop schemas, or why there is none.
// The answer is remembered, so an unreachable server costs one timeout per test binary.
func admin() (*sql.DB, string, error) {
	adminOnce.Do(func() {
		adminURL = os.Getenv(EnvURL)
		if adminURL == "" {
			adminURL = DefaultURL
		}
		db, err := sql.Open("pgx", adminURL)
		if err != nil {
			adminErr = err
			return
		}
		db.SetMaxOpenConns(4)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			adminErr = err
			return
		}
		adminDB = db
	})
	return adminDB, adminURL, adminErr
}

// Require skips t when no PostgreSQL answers, or fails it when the environment variable CI
// is "true" (so that CI never passes by skipping). Call it at the top of a test whose
// subtests each call URL, to skip once rather than in every subtest.
func Require(t testing.TB) {
	t.Helper()
	if _, base, err := admin(); err != nil {
		msg := fmt.Sprintf("pgtest: no PostgreSQL at %s (set %s): %v", redact(base), EnvURL, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; skipping the PostgreSQL tests")
	}
}

// URL returns the URL of a new, empty schema of the test database, dropped (with everything
// in it) when t ends. Like Require, it skips or fails t when no PostgreSQL answers.
func URL(t testing.TB) string {
	t.Helper()
	Require(t)
	db, base, _ := admin()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvURL, err)
	}

	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	schema := SchemaPrefix + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", schema, err)
		}
	})

	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
