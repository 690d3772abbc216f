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
// is the crash window. The engine journals each answered result first (journal.go), so the
// window is only that of a process without a journal; the recorder's task is to store the
// results cheaply and soon.
//
// Results are stored in batches, one Record call for every result waiting (up to
// recordBatch). A call starts once the oldest waiting result has waited Config.RecordGather
// (default DefaultRecordGather), or at once when a full batch waits or a result ends the
// head of an ordering line, whose next delivery waits for it (see urgent). What a
// transaction costs beyond its rows (on PostgreSQL its round trips, the planning of the
// UPDATE, the commit) is
// then shared by the results of the gathering time instead of those of one call's duration,
// which under load lowered PostgreSQL's CPU per delivery by 6–37 % (docs/benchmarks.md,
// "Results gathered for 25 ms"). A result thus waits about the gathering time plus its own
// Record call. Calls run side by side (up to Config.RecordCalls, default
// defaultRecordCalls) when one takes longer than that: a result never waits behind a
// backlog of full batches (which kept results up to 1.5 s from their commit on PostgreSQL
// under load). The waiting results are bounded by recordQueue: beyond it senders wait (back
// pressure), their slots held. Senders never wait for the gathering: a request's slot is
// free as soon as its result is handed over.
//
// Without gathering (a negative Config.RecordGather, as serve runs on SQLite) a call starts
// as soon as a result waits and no call is under way, and another beside it once a result
// has waited recordLinger: SQLite's group commit already shares each transaction among the
// writes that queue up, and there the gathering measured slower (fewer deliveries per
// second and more CPU per delivery in two comparisons; docs/benchmarks.md).
//
// Concurrent Record calls are safe: each result is in one batch only, and the store locks
// what batches share (webhooks, ordering lines) in a fixed order. On PostgreSQL they run
// side by side on their own connections. SQLite has one writer: concurrent calls would only
// queue behind each other, in smaller batches, so serve runs one at a time there
// (Config.RecordCalls).

// DefaultRecordGather is Config.RecordGather's default: how long the oldest result waiting to
// be recorded waits for others before a Record call starts for them.
const DefaultRecordGather = 25 * time.Millisecond

const (
	// recordBatch bounds how many results one Record call stores.
	recordBatch = 512
	// defaultRecordCalls is how many Record calls may run at once by default.
	defaultRecordCalls = 4
	// recordLinger is, without gathering (a negative Config.RecordGather), how long a
	// result waits behind a Record call under way before another starts beside it.
	recordLinger = 5 * time.Millisecond
	// recordQueue bounds the results waiting for a Record call.
	recordQueue = 4 * recordBatch
)

// pendingResult is a result waiting to be recorded, with when it was handed over.
type pendingResult struct {
	res   *promptd.JobResult
	at    time.Time
	entry uint64 // its number in the journal, 0 when not journaled
	// urgent says that the result may end the head of an ordering line, whose next
	// delivery becomes due only once it is recorded: it is stored without gathering.
	urgent bool
}

// urgent reports whether recording res may make another delivery due: a result that ends a
// delivery of a webhook that orders its deliveries (the head of its line).
func urgent(res *promptd.JobResult) bool {
	w := res.Job.Webhook
	return w != nil && w.Ordering != "" && w.Ordering != promptd.OrderingNone && res.Status != promptd.StatusPending
}

// recorder collects attempt results and stores them in batches: one transaction for many
// results keeps the store's write rate far below the delivery rate.
type recorder struct {
	q       promptd.Queue
	log     *slog.Logger
	metrics *Metrics
	calls   int           // Record calls at once, at most
	gather  time.Duration // how long the oldest result waits for others; negative: not at all
	ch      chan pendingResult
	journal *Journal // marked committed after each Record; nil: none
}

func newRecorder(q promptd.Queue, log *slog.Logger, m *Metrics, calls int, gather time.Duration) *recorder {
	return &recorder{q: q, log: log, metrics: m, calls: max(1, calls), gather: gather, ch: make(chan pendingResult)}
}

// wait is how long the oldest waiting result waits before a call starts for it: r.gather, or
// without gathering, with a call under way, recordLinger.
func (r *recorder) wait() time.Duration {
	if r.gather < 0 {
		return recordLinger
	}
	return r.gather
}

// startNow reports whether a Record call starts for the waiting results (n of them, urgents
// of them urgent, the oldest waiting for waited) while running calls are under way: when
// fewer than r.calls are, once the oldest has waited r.wait(), a full batch or an urgent
// result waits, or the recorder is closed; without gathering, also whenever no call is.
func (r *recorder) startNow(n, urgents, running int, waited time.Duration, closed bool) bool {
	switch {
	case n == 0 || running >= r.calls:
		return false
	case closed || urgents > 0 || n >= recordBatch || r.gather < 0 && running == 0:
		return true
	}
	return waited >= r.wait()
}

// add queues a result, journaled as entry (0: not journaled); it blocks while the recorder
// is behind (back pressure on senders).
func (r *recorder) add(res *promptd.JobResult, entry uint64) {
	r.ch <- pendingResult{res: res, at: time.Now(), entry: entry, urgent: urgent(res)}
}

// close ends run once every queued result is stored. No add may follow.
func (r *recorder) close() { close(r.ch) }

// run stores results until close, starting a Record call for the waiting results whenever
// startNow says so.
func (r *recorder) run() {
	var (
		waiting []pendingResult
		urgents int // urgent results waiting
		running int
		closed  bool
		done    = make(chan struct{}, r.calls)
		gather  = time.NewTimer(time.Hour)
	)
	gather.Stop()
	for !closed || len(waiting) > 0 || running > 0 {
		if len(waiting) > 0 && r.startNow(len(waiting), urgents, running, time.Since(waiting[0].at), closed) {
			n := min(len(waiting), recordBatch)
			batch := make([]pendingResult, n)
			copy(batch, waiting)
			waiting = append(waiting[:0], waiting[n:]...)
			for _, p := range batch {
				if p.urgent {
					urgents--
				}
			}
			running++
			go func() {
				r.store(batch)
				done <- struct{}{}
			}()
			continue
		}
		// Wait for a result (while there is room), a Record call to end, or the oldest
		// waiting result to have waited long enough for a call.
		in := r.ch
		if closed || len(waiting) >= recordQueue {
			in = nil
		}
		var gathered <-chan time.Time
		if len(waiting) > 0 && running < r.calls {
			gather.Reset(max(0, r.wait()-time.Since(waiting[0].at)))
			gathered = gather.C
		}
		select {
		case p, ok := <-in:
			if !ok {
				closed = true
				break
			}
			waiting = append(waiting, p)
			if p.urgent {
				urgents++
			}
		case <-done:
			running--
		case <-gathered:
		}
		if gathered != nil {
			gather.Stop()
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
