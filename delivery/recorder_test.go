package delivery

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// stuckQueue is a promptd.Queue whose Record calls for the delivery "slow" wait until
// unblock is closed; every other Record call returns at once. It reports each recorded
// delivery id on recorded.
type stuckQueue struct {
	promptd.Queue
	unblock  chan struct{}
	recorded chan string
	mu       sync.Mutex
	calls    int
}

func (q *stuckQueue) Record(_ context.Context, results []*promptd.JobResult) error {
	q.mu.Lock()
	q.calls++
	q.mu.Unlock()
	for _, r := range results {
		if r.Job.DeliveryID == "slow" {
			<-q.unblock
		}
	}
	for _, r := range results {
		q.recorded <- r.Job.DeliveryID
	}
	return nil
}

// receive returns the ids of the next n deliveries recorded, failing t when they take more
// than 10 s.
func (q *stuckQueue) receive(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		select {
		case id := <-q.recorded:
			got = append(got, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d results stored within 10 s: %v", len(got), n, got)
		}
	}
	return got
}

func result(id string) *promptd.JobResult {
	return &promptd.JobResult{Job: &promptd.Job{DeliveryID: id, Webhook: &promptd.Webhook{ID: "w"}}, Status: promptd.StatusSucceeded}
}

// A result handed over while a Record call is under way is stored by another call, without
// waiting for the first: the time from a response to its commit (the crash window) is not
// the sum of the Record calls queued before it.
func TestRecorderDoesNotQueueBehindASlowRecord(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, 16)}
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, DefaultRecordGather)
	done := make(chan struct{})
	go func() { r.run(); close(done) }()

	r.add(result("slow"), 0)
	// Wait until the slow call has started (it holds its batch), then hand over more.
	for deadline := time.Now().Add(10 * time.Second); ; {
		q.mu.Lock()
		calls := q.calls
		q.mu.Unlock()
		if calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first result was never recorded")
		}
		time.Sleep(time.Millisecond)
	}
	r.add(result("fast-1"), 0)
	r.add(result("fast-2"), 0)
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case id := <-q.recorded:
			if id == "slow" {
				t.Fatal("the slow call returned before it was unblocked")
			}
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("results handed over during a slow Record call were not stored meanwhile; stored %v", got)
		}
	}
	close(q.unblock)
	r.close()
	<-done
	if id := <-q.recorded; id != "slow" {
		t.Fatalf("recorded %q after the unblock, want slow", id)
	}
}

// With one Record call at a time, results handed over during a call wait for it and then go
// together in the next.
func TestRecorderOneCallAtATime(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, 16)}
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, 1, DefaultRecordGather)
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	r.add(result("slow"), 0)
	for deadline := time.Now().Add(10 * time.Second); ; {
		q.mu.Lock()
		calls := q.calls
		q.mu.Unlock()
		if calls == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first result was never recorded")
		}
		time.Sleep(time.Millisecond)
	}
	r.add(result("next-1"), 0)
	r.add(result("next-2"), 0)
	time.Sleep(5 * DefaultRecordGather) // well past DefaultRecordGather: a second call would have started
	q.mu.Lock()
	calls := q.calls
	q.mu.Unlock()
	if calls != 1 || len(q.recorded) != 0 {
		t.Fatalf("%d Record calls and %d results stored while the first call was under way, want 1 and 0", calls, len(q.recorded))
	}
	close(q.unblock)
	r.close()
	<-done
	var got []string
	for len(q.recorded) > 0 {
		got = append(got, <-q.recorded)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !slices.Equal(got, []string{"slow", "next-1", "next-2"}) || q.calls != 2 {
		t.Fatalf("stored %v in %d calls, want slow, then next-1 and next-2 together", got, q.calls)
	}
}

// Results handed over one after the other go together in one Record call, once the oldest
// has waited the gathering time: not one call for the first and another for the rest.
func TestRecorderGathersResults(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, 16)}
	close(q.unblock)
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, DefaultRecordGather)
	r.gather = time.Second // long beside the three adds below, even on a loaded machine
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	start := time.Now()
	for _, id := range []string{"a", "b", "c"} {
		r.add(result(id), 0)
	}
	got := q.receive(t, 3)
	waited := time.Since(start)
	r.close()
	<-done
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.calls != 1 || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("stored %v in %d Record calls, want a, b and c in one", got, q.calls)
	}
	if waited < r.gather {
		t.Fatalf("stored after %s, before the oldest result had waited %s", waited, r.gather)
	}
}

// The result that ends the head of an ordering line is stored at once, with the results
// waiting before it: the line's next delivery becomes due only once it is recorded. A retry
// of an ordered delivery, or a result of an unordered webhook, waits for company.
func TestRecorderStoresTheEndOfALineHeadAtOnce(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, 16)}
	close(q.unblock)
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, DefaultRecordGather)
	r.gather = time.Hour
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	ordered := &promptd.Webhook{ID: "w", Ordering: promptd.OrderingPerPrompt}
	retry := result("retry")
	retry.Job.Webhook, retry.Status = ordered, promptd.StatusPending
	r.add(result("unordered"), 0)
	r.add(retry, 0)
	select {
	case id := <-q.recorded:
		t.Fatalf("stored %s without gathering", id)
	case <-time.After(100 * time.Millisecond):
	}
	head := result("head")
	head.Job.Webhook = ordered
	r.add(head, 0)
	got := q.receive(t, 3)
	r.close()
	<-done
	if !slices.Equal(got, []string{"unordered", "retry", "head"}) {
		t.Fatalf("stored %v, want unordered, retry and head", got)
	}
}

// A full batch is stored at once, without waiting for the gathering time.
func TestRecorderStoresAFullBatchAtOnce(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, recordBatch)}
	close(q.unblock)
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, DefaultRecordGather)
	r.gather = time.Hour
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	for range recordBatch {
		r.add(result("d"), 0)
	}
	for i := range recordBatch {
		select {
		case <-q.recorded:
		case <-time.After(10 * time.Second):
			t.Fatalf("stored %d of a full batch of %d in 10 s", i, recordBatch)
		}
	}
	r.close()
	<-done
}

// When a Record call starts, with and without gathering.
func TestRecorderStartNow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                string
		gather              time.Duration
		n, urgents, running int
		waited              time.Duration
		closed, want        bool
	}{
		{"nothing waits", 25 * time.Millisecond, 0, 0, 0, time.Hour, false, false},
		{"gathering", 25 * time.Millisecond, 3, 0, 0, 24 * time.Millisecond, false, false},
		{"gathered", 25 * time.Millisecond, 3, 0, 0, 25 * time.Millisecond, false, true},
		{"gathered beside a call", 25 * time.Millisecond, 3, 0, 1, 25 * time.Millisecond, false, true},
		{"every call under way", 25 * time.Millisecond, 3, 0, 4, time.Hour, false, false},
		{"urgent", 25 * time.Millisecond, 3, 1, 0, 0, false, true},
		{"full batch", 25 * time.Millisecond, recordBatch, 0, 0, 0, false, true},
		{"closed", 25 * time.Millisecond, 1, 0, 0, 0, true, true},
		{"no gathering, no call under way", -1, 1, 0, 0, 0, false, true},
		{"no gathering, behind a call", -1, 1, 0, 1, recordLinger - time.Millisecond, false, false},
		{"no gathering, lingered behind a call", -1, 1, 0, 1, recordLinger, false, true},
	} {
		r := newRecorder(nil, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, c.gather)
		if got := r.startNow(c.n, c.urgents, c.running, c.waited, c.closed); got != c.want {
			t.Errorf("%s: startNow = %v, want %v", c.name, got, c.want)
		}
	}
}

// close stores every result handed over before it, then run returns.
func TestRecorderFlushesOnClose(t *testing.T) {
	q := &stuckQueue{unblock: make(chan struct{}), recorded: make(chan string, 2*recordQueue)}
	close(q.unblock)
	r := newRecorder(q, slog.New(slog.DiscardHandler), nil, defaultRecordCalls, DefaultRecordGather)
	done := make(chan struct{})
	go func() { r.run(); close(done) }()
	const n = recordQueue + 10
	for range n {
		r.add(result("d"), 0)
	}
	r.close()
	<-done
	if len(q.recorded) != n {
		t.Fatalf("recorded %d results, want %d", len(q.recorded), n)
	}
}

// TestDecideCountsWithinTheSeries checks that a recovered delivery, whose attempt numbers
// keep counting (Attempt 9 after 8 failed attempts), gets the whole retry schedule again:
// the schedule is indexed by the attempt's number within its series, not by Attempt.
func TestDecideCountsWithinTheSeries(t *testing.T) {
	t.Parallel()
	policy := promptd.RetryPolicy{Schedule: []time.Duration{5 * time.Second, 30 * time.Second}}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		attempt, base int
		want          string
	}{
		{1, 0, promptd.StatusPending},
		{3, 0, promptd.StatusFailed}, // the schedule is used up
		{3, 2, promptd.StatusPending},
		{5, 2, promptd.StatusFailed},
	} {
		job := &promptd.Job{Attempt: c.attempt, AttemptBase: c.base, Webhook: &promptd.Webhook{Retry: policy}}
		res := decide(job, promptd.Attempt{Number: c.attempt, StatusCode: 503}, Result{StatusCode: 503}, 0.5, now)
		if res.Status != c.want {
			t.Errorf("attempt %d of a series after %d: %s, want %s", c.attempt, c.base, res.Status, c.want)
		}
	}
}
