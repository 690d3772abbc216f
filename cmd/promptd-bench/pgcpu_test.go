package main

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/promptd/promptd/internal/pgtest"
)

// TestPGCPUCountsTheRunsBackends has a connection named like a bench run do about a second of
// work in PostgreSQL, beside another connection doing the same under another name, and checks
// that pgCPU counts the first and not the second.
func TestPGCPUCountsTheRunsBackends(t *testing.T) {
	t.Parallel()
	base := pgtest.URL(t)
	ctx := context.Background()
	withApp := func(app string) *sql.DB {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		db, err := sql.Open("pgx", u.String())
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		if err := db.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	}
	ours, theirs := withApp("promptd_bench_pgcpu_test"), withApp("promptd_bench_someone_else")
	m, err := newPGCPU(ctx, base, "promptd_bench_pgcpu_test")
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	m.begin(ctx)
	// Work until our backend has used at least 300 ms of CPU by its own /proc reading, so
	// that the test does not depend on the machine's speed.
	var pid int
	if err := ours.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	var theirPid int
	if err := theirs.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&theirPid); err != nil {
		t.Fatal(err)
	}
	cpu0, err := readProcCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	their0, _ := readProcCPU(theirPid)
	for {
		var n int64
		if err := ours.QueryRowContext(ctx, `SELECT count(*) FROM generate_series(1, 500000)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := theirs.QueryRowContext(ctx, `SELECT count(*) FROM generate_series(1, 500000)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if c, _ := readProcCPU(pid); c-cpu0 >= 300*time.Millisecond {
			break
		}
	}
	used, _ := readProcCPU(pid)
	used -= cpu0
	theirUsed, _ := readProcCPU(theirPid)
	theirUsed -= their0
	u, err := m.end(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Our backend's CPU is in Backends; the other one's is not (Backends holds only ours, so
	// it cannot reach ours plus theirs).
	if u.Backends < used-20*time.Millisecond {
		t.Errorf("backends %v, but our backend alone used %v", u.Backends, used)
	}
	if u.Backends >= used+theirUsed-20*time.Millisecond {
		t.Errorf("backends %v include the other connection's CPU (ours %v, theirs %v)", u.Backends, used, theirUsed)
	}
	if u.Procs < 2 {
		t.Errorf("%d processes counted; want our backend and the server's own", u.Procs)
	}
}
