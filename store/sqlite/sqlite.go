// Package sqlite opens the embedded default store: a SQLite database file, through the pure-Go
// driver modernc.org/sqlite, served by the shared implementation in store/sqlstore.
//
// The database runs in WAL mode with synchronous=NORMAL: a committed transaction survives a
// crash of the process (kill -9), which is what promptd needs; only a crash of the operating
// system or a power loss may lose the last transactions before a checkpoint (never corrupt
// the file). Writes go through one connection whose transactions begin IMMEDIATE, so write
// transactions are serialised and never fail on a lock upgrade; reads use a separate pool of
// query-only connections that WAL lets run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// BusyTimeoutMillis is how long a connection waits for a lock held by another process (e.g.
// a second promptd on the same file, or `promptd migrate`) before failing with SQLITE_BUSY.
const BusyTimeoutMillis = 10_000

// Dialect returns what sqlstore needs to know about SQLite.
func Dialect() sqlstore.Dialect {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic("sqlite: embedded migrations: " + err.Error())
	}
	return sqlstore.Dialect{
		Name:       "sqlite",
		Goose:      goose.DialectSQLite3,
		Migrations: sub,
		// Every write transaction holds the database's single write lock from its first
		// statement (BEGIN IMMEDIATE), so rows need no lock of their own.
		ForUpdate:         "",
		HasTag:            `EXISTS (SELECT 1 FROM json_each(%[1]s) WHERE json_each.value = %[2]s)`,
		IsUniqueViolation: isUniqueViolation,
		Fault:             fault,
		// One write connection: writes are committed in groups (see sqlstore).
		SerialWrites:    true,
		AnonymousParams: true,
	}
}

// isUniqueViolation reports a UNIQUE or PRIMARY KEY constraint failure by its extended result
// code (the driver enables extended codes).
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// fault classifies a driver error by its primary result code: SQLITE_FULL (the disk or
// the database's size limit is reached) is EFULL; SQLITE_BUSY and SQLITE_LOCKED (another
// process held the database longer than BusyTimeoutMillis) are EUNAVAILABLE.
func fault(err error) string {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return promptd.EFULL
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return promptd.EUNAVAILABLE
	}
	return ""
}

// Open opens (creating it if needed) the database file at path, creating its directory with
// mode 0700 when missing. It does not migrate: call Migrate. Only one process at a time may
// have a database open: Open fails with an error wrapping ErrLocked, naming the pid of the
// holder, while another has it (see lock.go). See the package documentation
// for the durability and concurrency settings.
func Open(path string) (*sqlstore.Store, error) {
	return open(path)
}

// open is Open with extra pragmas for the write connection, e.g. "max_page_count(100)" in
// tests that fill the database.
func open(path string, writePragmas ...string) (*sqlstore.Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: the database path is empty")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: creating the data directory: %w", err)
	}
	lock, err := lockDatabase(path)
	if err != nil {
		return nil, err
	}
	write, read, err := openPools(path, writePragmas...)
	if err != nil {
		lock.release()
		return nil, err
	}
	d := Dialect()
	d.Closed = lock.release
	s, err := sqlstore.New(write, read, d)
	if err != nil {
		write.Close()
		read.Close()
		lock.release()
		return nil, err
	}
	return s, nil
}

// openPools opens the write pool (one connection, IMMEDIATE transactions) and the read pool.
// Page cache sizes, in KiB: the write connection's, and each read connection's.
const (
	WriterCacheKiB = 16 << 10
	ReaderCacheKiB = 8 << 10
)

func openPools(path string, writePragmas ...string) (write, read *sql.DB, err error) {
	if path == "" {
		return nil, nil, errors.New("sqlite: the database path is empty")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, nil, fmt.Errorf("sqlite: database path %q must not contain '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("sqlite: creating the data directory: %w", err)
	}

	common := url.Values{}
	common.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMillis))
	common.Add("_pragma", "foreign_keys(1)")
	common.Add("_pragma", "synchronous(NORMAL)")

	w := cloneValues(common)
	w.Add("_pragma", "journal_mode(WAL)")
	w.Set("_txlock", "immediate")
	// The writer reads the front of each webhook's queue and the rows it claims and records:
	// 16 MiB of page cache holds that working set even with 1,000,000 deliveries queued
	// (SQLite's default is 2 MiB). 64 MiB measured no faster (fanout10, backlog 300,000,
	// alternating runs) and cost 75–100 MiB of resident memory; SQLite also scans the whole
	// cache's hash table at some commits, which grows with it.
	w.Add("_pragma", fmt.Sprintf("cache_size(-%d)", WriterCacheKiB))
	// Group commit runs each write in a savepoint: keep the savepoints' undo pages (the
	// sub-journal) in memory rather than in a temporary file written page by page.
	w.Add("_pragma", "temp_store(MEMORY)")
	for _, p := range writePragmas {
		w.Add("_pragma", p)
	}
	write, err = sql.Open("sqlite", path+"?"+w.Encode())
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Open the write connection now: it creates the file and switches it to WAL (a
	// persistent setting) before any read connection looks at it.
	if err := write.PingContext(context.Background()); err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}

	r := cloneValues(common)
	r.Add("_pragma", "query_only(1)")
	r.Add("_pragma", fmt.Sprintf("cache_size(-%d)", ReaderCacheKiB))
	read, err = sql.Open("sqlite", path+"?"+r.Encode())
	if err != nil {
		write.Close()
		return nil, nil, fmt.Errorf("sqlite: opening %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	return write, read, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
