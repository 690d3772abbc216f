package sqlstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/promptd/promptd"
)

// Store faults. A driver error that says the database cannot be reached (connection refused
// or lost, the server shutting down or starting up) or has no room left to write (disk
// full) is turned, once, here, into an EUNAVAILABLE or EFULL *promptd.Error that wraps it:
// the HTTP layer answers them 503 (with Retry-After) and 507 instead of 500. Which driver
// codes mean what is the dialect's judgement (Dialect.Fault), by code, never by message.
//
// A write that fails so marks the store faulted. Ping, which the readiness probe calls,
// then reports the fault until writes work again: until a write succeeds, or a small probe
// write that Ping itself makes (write_probe) does. So /readyz turns 503 while writes fail,
// even when the database still answers reads, and turns back by itself.

// probePad is the size of the row the probe writes: larger than most writes (a version of
// a prompt of some KiB writes its text twice, in the version and in its event), so that a
// probe that fits says that writes fit again.
const probePad = 64 << 10

// fault returns err as the store reports it: EUNAVAILABLE or EFULL when the dialect
// classifies its driver error so, unchanged otherwise. A fault of a write (write is true)
// marks the store faulted until a write succeeds.
func (s *Store) fault(err error, write bool) error {
	if err == nil || s.d.Fault == nil {
		return err
	}
	var e *promptd.Error
	if errors.As(err, &e) {
		if write && (e.Kind == promptd.EUNAVAILABLE || e.Kind == promptd.EFULL) {
			s.writeFault.Store(e)
		}
		return err
	}
	var fe *promptd.Error
	switch s.d.Fault(err) {
	case promptd.EUNAVAILABLE:
		fe = &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: "the " + s.d.Name + " store cannot be reached right now; try again shortly", Err: err}
	case promptd.EFULL:
		fe = &promptd.Error{Kind: promptd.EFULL, Message: "the " + s.d.Name + " store has no room left to write (the disk is full)", Err: err}
	default:
		return err
	}
	if write {
		s.writeFault.Store(fe)
	}
	return fe
}

// wrote is the outcome of a write as the store reports it: a success clears the store's
// fault, a failure goes through fault.
func (s *Store) wrote(err error) error {
	if err == nil {
		if s.writeFault.Load() != nil {
			s.writeFault.Store(nil)
		}
		return nil
	}
	return s.fault(err, true)
}

// unreachable is the error of a failed ping: the dialect's fault when it has one for err,
// EUNAVAILABLE otherwise.
func (s *Store) unreachable(err error) error {
	if ferr := s.fault(err, false); ferr != err {
		return ferr
	}
	return &promptd.Error{Kind: promptd.EUNAVAILABLE, Message: "the " + s.d.Name + " store cannot be reached", Err: err}
}

// probeWrite writes and deletes a row of write_probe in one transaction and reports the
// outcome as write does: nil (clearing the fault) when it committed.
func (s *Store) probeWrite(ctx context.Context) error {
	pad := make([]byte, probePad)
	rand.Read(pad) // random, so that PostgreSQL cannot compress it away
	err := s.write(ctx, "probe write", func(tx *writeTx, _ time.Time) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, pad) VALUES (1, $1)`, pad); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM write_probe WHERE id = 1`); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		return nil
	})
	if err == nil {
		return nil
	}
	if k := promptd.ErrorKind(err); k == promptd.EUNAVAILABLE || k == promptd.EFULL {
		return err
	}
	// The database answers but refuses this write for another reason: writes are not
	// working, whatever the reason; report the fault that was seen.
	if f := s.writeFault.Load(); f != nil {
		return &promptd.Error{Kind: f.Kind, Message: f.Message, Err: err}
	}
	return err
}
