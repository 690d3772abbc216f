package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/promptd/promptd"
)

// Recording results.
//
// A result that the receiver has but the store does not is sent again after a crash (the
// delivery's lease runs out), so the time from an attempt's end to the commit of its result
// is the crash window. The recorder keeps it short under load: recordWorkers goroutines each
// take every result waiting when they are free (up to recordBatch) and store them in one
// Record call, so a result waits for at most the end of one Record call already under way
// and then its own, never behind a backlog of full batches, while a busy engine still
// stores hundreds of results per transaction. The waiting results are bounded by
// recordQueue: beyond it senders wait (back pressure), their slots held.
//
// Concurrent Record calls are safe: each result is in one batch only, and the store locks
// what batches share (webhooks, ordering lines) in a fixed order. On SQLite the store's
// committer folds concurrent calls into one transaction; on PostgreSQL they run side by
// side on their own connections.

const (
	// recordBatch bounds how many results one Record call stores.
	recordBatch = 512
	// recordWorkers is how many Record calls may run at once.
	recordWorkers = 4
	// recordQueue bounds the results waiting for a free worker.
	recordQueue = 256
)

// pendingResult is a result waiting to be recorded, with when it was handed over.
type pendingResult struct {
	res *promptd.JobResult
	at  time.Time
}

// recorder collects attempt results and stores them in batches: one transaction for many
// results keeps the store's write rate far below the delivery rate.
type recorder struct {
	q       promptd.Queue
	log     *slog.Logger
	metrics *Metrics
	ch      chan pendingResult
}

func newRecorder(q promptd.Queue, log *slog.Logger, m *Metrics) *recorder {
	return &recorder{q: q, log: log, metrics: m, ch: make(chan pendingResult, recordQueue)}
}

// add queues a result; it blocks while the recorder is behind (back pressure on senders).
func (r *recorder) add(res *promptd.JobResult) { r.ch <- pendingResult{res: res, at: time.Now()} }

// close ends run once every queued result is stored. No add may follow.
func (r *recorder) close() { close(r.ch) }

// run stores results until close, with recordWorkers workers.
func (r *recorder) run() {
	var wg sync.WaitGroup
	for range recordWorkers {
		wg.Go(r.work)
	}
	wg.Wait()
}

// work stores batches until close: it waits for a result, takes with it every other
// result already waiting (up to recordBatch) and stores them.
func (r *recorder) work() {
	batch := make([]pendingResult, 0, recordBatch)
	results := make([]*promptd.JobResult, 0, recordBatch)
	for first := range r.ch {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < recordBatch {
			select {
			case p, ok := <-r.ch:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			default:
				break drain
			}
		}
		results = results[:0]
		for _, p := range batch {
			results = append(results, p.res)
		}
		if r.store(results) {
			now := time.Now()
			for _, p := range batch {
				r.metrics.recorded(p.res, now.Sub(p.at))
			}
		}
		clear(batch)
		clear(results)
	}
}

// store records one batch, retrying while the store is unavailable, and reports whether it
// did. If it keeps failing, the batch is dropped with an error: the deliveries' leases then
// run out and they are sent again (at least once, never lost).
func (r *recorder) store(batch []*promptd.JobResult) bool {
	backoff := 50 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.q.Record(ctx, batch)
		cancel()
		if err == nil {
			return true
		}
		if time.Now().After(deadline) {
			r.log.Error("recording delivery results failed; their leases will expire and they will be sent again",
				"results", len(batch), "err", err)
			return false
		}
		r.log.Warn("recording delivery results; retrying", "results", len(batch), "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}
