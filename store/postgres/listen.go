package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotifyChannel is the channel on which a transaction that made deliveries due notifies the
// other instances. The payload is "<schema>/<instance>": the schema of the store, so that
// deployments sharing one database in different schemas do not wake each other, and the
// sending store's instance id, so that a store ignores its own notifications (it has woken
// its engine already).
const NotifyChannel = "promptd_deliveries"

// schemaExpr names the store's schema: the first schema of the connection's search_path.
const schemaExpr = `coalesce(current_schema(), '')`

// notifyStatement is run by a transaction that made deliveries due; PostgreSQL delivers the
// notification when (and only if) the transaction commits. instance is hex.
func notifyStatement(instance string) string {
	return `SELECT pg_notify('` + NotifyChannel + `', ` + schemaExpr + ` || '/` + instance + `')`
}

// parsePayload splits a notification's payload into schema and instance.
func parsePayload(p string) (schema, instance string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return p, ""
}

// Reconnection backoff of the listener.
const (
	listenMinBackoff = 100 * time.Millisecond
	listenMaxBackoff = 30 * time.Second
)

// listener holds a dedicated connection (outside the pool: LISTEN is a session state) that
// listens on NotifyChannel and wakes the store's engines when another instance queued work.
type listener struct {
	url      string
	instance string    // this store's id in the payloads it sends
	conn     *pgx.Conn // owned by run once it starts
	schema   string
	pid      atomic.Uint32 // the backend of the current connection, for tests
}

// newListener connects and starts listening, so that every notification committed after it
// returns is received.
func newListener(ctx context.Context, url string) (*listener, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("instance id: %w", err)
	}
	l := &listener{url: url, instance: hex.EncodeToString(id[:])}
	if err := l.connect(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *listener) connect(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(l.url)
	if err != nil {
		return fmt.Errorf("parsing the database URL: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "promptd-listen"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	var schema string
	if err := conn.QueryRow(ctx, `SELECT `+schemaExpr).Scan(&schema); err != nil {
		closeConn(conn)
		return fmt.Errorf("reading the schema: %w", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+NotifyChannel); err != nil {
		closeConn(conn)
		return fmt.Errorf("LISTEN %s: %w", NotifyChannel, err)
	}
	l.conn, l.schema = conn, schema
	l.pid.Store(conn.PgConn().PID())
	return nil
}

// run waits for notifications until ctx ends, calling wake for each one about this store's
// schema sent by another store. When the connection breaks it reconnects with exponential backoff and then calls
// wake once, since notifications sent meanwhile are lost. It closes the connection on return.
func (l *listener) run(ctx context.Context, wake func()) {
	backoff := listenMinBackoff
	defer func() {
		if l.conn != nil {
			closeConn(l.conn)
			l.conn = nil
		}
	}()
	for {
		if l.conn == nil {
			if err := l.connect(ctx); err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, listenMaxBackoff)
				continue
			}
			backoff = listenMinBackoff
			wake()
		}
		n, err := l.conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			closeConn(l.conn)
			l.conn = nil
			continue
		}
		if schema, instance := parsePayload(n.Payload); schema == l.schema && instance != l.instance {
			wake()
		}
	}
}

// close closes a listener that never ran.
func (l *listener) close() {
	if l.conn != nil {
		closeConn(l.conn)
	}
}

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.Close(ctx) //nolint:errcheck // nothing to do about a failed goodbye
}
