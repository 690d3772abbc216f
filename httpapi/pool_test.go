package httpapi

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/pgtest"
	"github.com/promptd/promptd/store/postgres"
	"github.com/promptd/promptd/store/sqlite"
)

// TestPoolExhaustedPostgres exhausts the PostgreSQL connection pool for real: a session of
// its own locks the prompts table, postgres.MaxOpenConns requests each hold a connection of
// the pool while they wait for that lock, and the next request, which finds no free
// connection within the store's budget, is answered 503 with Retry-After instead of waiting
// as long as its client does. Once the lock is released every request is served.
func TestPoolExhaustedPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, st, Config{}, nil)
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "one"})

	locker, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close() })
	lockTx, err := locker.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback() //nolint:errcheck // released below; a no-op then
	if _, err := lockTx.ExecContext(ctx, `LOCK TABLE prompts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	// Fill the pool: every request holds a connection while it waits for the lock.
	var wg sync.WaitGroup
	statuses := make(chan int, postgres.MaxOpenConns)
	for range postgres.MaxOpenConns {
		wg.Go(func() {
			statuses <- e.send(req{method: "GET", path: "/api/v1/prompts", key: e.admin}).status
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var waiting int
		if err := locker.QueryRowContext(ctx, `SELECT count(*) FROM pg_locks WHERE relation = 'prompts'::regclass AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == postgres.MaxOpenConns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests wait for the lock", waiting, postgres.MaxOpenConns)
		}
		time.Sleep(20 * time.Millisecond)
	}

	st.SetAcquireTimeout(200 * time.Millisecond)
	resp := e.send(req{method: "GET", path: "/api/v1/prompts/p", key: e.admin})
	p := resp.problem(t, http.StatusServiceUnavailable)
	if got := resp.header.Get("Retry-After"); got != retryAfterSeconds {
		t.Errorf("Retry-After %q, want %q", got, retryAfterSeconds)
	}
	if !strings.Contains(p.Detail, "no database connection became free") {
		t.Errorf("detail %q does not say that the pool is exhausted", p.Detail)
	}

	if err := lockTx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("a request that waited for the lock answered %d, want 200", s)
		}
	}
	st.SetAcquireTimeout(0)
	e.call("GET", "/api/v1/prompts/p", e.admin, nil, 200, nil)
}

// TestStoreBusySQLite holds SQLite's write lock from another connection for longer than the
// store waits. A write that has the write connection waits for the lock until SQLite's busy
// timeout; the writes queued behind it wait for the connection at most the store's budget:
// all are answered 503 with Retry-After, the queued ones at once, saying that no connection
// became free. Writes succeed again once the lock is released.
func TestStoreBusySQLite(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "promptd.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st.SetAcquireTimeout(200 * time.Millisecond)
	e := newEnvOn(t, st, Config{}, nil)
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "one"})

	other, err := sql.Open("sqlite", path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	hold, err := other.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback() //nolint:errcheck // released below; a no-op then
	if _, err := hold.Exec(`UPDATE prompts SET updated_at = updated_at`); err != nil {
		t.Fatal(err)
	}

	write := func() *response {
		resp := e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: map[string]any{"name": "p", "prompt": "two"}})
		resp.problem(t, http.StatusServiceUnavailable)
		if got := resp.header.Get("Retry-After"); got != retryAfterSeconds {
			t.Errorf("Retry-After %q, want %q", got, retryAfterSeconds)
		}
		return resp
	}
	// One writer keeps the write connection busy, waiting for the lock; the other's writes
	// queue behind it until one is turned away by the budget.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				e.send(req{method: "POST", path: "/api/v1/prompts", key: e.admin, body: map[string]any{"name": "q", "prompt": "x"}})
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p := write().problem(t, http.StatusServiceUnavailable); strings.Contains(p.Detail, "no database connection became free") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write queued behind the busy connection was turned away within the budget")
		}
	}
	if err := hold.Rollback(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	e.createVersion(e.admin, map[string]any{"name": "p", "prompt": "two"})
}
