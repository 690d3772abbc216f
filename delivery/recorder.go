package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/promptd/promptd"
)

// recordBatch bounds how many results one Record call stores.
const recordBatch = 512

// recorder collects attempt results and stores them in batches: one transaction for many
// results keeps the store's write rate far below the delivery rate.
type recorder struct {
	q       promptd.Queue
	log     *slog.Logger
	metrics *Metrics
	ch      chan *promptd.JobResult
}

func newRecorder(q promptd.Queue, log *slog.Logger, m *Metrics) *recorder {
	return &recorder{q: q, log: log, metrics: m, ch: make(chan *promptd.JobResult, 4*recordBatch)}
}

// add queues a result; it blocks while the recorder is behind (back pressure on senders).
func (r *recorder) add(res *promptd.JobResult) { r.ch <- res }

// close ends run once every queued result is stored. No add may follow.
func (r *recorder) close() { close(r.ch) }

// run stores results until close.
func (r *recorder) run() {
	for first := range r.ch {
		batch := []*promptd.JobResult{first}
	drain:
		for len(batch) < recordBatch {
			select {
			case res, ok := <-r.ch:
				if !ok {
					break drain
				}
				batch = append(batch, res)
			default:
				break drain
			}
		}
		r.store(batch)
	}
}

// store records one batch, retrying while the store is unavailable. If it keeps failing, the
// batch is dropped with an error: the deliveries' leases then run out and they are sent
// again (at least once, never lost).
func (r *recorder) store(batch []*promptd.JobResult) {
	backoff := 50 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.q.Record(ctx, batch)
		cancel()
		if err == nil {
			for _, res := range batch {
				r.metrics.recorded(res)
			}
			return
		}
		if time.Now().After(deadline) {
			r.log.Error("recording delivery results failed; their leases will expire and they will be sent again",
				"results", len(batch), "err", err)
			return
		}
		r.log.Warn("recording delivery results; retrying", "results", len(batch), "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}
