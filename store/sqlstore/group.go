package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit, for databases with one write connection (Dialect.SerialWrites, SQLite).
//
// Every write goes to one committer goroutine, which owns the write connection. It takes the
// first waiting write and every other write queued behind it (up to maxGroup), runs them in
// one transaction, each inside its own SAVEPOINT, and commits once: a write whose function
// fails is rolled back to its savepoint alone, the others commit together, and each caller
// is answered only after that commit. Nothing is held back to wait for company: a write that
// arrives at an idle committer runs at once, alone, so grouping only happens when writes
// queue up anyway. What it saves is the per-transaction cost that dominates small writes on
// SQLite: BEGIN, COMMIT and above all the WAL append of every page the transaction touched
// (pages that several writes of a group touch, like the tops of the indexes, are written
// once).
//
// The committer also keeps the write connection's prepared statements (stmtCache): SQLite
// parses a statement anew on every call otherwise, which cost a fifth of promptd's CPU.

// maxGroup bounds the writes of one group transaction, so that a group commits at least
// every few milliseconds under any load.
const maxGroup = 64

// writeReq is one write waiting for the committer.
type writeReq struct {
	ctx  context.Context
	op   string
	fn   func(tx *writeTx, now time.Time) error
	done chan error // buffered 1
}

var writeReqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan error, 1)} }}

// committer runs the group transactions of a store whose dialect serialises writes.
type committer struct {
	s     *Store
	reqs  chan *writeReq
	stop  chan struct{}
	done  chan struct{}
	stmts *stmtCache
}

func newCommitter(s *Store) *committer {
	c := &committer{
		s:     s,
		reqs:  make(chan *writeReq),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		stmts: newStmtCache(s.db),
	}
	go c.run()
	return c
}

// errStoreClosed answers writes that reach a closed store.
var errStoreClosed = errors.New("the store is closed")

// write hands fn to the committer and waits for its outcome. It waits even when ctx ends
// meanwhile: once the committer has taken fn, only the commit tells whether it took effect.
// It waits for the committer to take fn at most the store's acquire budget (pool.go): a
// committer that stays busy for longer (its connection held by a long transaction, or
// waiting for another process's lock) makes the write fail with EUNAVAILABLE, untried.
func (c *committer) write(ctx context.Context, op string, fn func(tx *writeTx, now time.Time) error) error {
	r := writeReqPool.Get().(*writeReq)
	r.ctx, r.op, r.fn = ctx, op, fn
	budget := c.s.acquireTimeout()
	wait := time.NewTimer(budget)
	defer wait.Stop()
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		r.ctx, r.fn = nil, nil
		writeReqPool.Put(r)
		return fmt.Errorf("%s: %w", op, ctx.Err())
	case <-wait.C:
		r.ctx, r.fn = nil, nil
		writeReqPool.Put(r)
		return c.s.exhausted(op, budget, context.DeadlineExceeded)
	case <-c.stop:
		r.ctx, r.fn = nil, nil
		writeReqPool.Put(r)
		return fmt.Errorf("%s: %w", op, errStoreClosed)
	}
	err := <-r.done
	r.ctx, r.fn = nil, nil
	writeReqPool.Put(r)
	return err
}

// close stops the committer once the writes already handed to it are done.
func (c *committer) close() {
	close(c.stop)
	<-c.done
	c.stmts.close()
}

func (c *committer) run() {
	defer close(c.done)
	group := make([]*writeReq, 0, maxGroup)
	for {
		select {
		case <-c.stop:
			return
		case r := <-c.reqs:
			group = append(group[:0], r)
		}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		c.commit(group)
		c.stmts.prepareMissed()
	}
}

// commit runs one group in one transaction and answers every write in it.
func (c *committer) commit(group []*writeReq) {
	errs := make([]error, len(group))
	answer := func() {
		for i, r := range group {
			r.done <- errs[i]
		}
	}
	failAll := func(err error) {
		for i, r := range group {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("%s: %w", r.op, err)
			}
		}
		answer()
	}

	// The transaction does not follow any caller's context: cancelling one write must not
	// interrupt the connection under the others (SQLite rolls back the whole transaction
	// when an interrupted statement was writing).
	sqlTx, err := c.s.db.BeginTx(context.Background(), nil)
	if err != nil {
		failAll(fmt.Errorf("begin: %w", err))
		return
	}
	defer sqlTx.Rollback() //nolint:errcheck // a no-op after Commit
	tx := c.s.newWriteTx(sqlTx)
	tx.stmts, tx.detach = c.stmts, true
	savepoints := len(group) > 1
	queued, committed := false, 0
	var events []string
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("%s: %w", r.op, err)
			continue
		}
		if savepoints {
			if _, err := tx.ExecContext(context.Background(), `SAVEPOINT w`); err != nil {
				failAll(fmt.Errorf("savepoint: %w", err))
				return
			}
		}
		tx.now, tx.queued, tx.events = c.s.clock(), false, tx.events[:0]
		err := r.fn(tx, tx.now)
		if err == nil {
			if injected := c.s.failNext.Swap(nil); injected != nil {
				err = *injected
			}
		}
		if err != nil {
			errs[i] = wrap(r.op, err)
			if !savepoints {
				answer() // the deferred Rollback undoes it
				return
			}
			if _, rerr := tx.ExecContext(context.Background(), `ROLLBACK TO w`); rerr != nil {
				// The database ended the transaction itself (it does on some I/O
				// errors): nothing of the group is left to commit.
				failAll(fmt.Errorf("rolling back to a savepoint after %v: %w", err, rerr))
				return
			}
		}
		if savepoints {
			if _, err := tx.ExecContext(context.Background(), `RELEASE w`); err != nil {
				failAll(fmt.Errorf("releasing a savepoint: %w", err))
				return
			}
		}
		if errs[i] == nil {
			committed++
			queued = queued || tx.queued
			events = append(events, tx.events...)
		}
	}
	if committed == 0 {
		answer()
		return
	}
	if err := sqlTx.Commit(); err != nil {
		failAll(fmt.Errorf("commit: %w", err))
		return
	}
	if queued {
		c.s.committed()
	}
	c.s.countEvents(events)
	answer()
}

// maxStmts bounds the prepared statements kept for the write connection; statements beyond
// it are parsed on every call, as without a cache. The store's statements, counting each
// length of an IN list or multi-row VALUES as its own, stay well below it.
const maxStmts = 512

// stmtCache keeps statements prepared on the write pool (one connection), by their text.
// Only the committer goroutine uses it. A statement first seen inside a transaction runs
// unprepared and is prepared after that transaction ends: preparing on the pool while the
// transaction holds its only connection would wait forever.
type stmtCache struct {
	db     *sql.DB
	stmts  map[string]*sql.Stmt
	missed []string
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// get returns the prepared statement for query, or nil (and notes the miss).
func (c *stmtCache) get(query string) *sql.Stmt {
	if st := c.stmts[query]; st != nil {
		return st
	}
	if len(c.stmts)+len(c.missed) < maxStmts {
		c.missed = append(c.missed, query)
	}
	return nil
}

// prepareMissed prepares the statements that missed during the last transaction. A
// statement that does not prepare (it failed in its transaction too) is left out.
func (c *stmtCache) prepareMissed() {
	for _, q := range c.missed {
		if _, ok := c.stmts[q]; ok {
			continue
		}
		if st, err := c.db.Prepare(q); err == nil {
			c.stmts[q] = st
		}
	}
	c.missed = c.missed[:0]
}

func (c *stmtCache) close() {
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}
