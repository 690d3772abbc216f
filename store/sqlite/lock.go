package sqlite

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// One process per database file. Open takes an exclusive OS file lock (flock) on
// "<path>.lock" and keeps it until Close; the operating system releases it when the process
// dies, even by kill -9, so a crash never leaves a stale lock behind. The lock file holds the
// pid of the process that has it, for the message that refuses a second one.

// lockFile is a held lock on a database file.
type lockFile struct{ f *os.File }

// ErrLocked is wrapped by the error of Open when another process has the database open.
var ErrLocked = errors.New("the database is in use by another process")

// lockDatabase takes the lock of the database at path, or says which process holds it.
func lockDatabase(path string) (*lockFile, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := "another process"
		if b, rerr := os.ReadFile(name); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf("process %d", pid)
			}
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("sqlite: %s is in use by %s (one promptd per data directory: stop it first, or use another directory): %w", path, holder, ErrLocked)
		}
		return nil, fmt.Errorf("sqlite: locking %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &lockFile{f: f}, nil
}

// release gives the lock up.
func (l *lockFile) release() {
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
}
