package delivery_test

import (
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// Five failures in a row open a webhook's circuit: Circuit says so, and until when the
// webhook's deliveries are held; a webhook never sent to is closed.
func TestCircuitReportsAnOpenBreaker(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv, _ := scripted(t, []int{500}, nil)
	w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.Retry.Schedule = []time.Duration{} })
	eng := f.start(t, func(c *delivery.Config) { c.BreakerTimeout = time.Hour })
	if c := eng.Circuit(w.ID); c.State != promptd.CircuitClosed || !c.OpenUntil.IsZero() {
		t.Fatalf("before any request: %+v, want closed", c)
	}
	var last *promptd.Event
	for range 5 {
		last = f.publish(t, "circuit.test")
		f.waitDelivery(t, w, last, promptd.StatusFailed)
	}
	before := time.Now()
	deadline := time.Now().Add(10 * time.Second)
	c := eng.Circuit(w.ID)
	for c.State != promptd.CircuitOpen && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		c = eng.Circuit(w.ID)
	}
	if c.State != promptd.CircuitOpen {
		t.Fatalf("after 5 failures: %+v, want open", c)
	}
	// It opened at the fifth failure, before `before`, and stays open for the hour.
	if c.OpenUntil.After(before.Add(time.Hour)) || c.OpenUntil.Before(before.Add(time.Hour-time.Minute)) {
		t.Errorf("open until %v, want about an hour after %v", c.OpenUntil, before)
	}
	if c := eng.Circuit("wh_unknown"); c.State != promptd.CircuitClosed {
		t.Errorf("unknown webhook: %+v, want closed", c)
	}
}
