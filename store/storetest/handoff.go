package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// recordingHandoff is a promptd.Handoff with a fixed room per webhook that keeps what it
// was given.
type recordingHandoff struct {
	mu         sync.Mutex
	room       map[string]int
	reserved   map[string]int
	unreserved int
	jobs       []*promptd.Job
	// prepared are the jobs Prepare was told of, abandoned those Abandon got.
	prepared, abandoned []*promptd.Job
}

func (h *recordingHandoff) Reserve(webhookID string, n int) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := min(n, h.room[webhookID])
	h.room[webhookID] -= k
	h.reserved[webhookID] += k
	return k
}

func (h *recordingHandoff) Unreserve(webhookID string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.room[webhookID] += n
	h.reserved[webhookID] -= n
	h.unreserved += n
}

func (h *recordingHandoff) Lease() time.Duration { return testLease }

func (h *recordingHandoff) Prepare(jobs []*promptd.Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.prepared = append(h.prepared, jobs...)
}

func (h *recordingHandoff) Abandon(jobs []*promptd.Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range jobs {
		h.room[j.Webhook.ID]++
		h.reserved[j.Webhook.ID]--
	}
	h.abandoned = append(h.abandoned, jobs...)
}

func (h *recordingHandoff) Deliver(jobs []*promptd.Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, j := range jobs {
		h.reserved[j.Webhook.ID]--
	}
	h.jobs = append(h.jobs, jobs...)
}

// take returns the jobs delivered since the last call and checks that no reservation is
// left open.
func (h *recordingHandoff) take(t *testing.T) []*promptd.Job {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, n := range h.reserved {
		if n != 0 {
			t.Errorf("handoff: %d reservations of webhook %s neither delivered nor given back", n, id)
		}
	}
	for _, j := range h.jobs {
		if !slices.Contains(h.prepared, j) {
			t.Errorf("handoff: job of delivery %s delivered without Prepare before the commit", j.DeliveryID)
		}
	}
	jobs := h.jobs
	h.jobs = nil
	return jobs
}

// testHandoff checks that a store that takes a promptd.Handoff inserts the deliveries the
// handoff reserves leased, exactly as a claim leaves them, hands over the same jobs a claim
// would build once the event is committed, leaves the rest pending, and gives reservations
// back when the transaction does not commit. Stores without the capability skip it.
func (su suite) testHandoff(t *testing.T) {
	e := su.env(t)
	hq, ok := e.s.(promptd.HandoffQueue)
	if !ok {
		t.Skip("the store does not take a promptd.Handoff")
	}
	w, secret := e.webhookWithSecret(t, "hook")
	other := e.webhook(t, "other")
	h := &recordingHandoff{room: map[string]int{w.ID: 2}, reserved: map[string]int{}}
	hq.SetHandoff(h)
	t.Cleanup(func() { hq.SetHandoff(nil) })

	ev := e.publish(t, "a.first")
	jobs := h.take(t)
	if len(jobs) != 1 {
		t.Fatalf("handed over %d jobs, want 1 (the other webhook has no room)", len(jobs))
	}
	job := jobs[0]
	d := e.deliveriesOf(t, w.ID)[0]
	checkEq(t, "handed-over job", "DeliveryID", job.DeliveryID, d.ID)
	checkEq(t, "handed-over job", "ProjectID", job.ProjectID, e.project)
	checkEq(t, "handed-over job", "EventID", job.EventID, ev.ID)
	checkEq(t, "handed-over job", "EventType", job.EventType, "a.first")
	checkEq(t, "handed-over job", "Attempt", job.Attempt, 1)
	checkEq(t, "handed-over job", "AttemptBase", job.AttemptBase, 0)
	checkEq(t, "handed-over job", "Payload", string(job.Payload), string(ev.Payload))
	checkJSON(t, "handed-over job", "Webhook", job.Webhook, w)
	checkJSON(t, "handed-over job", "Secrets", job.Secrets, []string{secret})
	d = *e.delivery(t, d.ID)
	checkEq(t, "handed-over delivery", "status", d.Status, promptd.StatusDelivering)
	checkEq(t, "handed-over delivery", "attemptCount", d.AttemptCount, 1)
	if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now().Add(testLease)) {
		t.Errorf("handed-over delivery: nextAttemptAt (the lease) %v, want %v", d.NextAttemptAt, e.clock.Now().Add(testLease))
	}
	// The other webhook's delivery waits for a claim, which does not take the leased one.
	claimed := e.claim(t, 10)
	if len(claimed) != 1 || claimed[0].Webhook.ID != other.ID {
		t.Fatalf("claim beside a handed-over delivery: %d jobs, want the other webhook's", len(claimed))
	}
	e.record(t, e.result(claimed[0], promptd.StatusSucceeded, 200))

	// Recorded like a claimed job.
	e.record(t, e.result(job, promptd.StatusSucceeded, 200))
	d = *e.delivery(t, job.DeliveryID)
	checkEq(t, "handed-over delivery recorded", "status", d.Status, promptd.StatusSucceeded)
	if len(d.Attempts) != 1 || d.Attempts[0].Number != 1 {
		t.Errorf("handed-over delivery recorded: attempts %+v, want the first", d.Attempts)
	}

	// Released like a claimed job: pending and due, the attempt not counted.
	e.publish(t, "a.second")
	jobs = h.take(t)
	if len(jobs) != 1 {
		t.Fatalf("second event: handed over %d jobs, want 1", len(jobs))
	}
	for _, j := range e.claim(t, 10) {
		e.record(t, e.result(j, promptd.StatusSucceeded, 200)) // the other webhook's
	}
	if err := e.s.Release(t.Context(), jobs); err != nil {
		t.Fatal(err)
	}
	d = *e.delivery(t, jobs[0].DeliveryID)
	checkEq(t, "handed-over delivery released", "status", d.Status, promptd.StatusPending)
	checkEq(t, "handed-over delivery released", "attemptCount", d.AttemptCount, 0)
	again := e.claimOne(t)
	checkEq(t, "claimed after release", "DeliveryID", again.DeliveryID, jobs[0].DeliveryID)
	checkEq(t, "claimed after release", "Attempt", again.Attempt, 1)
	e.record(t, e.result(again, promptd.StatusSucceeded, 200))

	// Room for none: pending, nothing handed over.
	e.publish(t, "a.third")
	if jobs := h.take(t); len(jobs) != 0 {
		t.Errorf("handed over %d jobs with no room left", len(jobs))
	}
	if got := e.claim(t, 10); len(got) != 2 {
		t.Errorf("claim after a publish without room: %d jobs, want 2", len(got))
	} else {
		e.record(t, e.result(got[0], promptd.StatusSucceeded, 200), e.result(got[1], promptd.StatusSucceeded, 200))
	}

	// A publish that does not commit gives its reservations back and hands nothing over.
	h.mu.Lock()
	h.room[w.ID] = 1
	h.mu.Unlock()
	cf, ok := e.s.(CommitFailer)
	if !ok {
		t.Fatal("the store does not implement CommitFailer")
	}
	cf.FailNextCommit(errors.New("injected"))
	if _, _, err := e.s.PublishEvent(t.Context(), e.project, promptd.PublishEventInput{Type: "a.lost", Data: []byte(`{}`)}); err == nil {
		t.Fatal("publish with a failing commit succeeded")
	}
	if jobs := h.take(t); len(jobs) != 0 {
		t.Errorf("a publish that rolled back handed over %d jobs", len(jobs))
	}
	h.mu.Lock()
	room, unreserved, abandoned := h.room[w.ID], h.unreserved, len(h.abandoned)
	h.mu.Unlock()
	checkEq(t, "rolled-back publish", "room given back", room, 1)
	checkEq(t, "rolled-back publish", "prepared jobs abandoned", abandoned, 1)
	checkEq(t, "rolled-back publish", "reservations given back without a job", unreserved, 0)

	// Without a handoff, deliveries are pending again.
	hq.SetHandoff(nil)
	e.publish(t, "a.fourth")
	if jobs := h.take(t); len(jobs) != 0 {
		t.Errorf("handed over %d jobs after SetHandoff(nil)", len(jobs))
	}
	if got := e.claim(t, 10); len(got) != 2 {
		t.Errorf("claim after SetHandoff(nil): %d jobs, want 2", len(got))
	}
}
