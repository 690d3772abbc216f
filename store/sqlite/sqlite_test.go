package sqlite

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Exercise(t, func(t *testing.T) promptd.Store {
		s, err := Open(filepath.Join(t.TempDir(), "promptd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenCreatesPrivateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s, err := Open(filepath.Join(dir, "promptd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %o, want 700", perm)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestMigrateTwice(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "promptd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 2; i++ {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate %d: %v", i+1, err)
		}
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, p := range []string{"", "a?b.db", "x#y.db"} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	if left, _ := filepath.Glob("*"); len(left) > 0 {
		t.Errorf("a refused Open left files behind: %v", left)
	}
}

// TestPragmas checks the settings of both pools: WAL, synchronous=NORMAL, foreign keys, a
// busy timeout; a query-only read pool; IMMEDIATE write transactions on one connection.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "promptd.db")
	write, read, err := openPools(path)
	if err != nil {
		t.Fatal(err)
	}
	defer write.Close()
	defer read.Close()
	ctx := t.Context()
	for _, tc := range []struct {
		pool   string
		pragma string
		want   string
	}{
		{"write", "journal_mode", "wal"},
		{"write", "synchronous", "1"},
		{"write", "foreign_keys", "1"},
		{"write", "busy_timeout", "10000"},
		{"write", "query_only", "0"},
		{"write", "temp_store", "2"},
		{"read", "journal_mode", "wal"},
		{"read", "synchronous", "1"},
		{"read", "foreign_keys", "1"},
		{"read", "busy_timeout", "10000"},
		{"read", "query_only", "1"},
	} {
		db := write
		if tc.pool == "read" {
			db = read
		}
		var got string
		if err := db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s pool: PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s pool: %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
	if n := write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("write pool allows %d connections, want 1", n)
	}
	if _, err := read.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err == nil {
		t.Error("the read pool can write")
	}
	// An IMMEDIATE transaction takes the write lock at BEGIN: a second connection that tries
	// to write meanwhile gets SQLITE_BUSY after its (short) busy timeout.
	tx, err := write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	other, otherRead, err := openPools(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	defer otherRead.Close()
	if _, err := other.ExecContext(ctx, "PRAGMA busy_timeout = 50"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ExecContext(ctx, "CREATE TABLE t (x INTEGER)"); err == nil {
		t.Error("another connection could write while an IMMEDIATE transaction was open")
	}
}

// TestEncryptedAtRest reads the database file through a connection of its own: no secret and
// no custom header value is stored in clear.
func TestEncryptedAtRest(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "promptd.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.CheckEncryptedAtRest(t, s, raw)
}
