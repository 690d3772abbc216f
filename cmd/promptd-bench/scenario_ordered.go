package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// Shape of the ordered scenario.
const (
	// orderedKeys is how many distinct prompts (ordering keys) the ordered scenario's events
	// are about.
	orderedKeys = 100
	// orderedWebhooks is how many webhooks every event fans out to.
	orderedWebhooks = 10
)

// ordered: fan-out of events about 100 distinct prompts to 10 webhooks, measured first with
// the webhooks unordered and then, in the same run, with "ordering": "per-prompt". Every
// event is a custom event with an orderingKey (one of 100 prompt ids) and carries its key
// and its number in that key's sequence; each key is published by one publisher, one call
// at a time, so that its events' order is the order of their commits. The receiver checks
// the order of each key at each endpoint: a request for an earlier event of a key after a
// later one is a violation (a retry of the last one is not). The ordered run must have none.
func (b *bench) ordered(ctx context.Context) (*Result, error) {
	b.progress("ordered: reference run, %d webhooks without ordering, %d prompts", orderedWebhooks, orderedKeys)
	plain, err := b.runOrdered(ctx, "ordered-none", promptd.OrderingNone)
	if err != nil {
		return nil, err
	}
	b.progress("ordered: the same %d webhooks with ordering per-prompt", orderedWebhooks)
	r, err := b.runOrdered(ctx, "ordered", promptd.OrderingPerPrompt)
	if err != nil {
		return nil, err
	}
	out := r.res
	out.ReferencePerSec = ptr(round(plain.res.DeliveriesPerSec, 1))
	if plain.res.DeliveriesPerSec > 0 {
		out.ReferenceRatio = ptr(round(out.DeliveriesPerSec/plain.res.DeliveriesPerSec, 3))
	}
	out.RSSMiB = max(out.RSSMiB, plain.res.RSSMiB)
	out.note("order violations: %d with ordering per-prompt, %d without (requests for an earlier event of a prompt after a later one, per endpoint)",
		r.violations, plain.violations)
	out.note("reference (the same %d webhooks without ordering): %.0f/s, %d missing, %d duplicates",
		orderedWebhooks, plain.res.DeliveriesPerSec, plain.res.Missing, plain.res.Duplicates)
	out.OrderViolations, out.ReferenceViolations = &r.violations, &plain.violations
	out.Target = "0 order violations, none lost"
	out.Met = r.violations == 0 && out.Missing == 0 && out.RSSMiB <= 300
	if r.violations > 0 {
		return out, fmt.Errorf("ordering per-prompt: %d order violations at the receiver", r.violations)
	}
	return out, nil
}

// orderedRun is one run of the ordered scenario.
type orderedRun struct {
	res        *Result
	violations int64 // requests for an earlier event of a key after a later one
}

// runOrdered runs the ordered scenario's load against webhooks with the given ordering.
func (b *bench) runOrdered(ctx context.Context, name, ordering string) (*orderedRun, error) {
	origin := time.Now()
	rc, err := newOrderReceiver(origin, orderedWebhooks)
	if err != nil {
		return nil, err
	}
	defer rc.close()

	dataDir := filepath.Join(b.work, b.newName(name)+"-data")
	p, err := b.start(ctx, b.newName(name), dataDir, "", false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p.alive() {
			p.kill()
		}
	}()
	workers := min(max(b.opts.publishers, 1), orderedKeys)
	c := newAPIClient(p.Base, b.key, workers+4)
	for i, u := range rc.urls {
		if _, err := c.createWebhook(ctx, fmt.Sprintf("bench-%d", i), u, []string{eventType}, map[string]any{"ordering": ordering}); err != nil {
			return nil, err
		}
	}

	res := &Result{Scenario: name, Store: "sqlite", DurationS: b.opts.duration.Seconds(), Webhooks: orderedWebhooks}
	cpu0 := p.usage().CPU
	mach0, self0 := machineCPU(), selfCPU()
	warm := warmup(b.opts.duration)
	pad := strings.Repeat("x", max(0, len(b.body)-140))

	// Publisher w owns the keys k with k % workers == w and publishes them in turn, each
	// after the one before was acknowledged: a key's events commit in its sequence order.
	var (
		wg       sync.WaitGroup
		acked    atomic.Int64
		errs     atomic.Int64
		firstErr atomic.Value
	)
	loadStart := time.Since(origin)
	until := time.Now().Add(b.opts.duration)
	b.progress("%s: publishing flat out (%d publishers, %d prompts) for %s", name, workers, orderedKeys, b.opts.duration)
	for w := range workers {
		wg.Go(func() {
			var keys []int
			for k := w; k < orderedKeys; k += workers {
				keys = append(keys, k)
			}
			seq := make([]int64, len(keys))
			streak := 0
			for i := 0; ctx.Err() == nil && time.Now().Before(until); i++ {
				// Hold back while too many deliveries are queued, like the flat-out
				// scenarios: the run measures a sustained rate with a bounded queue.
				for b.opts.maxQueued > 0 && acked.Load()*orderedWebhooks-rc.distinct() > b.opts.maxQueued &&
					ctx.Err() == nil && time.Now().Before(until) {
					time.Sleep(2 * time.Millisecond)
				}
				j := i % len(keys)
				body := fmt.Appendf(nil, `{"type":%q,"orderingKey":"prompt-%03d","data":{"bench":"promptd-bench","key":%d,"seq":%d,"pad":%q}}`,
					eventType, keys[j], keys[j], seq[j]+1, pad)
				if _, _, err := c.publish(ctx, body); err != nil {
					if ctx.Err() != nil {
						return
					}
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if streak++; streak >= 50 {
						return
					}
					time.Sleep(10 * time.Millisecond)
					i-- // the same key again: its sequence has no gap
					continue
				}
				streak = 0
				seq[j]++
				acked.Add(1)
			}
		})
	}
	wg.Wait()
	loadEnd := time.Since(origin)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res.Published = acked.Load()
	res.PublishErrors = errs.Load()
	res.PublishPerSec = round(float64(res.Published)/(loadEnd-loadStart).Seconds(), 1)
	if e, ok := firstErr.Load().(string); ok {
		res.note("first publish error: %s", e)
	}
	want := res.Published * orderedWebhooks
	b.progress("%s: %d events acknowledged (%.0f/s); waiting for %d deliveries (%d so far)", name, res.Published, res.PublishPerSec, want, rc.distinct())
	if !rc.waitFor(ctx, want, b.opts.drainTimeout) {
		res.note("the receiver did not get every acknowledged delivery within -drain-timeout %s", b.opts.drainTimeout)
	}
	res.StealPct = round(stealPercent(mach0, machineCPU()), 1)
	res.BenchCPUSeconds = round((selfCPU() - self0).Seconds(), 2)
	u := p.usage()
	res.CPUSeconds = round((u.CPU - cpu0).Seconds(), 2)
	res.RSSMiB = round(float64(u.PeakKiB)/1024, 1)

	times := rc.times()
	res.DeliveriesPerSec = rateIn(times, loadStart+warm, loadEnd)
	if n := len(times); n > 0 {
		res.DrainS = round(max(0, (times[n-1]-loadEnd).Seconds()), 2)
	}
	got := rc.distinct()
	res.Delivered = rc.requests()
	res.Missing = max(0, want-got)
	res.Duplicates = res.Delivered - got
	res.Unexpected = rc.bad.Load()
	p.stop(30 * time.Second)
	return &orderedRun{res: res, violations: rc.violations.Load()}, nil
}

// orderKey is one prompt's line at one endpoint.
type orderKey struct {
	hook int
	key  int
}

// orderReceiver is the ordered scenario's receiver: one listener on 127.0.0.1 per webhook,
// answering 200 at once, recording for each key at each endpoint the highest sequence seen,
// and counting a violation for every request whose sequence is below it.
type orderReceiver struct {
	origin time.Time
	urls   []string
	srvs   []*http.Server

	mu      sync.Mutex
	last    map[orderKey]int64
	seen    map[string]struct{} // endpoint/event id pairs
	arrived []time.Duration     // first arrival of every distinct delivery
	total   int64

	violations atomic.Int64
	bad        atomic.Int64 // requests the receiver could not read
}

func newOrderReceiver(origin time.Time, endpoints int) (*orderReceiver, error) {
	r := &orderReceiver{origin: origin, last: map[orderKey]int64{}, seen: map[string]struct{}{}}
	for i := range endpoints {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.close()
			return nil, fmt.Errorf("receiver: %w", err)
		}
		srv := &http.Server{Handler: r.handler(i), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		r.srvs = append(r.srvs, srv)
		r.urls = append(r.urls, fmt.Sprintf("http://%s/hook/%d", ln.Addr(), i))
		go func() { _ = srv.Serve(ln) }()
	}
	return r, nil
}

// handler serves endpoint hook.
func (r *orderReceiver) handler(hook int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var ev struct {
			Data struct {
				Key int   `json:"key"`
				Seq int64 `json:"seq"`
			} `json:"data"`
		}
		if err != nil || json.Unmarshal(body, &ev) != nil || ev.Data.Seq == 0 {
			r.bad.Add(1)
			w.WriteHeader(http.StatusOK)
			return
		}
		r.record(hook, req.Header.Get(webhook.HeaderWebhookID), ev.Data.Key, ev.Data.Seq)
		w.WriteHeader(http.StatusOK)
	})
}

// record notes one request for event id, sequence seq of key, at endpoint hook.
func (r *orderReceiver) record(hook int, id string, key int, seq int64) {
	at := time.Since(r.origin)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	k := orderKey{hook, key}
	if seq < r.last[k] {
		r.violations.Add(1)
	} else {
		r.last[k] = seq
	}
	pair := fmt.Sprintf("%d/%s", hook, id)
	if _, ok := r.seen[pair]; !ok {
		r.seen[pair] = struct{}{}
		r.arrived = append(r.arrived, at)
	}
}

// distinct returns how many distinct deliveries (endpoint, event) arrived.
func (r *orderReceiver) distinct() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.seen))
}

// requests returns how many requests arrived.
func (r *orderReceiver) requests() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// times returns the first arrival of every distinct delivery, sorted.
func (r *orderReceiver) times() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.arrived))
}

// waitFor waits until want distinct deliveries arrived, or timeout; it reports whether
// they did.
func (r *orderReceiver) waitFor(ctx context.Context, want int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for r.distinct() < want {
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func (r *orderReceiver) close() {
	for _, s := range r.srvs {
		_ = s.Close()
	}
}
