package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/promptd/promptd"
)

// crash: one promptd on -store and one webhook; -crashes times it publishes flat out, is
// killed with SIGKILL while the load runs, and is started again on the same store at once.
// After each restart the bench waits for full recovery: every event acknowledged so far
// received and promptd_queue_pending at 0. It reports the duplicates each kill caused (the
// deliveries sent again because their result was not recorded before the kill), the time
// from each restart to full recovery, and whether anything acknowledged was lost. It is the
// approach of cmd/promptd's crash test, repeated and measured.
func (b *bench) crash(ctx context.Context) (*Result, error) {
	if b.opts.store == "postgres" {
		return b.onPostgres(ctx, "crash", func(schema *pgSchema) (*Result, error) {
			return b.runCrash(ctx, schema.URL)
		})
	}
	return b.runCrash(ctx, "")
}

// crashLoad is how long each cycle of the crash scenario publishes before the kill.
func (b *bench) crashLoad() time.Duration {
	return max(2*time.Second, b.opts.duration/time.Duration(b.opts.crashes))
}

func (b *bench) runCrash(ctx context.Context, dbURL string) (*Result, error) {
	origin := time.Now()
	rc, err := newReceiver(origin, []time.Duration{0}, 1<<16)
	if err != nil {
		return nil, err
	}
	defer rc.close()
	hooks := []int{0}
	res := &Result{Scenario: "crash", Store: "sqlite", Webhooks: 1}
	if dbURL != "" {
		res.Store = "postgres"
	}
	dataDir := filepath.Join(b.work, b.newName("crash")+"-data")
	var p *proc
	defer func() {
		if p != nil && p.alive() {
			p.kill()
		}
	}()
	if p, err = b.start(ctx, b.newName("crash-0"), dataDir, dbURL, false); err != nil {
		return nil, err
	}
	c := newAPIClient(p.Base, b.key, b.opts.publishers+4)
	if _, err := c.createWebhook(ctx, "bench-0", rc.urls[0], []string{eventType}, nil); err != nil {
		return nil, err
	}

	var acks []ack
	var errs int64
	var elapsed time.Duration
	load := b.crashLoad()
	for i := range b.opts.crashes {
		pub := &publisher{clients: []*apiClient{c}, body: b.body, origin: origin}
		queued := func(acked int64) int64 { return int64(len(acks)) + acked - rc.distinct(hooks) }
		// The kill comes while the publishers still run: they stop on the errors that follow
		// (or at the deadline, a second after the kill).
		killAt := time.Now().Add(load)
		victim, vc := p, c
		killed := make(chan int64, 1)
		go func() {
			select {
			case <-time.After(time.Until(killAt)):
			case <-ctx.Done():
			}
			// Kill while the engine works, so that a kill that found nothing in flight
			// does not flatter the figures.
			n := awaitInFlight(ctx, vc, killAt.Add(crashWorkWait))
			victim.kill()
			killed <- n
		}()
		b.progress("crash %d of %d: publishing flat out for %s, then kill -9 (pid %d) once requests are in flight", i+1, b.opts.crashes, load, p.Pid())
		st := pub.flatOut(ctx, b.opts.publishers, killAt.Add(crashWorkWait+time.Second), b.opts.maxQueued, queued)
		inFlight := <-killed
		res.CrashInFlight = append(res.CrashInFlight, inFlight)
		if inFlight <= 0 {
			res.note("crash %d: the kill found no request in flight (promptd_delivery_requests_in_flight %d) within %s", i+1, inFlight, crashWorkWait)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		acks = append(acks, st.Acks...)
		errs += st.Errors
		elapsed += st.Elapsed
		dupBefore := rc.count(hooks, acks).Duplicates

		restart := time.Now()
		if p, err = b.start(ctx, b.newName(fmt.Sprintf("crash-%d", i+1)), dataDir, dbURL, false); err != nil {
			return nil, err
		}
		c = newAPIClient(p.Base, b.key, b.opts.publishers+4)
		recovered := b.awaitRecovery(ctx, rc, c, hooks, int64(len(acks)))
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec := time.Since(restart)
		dup := rc.count(hooks, acks).Duplicates - dupBefore
		res.CrashDuplicates = append(res.CrashDuplicates, dup)
		res.RecoveryS = append(res.RecoveryS, round(rec.Seconds(), 2))
		if !recovered {
			res.note("crash %d: not recovered within -drain-timeout %s", i+1, b.opts.drainTimeout)
		}
		b.progress("crash %d: %d events acknowledged before the kill, %d requests in flight at it; recovered in %s with %d duplicates", i+1, len(st.Acks), inFlight, rec.Round(10*time.Millisecond), dup)
	}
	res.published(publishStats{Acks: acks, Errors: errs, Elapsed: elapsed})
	res.DurationS = round(elapsed.Seconds(), 2)
	t := rc.count(hooks, acks)
	res.counted(t)
	res.DeliveriesPerSec = 0
	if len(res.RecoveryS) > 0 {
		rs := slices.Clone(res.RecoveryS)
		slices.Sort(rs)
		res.RecoveryMedianS = ptr(rs[(len(rs)-1)/2])
	}
	res.note("per kill: duplicates %v, requests in flight just before it %v, seconds from restart to full recovery %v", res.CrashDuplicates, res.CrashInFlight, res.RecoveryS)
	res.note("publish errors are the calls cut by the kills; \"unexpected\" are events committed whose 201 the kill cut off (delivered, never acknowledged)")
	res.note("in-flight cap per webhook: %d requests", promptd.DefaultMaxInFlight)
	p.stop(30 * time.Second)
	return res, nil
}

// crashWorkWait bounds how long, once a crash cycle's load has run, the bench waits for
// the engine to have a request in flight before it kills promptd.
const crashWorkWait = 2 * time.Second

// awaitInFlight polls c's promptd_delivery_requests_in_flight until it is above 0 or
// deadline passes, and returns the last value read (-1 if none could be).
func awaitInFlight(ctx context.Context, c *apiClient, deadline time.Time) int64 {
	last := int64(-1)
	for ctx.Err() == nil {
		if v, ok := c.metric(ctx, "promptd_delivery_requests_in_flight"); ok {
			last = int64(v)
			if last > 0 {
				return last
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return last
}

// awaitRecovery waits until the endpoints in hooks received want distinct deliveries and
// promptd reports an empty queue (promptd_queue_pending and promptd_queue_delivering 0), or
// -drain-timeout passes.
func (b *bench) awaitRecovery(ctx context.Context, rc *receiver, c *apiClient, hooks []int, want int64) bool {
	return waitUntil(ctx, b.opts.drainTimeout, func() bool {
		if rc.distinct(hooks) < want {
			return false
		}
		pending, ok1 := c.metric(ctx, "promptd_queue_pending")
		leased, ok2 := c.metric(ctx, "promptd_queue_delivering")
		return ok1 && ok2 && pending == 0 && leased == 0
	})
}
