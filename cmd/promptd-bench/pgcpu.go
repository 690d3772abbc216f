package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"
)

// samplerAppName is the application_name of the bench's own connection that samples
// pg_stat_activity, so that it never counts itself.
const samplerAppName = "promptd-bench-sampler"

// pgCPU measures the CPU time the PostgreSQL server spends for one run. PostgreSQL runs a
// process per connection, so it reads /proc/<pid>/stat of the server processes that
// pg_stat_activity lists: the client backends whose application_name is the run's (every
// promptd of the run connects with it; other users of the server are left out) and the
// server's own processes (walwriter, checkpointer, background writer, autovacuum, …), which
// work for every database of the server and are counted whole. It polls, because a backend
// that exits takes its CPU time with it: a connection closed between two polls loses at most
// one interval of CPU (promptd keeps its connections open for minutes).
type pgCPU struct {
	db    *sql.DB
	app   string
	every time.Duration
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	started bool
	base    map[int]time.Duration // CPU at begin of the processes alive then
	last    map[int]time.Duration // latest reading of every process seen since begin
	shared  map[int]bool          // server processes (not client backends)
	err     error                 // the first error, for the note
}

// pgCPUUsage is what pgCPU measured between begin and end.
type pgCPUUsage struct {
	Backends time.Duration // the run's client backends
	Shared   time.Duration // the server's own processes
	Procs    int           // how many processes were counted
}

// newPGCPU connects to dbURL with its own application_name and checks that the server's
// processes are visible in this machine's /proc (the server must run here). The run's
// backends are those connecting with app.
func newPGCPU(ctx context.Context, dbURL, app string) (*pgCPU, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("pg cpu: %w", err)
	}
	q := u.Query()
	q.Set("application_name", samplerAppName)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, fmt.Errorf("pg cpu: %w", err)
	}
	db.SetMaxOpenConns(1)
	var pid int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		db.Close()
		return nil, fmt.Errorf("pg cpu: %w", err)
	}
	if _, err := readProcCPU(pid); err != nil {
		db.Close()
		return nil, fmt.Errorf("pg cpu: the server's processes are not in this machine's /proc (backend %d: %w)", pid, err)
	}
	return &pgCPU{db: db, app: app, every: 200 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{}),
		base: map[int]time.Duration{}, last: map[int]time.Duration{}, shared: map[int]bool{}}, nil
}

// readProcCPU returns the user + system time of process pid.
func readProcCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// poll lists the processes that count and reads each one's CPU time.
func (m *pgCPU) poll(ctx context.Context) {
	rows, err := m.db.QueryContext(ctx,
		`SELECT pid, backend_type <> 'client backend' FROM pg_stat_activity WHERE application_name = $1 OR backend_type <> 'client backend'`, m.app)
	if err != nil {
		m.fail(err)
		return
	}
	type seen struct {
		pid    int
		shared bool
	}
	var ps []seen
	for rows.Next() {
		var s seen
		if err := rows.Scan(&s.pid, &s.shared); err != nil {
			rows.Close()
			m.fail(err)
			return
		}
		ps = append(ps, s)
	}
	rows.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range ps {
		cpu, err := readProcCPU(s.pid)
		if err != nil {
			continue // exited since the query; its last reading stays
		}
		m.last[s.pid] = cpu
		m.shared[s.pid] = s.shared
		if !m.started {
			m.base[s.pid] = cpu
		}
	}
}

func (m *pgCPU) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err == nil {
		m.err = err
	}
}

// begin takes the first reading and starts polling.
func (m *pgCPU) begin(ctx context.Context) {
	m.poll(ctx)
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	go func() {
		defer close(m.done)
		t := time.NewTicker(m.every)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				m.poll(ctx)
			}
		}
	}()
}

// end stops polling, takes a last reading and returns the CPU time used since begin: for a
// process alive at begin what it used since, for one that started later all it used.
func (m *pgCPU) end(ctx context.Context) (pgCPUUsage, error) {
	close(m.stop)
	<-m.done
	m.poll(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	var u pgCPUUsage
	for pid, cpu := range m.last {
		d := cpu - m.base[pid]
		if d < 0 { // a pid reused by another process
			d = cpu
		}
		if m.shared[pid] {
			u.Shared += d
		} else {
			u.Backends += d
		}
		u.Procs++
	}
	return u, m.err
}

// close closes the sampler's connection.
func (m *pgCPU) close() { m.db.Close() }
