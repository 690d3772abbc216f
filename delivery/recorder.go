package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/promptd/promptd"
)

// Recording results.
//
// A result that the receiver has but the store does not is sent again after a crash (the
// delivery's lease runs out), so the time from an attempt's end to the commit of its result
// is the crash window. The recorder stores results in batches, one Record call for every
// result waiting (up to recordBatch): as long as Record calls are quick, one at a time, so
// that a busy engine stores hundreds of results per transaction. When a result has waited
// recordLinger behind a Record call still under way, another call starts beside it (up to
// Config.RecordCalls at once, default defaultRecordCalls) with everything waiting: a result no longer waits behind a backlog
// of full batches (which kept results up to 1.5 s from their commit on PostgreSQL under
// load), it waits at most about recordLinger plus its own Record call. The waiting results
// are bounded by recordQueue: beyond it senders wait (back pressure), their slots held.
//
// Concurrent Record calls are safe: each result is in one batch only, and the store locks
// what batches share (webhooks, ordering lines) in a fixed order. On PostgreSQL they run
// side by side on their own connections. SQLite has one writer: concurrent calls would only
// queue behind each other, in smaller batches, so serve runs one at a time there
// (Config.RecordCalls).

const (
	// recordBatch bounds how many results one Record call stores.
	recordBatch = 512
	// defaultRecordCalls is how many Record calls may run at once by default.
	defaultRecordCalls = 4
	// recordLinger is how long a result may wait behind a Record call under way before
	// another call starts for it.
	recordLinger = 5 * time.Millisecond
	// recordQueue bounds the results waiting for a Record call.
	recordQueue = 4 * recordBatch
)

// pendingResult is a result waiting to be recorded, with when it was handed over.
type pendingResult struct {
	res   *promptd.JobResult
	at    time.Time
	entry uint64 // its number in the journal, 0 when not journaled
}

// recorder collects attempt results and stores them in batches: one transaction for many
// results keeps the store's write rate far below the delivery rate.
type recorder struct {
	q       promptd.Queue
	log     *slog.Logger
	metrics *Metrics
	calls   int // Record calls at once, at most
	ch      chan pendingResult
	journal *Journal // marked committed after each Record; nil: none
}

func newRecorder(q promptd.Queue, log *slog.Logger, m *Metrics, calls int) *recorder {
	return &recorder{q: q, log: log, metrics: m, calls: max(1, calls), ch: make(chan pendingResult)}
}

// add queues a result, journaled as entry (0: not journaled); it blocks while the recorder
// is behind (back pressure on senders).
func (r *recorder) add(res *promptd.JobResult, entry uint64) {
	r.ch <- pendingResult{res: res, at: time.Now(), entry: entry}
}

// close ends run once every queued result is stored. No add may follow.
func (r *recorder) close() { close(r.ch) }

// run stores results until close: it starts a Record call for the waiting results when none
// is under way, or when the oldest has waited recordLinger and fewer than r.calls are.
func (r *recorder) run() {
	var (
		waiting []pendingResult
		running int
		closed  bool
		done    = make(chan struct{}, r.calls)
		linger  = time.NewTimer(time.Hour)
	)
	linger.Stop()
	for !closed || len(waiting) > 0 || running > 0 {
		if len(waiting) > 0 && (running == 0 || running < r.calls && time.Since(waiting[0].at) >= recordLinger) {
			n := min(len(waiting), recordBatch)
			batch := make([]pendingResult, n)
			copy(batch, waiting)
			waiting = append(waiting[:0], waiting[n:]...)
			running++
			go func() {
				r.store(batch)
				done <- struct{}{}
			}()
			continue
		}
		// Wait for a result (while there is room), a Record call to end, or the oldest
		// waiting result to have waited long enough for another call.
		in := r.ch
		if closed || len(waiting) >= recordQueue {
			in = nil
		}
		var lingered <-chan time.Time
		if len(waiting) > 0 && running < r.calls {
			linger.Reset(max(0, recordLinger-time.Since(waiting[0].at)))
			lingered = linger.C
		}
		select {
		case p, ok := <-in:
			if !ok {
				closed = true
				break
			}
			waiting = append(waiting, p)
		case <-done:
			running--
		case <-lingered:
		}
		if lingered != nil && !linger.Stop() {
			select {
			case <-linger.C:
			default:
			}
		}
	}
}

// store records one batch, retrying while the store is unavailable. If it keeps failing, the
// batch is dropped with an error: the deliveries' leases then run out and they are sent
// again (at least once, never lost). Once recorded, each webhook the batch disabled (410
// Gone, or failing for too long) is logged with its reason.
func (r *recorder) store(batch []pendingResult) {
	results := make([]*promptd.JobResult, len(batch))
	for i, p := range batch {
		results[i] = p.res
	}
	backoff := 50 * time.Millisecond
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := r.q.Record(ctx, results)
		cancel()
		if err == nil {
			now := time.Now()
			var entries []uint64
			for _, p := range batch {
				r.metrics.recorded(p.res, now.Sub(p.at))
				logDisabled(r.log, p.res)
				if p.entry != 0 {
					entries = append(entries, p.entry)
				}
			}
			r.journal.committed(entries)
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

// logDisabled logs the webhook that recording res disabled, if any, with its reason.
func logDisabled(log *slog.Logger, res *promptd.JobResult) {
	if res.Disabled == "" {
		return
	}
	log.Warn("webhook disabled", "webhook_id", res.Job.Webhook.ID, "project_id", res.Job.ProjectID,
		"reason", res.Disabled, "delivery_id", res.Job.DeliveryID)
}
