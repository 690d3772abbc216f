package delivery_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// handedOver reads promptd_delivery_handed_over_total.
func handedOver(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "promptd_delivery_handed_over_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("promptd_delivery_handed_over_total is not registered")
	return 0
}

// TestHandoffSendsOnceWithinTheCap publishes from several goroutines to an engine that
// takes deliveries at publish: every event arrives once, the webhook's cap holds, and
// deliveries were handed over (not only claimed).
func TestHandoffSendsOnceWithinTheCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv := newCapServer(t)
	w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.MaxInFlight = 3 })
	reg := startHandoff(t, f, w)

	const publishers, each = 4, 100
	var (
		wg  sync.WaitGroup
		ids = make(chan string, publishers*each)
	)
	for range publishers {
		wg.Go(func() {
			for range each {
				ids <- f.publish(t, "burst.test").ID
			}
		})
	}
	wg.Wait()
	close(ids)
	srv.await(t, publishers*each+1)
	var all []string
	for id := range ids {
		all = append(all, id)
	}
	srv.checkOnce(t, all)
	if m := srv.maxInFlight.Load(); m > 3 {
		t.Errorf("at most %d requests were in flight; the cap is 3", m)
	}
	if n := handedOver(t, reg); n == 0 {
		t.Error("no delivery was handed over at publish")
	} else {
		t.Logf("%.0f of %d deliveries handed over at publish", n, publishers*each+1)
	}
}

// startHandoff runs an engine that takes deliveries at publish, with its metrics in the
// registry it returns, and sends one event to w first: the engine takes w's deliveries at
// publish only once a claim has drained it.
func startHandoff(t *testing.T, f *fixture, w *promptd.Webhook) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	metrics, err := delivery.NewMetrics(reg, f.st)
	if err != nil {
		t.Fatal(err)
	}
	f.start(t, func(c *delivery.Config) { c.Handoff, c.Metrics = true, metrics })
	first := f.publish(t, "first.test")
	f.waitDelivery(t, w, first, promptd.StatusSucceeded)
	return reg
}

// TestHandoffDoesNotOvertakeDueDeliveries saturates a webhook, whose engine takes
// deliveries at publish, until deliveries pile up pending; then, with new events published
// steadily, every delivery that was waiting is sent before any of the new ones.
func TestHandoffDoesNotOvertakeDueDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	var (
		mu      sync.Mutex
		arrived []string // the payloads' types, in order
		gate    atomic.Pointer[chan struct{}]
		open    = make(chan struct{})
	)
	close(open)
	gate.Store(&open)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-*gate.Load()
		var body struct {
			Type string `json:"type"` // the event type's resource
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		arrived = append(arrived, body.Type)
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.MaxInFlight = 1 })
	reg := startHandoff(t, f, w)
	blocked := make(chan struct{})
	var unblock sync.Once
	release := func() { unblock.Do(func() { close(blocked) }) }
	t.Cleanup(release) // before the server closes
	gate.Store(&blocked)

	const waiting = 30
	for range waiting {
		f.publish(t, "waiting.test")
		time.Sleep(20 * time.Millisecond) // the engine keeps up: its claims see the webhook drained, then full
	}
	held := handedOver(t, reg)
	if held == 0 || held >= waiting+1 {
		t.Fatalf("%.0f deliveries handed over, want some but not all of the %d published while the webhook hangs", held, waiting)
	}
	time.Sleep(300 * time.Millisecond) // the engine sees due deliveries it has no room for
	release()
	const after = 60
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range after / 3 {
				f.publish(t, "after.test")
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(arrived)
		mu.Unlock()
		if n >= 1+waiting+after {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries arrived", n, 1+waiting+after)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, typ := range arrived[1 : 1+waiting] {
		if typ != "waiting" {
			t.Fatalf("delivery %d was %q: a new event overtook the deliveries that were waiting (arrival order %v)", i+1, typ, arrived)
		}
	}
	t.Logf("%.0f handed over while the webhook hung, %.0f in all", held, handedOver(t, reg))
}
