package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// awaitInFlight keeps reading the gauge until it is above 0 and returns that value; a
// promptd whose metrics cannot be read yields -1 once the deadline passes.
func TestAwaitInFlight(t *testing.T) {
	t.Parallel()
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := scrapes.Add(1)
		inFlight := 0
		if n >= 3 {
			inFlight = 7
		}
		fmt.Fprintf(w, "# TYPE promptd_delivery_requests_in_flight gauge\npromptd_delivery_requests_in_flight %d\n", inFlight)
	}))
	t.Cleanup(srv.Close)
	c := newAPIClient(srv.URL, "k", 1)
	if got := awaitInFlight(context.Background(), c, time.Now().Add(10*time.Second)); got != 7 {
		t.Errorf("awaitInFlight = %d after %d scrapes, want 7 (the first value above 0)", got, scrapes.Load())
	}
	if n := scrapes.Load(); n != 3 {
		t.Errorf("%d scrapes, want 3: it must stop at the first value above 0", n)
	}

	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)
	if got := awaitInFlight(context.Background(), newAPIClient(broken.URL, "k", 1), time.Now().Add(50*time.Millisecond)); got != -1 {
		t.Errorf("awaitInFlight on unreadable metrics = %d, want -1", got)
	}
}

// handedOver sums the counter over the instances, and reports nothing when one of them
// does not export it (an older promptd).
func TestHandedOver(t *testing.T) {
	t.Parallel()
	serve := func(body string) *apiClient {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) }))
		t.Cleanup(srv.Close)
		return newAPIClient(srv.URL, "k", 1)
	}
	a := serve("# TYPE promptd_delivery_handed_over_total counter\npromptd_delivery_handed_over_total 1200\n")
	b := serve("promptd_delivery_handed_over_total 34\n")
	old := serve("promptd_delivery_requests_in_flight 3\n")
	if got := handedOver(context.Background(), []*apiClient{a, b}); got == nil || *got != 1234 {
		t.Errorf("handedOver of two instances = %v, want 1234", got)
	}
	if got := handedOver(context.Background(), []*apiClient{a, old}); got != nil {
		t.Errorf("handedOver with an instance that lacks the counter = %d, want nil", *got)
	}
}
