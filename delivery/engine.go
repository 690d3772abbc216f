package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/promptd/promptd"
)

// Config configures an Engine. Zero fields take the documented defaults.
type Config struct {
	Queue  promptd.Queue
	Client *http.Client // required: use NewHTTPClient
	Logger *slog.Logger
	// UserAgent is sent with every request, e.g. "promptd/1.2.0".
	UserAgent string
	// Concurrency bounds the requests in flight across all webhooks (default 512).
	Concurrency int
	// BatchSize bounds one claim (default 256).
	BatchSize int
	// RecordCalls bounds the Record calls that store results at once (default 4; when one
	// starts: RecordGather). 1 stores results one batch at a time, which suits a store with
	// a single writer (SQLite), where concurrent calls only queue behind each other in
	// smaller batches.
	RecordCalls int
	// RecordGather is how long the oldest result waiting to be recorded waits for others
	// before a Record call starts (default 25 ms): fewer, larger transactions, which on
	// PostgreSQL lower the database's CPU per delivery under load (docs/benchmarks.md). A
	// negative value gathers none: a call starts as soon as a result waits and none is under
	// way, which suits SQLite, whose group commit shares its transactions already.
	RecordGather time.Duration
	// Lease is how long a claim holds before the delivery is due again: after a crash,
	// claimed deliveries are sent again once it runs out (default 40 s; it must exceed the
	// longest request timeout, 30 s).
	Lease time.Duration
	// ShutdownTimeout bounds how long Run waits for requests in flight once its context
	// ends (default 10 s); what is still running then is released, not lost.
	ShutdownTimeout time.Duration
	// BreakerTimeout is how long a webhook's open circuit stays open (default 30 s).
	BreakerTimeout time.Duration
	// Now is the clock (default time.Now); Jitter returns a value in [-1, 1] (default
	// uniform random).
	Now    func() time.Time
	Jitter func() float64
	// Metrics, when set, is updated as the engine works.
	Metrics *Metrics
	// Destinations builds and judges the requests of each webhook type (default
	// DefaultDestinations()).
	Destinations Destinations
	// Journal, when set, keeps each result from its decision to its commit, so that a kill
	// does not send answered requests again (see OpenJournal); Run first replays the
	// journals of stopped instances. Nil journals nothing.
	Journal *Journal
	// Handoff, when the Queue is a promptd.HandoffQueue, has the deliveries of newly
	// published events handed to this engine at publish, leased, while it has room for
	// them, instead of claimed afterwards (see promptd.Handoff). Run sets and unsets it.
	Handoff bool
}

func (c *Config) setDefaults() error {
	if c.Queue == nil {
		return errors.New("delivery: Config.Queue is required")
	}
	if c.Client == nil {
		return errors.New("delivery: Config.Client is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = "promptd"
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 512
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.RecordCalls <= 0 {
		c.RecordCalls = defaultRecordCalls
	}
	if c.RecordGather == 0 {
		c.RecordGather = DefaultRecordGather
	}
	if c.Lease <= 0 {
		c.Lease = 40 * time.Second
	}
	if c.Lease <= time.Duration(promptd.MaxTimeoutSeconds)*time.Second {
		return fmt.Errorf("delivery: Config.Lease must exceed the longest request timeout (%ds), got %s", promptd.MaxTimeoutSeconds, c.Lease)
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.BreakerTimeout <= 0 {
		c.BreakerTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Destinations == nil {
		c.Destinations = DefaultDestinations()
	}
	if c.Jitter == nil {
		c.Jitter = func() float64 { return rand.Float64()*2 - 1 }
	}
	return nil
}

// Engine delivers: it claims due deliveries, sends them with per-webhook isolation, and
// records the outcomes in batches. Several engines (one per promptd instance) may share a
// store.
//
// Each webhook has at most its MaxInFlight requests in flight. The engine claims more of its
// deliveries ahead (they wait in memory, leased, for a slot: one round of the cap, several
// for a webhook that answers fast), so that a webhook's next request starts as soon as one
// ends instead of after a claim round trip to the store; a claimed delivery that waited too
// long for its lease is given back unsent.
//
// With Config.Handoff, the store hands the engine the deliveries of newly published events
// as it writes them, already leased (Reserve, Deliver): the claim is skipped while the
// engine has room for them and nothing older is due for their webhook.
type Engine struct {
	cfg      Config
	recorder *recorder

	mu       sync.Mutex
	inFlight int // requests in flight
	waiting  int // jobs claimed ahead, over all webhooks
	reserved int // deliveries reserved for a handoff (promptd.Handoff), over all webhooks
	hooks    map[string]*hookState
	freed    chan struct{} // a slot was freed, or a waiting job started
	// running is set while Run dispatches jobs, under reqCtx and wg.
	running bool
	reqCtx  context.Context
	wg      *sync.WaitGroup
}

// hookState is what the engine knows of one webhook: its requests in flight, its cap and
// its circuit breaker.
type hookState struct {
	inFlight int
	max      int
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	waiting  []waitingJob // claimed ahead, oldest first
	reserved int          // reserved for a handoff, not yet delivered
	// drained says that the last claim found none of the webhook's deliveries due beyond
	// what it took: handed over, new deliveries then overtake nothing (see Reserve).
	drained  bool
	avg      time.Duration // moving average of its requests' durations
	samples  int
	openedAt atomic.Int64 // when the circuit last opened, Unix nanoseconds (see Circuit)
}

// fastRequest is the average request duration under which a webhook gets a deeper round of
// jobs claimed ahead (aheadFast times its cap): its slots free up faster than a claim
// round trip through a busy store.
const (
	fastRequest = 50 * time.Millisecond
	aheadFast   = 8
)

// ahead returns how many claimed jobs may wait for the webhook's slots: none unless its
// circuit is closed; one round of its cap until its requests are known to be fast, several
// rounds then.
func (h *hookState) ahead() int {
	switch {
	case h.breaker.State() != gobreaker.StateClosed:
		return 0
	case h.samples == 0 || h.avg > fastRequest:
		return h.max
	default:
		return aheadFast * h.max
	}
}

// took adds a request's duration to the moving average.
func (h *hookState) took(d time.Duration) {
	if h.samples == 0 {
		h.avg = d
	} else {
		h.avg += (d - h.avg) / 8
	}
	h.samples++
}

// waitingJob is a claimed job waiting for a slot of its webhook.
type waitingJob struct {
	job       *promptd.Job
	claimedAt time.Time
}

// limit returns the in-flight cap: the webhook's own while its circuit is closed, one probe
// otherwise.
func (h *hookState) limit() int {
	if h.breaker.State() != gobreaker.StateClosed {
		return 1
	}
	return h.max
}

// New returns an Engine; call Run to start it.
func New(cfg Config) (*Engine, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:   cfg,
		hooks: map[string]*hookState{},
		freed: make(chan struct{}, 1),
	}
	e.recorder = newRecorder(cfg.Queue, cfg.Logger, cfg.Metrics, cfg.RecordCalls, cfg.RecordGather)
	e.recorder.journal = cfg.Journal
	return e, nil
}

// Run delivers until ctx ends, then stops claiming, waits up to ShutdownTimeout for the
// requests in flight, releases the rest and flushes the results. With a Journal, it first
// records the results journaled by stopped instances (Journal.Replay).
func (e *Engine) Run(ctx context.Context) error {
	if j := e.cfg.Journal; j != nil {
		n, err := j.Replay(ctx, e.cfg.Queue)
		switch {
		case err != nil:
			e.cfg.Logger.Error("replaying the results journal of a stopped instance; its deliveries are sent again once their leases run out", "err", err)
		case n > 0:
			e.cfg.Logger.Info("recorded the results journaled by a stopped instance", "results", n)
		}
	}
	// Requests run under their own context so that they can finish after ctx ends.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	var wg sync.WaitGroup
	recDone := make(chan struct{})
	go func() { e.recorder.run(); close(recDone) }()

	e.mu.Lock()
	e.running, e.reqCtx, e.wg = true, reqCtx, &wg
	e.mu.Unlock()
	hq, handoff := e.cfg.Queue.(promptd.HandoffQueue)
	handoff = handoff && e.cfg.Handoff
	if handoff {
		hq.SetHandoff(e)
	}
	e.loop(ctx)
	if handoff {
		hq.SetHandoff(nil)
	}
	e.mu.Lock()
	e.running = false // jobs handed over from now on are released (see dispatch)
	e.mu.Unlock()
	e.releaseWaiting()

	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(e.cfg.ShutdownTimeout):
		e.cfg.Logger.Warn("shutdown deadline reached; releasing deliveries still in flight")
		cancelRequests()
		<-allDone
	}
	e.recorder.close()
	<-recDone
	return nil
}

// loop claims and dispatches work until ctx ends.
func (e *Engine) loop(ctx context.Context) {
	notify := e.cfg.Queue.Notify()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for ctx.Err() == nil {
		limit, free := e.capacity()
		limit = min(limit, e.cfg.BatchSize)
		claimed := 0
		if limit > 0 {
			// The journal learns of the leases before the claim commits (see
			// journal_leases.go); those of a claim that did not commit are ended again.
			var journaled []*promptd.Job
			jobs, err := e.cfg.Queue.Claim(ctx, promptd.ClaimRequest{
				Now: e.cfg.Now(), Limit: limit, Lease: e.cfg.Lease, Free: free,
				Leasing: func(jobs []*promptd.Job) {
					e.cfg.Journal.leased(jobs)
					journaled = jobs
				},
			})
			if err != nil {
				e.cfg.Journal.ended(journaled)
				if ctx.Err() == nil {
					e.cfg.Logger.Error("claiming deliveries", "err", err)
					sleep(ctx, time.Second)
				}
				continue
			}
			now := e.cfg.Now()
			var excess []*promptd.Job
			for _, job := range jobs {
				if !e.dispatch(job, now, false) {
					excess = append(excess, job)
				}
			}
			if len(excess) > 0 {
				e.releaseAll(excess)
			}
			claimed = len(jobs)
			e.claimed(jobs, free, claimed == limit)
			if claimed == limit {
				continue // there may be more due right now
			}
		}
		// Wait for new work, a freed slot, or the next due time.
		wait := time.Minute
		at, ok, err := e.cfg.Queue.NextDue(ctx)
		switch {
		case err != nil:
			wait = 0 // not known: look again soon, and at every freed slot
		case ok:
			wait = max(0, at.Sub(e.cfg.Now()))
		}
		var freed <-chan struct{}
		if wait == 0 {
			// Due work exists that could not be claimed: its webhooks are saturated or
			// their circuits are open, or the engine is full. A freed slot wakes us; the
			// timer only bounds the wait for a circuit to half-open. (With nothing due, a
			// freed slot has nothing to claim: jobs claimed ahead start by themselves.)
			wait = 100 * time.Millisecond
			freed = e.freed
			e.saturated(free)
		}
		resetTimer(timer, wait)
		select {
		case <-ctx.Done():
		case <-notify:
		case <-freed:
		case <-timer.C:
		}
	}
}

// claimed notes, after a claim that asked for free of each webhook's deliveries (a webhook
// without an entry: its MaxInFlight), which webhooks it drained: those it took fewer of than
// it could, unless the claim's overall limit cut it short (cut).
func (e *Engine) claimed(jobs []*promptd.Job, free map[string]int, cut bool) {
	took := make(map[string]int, len(free))
	for _, j := range jobs {
		took[j.Webhook.ID]++
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, h := range e.hooks {
		quota, ok := free[id]
		if !ok {
			quota = h.max
		}
		if quota > 0 {
			h.drained = !cut && took[id] < quota
		}
	}
}

// saturated notes that due deliveries wait which the last claim, asking for free of each
// webhook's, could not take: a webhook that had no room may be one of those whose due
// deliveries wait, so deliveries are no longer handed to it until a claim drains it.
func (e *Engine) saturated(free map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, n := range free {
		if h := e.hooks[id]; h != nil && n == 0 {
			h.drained = false
		}
	}
}

// capacity returns how many jobs the next claim may take in all (requests that may start
// now, plus as many claimed ahead) and, for every webhook the engine knows, how many of its
// own: its free slots plus what may wait (ahead), none while its circuit is open.
func (e *Engine) capacity() (limit int, free map[string]int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	free = make(map[string]int, len(e.hooks))
	for id, h := range e.hooks {
		n := 0
		if h.breaker.State() != gobreaker.StateOpen {
			n = h.room()
		}
		free[id] = max(0, n)
	}
	return e.room(), free
}

// room returns how many more jobs the webhook may have in flight and waiting. Callers hold
// e.mu.
func (h *hookState) room() int {
	return h.limit() + h.ahead() - h.inFlight - len(h.waiting) - h.reserved
}

// room returns how many more jobs the engine may have in flight and waiting. Callers hold
// e.mu.
func (e *Engine) room() int {
	return 2*e.cfg.Concurrency - e.inFlight - e.waiting - e.reserved
}

// Reserve takes up to n new deliveries of a webhook at their publish (see promptd.Handoff):
// as many as it has room for, while its circuit is closed and the last claim drained it
// (so that new deliveries overtake none that are due). A webhook this engine has not
// claimed for yet gets none.
func (e *Engine) Reserve(webhookID string, n int) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hooks[webhookID]
	if !e.running || h == nil || !h.drained || h.breaker.State() != gobreaker.StateClosed {
		return 0
	}
	k := min(n, h.room(), e.room())
	if k <= 0 {
		return 0
	}
	h.reserved += k
	e.reserved += k
	return k
}

// Unreserve gives back reservations that no job came of. See promptd.Handoff.
func (e *Engine) Unreserve(webhookID string, n int) {
	e.mu.Lock()
	if h := e.hooks[webhookID]; h != nil {
		h.reserved -= n
	}
	e.reserved -= n
	e.mu.Unlock()
	e.signalFreed()
}

// Lease is how long deliveries handed over are leased for: Config.Lease. See
// promptd.Handoff.
func (e *Engine) Lease() time.Duration { return e.cfg.Lease }

// Prepare journals the leases of jobs about to be handed over (see Journal), before their
// transaction commits. See promptd.Handoff.
func (e *Engine) Prepare(jobs []*promptd.Job) { e.cfg.Journal.leased(jobs) }

// Abandon ends the reservations of prepared jobs whose transaction did not commit, and
// their leases in the journal. See promptd.Handoff.
func (e *Engine) Abandon(jobs []*promptd.Job) {
	e.mu.Lock()
	for _, job := range jobs {
		if h := e.hooks[job.Webhook.ID]; h != nil {
			h.reserved--
		}
		e.reserved--
	}
	e.mu.Unlock()
	e.cfg.Journal.ended(jobs)
	e.signalFreed()
}

// Deliver starts, or queues behind their webhooks' requests in flight, jobs handed over at
// publish (their leases journaled by Prepare), each under a reservation. Once Run has
// stopped dispatching, they are released. See promptd.Handoff.
func (e *Engine) Deliver(jobs []*promptd.Job) {
	now := e.cfg.Now()
	var excess []*promptd.Job
	for _, job := range jobs {
		if !e.dispatch(job, now, true) {
			excess = append(excess, job)
		}
	}
	e.cfg.Metrics.handedOver(len(jobs))
	if len(excess) > 0 {
		e.releaseAll(excess)
	}
}

// hook returns the state of a webhook, creating it on first sight. Callers hold e.mu.
func (e *Engine) hook(w *promptd.Webhook) *hookState {
	h := e.hooks[w.ID]
	if h == nil {
		h = &hookState{}
		h.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:        w.ID,
			MaxRequests: 1,
			Timeout:     e.cfg.BreakerTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				if to == gobreaker.StateOpen {
					h.openedAt.Store(time.Now().UnixNano())
				}
				switch to {
				case gobreaker.StateOpen:
					e.cfg.Logger.Warn("circuit breaker opened: deliveries to this webhook pause", "webhook_id", w.ID, "from", from.String(), "retry_in", e.cfg.BreakerTimeout)
				case gobreaker.StateClosed:
					e.cfg.Logger.Info("circuit breaker closed: deliveries to this webhook resume", "webhook_id", w.ID)
				}
			},
		})
		e.hooks[w.ID] = h
	}
	h.max = w.MaxInFlight
	return h
}

// dispatch starts a job claimed (or handed over, reserved: under a reservation) at
// claimedAt in its own goroutine when its webhook has a free slot (and the engine one), or
// queues it behind the webhook's requests in flight. It returns false, and the caller gives
// the job back, when the webhook already has as many jobs waiting as it may (its cap was
// lowered, or its circuit opened, since the claim was asked for), or Run has stopped
// dispatching.
func (e *Engine) dispatch(job *promptd.Job, claimedAt time.Time, reserved bool) bool {
	e.mu.Lock()
	h := e.hook(job.Webhook)
	if reserved {
		h.reserved--
		e.reserved--
	}
	if !e.running {
		e.mu.Unlock()
		return false
	}
	if len(h.waiting) > 0 || h.inFlight >= h.limit() || e.inFlight >= e.cfg.Concurrency {
		if len(h.waiting) >= h.ahead() {
			e.mu.Unlock()
			return false
		}
		h.waiting = append(h.waiting, waitingJob{job: job, claimedAt: claimedAt})
		e.waiting++
		e.cfg.Metrics.claimedWaiting(e.waiting)
		e.mu.Unlock()
		return true
	}
	e.start(e.reqCtx, e.wg, h, job)
	e.mu.Unlock()
	return true
}

// start takes a slot for job and sends it, then the webhook's waiting jobs for as long as
// there are any and the slot may be kept. Callers hold e.mu.
func (e *Engine) start(ctx context.Context, wg *sync.WaitGroup, h *hookState, job *promptd.Job) {
	h.inFlight++
	e.inFlight++
	e.cfg.Metrics.inFlight(e.inFlight)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for job != nil {
			began := time.Now()
			res := e.attempt(ctx, h, job)
			if res != nil {
				e.recorder.add(res, e.cfg.Journal.add(res))
			}
			job = e.next(h, time.Since(began))
		}
	}()
}

// next returns the webhook's next waiting job to send on the slot of the request that just
// ended, or frees the slot and returns nil. Waiting jobs whose lease would run out before
// their request could end are given back, as are all of them while the circuit is open.
func (e *Engine) next(h *hookState, took time.Duration) *promptd.Job {
	var stale []*promptd.Job
	defer func() {
		if len(stale) > 0 {
			e.releaseAll(stale)
		}
	}()
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.signalFreed()
	h.took(took)
	open := h.breaker.State() == gobreaker.StateOpen
	for len(h.waiting) > 0 && !open && h.inFlight <= h.limit() && e.inFlight <= e.cfg.Concurrency {
		w := h.waiting[0]
		h.waiting[0] = waitingJob{}
		h.waiting = h.waiting[1:]
		e.waiting--
		e.cfg.Metrics.claimedWaiting(e.waiting)
		if e.cfg.Now().Sub(w.claimedAt) > e.startBy(w.job) {
			stale = append(stale, w.job)
			continue
		}
		return w.job
	}
	if open {
		for _, w := range h.waiting {
			stale = append(stale, w.job)
		}
		e.waiting -= len(h.waiting)
		h.waiting = nil
	}
	h.inFlight--
	e.inFlight--
	e.cfg.Metrics.inFlight(e.inFlight)
	e.cfg.Metrics.claimedWaiting(e.waiting)
	return nil
}

// startBy is how long after its claim a job may still start: its request, at its longest,
// must end (and its result be recorded) well before the lease does.
func (e *Engine) startBy(job *promptd.Job) time.Duration {
	return e.cfg.Lease - time.Duration(job.Webhook.TimeoutSeconds)*time.Second - 5*time.Second
}

// releaseWaiting gives back every job still waiting for a slot (at shutdown).
func (e *Engine) releaseWaiting() {
	e.mu.Lock()
	var jobs []*promptd.Job
	for _, h := range e.hooks {
		for _, w := range h.waiting {
			jobs = append(jobs, w.job)
		}
		h.waiting = nil
	}
	e.waiting = 0
	e.cfg.Metrics.claimedWaiting(0)
	e.mu.Unlock()
	if len(jobs) > 0 {
		e.releaseAll(jobs)
	}
}

// finish frees the slot of a finished request and wakes the claim loop.
func (e *Engine) finish(h *hookState) {
	e.mu.Lock()
	h.inFlight--
	e.inFlight--
	e.cfg.Metrics.inFlight(e.inFlight)
	e.mu.Unlock()
	e.signalFreed()
}

// attempt sends one job through the webhook's circuit breaker and decides what follows. It
// returns nil when the job was released instead (the circuit was open, or shutdown cut the
// request short).
func (e *Engine) attempt(ctx context.Context, h *hookState, job *promptd.Job) *promptd.JobResult {
	done, err := h.breaker.Allow()
	if err != nil {
		e.release(job)
		return nil
	}
	now := e.cfg.Now()
	att, result := send(ctx, e.cfg.Client, e.cfg.Destinations, job, e.cfg.UserAgent, now)
	if ctx.Err() != nil {
		// Shutdown cancelled the request: give the delivery back without counting it.
		done(nil)
		e.release(job)
		return nil
	}
	var paced *PacedError
	if (result.Err != nil && !errors.As(result.Err, &paced)) || result.StatusCode >= 500 {
		done(errors.New("endpoint failing"))
	} else {
		done(nil)
	}
	res := decide(job, att, result, e.cfg.Jitter(), now)
	e.logResult(res)
	return res
}

// logResult writes an attempt that did not succeed to the engine's log: a retry at debug
// level (the delivery log has every attempt), a delivery that failed for good at warn level.
// A webhook that the result disables is logged once recorded (see recorder.store), when the
// store has decided.
func (e *Engine) logResult(res *promptd.JobResult) {
	if res.Status == promptd.StatusSucceeded {
		return
	}
	job := res.Job
	attrs := []slog.Attr{
		slog.String("delivery_id", job.DeliveryID), slog.String("webhook_id", job.Webhook.ID),
		slog.String("event_type", job.EventType), slog.Int("attempt", job.Attempt),
		slog.Int("status", res.Attempt.StatusCode), slog.String("error", res.Attempt.Error),
	}
	switch res.Status {
	case promptd.StatusPending:
		attrs = append(attrs, slog.Time("next_attempt_at", res.NextAttemptAt))
		e.cfg.Logger.LogAttrs(context.Background(), slog.LevelDebug, "delivery attempt failed; will retry", attrs...)
	default:
		e.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "delivery failed", attrs...)
	}
}

// decide turns an attempt into the job's next state by the webhook's retry policy.
func decide(job *promptd.Job, att promptd.Attempt, r Result, jitter float64, now time.Time) *promptd.JobResult {
	d := Decide(job.Webhook.Retry, job.Attempt-job.AttemptBase, r, jitter) // the schedule counts within the series
	res := &promptd.JobResult{Job: job, Attempt: att}
	switch d.Verdict {
	case Succeeded:
		res.Status = promptd.StatusSucceeded
	case Retry:
		res.Status = promptd.StatusPending
		res.NextAttemptAt = now.Add(d.Delay)
		if res.Attempt.Error == "" {
			res.Attempt.Error = d.Reason
		}
	default:
		res.Status = promptd.StatusFailed
		if res.Attempt.Error == "" {
			res.Attempt.Error = d.Reason
		}
	}
	if d.DisableWebhook {
		res.DisableReason = d.Reason
	}
	return res
}

func (e *Engine) release(job *promptd.Job) { e.releaseAll([]*promptd.Job{job}) }

// releaseAll gives claimed deliveries back without counting an attempt (journaled first:
// see Journal.ended).
func (e *Engine) releaseAll(jobs []*promptd.Job) {
	e.cfg.Journal.ended(jobs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cfg.Queue.Release(ctx, jobs); err != nil {
		// The leases run out by themselves; the deliveries are not lost.
		e.cfg.Logger.Warn("releasing deliveries", "deliveries", len(jobs), "err", err)
	}
}

// SendNow claims one delivery (a test delivery, see DeliveryService.CreateTestDelivery),
// sends it at once, records the outcome and returns it.
func (e *Engine) SendNow(ctx context.Context, deliveryID string) (*promptd.JobResult, error) {
	job, err := e.cfg.Queue.ClaimDelivery(ctx, deliveryID, e.cfg.Now(), e.cfg.Lease)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	h := e.hook(job.Webhook)
	h.inFlight++
	e.inFlight++
	e.mu.Unlock()
	defer e.finish(h)
	now := e.cfg.Now()
	att, result := send(context.WithoutCancel(ctx), e.cfg.Client, e.cfg.Destinations, job, e.cfg.UserAgent, now)
	res := decide(job, att, result, e.cfg.Jitter(), now)
	// The attempt happened: record it even if the caller has gone away meanwhile.
	ended := time.Now()
	if err := e.cfg.Queue.Record(context.WithoutCancel(ctx), []*promptd.JobResult{res}); err != nil {
		return nil, fmt.Errorf("recording the test delivery: %w", err)
	}
	e.cfg.Metrics.recorded(res, time.Since(ended))
	logDisabled(e.cfg.Logger, res)
	return res, nil
}

// signalFreed wakes the claim loop without blocking (one pending signal is enough): a slot
// was freed, a waiting job started, or a reservation ended.
func (e *Engine) signalFreed() {
	select {
	case e.freed <- struct{}{}:
	default:
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
