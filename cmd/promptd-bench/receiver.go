package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/promptd/promptd/webhook"
)

// pairKey names one delivery as the receiver sees it: an event (the webhook-id header) at
// one endpoint (one webhook).
type pairKey struct {
	hook int32
	id   uuid.UUID
}

// seenPair is what the receiver knows of one delivery: how many requests carried it and when
// the first arrived (offset from the receiver's origin).
type seenPair struct {
	n     int32
	first time.Duration
}

// arrival is one request, at one endpoint, at an offset from the receiver's origin.
type arrival struct {
	at   time.Duration
	hook int32
}

// receiver is the webhook receiver of the bench: one HTTP listener on 127.0.0.1 per
// endpoint, each answering 200 as soon as it has read the request (or, for a hanging
// endpoint, after hang), counting deliveries per webhook-id and recording arrival times.
type receiver struct {
	origin time.Time
	urls   []string
	srvs   []*http.Server
	hangs  []time.Duration
	stop   chan struct{} // closed by close: hanging handlers answer at once

	mu       sync.Mutex
	seen     map[pairKey]seenPair
	arrivals []arrival
	unique   []int64 // distinct event ids per endpoint
	badIDs   int64   // requests whose webhook-id was not a UUID

	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

// newReceiver starts len(hangs) endpoints; endpoint i answers after hangs[i] (0: at once).
// Offsets are measured from origin. expect sizes the delivery map.
func newReceiver(origin time.Time, hangs []time.Duration, expect int) (*receiver, error) {
	r := &receiver{
		origin:   origin,
		hangs:    hangs,
		stop:     make(chan struct{}),
		seen:     make(map[pairKey]seenPair, expect),
		arrivals: make([]arrival, 0, expect),
		unique:   make([]int64, len(hangs)),
	}
	for i := range hangs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.close()
			return nil, fmt.Errorf("receiver: %w", err)
		}
		srv := &http.Server{
			Handler:           r.handler(int32(i)),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          nil,
		}
		r.srvs = append(r.srvs, srv)
		r.urls = append(r.urls, fmt.Sprintf("http://%s/hook/%d", ln.Addr(), i))
		go func() { _ = srv.Serve(ln) }()
	}
	return r, nil
}

// handler serves endpoint hook.
func (r *receiver) handler(hook int32) http.Handler {
	hang := r.hangs[hook]
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.record(hook, req.Header.Get(webhook.HeaderWebhookID))
		if hang > 0 {
			n := r.inFlight.Add(1)
			for {
				m := r.maxInFlight.Load()
				if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			t := time.NewTimer(hang)
			select {
			case <-t.C:
			case <-r.stop: // released: answer now
			case <-req.Context().Done():
			}
			t.Stop()
			r.inFlight.Add(-1)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// record counts one request for event id at endpoint hook.
func (r *receiver) record(hook int32, id string) {
	at := time.Since(r.origin)
	u, err := uuid.Parse(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrivals = append(r.arrivals, arrival{at: at, hook: hook})
	if err != nil {
		r.badIDs++
		return
	}
	k := pairKey{hook: hook, id: u}
	p, ok := r.seen[k]
	if !ok {
		p.first = at
		r.unique[hook]++
	}
	p.n++
	r.seen[k] = p
}

// distinct returns how many distinct event ids the endpoints in hooks have received.
func (r *receiver) distinct(hooks []int) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int64
	for _, h := range hooks {
		n += r.unique[h]
	}
	return n
}

// times returns the arrival offsets at the endpoints in hooks, sorted ascending.
func (r *receiver) times(hooks []int) []time.Duration {
	want := make([]bool, len(r.urls))
	for _, h := range hooks {
		want[h] = true
	}
	r.mu.Lock()
	out := make([]time.Duration, 0, len(r.arrivals))
	for _, a := range r.arrivals {
		if want[a.hook] {
			out = append(out, a.at)
		}
	}
	r.mu.Unlock()
	slices.Sort(out)
	return out
}

// tally compares what the endpoints in hooks received with the acknowledged events: every
// acknowledged event must have reached every one of them exactly once.
type tally struct {
	Delivered  int64 // requests received for acknowledged events
	Missing    int64 // (event, endpoint) pairs acknowledged but never received
	Duplicates int64 // requests beyond the first for one (event, endpoint) pair
	Unexpected int64 // requests for events the API never acknowledged (or malformed ids)
	// Latencies are, for each received pair, the time from the API acknowledging the event
	// to the endpoint reading the request, sorted ascending. Negative values (the delivery
	// beat the API response to the client) are kept as they are.
	Latencies []time.Duration
	// FromSend are the same latencies measured from the publisher sending the API call, an
	// upper bound of the time from the commit (Latencies is a lower bound), sorted.
	FromSend []time.Duration
	// FromStamp are the same measured from the event's timestamp: the store clock when its
	// transaction began, cut to the millisecond (so up to 1 ms too long), read from the same
	// wall clock as the receiver's. The closest of the three to "from the commit".
	FromStamp []time.Duration
}

// count tallies what the endpoints in hooks received against acks.
func (r *receiver) count(hooks []int, acks []ack) tally {
	want := make([]bool, len(r.urls))
	for _, h := range hooks {
		want[h] = true
	}
	var t tally
	acked := make(map[uuid.UUID]struct{}, len(acks))
	t.Latencies = make([]time.Duration, 0, len(acks)*len(hooks))
	t.FromSend = make([]time.Duration, 0, len(acks)*len(hooks))
	t.FromStamp = make([]time.Duration, 0, len(acks)*len(hooks))
	r.mu.Lock()
	for _, a := range acks {
		acked[a.id] = struct{}{}
		for _, h := range hooks {
			p, ok := r.seen[pairKey{hook: int32(h), id: a.id}]
			if !ok {
				t.Missing++
				continue
			}
			t.Delivered += int64(p.n)
			t.Duplicates += int64(p.n - 1)
			t.Latencies = append(t.Latencies, p.first-a.acked)
			t.FromSend = append(t.FromSend, p.first-a.sent)
			t.FromStamp = append(t.FromStamp, p.first-a.stamped)
		}
	}
	for k, p := range r.seen {
		if !want[k.hook] {
			continue
		}
		if _, ok := acked[k.id]; !ok {
			t.Unexpected += int64(p.n)
		}
	}
	t.Unexpected += r.badIDs
	r.mu.Unlock()
	slices.Sort(t.Latencies)
	slices.Sort(t.FromSend)
	slices.Sort(t.FromStamp)
	return t
}

// waitFor waits until the endpoints in hooks have received want distinct events, ctx ends
// or timeout passes, and reports whether they did.
func (r *receiver) waitFor(ctx context.Context, hooks []int, want int64, timeout time.Duration) bool {
	return waitUntil(ctx, timeout, func() bool { return r.distinct(hooks) >= want })
}

// waitUntil polls done every 50 ms until it returns true, ctx ends or timeout passes, and
// reports whether done did.
func waitUntil(ctx context.Context, timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// release makes hanging endpoints answer at once, from now on.
func (r *receiver) release() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
}

// close releases hanging handlers and shuts the endpoints down.
func (r *receiver) close() {
	r.release()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range r.srvs {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			_ = s.Close()
		}
	}
}
