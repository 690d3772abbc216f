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
//
// insertEvents also fans each event out, in the same transaction, to one delivery per
// matching webhook of its project: the deliveries table is the delivery engine's queue
// (promptd.Queue). A delivery is due when it is pending or delivering and next_attempt_at has
// passed; while it is delivering, next_attempt_at is the end of its lease, so the work of an
// engine that died comes back by itself. Claims lease due rows (FOR UPDATE SKIP LOCKED on
// PostgreSQL, the single writer on SQLite), Record ends the leases fenced on the claim that
// made the attempt, and every commit that made work due wakes the engines through Notify
// (and, on PostgreSQL, through NOTIFY in other processes). Webhook secrets and custom header
// values are sealed with the SecretBox given to SetSecretBox.
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

	// ForNoKeyUpdate is appended to the SELECT that loads a webhook to change its settings,
	// e.g. " FOR NO KEY UPDATE": it serialises changes of one webhook without waiting for the
	// transactions that hold it ForKeyShare (publishing ones) nor making them wait. It is ""
	// where writes are serialised anyway (SQLite).
	ForNoKeyUpdate string

	// ForKeyShare is appended to the SELECTs that read a webhook, or an event, before
	// deliveries referring to it are inserted, e.g. " FOR KEY SHARE": the lock a foreign key
	// would take, so that the row is not deleted before the transaction ends (PostgreSQL's
	// deliveries have no foreign keys since migration 00015). It is "" where the keys are
	// there and writes are serialised anyway (SQLite).
	ForKeyShare string

	// HasTag is a boolean SQL expression, a fmt format with two verbs: %[1]s is a column
	// holding a JSON array of strings and %[2]s a placeholder; it is true when the array holds
	// the placeholder's string.
	HasTag string

	// IsUniqueViolation reports whether err is a violation of a UNIQUE or PRIMARY KEY
	// constraint. It must judge by the driver's error code, never by the message text.
	IsUniqueViolation func(err error) bool

	// SkipLocked ends the SELECT that picks the deliveries a claim leases, e.g.
	// " FOR UPDATE SKIP LOCKED", so that concurrent claimers lock disjoint rows without
	// waiting for each other. It is "" where write transactions are serialised anyway.
	SkipLocked string

	// NotifyQueued, when not "", is a statement run after a write transaction that made
	// deliveries due has committed, to wake the engines of other processes, e.g.
	// "SELECT pg_notify(…)". It runs on its own, outside the transaction (on PostgreSQL a
	// transaction that notifies holds a database-wide lock through its commit, which would
	// serialise every publishing transaction), and commits that follow each other closely
	// share one notification. Listen receives what it sends.
	NotifyQueued string

	// Listen, when set, runs from New until Close, calling wake whenever another process
	// made deliveries due (see NotifyQueued), and once after each reconnection, when it may
	// have missed some. It returns when ctx ends.
	Listen func(ctx context.Context, wake func())

	// TryPurgeLock, when not "", is a query run at the start of every Purge transaction that
	// returns one boolean: whether this process may purge now. It is how one instance at a
	// time purges, e.g. "SELECT pg_try_advisory_xact_lock(…)".
	TryPurgeLock string

	// PartitionLock, when not "", says that deliveries and attempts are partitioned by day
	// (PostgreSQL; see queue_partitions.go) and is the statement that serialises the
	// creation of partitions between processes, e.g. "SELECT pg_advisory_xact_lock(…)".
	PartitionLock string

	// SerialWrites says that the database has one write connection on which write
	// transactions run one after the other (SQLite). The store then commits concurrent
	// writes in groups, one transaction for many, and keeps the write connection's
	// statements prepared (see group.go).
	SerialWrites bool

	// Fault classifies a driver error by its code: promptd.EUNAVAILABLE when the database
	// cannot be reached or refuses work for now (connection refused or lost, the server
	// shutting down or starting up), promptd.EFULL when it has no room left to write (disk
	// full), "" for every other error. Nil classifies nothing. See fault.go.
	Fault func(err error) string

	// Closed, when set, is called by Close once the connection pools are closed, e.g. to
	// release a lock on the database file.
	Closed func()

	// AnonymousParams says that write transactions should run their statements with "?"
	// placeholders instead of the $1, $2, … they are written with (SQLite, which binds
	// numbered ones by a linear search for each; see rebind.go).
	AnonymousParams bool

	// PlanEachTime, when not nil, is passed as the first argument of the statements whose
	// best plan depends on their arguments (how many rows a batch holds, which partitions
	// they lie in), to make the driver have them planned with those values on every
	// execution rather than by a plan the database cached from earlier ones, e.g.
	// pgx.QueryExecModeExec. PostgreSQL caches a generic plan after five executions, and one
	// made while a new day's partition was nearly empty reads that partition whole once it
	// has grown.
	PlanEachTime any

	// PublishGather is how long a batch of published events (publish.go) waits for more
	// calls to join it when the previous batch held more than one event: worth it where a
	// transaction's fixed cost is large next to a row's (PostgreSQL). 0 never waits (SQLite,
	// whose committer groups the writes that queue up). A call that finds the publisher idle
	// never waits.
	PublishGather time.Duration

	// ArrayParams says that the database takes Go slices as array parameters and expands
	// them into rows with unnest (PostgreSQL, through pgx): the hot multi-row writes (events,
	// deliveries, attempts, result updates) are then one statement however many rows they
	// hold, instead of one per chunk of rows (see rowChunks), and one statement text, planned
	// once per connection.
	ArrayParams bool
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
	box atomic.Pointer[boxRef]

	failNext atomic.Pointer[error] // FailNextCommit

	writeFault atomic.Pointer[promptd.Error] // the last write's fault, until a write succeeds (fault.go)

	acquireWait atomic.Int64 // SetAcquireTimeout, a time.Duration (pool.go)

	eventCounter atomic.Pointer[func(eventType string)]    // SetEventCounter
	filterErrors atomic.Pointer[func(promptd.FilterError)] // SetFilterErrorHandler
	handoff      atomic.Pointer[promptd.Handoff]           // SetHandoff

	notify     chan struct{} // Notify's channel: buffered 1, sent to without blocking
	stopListen context.CancelFunc
	listenDone chan struct{}

	hooks hookCache // decrypted webhook settings and secrets, for claims

	group *committer      // when the dialect has SerialWrites
	pub   *batchPublisher // PublishEvent without an idempotency key

	notifyOthers chan struct{} // buffered 1: the notifier sends NotifyQueued
	notifierDone chan struct{}
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
	s := &Store{db: write, rdb: read, d: d, notify: make(chan struct{}, 1), listenDone: make(chan struct{}),
		notifyOthers: make(chan struct{}, 1), notifierDone: make(chan struct{})}
	s.SetClock(nil)
	if d.SerialWrites {
		s.group = newCommitter(s)
	}
	s.pub = newBatchPublisher(s)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	if d.NotifyQueued == "" {
		close(s.notifierDone)
	} else {
		go s.notifier(ctx)
	}
	if d.Listen == nil {
		close(s.listenDone)
	} else {
		go func() {
			defer close(s.listenDone)
			d.Listen(ctx, s.wake)
		}()
	}
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

// Migrate applies the embedded migrations that the database does not have yet, also those
// numbered below the newest one applied (migration numbers are handed out ahead of time, and
// a lower one may be written after a higher one). It is safe to call on an up-to-date database.
func (s *Store) Migrate(ctx context.Context) error {
	opts := append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true)}, s.d.GooseOptions...)
	p, err := goose.NewProvider(s.d.Goose, s.db, s.d.Migrations, opts...)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", s.d.Name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.d.Name, err)
	}
	if err := s.ensurePartitions(ctx, s.clock()); err != nil {
		return fmt.Errorf("%s: migrate: %w", s.d.Name, err)
	}
	return nil
}

// Ping reports whether the store can serve: whether the database answers and, when the
// last write failed because the database could not be reached or was full, whether a small
// write succeeds now (see fault.go). It returns EUNAVAILABLE or EFULL when it cannot.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.unreachable(err)
	}
	if s.rdb != s.db {
		if err := s.rdb.PingContext(ctx); err != nil {
			return s.unreachable(err)
		}
	}
	if s.writeFault.Load() != nil {
		return s.probeWrite(ctx)
	}
	return nil
}

// Close stops listening for other processes' notifications and closes the store's
// connection pools.
func (s *Store) Close() error {
	s.stopListen()
	<-s.listenDone
	<-s.notifierDone
	s.pub.close()
	if s.group != nil {
		s.group.close()
	}
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	if s.d.Closed != nil {
		s.d.Closed()
	}
	return err
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// writeTx is a write transaction: the *sql.Tx, the store clock read when it began, and
// whether it made deliveries due (then Notify fires when it commits). In a group commit it is
// the group's transaction, and now and queued are those of the write running in it.
type writeTx struct {
	*sql.Tx
	now    time.Time
	queued bool
	// events are the types of the events the write inserted, for the EventCounter once
	// it has committed.
	events []string
	// handoff, when set, takes the new deliveries it reserves (see handoff.go).
	handoff *handoffPlan

	// anonymous rewrites $N placeholders to "?" (Dialect.AnonymousParams).
	anonymous bool
	// arrays says that statements may take slices as array parameters (Dialect.ArrayParams).
	arrays bool
	// planEachTime is Dialect.PlanEachTime.
	planEachTime any
	// detach runs statements without their caller's cancellation (a group transaction
	// must not be interrupted on behalf of one of its writes).
	detach bool
	// stmts, when set, holds prepared statements; txStmts are those bound to this
	// transaction so far.
	stmts   *stmtCache
	txStmts map[string]*sql.Stmt
}

// newWriteTx wraps a write transaction with what the dialect says of its statements.
func (s *Store) newWriteTx(sqlTx *sql.Tx) *writeTx {
	return &writeTx{Tx: sqlTx, anonymous: s.d.AnonymousParams, arrays: s.d.ArrayParams, planEachTime: s.d.PlanEachTime}
}

// planned returns the arguments of a statement that is to be planned with them on every
// execution (Dialect.PlanEachTime).
func (tx *writeTx) planned(args ...any) []any {
	if tx.planEachTime == nil {
		return args
	}
	return append([]any{tx.planEachTime}, args...)
}

// ExecContext runs a statement in the transaction, prepared when the store keeps prepared
// statements.
func (tx *writeTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, query, args = tx.prepare(ctx, query, args)
	if st := tx.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction, prepared when the store keeps prepared
// statements.
func (tx *writeTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, query, args = tx.prepare(ctx, query, args)
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a query that returns at most one row in the transaction, prepared
// when the store keeps prepared statements.
func (tx *writeTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, query, args = tx.prepare(ctx, query, args)
	if st := tx.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

// prepare readies a statement's call for the transaction: detached from the caller's
// cancellation, and with anonymous placeholders, as the transaction says.
func (tx *writeTx) prepare(ctx context.Context, query string, args []any) (context.Context, string, []any) {
	if tx.detach {
		ctx = context.WithoutCancel(ctx)
	}
	if tx.anonymous {
		query, args = rebind(query, args)
	}
	return ctx, query, args
}

// stmt returns query prepared and bound to the transaction, or nil when it is not (yet)
// prepared.
func (tx *writeTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	if st := tx.txStmts[query]; st != nil {
		return st
	}
	prepared := tx.stmts.get(query)
	if prepared == nil {
		return nil
	}
	st := tx.Tx.StmtContext(ctx, prepared)
	if tx.txStmts == nil {
		tx.txStmts = map[string]*sql.Stmt{}
	}
	tx.txStmts[query] = st
	return st
}

// queue records that tx makes deliveries due: engines are woken when it commits, in this
// process through Notify and in others through the dialect's NotifyQueued.
func (s *Store) queue(_ context.Context, tx *writeTx) error {
	tx.queued = true
	return nil
}

// committed wakes the engines after a commit that made deliveries due: this process's at
// once, other processes' through the notifier.
func (s *Store) committed() {
	s.wake()
	if s.d.NotifyQueued != "" {
		select {
		case s.notifyOthers <- struct{}{}:
		default: // a notification is already due: it covers this commit too
		}
	}
}

// notifier sends NotifyQueued whenever commits asked for it, one statement for the commits
// that happened while the previous one ran, until ctx ends. A notification that fails is
// not retried: the other processes' engines also look at the queue by themselves (at the
// latest when their next due time comes, and after every reconnection of their listener).
func (s *Store) notifier(ctx context.Context) {
	defer close(s.notifierDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notifyOthers:
		}
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = s.db.ExecContext(nctx, s.d.NotifyQueued) //nolint:errcheck // best effort, see above
		cancel()
	}
}

// write runs fn in a write transaction and commits it when fn succeeds. On SQLite
// (SerialWrites) fn runs on the committer goroutine, in a transaction begun IMMEDIATE on the
// single write connection that it may share with other writes (group commit: each write is
// undone alone when its fn fails, and write returns after the shared commit); write
// transactions never interleave. On PostgreSQL fn locks the rows it changes. fn must do all its database work
// through tx. now is the store clock read once the transaction has begun, so that the times
// a change records follow the order in which changes are serialised. When fn made
// deliveries due (queue), Notify fires after the commit.
func (s *Store) write(ctx context.Context, op string, fn func(tx *writeTx, now time.Time) error) error {
	if s.group != nil {
		return s.wrote(s.group.write(ctx, op, fn))
	}
	return s.wrote(s.writeAlone(ctx, op, fn))
}

// writeAlone runs fn in a transaction of its own and commits it (write without group commit).
func (s *Store) writeAlone(ctx context.Context, op string, fn func(tx *writeTx, now time.Time) error) error {
	sqlTx, release, err := s.beginOn(ctx, s.db, op, nil)
	if err != nil {
		return err
	}
	defer release()
	defer sqlTx.Rollback() //nolint:errcheck // a no-op after Commit
	tx := s.newWriteTx(sqlTx)
	tx.now = s.clock()
	if err := fn(tx, tx.now); err != nil {
		return wrap(op, err)
	}
	if injected := s.failNext.Swap(nil); injected != nil {
		return wrap(op, *injected) // rolled back by the deferred Rollback
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	if tx.queued {
		s.committed()
	}
	s.countEvents(tx.events)
	return nil
}

// SetEventCounter sets a function called once for every event committed by this store
// (e.g. to count events in a metric), after its transaction committed; nil removes it.
func (s *Store) SetEventCounter(count func(eventType string)) {
	if count == nil {
		s.eventCounter.Store(nil)
		return
	}
	s.eventCounter.Store(&count)
}

// countEvents passes committed events to the event counter.
func (s *Store) countEvents(types []string) {
	if f := s.eventCounter.Load(); f != nil {
		for _, t := range types {
			(*f)(t)
		}
	}
}

// FailNextCommit makes the next write transaction fail with err after all its statements
// ran, instead of committing, so that it rolls back. It is for tests
// (storetest.CommitFailer): they check that a change that fails at the last moment leaves
// nothing behind, neither events nor deliveries.
func (s *Store) FailNextCommit(err error) {
	if err == nil {
		s.failNext.Store(nil)
		return
	}
	s.failNext.Store(&err)
}

// Notify returns the channel that receives whenever deliveries became due: committed by
// this store, or, where the dialect can listen, by another process. See promptd.Queue.
func (s *Store) Notify() <-chan struct{} { return s.notify }

// wake signals Notify's channel without blocking: one pending signal is enough.
func (s *Store) wake() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// SecretBox encrypts the secrets the store keeps (webhook secrets, custom header values).
// *secretbox.Box implements it.
type SecretBox = promptd.SecretBox

type boxRef struct{ b SecretBox }

// SetSecretBox sets the box that seals webhook secrets and custom header values at rest.
// The webhook and queue methods return EINTERNAL until it is set; prompts and events do not
// need it.
func (s *Store) SetSecretBox(b SecretBox) {
	if b == nil {
		s.box.Store(nil)
	} else {
		s.box.Store(&boxRef{b: b})
	}
	s.hooks.reset()
}

// secretBox returns the store's box, or EINTERNAL when none is set.
func (s *Store) secretBox() (SecretBox, error) {
	ref := s.box.Load()
	if ref == nil {
		return nil, &promptd.Error{Kind: promptd.EINTERNAL,
			Message: "the " + s.d.Name + " store has no secret box to encrypt webhook secrets: call SetSecretBox with the master key first"}
	}
	return ref.b, nil
}

// read runs fn in a read-only transaction that sees one snapshot of the database (REPEATABLE
// READ on PostgreSQL; a deferred read transaction on SQLite).
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, release, err := s.beginOn(ctx, s.rdb, op, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return s.fault(err, false)
	}
	defer release()
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	if err := fn(tx); err != nil {
		return s.fault(wrap(op, err), false)
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
