package delivery_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/delivery"
)

// fakeQueue is an in-memory promptd.Queue over a fixed list of jobs of one webhook: Claim
// hands out pending jobs (as many as ClaimRequest.Free allows, or the webhook's cap),
// Release puts them back, Record keeps the results.
type fakeQueue struct {
	mu       sync.Mutex
	w        *promptd.Webhook
	pending  []string // delivery ids, in order
	claims   map[string]int
	released []string
	results  []*promptd.JobResult
	notify   chan struct{}
}

func newFakeQueue(w *promptd.Webhook, ids ...string) *fakeQueue {
	return &fakeQueue{w: w, pending: ids, claims: map[string]int{}, notify: make(chan struct{}, 1)}
}

func (q *fakeQueue) Claim(_ context.Context, r promptd.ClaimRequest) ([]*promptd.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.w.MaxInFlight
	if free, ok := r.Free[q.w.ID]; ok {
		n = free
	}
	n = min(n, r.Limit, len(q.pending))
	var jobs []*promptd.Job
	for _, id := range q.pending[:n] {
		q.claims[id]++
		jobs = append(jobs, &promptd.Job{
			DeliveryID: id, ProjectID: "p", EventID: id, EventType: "a.b", Attempt: q.claims[id],
			Payload: []byte(`{}`), Webhook: q.w, Secrets: []string{secret},
		})
	}
	q.pending = q.pending[n:]
	return jobs, nil
}

func (q *fakeQueue) Release(_ context.Context, jobs []*promptd.Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range jobs {
		q.released = append(q.released, j.DeliveryID)
		q.pending = append(q.pending, j.DeliveryID)
	}
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}

func (q *fakeQueue) Record(_ context.Context, results []*promptd.JobResult) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.results = append(q.results, results...)
	return nil
}

func (q *fakeQueue) NextDue(context.Context) (time.Time, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return time.Time{}, false, nil
	}
	return time.Time{}, true, nil // due long ago
}

func (q *fakeQueue) ClaimDelivery(context.Context, string, time.Time, time.Duration) (*promptd.Job, error) {
	return nil, promptd.Errorf(promptd.ENOTFOUND, "not in the fake")
}
func (q *fakeQueue) Purge(context.Context, time.Time) (int64, error) { return 0, nil }
func (q *fakeQueue) Stats(context.Context, time.Time) (promptd.QueueStats, error) {
	return promptd.QueueStats{}, nil
}
func (q *fakeQueue) Notify() <-chan struct{} { return q.notify }

func (q *fakeQueue) snapshot() (claims map[string]int, released []string, recorded int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	claims = map[string]int{}
	for k, v := range q.claims {
		claims[k] = v
	}
	return claims, slices.Clone(q.released), len(q.results)
}

// TestClaimedAheadTooLongIsGivenBack claims a job ahead of a busy webhook's only slot, lets
// it wait past the point where its request could still end within the lease, and checks that
// the engine gives it back instead of sending it on an expiring lease, then sends it on a new
// claim.
func TestClaimedAheadTooLongIsGivenBack(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var (
		mu   sync.Mutex
		sent []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("webhook-id")
		mu.Lock()
		sent = append(sent, id)
		mu.Unlock()
		if id == "d1" {
			<-release
		}
	}))
	t.Cleanup(srv.Close)
	w := &promptd.Webhook{ID: "w1", URL: srv.URL, Enabled: true, MaxInFlight: 1, TimeoutSeconds: 1,
		Retry: promptd.RetryPolicy{Schedule: []time.Duration{time.Second}}}
	if err := w.Normalize(promptd.URLPolicy{AllowHTTP: true}); err != nil {
		t.Fatal(err)
	}
	q := newFakeQueue(w, "d1", "d2", "d3")
	clk := &clock{now: time.Now()}
	const lease = 35 * time.Second // d2 may start up to 35 − 1 (timeout) − 5 = 29 s after its claim
	eng, err := delivery.New(delivery.Config{
		Queue: q, Client: delivery.NewHTTPClient(delivery.ClientConfig{AllowCIDRs: delivery.LoopbackCIDRs}),
		Lease: lease, Now: clk.Now, Jitter: func() float64 { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				claims, released, n := q.snapshot()
				mu.Lock()
				t.Fatalf("timed out waiting for %s: sent %v, claims %v, released %v, recorded %d", what, sent, claims, released, n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// d1 is in flight (held by the receiver) and d2 claimed ahead, waiting for the slot.
	waitFor("d1 in flight and d2 claimed", func() bool {
		claims, _, _ := q.snapshot()
		mu.Lock()
		defer mu.Unlock()
		return len(sent) == 1 && claims["d2"] == 1
	})
	clk.Advance(30 * time.Second)
	close(release)
	waitFor("all three recorded", func() bool { _, _, n := q.snapshot(); return n == 3 })

	claims, released, _ := q.snapshot()
	if !slices.Equal(released, []string{"d2"}) {
		t.Errorf("released %v, want [d2]", released)
	}
	if claims["d2"] != 2 {
		t.Errorf("d2 was claimed %d times, want 2 (given back, then claimed again)", claims["d2"])
	}
	mu.Lock()
	defer mu.Unlock()
	got := slices.Sorted(slices.Values(sent))
	if !slices.Equal(got, []string{"d1", "d2", "d3"}) {
		t.Errorf("the receiver got %v, want d1, d2, d3 once each", sent)
	}
}
