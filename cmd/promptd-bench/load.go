package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// eventType is the custom event type every scenario publishes and every webhook subscribes to.
const eventType = "bench.ping"

// ack is one event the API acknowledged (201 with its id): when the call was sent, when
// the event's transaction began by its timestamp (wall clock, cut to the millisecond) and
// when the answer was read, as offsets from the scenario's origin.
type ack struct {
	id      uuid.UUID
	sent    time.Duration
	stamped time.Duration
	acked   time.Duration
}

// eventBody returns the body of POST /api/v1/events: a bench.ping whose data carries about
// size bytes of text, so that payloads are the size of a prompt-version event.
func eventBody(size int) []byte {
	pad := strings.Repeat("x", max(0, size-60))
	return fmt.Appendf(nil, `{"type":%q,"data":{"bench":"promptd-bench","pad":%q}}`, eventType, pad)
}

// publishStats describes a publishing run.
type publishStats struct {
	Acks   []ack
	Errors int64
	// FirstErr is the first error seen, for the report.
	FirstErr error
	Elapsed  time.Duration
}

// publisher publishes events through one or more promptd instances (round robin).
type publisher struct {
	clients []*apiClient
	body    []byte
	origin  time.Time
	acked   atomic.Int64 // events acknowledged so far
}

// one publishes one event through client i and returns its ack.
func (p *publisher) one(ctx context.Context, i int) (ack, error) {
	sent := time.Since(p.origin)
	id, stamp, err := p.clients[i%len(p.clients)].publish(ctx, p.body)
	if err != nil {
		return ack{}, err
	}
	p.acked.Add(1)
	// origin carries a monotonic reading and stamp none, so Sub compares wall clocks: the
	// same clock promptd read, on the same machine.
	return ack{id: id, sent: sent, stamped: stamp.Sub(p.origin), acked: time.Since(p.origin)}, nil
}

// run makes workers goroutines publish events. Each worker asks next for permission before
// every event; next returns false to stop it. A worker that meets 50 errors in a row stops
// (the server is gone or refusing), so the loop always ends.
func (p *publisher) run(ctx context.Context, workers int, next func(ctx context.Context) bool) publishStats {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		st     publishStats
		errs   atomic.Int64
		seq    atomic.Int64
		starts = time.Now()
	)
	for range workers {
		wg.Go(func() {
			local := make([]ack, 0, 4096)
			streak := 0
			for ctx.Err() == nil && next(ctx) {
				a, err := p.one(ctx, int(seq.Add(1)))
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					errs.Add(1)
					mu.Lock()
					if st.FirstErr == nil {
						st.FirstErr = err
					}
					mu.Unlock()
					if streak++; streak >= 50 {
						break
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				streak = 0
				local = append(local, a)
			}
			mu.Lock()
			st.Acks = append(st.Acks, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	st.Errors = errs.Load()
	st.Elapsed = time.Since(starts)
	return st
}

// flatOut publishes as fast as the API takes events until the deadline, but holds back
// while more than maxQueued deliveries are acknowledged and not yet received (queued(acked)
// counts them): what the run then measures is the rate promptd sustains with a bounded
// queue, not how fast the API takes events while the queue grows without end. maxQueued 0
// never holds back.
func (p *publisher) flatOut(ctx context.Context, workers int, until time.Time, maxQueued int64, queued func(acked int64) int64) publishStats {
	var held atomic.Bool
	if maxQueued > 0 {
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			t := time.NewTicker(2 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					held.Store(queued(p.acked.Load()) > maxQueued)
				}
			}
		}()
	}
	return p.run(ctx, workers, func(ctx context.Context) bool {
		for held.Load() && time.Now().Before(until) && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		return time.Now().Before(until)
	})
}

// count publishes exactly n events (fewer if errors stop the workers).
func (p *publisher) count(ctx context.Context, workers int, n int64) publishStats {
	var left atomic.Int64
	left.Store(n)
	return p.run(ctx, workers, func(context.Context) bool { return left.Add(-1) >= 0 })
}

// paced publishes rate events per second for d: event i is sent at start + i/rate by
// whichever worker is free, so one slow call does not delay the schedule while a worker
// is free.
func (p *publisher) paced(ctx context.Context, workers int, rate float64, d time.Duration) publishStats {
	total := int64(rate * d.Seconds())
	start := time.Now()
	var i atomic.Int64
	return p.run(ctx, workers, func(ctx context.Context) bool {
		n := i.Add(1) - 1
		if n >= total {
			return false
		}
		at := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
		if wait := time.Until(at); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
			}
		}
		return true
	})
}
