package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// Pool exhaustion. A call that needs a database connection waits for one at most the
// store's acquire budget (DefaultAcquireTimeout, SetAcquireTimeout): when every connection of
// the pool stays busy for longer (PostgreSQL's pool of postgres.MaxOpenConns held by slow
// queries or locks, or, on SQLite, the single write connection held by a long write or by
// another process), the call fails with EUNAVAILABLE instead of waiting for as long as its
// caller does, and the HTTP layer answers 503 with Retry-After. The budget bounds only the
// wait for a connection, never the statements run on it.

// DefaultAcquireTimeout is how long a store call waits for a free database connection
// before it reports the store unavailable.
const DefaultAcquireTimeout = 5 * time.Second

// badConnRetries is how many times a call takes another connection when the one it got
// turned out to be broken (driver.ErrBadConn, e.g. after PostgreSQL restarted), as
// database/sql itself does for calls made on the pool.
const badConnRetries = 2

// SetAcquireTimeout sets how long a store call waits for a free database connection
// before it fails with EUNAVAILABLE (DefaultAcquireTimeout when d is not positive).
func (s *Store) SetAcquireTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultAcquireTimeout
	}
	s.acquireWait.Store(int64(d))
}

// acquireTimeout returns the store's acquire budget.
func (s *Store) acquireTimeout() time.Duration {
	if d := time.Duration(s.acquireWait.Load()); d > 0 {
		return d
	}
	return DefaultAcquireTimeout
}

// exhausted is the error of a call that found no free connection within the budget.
func (s *Store) exhausted(op string, waited time.Duration, err error) error {
	return &promptd.Error{
		Kind:    promptd.EUNAVAILABLE,
		Message: fmt.Sprintf("the %s store is busy: no database connection became free within %s; try again shortly", s.d.Name, waited),
		Err:     fmt.Errorf("%s: waiting for a connection: %w", op, err),
	}
}

// acquire takes a connection of pool for op, waiting at most the acquire budget (and no
// longer than ctx allows). It returns EUNAVAILABLE when the pool stayed exhausted, and the
// store's fault (fault.go) when no connection could be opened. Callers Close the connection.
func (s *Store) acquire(ctx context.Context, pool *sql.DB, op string) (*sql.Conn, error) {
	budget := s.acquireTimeout()
	actx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	c, err := pool.Conn(actx)
	if err == nil {
		return c, nil
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, s.exhausted(op, budget, err)
	}
	return nil, s.fault(fmt.Errorf("%s: %w", op, err), false)
}

// onConn runs fn on a connection of pool taken by acquire, and on another one when the
// connection turns out to be broken before fn could use it.
func (s *Store) onConn(ctx context.Context, pool *sql.DB, op string, fn func(c *sql.Conn) error) error {
	for try := 0; ; try++ {
		c, err := s.acquire(ctx, pool, op)
		if err != nil {
			return err
		}
		err = fn(c)
		c.Close()
		if !errors.Is(err, driver.ErrBadConn) || try == badConnRetries {
			return err
		}
	}
}

// beginOn takes a connection of pool and begins a transaction on it; the connection goes
// back to the pool when the caller ends the transaction and then calls release.
func (s *Store) beginOn(ctx context.Context, pool *sql.DB, op string, opts *sql.TxOptions) (tx *sql.Tx, release func(), err error) {
	for try := 0; ; try++ {
		c, err := s.acquire(ctx, pool, op)
		if err != nil {
			return nil, nil, err
		}
		tx, err := c.BeginTx(ctx, opts)
		if err == nil {
			return tx, func() { c.Close() }, nil
		}
		c.Close()
		if !errors.Is(err, driver.ErrBadConn) || try == badConnRetries {
			return nil, nil, fmt.Errorf("%s: begin: %w", op, err)
		}
	}
}
