// Package sqlstore implements promptd.Store on database/sql for SQL databases whose driver
// accepts $1-style placeholders: SQLite (modernc.org/sqlite) and PostgreSQL (pgx). The SQL is
// shared; what differs between the databases (the row-lock clause, a JSON fragment, the
// migrations, how a unique violation is recognised) is a Dialect supplied by store/sqlite and
// store/postgres, which also open the connections.
//
// Every method that changes prompts runs in one transaction: it locks the prompt row, loads
// the prompt's labels, lets the pure functions of package promptd compute the new state and
// the events, writes the difference and inserts the events (insertEvents), so a committed
// change always has its events and a failed one leaves nothing behind.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/promptd/promptd"
)

// Dialect holds what differs between the databases sqlstore runs on. It is a value filled in
// by the package that opens the database; sqlstore never asks which database it talks to.
type Dialect struct {
	// Name names the database in error messages, e.g. "sqlite" or "postgres".
	Name string

	// Goose is the goose dialect the migrations are written for.
	Goose goose.Dialect

	// Migrations holds the goose SQL migrations (NNNNN_name.sql) at its root.
	Migrations fs.FS

	// GooseOptions are extra options for the migration provider, e.g. a session locker so
	// that instances starting at the same time do not migrate twice.
	GooseOptions []goose.ProviderOption

	// ForUpdate is appended to the SELECT that loads a prompt row inside a write transaction
	// to lock the row until the transaction ends, e.g. " FOR UPDATE". It is "" where every
	// write transaction is serialised anyway (SQLite's single writer).
	ForUpdate string

	// HasTag is a boolean SQL expression, a fmt format with two verbs: %[1]s is a column
	// holding a JSON array of strings and %[2]s a placeholder; it is true when the array holds
	// the placeholder's string.
	HasTag string

	// IsUniqueViolation reports whether err is a violation of a UNIQUE or PRIMARY KEY
	// constraint. It must judge by the driver's error code, never by the message text.
	IsUniqueViolation func(err error) bool
}

// validate reports a Dialect that misses a field sqlstore needs.
func (d *Dialect) validate() error {
	switch {
	case d.Name == "":
		return errors.New("sqlstore: Dialect.Name is required")
	case d.Goose == "":
		return errors.New("sqlstore: Dialect.Goose is required")
	case d.Migrations == nil:
		return errors.New("sqlstore: Dialect.Migrations is required")
	case d.HasTag == "":
		return errors.New("sqlstore: Dialect.HasTag is required")
	case d.IsUniqueViolation == nil:
		return errors.New("sqlstore: Dialect.IsUniqueViolation is required")
	}
	return nil
}

// Store implements promptd.Store on database/sql. Create it with store/sqlite.Open or
// store/postgres.Open; call Migrate before first use.
type Store struct {
	db  *sql.DB // writes, and reads inside write transactions
	rdb *sql.DB // reads outside transactions; the same pool as db when the database has one
	d   Dialect
	now atomic.Pointer[func() time.Time]
}

var _ promptd.Store = (*Store)(nil)

// New returns a Store that writes through write and reads through read (which may be the
// same pool). The Store owns both pools: Close closes them. It is meant for the packages that
// open a database (store/sqlite, store/postgres); it returns an error when d is incomplete.
func New(write, read *sql.DB, d Dialect) (*Store, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	if write == nil {
		return nil, errors.New("sqlstore: New needs a write pool")
	}
	if read == nil {
		read = write
	}
	s := &Store{db: write, rdb: read, d: d}
	s.SetClock(nil)
	return s, nil
}

// SetClock sets the function the store asks for the current time (for tests); nil restores
// time.Now. Times are stored with millisecond precision.
func (s *Store) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	s.now.Store(&now)
}

// clock returns the store's current time, cut to milliseconds (what the database keeps) and
// in UTC.
func (s *Store) clock() time.Time {
	return fromMillis((*s.now.Load())().UnixMilli())
}

// Migrate applies the embedded migrations that the database does not have yet. It is safe to
// call on an up-to-date database.
func (s *Store) Migrate(ctx context.Context) error {
	opts := append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}, s.d.GooseOptions...)
	p, err := goose.NewProvider(s.d.Goose, s.db, s.d.Migrations, opts...)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", s.d.Name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.d.Name, err)
	}
	return nil
}

// Ping reports whether the database answers; it returns EUNAVAILABLE when it does not.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: "the " + s.d.Name + " store cannot be reached", Err: err}
	}
	if s.rdb != s.db {
		if err := s.rdb.PingContext(ctx); err != nil {
			return &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: "the " + s.d.Name + " store cannot be reached", Err: err}
		}
	}
	return nil
}

// Close closes the store's connection pools.
func (s *Store) Close() error {
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in a write transaction and commits it when fn succeeds. On SQLite the
// transaction begins IMMEDIATE on the single write connection, so write transactions never
// interleave; on PostgreSQL fn locks the rows it changes. fn must do all its database work
// through tx. now is the store clock read once the transaction has begun, so that the times
// a change records follow the order in which changes are serialised.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx, now time.Time) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx, s.clock()); err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// read runs fn in a read-only transaction that sees one snapshot of the database (REPEATABLE
// READ on PostgreSQL; a deferred read transaction on SQLite).
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	if err := fn(tx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// wrap returns domain errors as they are and wraps every other error with op.
func wrap(op string, err error) error {
	var e *promptd.Error
	if errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// millis returns t as stored: Unix milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis returns a stored time in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// newID returns a new UUIDv7 identifier, for every kind of row.
func newID() string { return promptd.NewEventID() }
