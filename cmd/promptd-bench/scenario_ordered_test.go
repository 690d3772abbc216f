package main

import (
	"testing"
	"time"
)

// TestOrderReceiver checks the ordered scenario's order check: a retry of a key's last event
// is not a violation, an earlier event after a later one is, per endpoint and key.
func TestOrderReceiver(t *testing.T) {
	r := &orderReceiver{origin: time.Now(), last: map[orderKey]int64{}, seen: map[string]struct{}{}}
	r.record(0, "e1", 7, 1)
	r.record(0, "e2", 7, 2)
	r.record(0, "e2", 7, 2) // a retry
	r.record(1, "e1", 7, 1) // another endpoint has its own line
	r.record(0, "e9", 8, 5) // another key too
	if v := r.violations.Load(); v != 0 {
		t.Fatalf("%d violations before any, want 0", v)
	}
	r.record(0, "e1", 7, 1) // e1 again after e2: out of order
	if v := r.violations.Load(); v != 1 {
		t.Errorf("%d violations, want 1", v)
	}
	if d, n := r.distinct(), r.requests(); d != 4 || n != 6 {
		t.Errorf("distinct %d, requests %d; want 4 and 6", d, n)
	}
}
