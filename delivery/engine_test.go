package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
	"github.com/promptd/promptd/internal/secretbox"
	"github.com/promptd/promptd/store/sqlite"
	"github.com/promptd/promptd/store/sqlstore"
	"github.com/promptd/promptd/webhook"
)

// fixture is a real SQLite store with one project, and an engine over it.
type fixture struct {
	st      *sqlstore.Store
	project string
	clock   *clock
}

// clock is a settable clock shared by the store and the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newFixture(t *testing.T, fake bool) *fixture {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "promptd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, _ := secretbox.New(key)
	st.SetSecretBox(box)
	f := &fixture{st: st}
	if fake {
		f.clock = &clock{now: time.Now()}
		st.SetClock(f.clock.Now)
	}
	if _, err := st.Bootstrap(ctx, "pd_engine_test_key_0123456789", true); err != nil {
		t.Fatal(err)
	}
	projects, err := st.ListProjects(ctx)
	if err != nil || len(projects) != 1 {
		t.Fatalf("projects: %v %v", projects, err)
	}
	f.project = projects[0].ID
	return f
}

// start runs an engine until the test ends.
func (f *fixture) start(t *testing.T, mutate ...func(*delivery.Config)) *delivery.Engine {
	t.Helper()
	cfg := delivery.Config{
		Queue:  f.st,
		Client: delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
		Jitter: func() float64 { return 0 },
	}
	if f.clock != nil {
		cfg.Now = f.clock.Now
	}
	for _, m := range mutate {
		m(&cfg)
	}
	eng, err := delivery.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return eng
}

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func (f *fixture) webhook(t *testing.T, url string, mutate ...func(*promptd.Webhook)) *promptd.Webhook {
	t.Helper()
	w := &promptd.Webhook{URL: url, Enabled: true, Retry: promptd.RetryPolicy{Schedule: []time.Duration{time.Second, time.Second}}}
	for _, m := range mutate {
		m(w)
	}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
	created, err := f.st.CreateWebhook(context.Background(), f.project, w, secret)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func (f *fixture) publish(t *testing.T, typ string) *promptd.Event {
	t.Helper()
	ev, _, err := f.st.PublishEvent(context.Background(), f.project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// deliveryOf waits until the delivery of event ev to webhook w reaches a final status
// (or the wanted one) and returns it with its attempts.
func (f *fixture) waitDelivery(t *testing.T, w *promptd.Webhook, ev *promptd.Event, want string) *promptd.Delivery {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		page, err := f.st.ListDeliveries(ctx, f.project, promptd.DeliveryFilter{WebhookID: w.ID, EventID: ev.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) > 0 && page.Items[0].Status == want {
			d, err := f.st.FindDelivery(ctx, f.project, page.Items[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery of %s did not become %s: %+v", ev.ID, want, page.Items)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scripted answers each request with the next status of its script (the last one repeats).
func scripted(t *testing.T, script []int, headers map[string]string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(script[min(i, len(script)-1)])
		_, _ = w.Write([]byte(`{"ok":false}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func statuses(d *promptd.Delivery) []int {
	var out []int
	for _, a := range d.Attempts {
		out = append(out, a.StatusCode)
	}
	return out
}

func TestRetryRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []int
		headers  map[string]string
		want     string
		attempts []int
	}{
		{"500 then 200", []int{500, 200}, nil, promptd.StatusSucceeded, []int{500, 200}},
		{"400 not retried", []int{400}, nil, promptd.StatusFailed, []int{400}},
		{"429 with Retry-After", []int{429, 204}, map[string]string{"Retry-After": "1"}, promptd.StatusSucceeded, []int{429, 204}},
		{"3xx not followed nor retried", []int{302}, map[string]string{"Location": "/elsewhere"}, promptd.StatusFailed, []int{302}},
		{"exhaustion after the schedule", []int{503}, nil, promptd.StatusFailed, []int{503, 503, 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, false)
			srv, _ := scripted(t, tt.script, tt.headers)
			w := f.webhook(t, srv.URL)
			f.start(t)
			ev := f.publish(t, "retry.test")
			d := f.waitDelivery(t, w, ev, tt.want)
			if got := statuses(d); !slices.Equal(got, tt.attempts) {
				t.Errorf("attempt statuses = %v, want %v", got, tt.attempts)
			}
		})
	}
}

func TestTimeoutAndRefusedAreRetried(t *testing.T) {
	t.Parallel()
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, false)
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				select {
				case <-r.Context().Done():
				case <-time.After(2 * time.Second):
				}
				return
			}
		}))
		t.Cleanup(srv.Close)
		w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.TimeoutSeconds = 1 })
		f.start(t)
		d := f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusSucceeded)
		if len(d.Attempts) != 2 || d.Attempts[0].Error == "" || d.Attempts[0].StatusCode != 0 {
			t.Fatalf("attempts = %+v, want a timed-out one then a success", d.Attempts)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, false)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now
		w := f.webhook(t, "http://"+addr+"/hook")
		f.start(t)
		d := f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusFailed)
		if len(d.Attempts) != 3 || d.Attempts[0].Error == "" {
			t.Fatalf("attempts = %+v, want 3 refused connections", d.Attempts)
		}
	})
}

func TestGoneDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv, _ := scripted(t, []int{410}, nil)
	w := f.webhook(t, srv.URL)
	audit, _ := scripted(t, []int{200}, nil)
	watcher := f.webhook(t, audit.URL, func(w *promptd.Webhook) { w.Events = []string{promptd.EventWebhookDisabled} })
	var logs logCapture
	f.start(t, logs.into)
	f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusFailed)
	got, err := f.st.FindWebhook(context.Background(), f.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Enabled || got.DisabledReason == "" {
		t.Fatalf("after 410 the webhook is enabled=%v reason=%q", got.Enabled, got.DisabledReason)
	}
	logs.wait(t, "webhook disabled", map[string]any{"webhook_id": w.ID, "reason": got.DisabledReason, "level": "WARN"})
	page, err := f.st.ListDeliveries(context.Background(), f.project, promptd.DeliveryFilter{WebhookID: watcher.ID})
	if err != nil || len(page.Items) != 1 || page.Items[0].EventType != promptd.EventWebhookDisabled {
		t.Fatalf("the watcher got %+v, %v; want one webhook.disabled delivery", page, err)
	}
	// New events to a disabled webhook are recorded as cancelled, not dropped.
	d := f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusCancelled)
	if len(d.Attempts) != 0 {
		t.Fatalf("a cancelled delivery was attempted: %+v", d.Attempts)
	}
}

func TestAutoDisableAfterFailuresSpanningAnHour(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	srv, _ := scripted(t, []int{400}, nil)
	w := f.webhook(t, srv.URL)
	audit, _ := scripted(t, []int{200}, nil)
	watcher := f.webhook(t, audit.URL, func(w *promptd.Webhook) { w.Events = []string{promptd.EventWebhookDisabled} })
	var logs logCapture
	f.start(t, logs.into)
	// Five failures within minutes: not yet, they do not span an hour.
	for i := range promptd.AutoDisableFailures {
		f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusFailed)
		got, _ := f.st.FindWebhook(context.Background(), f.project, w.ID)
		if !got.Enabled {
			t.Fatalf("disabled after %d failed deliveries within %d minutes", i+1, i)
		}
		f.clock.Advance(time.Minute)
	}
	// One more an hour later: the failures now span more than an hour.
	f.clock.Advance(time.Hour)
	f.waitDelivery(t, w, f.publish(t, "retry.test"), promptd.StatusFailed)
	got, _ := f.st.FindWebhook(context.Background(), f.project, w.ID)
	if got.Enabled {
		t.Fatal("still enabled after failed deliveries spanning more than an hour")
	}
	if !strings.Contains(got.DisabledReason, "consecutive deliveries failed") {
		t.Errorf("disabled for %q, want the failures", got.DisabledReason)
	}
	logs.wait(t, "webhook disabled", map[string]any{"webhook_id": w.ID, "reason": got.DisabledReason, "level": "WARN"})
	if n := len(logs.lines(t, "webhook disabled")); n != 1 {
		t.Errorf("%d lines say that the webhook was disabled, want 1", n)
	}
	page, err := f.st.ListDeliveries(context.Background(), f.project, promptd.DeliveryFilter{WebhookID: watcher.ID})
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("watcher deliveries = %+v, %v; want the webhook.disabled event", page, err)
	}
}

func TestSignedHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := webhook.NewVerifier([]string{secret})
		body, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), 401)
			return
		}
		got <- r
		bodies <- body
	}))
	t.Cleanup(srv.Close)
	w := f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.Headers = map[string]string{"X-Api-Key": "s3cret"} })
	f.start(t, func(c *delivery.Config) { c.UserAgent = "promptd/test" })
	ev := f.publish(t, "signed.test")
	r := <-got
	if string(<-bodies) != string(ev.Payload) {
		t.Error("the body is not the stored payload byte for byte")
	}
	for name, want := range map[string]string{
		"Content-Type": "application/json", "User-Agent": "promptd/test", "X-Api-Key": "s3cret",
		"Webhook-Id": ev.ID, "X-Promptd-Event": "signed.test", "X-Promptd-Attempt": "1",
	} {
		if r.Header.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, r.Header.Get(name), want)
		}
	}
	d := f.waitDelivery(t, w, ev, promptd.StatusSucceeded)
	if r.Header.Get("X-Promptd-Delivery") != d.ID {
		t.Errorf("x-promptd-delivery = %q, want %q", r.Header.Get("X-Promptd-Delivery"), d.ID)
	}
	if h := d.Attempts[0].RequestHeaders["x-api-key"]; h == "s3cret" || h == "" {
		t.Errorf("the attempt log shows the custom header as %q; want it masked", h)
	}
}

// TestHangingEndpointDoesNotStarveOthers: one webhook never answers; a healthy one's
// deliveries still all arrive promptly, and the hanging one gets exactly its cap of requests.
//
// The hanging requests must not reach their timeout (30 s, the longest) while the test
// watches: one that timed out would free its slot for the next delivery, which the receiver
// could see arrive before its handler of the timed-out request noticed the closed connection,
// and count as a fifth request in flight. So the events are published before the engine
// starts (publishing 200 events on a loaded machine took longer than the timeout), and the
// test gives the engine well under the timeout to deliver the healthy webhook's share.
func TestHangingEndpointDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	release := make(chan struct{})
	var hanging, maxHanging, arrived atomic.Int32
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		n := hanging.Add(1)
		defer hanging.Add(-1)
		for m := maxHanging.Load(); n > m && !maxHanging.CompareAndSwap(m, n); m = maxHanging.Load() {
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	var healthy atomic.Int32
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { healthy.Add(1) }))
	t.Cleanup(ok.Close)
	f.webhook(t, hang.URL, func(w *promptd.Webhook) { w.TimeoutSeconds = promptd.MaxTimeoutSeconds; w.MaxInFlight = 4 })
	f.webhook(t, ok.URL)
	const n = 200
	for range n {
		f.publish(t, "load.test")
	}
	started := time.Now()
	f.start(t, func(c *delivery.Config) { c.Concurrency = 16; c.ShutdownTimeout = 100 * time.Millisecond })
	// Well under the hanging requests' timeout, so that none of them can have ended.
	deadline := started.Add(time.Duration(promptd.MaxTimeoutSeconds) * time.Second * 2 / 3)
	for healthy.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the healthy webhook got %d of %d deliveries in %s while the other hangs", healthy.Load(), n, time.Since(started).Round(time.Millisecond))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m, a := maxHanging.Load(), arrived.Load(); m != 4 || a != 4 {
		t.Fatalf("the hanging webhook got %d requests, %d in flight at most; its cap is 4", a, m)
	}
}

// TestClaimAheadKeepsTheCap sends a burst to a fast webhook with a small cap: the engine
// claims jobs ahead of its free slots, yet never has more than the cap in flight, and every
// event arrives exactly once.
func TestClaimAheadKeepsTheCap(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	srv := newCapServer(t)
	f.webhook(t, srv.URL, func(w *promptd.Webhook) { w.MaxInFlight = 3 })
	f.start(t)
	const n = 300
	ids := make([]string, n)
	for i := range n {
		ids[i] = f.publish(t, "burst.test").ID
	}
	srv.await(t, n)
	srv.checkOnce(t, ids)
	if m := srv.maxInFlight.Load(); m > 3 || m < 2 {
		t.Errorf("at most %d requests were in flight; the cap is 3", m)
	}
}

// capServer answers each request after a millisecond, keeping the most requests it had in
// flight at once and how often each event (webhook-id) arrived.
type capServer struct {
	*httptest.Server
	inFlight, maxInFlight atomic.Int32
	mu                    sync.Mutex
	seen                  map[string]int
}

func newCapServer(t *testing.T) *capServer {
	c := &capServer{seen: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.inFlight.Add(1)
		defer c.inFlight.Add(-1)
		for m := c.maxInFlight.Load(); n > m && !c.maxInFlight.CompareAndSwap(m, n); m = c.maxInFlight.Load() {
		}
		time.Sleep(time.Millisecond)
		c.mu.Lock()
		c.seen[r.Header.Get("webhook-id")]++
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

// await waits until n distinct events arrived, then a little longer for a duplicate to
// show.
func (c *capServer) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.mu.Lock()
		got := len(c.seen)
		c.mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events arrived", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
}

// checkOnce checks that each event of ids arrived exactly once.
func (c *capServer) checkOnce(t *testing.T, ids []string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if c.seen[id] != 1 {
			t.Errorf("event %s arrived %d times", id, c.seen[id])
		}
	}
}
