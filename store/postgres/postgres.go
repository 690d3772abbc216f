// Package postgres opens the scale-out store: a PostgreSQL database shared by any number of
// promptd instances, through pgx's database/sql driver, served by the shared implementation
// in store/sqlstore.
//
// Transactions run at READ COMMITTED. Changes to one prompt are serialised by a row lock on
// the prompt (SELECT … FOR UPDATE); a new prompt is inserted with ON CONFLICT DO NOTHING and
// then locked, so instances creating the same prompt at once wait for each other instead of
// failing. Migrations take a session advisory lock, so instances starting together migrate
// once.
//
// Deliveries are claimed with FOR UPDATE SKIP LOCKED, so any number of instances split the
// queue without waiting for each other. A transaction that makes deliveries due runs
// pg_notify on NotifyChannel, and every store keeps a dedicated connection that LISTENs on
// it, so the engines of all instances wake at once. Purge takes a transaction-level advisory
// lock, so one instance at a time purges.
//
// The tables live in the first schema of the connection's search_path; a URL may choose it
// with the search_path query parameter (postgres://…/db?search_path=promptd).
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// PublishGather is how long a batch of published events waits for more calls under load
// (sqlstore.Dialect.PublishGather), so that the calls answered by one commit come back into
// the next batch together; chosen by measurement against 2 and 5 ms (docs/benchmarks.md).
const PublishGather = 3 * time.Millisecond

// Connection pool limits of a store. Every open connection may stay idle (for up to
// ConnMaxIdleTime): a pool that closes connections as soon as a burst ends opens them again
// at the next one, and each new PostgreSQL connection forks a server process.
const (
	MaxOpenConns    = 20
	MaxIdleConns    = MaxOpenConns
	ConnMaxIdleTime = 5 * time.Minute
)

// uniqueViolation is the SQLSTATE of a unique_violation.
const uniqueViolation = "23505"

// Dialect returns what sqlstore needs to know about PostgreSQL.
func Dialect() sqlstore.Dialect {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic("postgres: embedded migrations: " + err.Error())
	}
	return sqlstore.Dialect{
		Name:              "postgres",
		Goose:             goose.DialectPostgres,
		Migrations:        sub,
		GooseOptions:      []goose.ProviderOption{goose.WithSessionLocker(migrationLocker{})},
		ForUpdate:         " FOR UPDATE",
		ForKeyShare:       " FOR KEY SHARE",
		ForNoKeyUpdate:    " FOR NO KEY UPDATE",
		HasTag:            `EXISTS (SELECT 1 FROM jsonb_array_elements_text(%[1]s::jsonb) AS t(tag) WHERE t.tag = %[2]s)`,
		IsUniqueViolation: isUniqueViolation,
		Fault:             fault,
		SkipLocked:        " FOR UPDATE SKIP LOCKED",
		NotifyQueued:      notifyStatement(""), // Open names the instance
		ArrayParams:       true,
		PlanEachTime:      pgx.QueryExecModeExec,
		PublishGather:     PublishGather,
		TryPurgeLock:      `SELECT pg_try_advisory_xact_lock(hashtext('promptd.purge.' || ` + schemaExpr + `))`,
		PartitionLock:     `SELECT pg_advisory_xact_lock(hashtext('promptd.partitions.' || ` + schemaExpr + `))`,
		// Listen is set by Open, which knows how to connect.
	}
}

// isUniqueViolation reports a unique_violation by its SQLSTATE.
func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == uniqueViolation
}

// fault classifies a driver error: by SQLSTATE for the errors the server sends (53100
// disk_full is EFULL; class 08 connection exceptions, 53300 too_many_connections, 57P01
// admin_shutdown, 57P02 crash_shutdown and 57P03 cannot_connect_now are EUNAVAILABLE), and by
// type for a connection that could not be made or broke (EUNAVAILABLE).
func fault(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100":
			return promptd.EFULL
		case strings.HasPrefix(pe.Code, "08"), pe.Code == "53300", pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03":
			return promptd.EUNAVAILABLE
		}
		return ""
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF):
		return promptd.EUNAVAILABLE
	}
	return ""
}

// Open connects to the database at url (postgres://user:pass@host:port/db?…), checks that
// it answers, and starts listening for the notifications of other instances on a dedicated
// connection (reconnected with backoff until Close). It does not migrate: call Migrate.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxIdleConns)
	db.SetConnMaxIdleTime(ConnMaxIdleTime)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	l, err := newListener(ctx, url)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: listening for notifications: %w", err)
	}
	d := Dialect()
	d.NotifyQueued, d.Listen = notifyStatement(l.instance), l.run
	s, err := sqlstore.New(db, db, d)
	if err != nil {
		l.close()
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrationLocker serialises migrations of one schema with a session advisory lock whose key
// is derived from the schema name, so that migrations of different schemas (e.g. parallel
// tests) do not wait for each other. Unlike goose's own locker it blocks in
// pg_advisory_lock (cancelled with the context) instead of polling every few seconds.
type migrationLocker struct{}

var _ lock.SessionLocker = migrationLocker{}

const lockKey = `hashtext('promptd.migrate.' || coalesce(current_schema(), ''))`

// SessionLock waits for the migration lock of the current schema.
func (migrationLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	return nil
}

// SessionUnlock releases the migration lock.
func (migrationLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("releasing the migration lock: %w", err)
	}
	return nil
}
