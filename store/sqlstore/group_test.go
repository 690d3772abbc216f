package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
)

// groupStore opens a SerialWrites store on a bare SQLite database with one table, t(k
// PRIMARY KEY).
func groupStore(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "group.db")
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=temp_store(MEMORY)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	s, err := New(db, db, Dialect{
		Name: "sqlite", Goose: goose.DialectSQLite3, Migrations: fstest.MapFS{},
		HasTag: "%s %s", IsUniqueViolation: func(error) bool { return false },
		SerialWrites: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func keys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.db.Query(`SELECT k FROM t`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got[k] = true
	}
	return got
}

// TestGroupCommit queues writes behind a blocked one so that they run as one group, and
// checks that each failing write is undone alone (its savepoint), the others commit, every
// caller gets its own outcome, and the statements ran prepared from the second group on.
func TestGroupCommit(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()

	// The first write holds the committer until the others are queued.
	release := make(chan struct{})
	started := make(chan struct{})
	firstDone := make(chan error, 1)
	go func() {
		firstDone <- s.write(ctx, "first", func(tx *writeTx, _ time.Time) error {
			close(started)
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ($1)`, "first")
			return err
		})
	}()
	<-started

	const n = 20
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		txs   = map[*writeTx]int{}
		errs  = make([]error, n)
		boom  = errors.New("boom")
		ready sync.WaitGroup
	)
	ready.Add(n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			errs[i] = s.write(ctx, fmt.Sprintf("w%d", i), func(tx *writeTx, _ time.Time) error {
				mu.Lock()
				txs[tx]++
				mu.Unlock()
				if _, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ($1)`, fmt.Sprintf("k%d", i)); err != nil {
					return err
				}
				switch i % 4 {
				case 1: // fails after writing: its row must go
					return boom
				case 2: // a statement fails: a duplicate key
					_, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ($1)`, fmt.Sprintf("k%d", i))
					return err
				}
				return nil
			})
		}()
	}
	ready.Wait()
	time.Sleep(100 * time.Millisecond) // let every write reach the committer's queue
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatalf("first write: %v", err)
	}

	want := map[string]bool{"first": true}
	for i, err := range errs {
		switch i % 4 {
		case 1:
			if !errors.Is(err, boom) {
				t.Errorf("write %d: err %v, want boom", i, err)
			}
		case 2:
			if err == nil {
				t.Errorf("write %d inserted a duplicate key", i)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			want[fmt.Sprintf("k%d", i)] = true
		}
	}
	got := keys(t, s)
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("row %s is missing", k)
		}
	}
	// The twenty queued writes ran in few transactions (at most maxGroup each), not twenty.
	if len(txs) > 2 {
		t.Errorf("the %d queued writes ran in %d transactions, want them grouped", n, len(txs))
	}
	// The insert was prepared after its first transaction (a further write is taken only
	// once that is done).
	if err := s.write(ctx, "sync", func(*writeTx, time.Time) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s.group.stmts.stmts[`INSERT INTO t (k) VALUES ($1)`] == nil {
		t.Errorf("the insert statement is not kept prepared")
	}
}

// TestGroupCommitCancelledWrite checks that a write whose context has ended before the
// committer reaches it does not run, and that it does not disturb the group around it.
func TestGroupCommitCancelledWrite(t *testing.T) {
	s := groupStore(t)
	ctx := t.Context()
	cancelled, cancel := context.WithCancel(ctx)
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	var errFirst, errCancelled, errLast error
	go func() {
		defer wg.Done()
		errFirst = s.write(ctx, "first", func(tx *writeTx, _ time.Time) error {
			close(started)
			<-release
			_, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ('first')`)
			return err
		})
	}()
	<-started
	ran := false
	go func() {
		defer wg.Done()
		errCancelled = s.write(cancelled, "cancelled", func(tx *writeTx, _ time.Time) error {
			ran = true
			_, err := tx.ExecContext(cancelled, `INSERT INTO t (k) VALUES ('cancelled')`)
			return err
		})
	}()
	go func() {
		defer wg.Done()
		errLast = s.write(ctx, "last", func(tx *writeTx, _ time.Time) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (k) VALUES ('last')`)
			return err
		})
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	close(release)
	wg.Wait()
	if errFirst != nil || errLast != nil {
		t.Fatalf("first: %v, last: %v", errFirst, errLast)
	}
	if !errors.Is(errCancelled, context.Canceled) {
		t.Errorf("cancelled write: err %v, want context.Canceled", errCancelled)
	}
	if ran {
		t.Errorf("the cancelled write ran")
	}
	got := keys(t, s)
	if !got["first"] || !got["last"] || got["cancelled"] || len(got) != 2 {
		t.Errorf("rows %v, want first and last", got)
	}
}
