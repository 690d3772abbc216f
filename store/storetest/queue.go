package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

func (su suite) testClaim(t *testing.T) {
	e := su.env(t)
	w, secret := e.webhookWithSecret(t, "hook")
	ev := e.publish(t, "a.b")
	jobs := e.claim(t, 10)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(jobs))
	}
	job := jobs[0]
	d := e.deliveriesOf(t, w.ID)[0]
	checkEq(t, "job", "DeliveryID", job.DeliveryID, d.ID)
	checkEq(t, "job", "ProjectID", job.ProjectID, e.project)
	checkEq(t, "job", "EventID", job.EventID, ev.ID)
	checkEq(t, "job", "EventType", job.EventType, "a.b")
	checkEq(t, "job", "Attempt", job.Attempt, 1)
	checkEq(t, "job", "Payload", string(job.Payload), string(ev.Payload))
	checkJSON(t, "job", "Webhook", job.Webhook, w)
	checkJSON(t, "job", "Secrets", job.Secrets, []string{secret})
	d = *e.delivery(t, d.ID)
	checkEq(t, "claimed delivery", "status", d.Status, promptd.StatusDelivering)
	checkEq(t, "claimed delivery", "attemptCount", d.AttemptCount, 1)
	checkEq(t, "claimed delivery", "updatedAt", d.UpdatedAt.Equal(e.clock.Now()), true)
	if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now().Add(testLease)) {
		t.Errorf("claimed delivery: nextAttemptAt (the lease) %v, want %v", d.NextAttemptAt, e.clock.Now().Add(testLease))
	}
	if jobs := e.claim(t, 10); len(jobs) != 0 {
		t.Errorf("a leased delivery was claimed again: %d jobs", len(jobs))
	}
	e.record(t, e.result(job, promptd.StatusSucceeded, 200))

	// Oldest due first, up to the limit.
	other := e.webhook(t, "other")
	var order []string
	for i := range 3 {
		e.clock.Advance(time.Second)
		order = append(order, e.publish(t, fmt.Sprintf("order.e%d", i)).ID)
	}
	var got []string
	for range 3 {
		for _, j := range e.claim(t, 2) {
			got = append(got, j.EventID)
			e.record(t, e.result(j, promptd.StatusSucceeded, 200))
		}
	}
	checkJSON(t, "claim order", "event ids", got, []string{order[0], order[0], order[1], order[1], order[2], order[2]})

	// The skip list.
	e.publish(t, "skip.me")
	jobs = e.claim(t, 10, w.ID)
	if len(jobs) != 1 || jobs[0].Webhook.ID != other.ID {
		t.Errorf("claim skipping %s: %d jobs", w.Name, len(jobs))
	}
	jobs = e.claim(t, 10, other.ID, "unknown-webhook")
	if len(jobs) != 1 || jobs[0].Webhook.ID != w.ID {
		t.Errorf("claim skipping %s: %d jobs", other.Name, len(jobs))
	}
	if jobs := e.claim(t, 0); len(jobs) != 0 {
		t.Errorf("a claim of 0 returned %d jobs", len(jobs))
	}
}

// testClaimPerWebhook checks that a claim takes at most a webhook's MaxInFlight of its
// deliveries, or what ClaimRequest.Free allows it, and that the global limit goes to the
// oldest due across webhooks.
func (su suite) testClaimPerWebhook(t *testing.T) {
	e := su.env(t)
	narrow := e.webhook(t, "narrow", func(w *promptd.Webhook) { w.MaxInFlight = 2 })
	wide := e.webhook(t, "wide")
	for i := range 5 {
		e.clock.Advance(time.Millisecond)
		e.publish(t, fmt.Sprintf("per.hook%d", i))
	}
	count := func(jobs []*promptd.Job) map[string]int {
		n := map[string]int{}
		for _, j := range jobs {
			n[j.Webhook.ID]++
		}
		return n
	}
	claim := func(limit int, free map[string]int) []*promptd.Job {
		t.Helper()
		jobs, err := e.s.Claim(t.Context(), promptd.ClaimRequest{Now: e.clock.Now(), Limit: limit, Lease: testLease, Free: free})
		if err != nil {
			t.Fatalf("Claim: %v", err)
		}
		return jobs
	}

	// The global limit goes to the oldest: the first two events' deliveries of both.
	jobs := claim(4, nil)
	checkJSON(t, "claim of 4", "jobs per webhook", count(jobs), map[string]int{narrow.ID: 2, wide.ID: 2})
	for i := 1; i < len(jobs); i++ {
		if jobs[i].EventID < jobs[i-1].EventID {
			t.Errorf("claim of 4: job %d (event %s) is older than job %d (event %s)", i, jobs[i].EventID, i-1, jobs[i-1].EventID)
		}
	}
	// Without Free, narrow gets at most its MaxInFlight (2) per claim, wide its 16.
	jobs = claim(100, nil)
	checkJSON(t, "claim of 100", "jobs per webhook", count(jobs), map[string]int{narrow.ID: 2, wide.ID: 3})
	// Free bounds each webhook; 0 skips it.
	e.clock.Advance(testLease) // every lease ends: all ten are due again
	jobs = claim(100, map[string]int{narrow.ID: 1, wide.ID: 0})
	checkJSON(t, "claim with Free", "jobs per webhook", count(jobs), map[string]int{narrow.ID: 1})
	jobs = claim(100, map[string]int{narrow.ID: 10, "unknown-webhook": 3})
	checkJSON(t, "claim with Free beyond MaxInFlight", "jobs per webhook", count(jobs), map[string]int{narrow.ID: 4, wide.ID: 5})
}

// testClaimLeases checks that an unfinished claim becomes due again when its lease ends, as
// the next attempt.
func (su suite) testClaimLeases(t *testing.T) {
	e := su.env(t)
	e.webhook(t, "hook")
	e.publish(t, "a.b")
	first := e.claimOne(t)
	e.clock.Advance(testLease - time.Millisecond)
	if jobs := e.claim(t, 10); len(jobs) != 0 {
		t.Fatalf("claimed %d jobs before the lease ended", len(jobs))
	}
	if at, ok, err := e.s.NextDue(t.Context()); err != nil || !ok || !at.Equal(e.clock.Now().Add(time.Millisecond)) {
		t.Errorf("NextDue during the lease: %v %v %v, want the lease's end", at, ok, err)
	}
	e.clock.Advance(time.Millisecond)
	second := e.claimOne(t)
	checkEq(t, "reclaimed", "DeliveryID", second.DeliveryID, first.DeliveryID)
	checkEq(t, "reclaimed", "Attempt", second.Attempt, 2)
	d := e.delivery(t, first.DeliveryID)
	checkEq(t, "reclaimed delivery", "attemptCount", d.AttemptCount, 2)
	if !d.NextAttemptAt.Equal(e.clock.Now().Add(testLease)) {
		t.Errorf("reclaimed delivery: lease until %v", d.NextAttemptAt)
	}
}

// testClaimLeasing checks that a claim calls ClaimRequest.Leasing with exactly the jobs
// it returns, once, before its transaction commits (another connection still reads the
// deliveries pending), and not at all when it leases nothing.
func (su suite) testClaimLeasing(t *testing.T) {
	e := su.env(t)
	e.webhook(t, "hook")
	e.publish(t, "a.b")
	e.publish(t, "c.d")
	var (
		calls int
		seen  []string
		state []string
		errs  []error
	)
	leasing := func(jobs []*promptd.Job) {
		calls++
		for _, j := range jobs {
			seen = append(seen, j.DeliveryID)
			// Called inside the transaction, possibly on another goroutine: no t.Fatal.
			d, err := e.s.FindDelivery(context.Background(), e.project, j.DeliveryID)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			state = append(state, d.Status)
		}
	}
	jobs, err := e.s.Claim(t.Context(), promptd.ClaimRequest{Now: e.clock.Now(), Limit: 10, Lease: testLease, Leasing: leasing})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.DeliveryID)
	}
	if calls != 1 || len(jobs) != 2 || !slices.Equal(seen, ids) {
		t.Fatalf("Leasing called %d times with %v; the claim returned %v, want one call with the same two", calls, seen, ids)
	}
	if len(errs) > 0 || !slices.Equal(state, []string{promptd.StatusPending, promptd.StatusPending}) {
		t.Errorf("deliveries read during Leasing: %v %v, want both still pending (not committed yet)", state, errs)
	}
	for _, id := range ids {
		checkEq(t, "claimed delivery", "status", e.delivery(t, id).Status, promptd.StatusDelivering)
	}
	if jobs, err := e.s.Claim(t.Context(), promptd.ClaimRequest{Now: e.clock.Now(), Limit: 10, Lease: testLease, Leasing: leasing}); err != nil || len(jobs) != 0 || calls != 1 {
		t.Errorf("a claim of nothing: %d jobs, %v, Leasing called %d times in all, want 0 jobs and no new call", len(jobs), err, calls)
	}
}

// testClaimDisabled checks that the deliveries of a disabled webhook are not claimed, even
// when their lease runs out, except test deliveries; and that a retry recorded for a
// disabled webhook is cancelled.
func (su suite) testClaimDisabled(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "hook")
	e.publish(t, "a.one")
	e.publish(t, "a.two")
	jobs := e.claim(t, 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(jobs))
	}
	setEnabled := func(on bool) {
		t.Helper()
		upd := e.findWebhook(t, w.ID)
		upd.Enabled = on
		if _, err := e.s.UpdateWebhook(ctx, e.project, upd); err != nil {
			t.Fatal(err)
		}
	}
	setEnabled(false)
	e.clock.Advance(2 * testLease)
	if got := e.claim(t, 10); len(got) != 0 {
		t.Errorf("claimed %d deliveries of a disabled webhook", len(got))
	}
	if at, ok, err := e.s.NextDue(ctx); err != nil || ok {
		t.Errorf("NextDue with only a disabled webhook's work: %v %v %v", at, ok, err)
	}
	e.record(t, e.result(jobs[0], promptd.StatusPending, 503))
	d := e.delivery(t, jobs[0].DeliveryID)
	checkEq(t, "a retry of a disabled webhook", "status", d.Status, promptd.StatusCancelled)
	checkEq(t, "a retry of a disabled webhook", "lastError", d.LastError, "webhook disabled")

	setEnabled(true)
	again := e.claim(t, 10)
	if len(again) != 1 || again[0].DeliveryID != jobs[1].DeliveryID || again[0].Attempt != 2 {
		t.Fatalf("after enabling: %d jobs, want the expired lease of %s as attempt 2", len(again), jobs[1].DeliveryID)
	}

	setEnabled(false)
	test, err := e.s.CreateTestDelivery(ctx, e.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(promptd.TestReservation)
	got := e.claim(t, 10)
	if len(got) != 1 || got[0].DeliveryID != test.ID {
		t.Errorf("a test delivery of a disabled webhook was not claimed after its reservation: %d jobs", len(got))
	}
}

// testConcurrentClaims claims from many goroutines at once: every delivery is handed out
// exactly once.
func (su suite) testConcurrentClaims(t *testing.T) {
	e := su.env(t)
	for i := range 3 {
		e.webhook(t, fmt.Sprint("hook", i))
	}
	const events = 40
	for i := range events {
		e.publish(t, fmt.Sprintf("load.e%d", i))
	}
	var (
		mu    sync.Mutex
		count = map[string]int{}
	)
	parallel(Workers, func(int) {
		for {
			jobs, err := e.s.Claim(t.Context(), promptd.ClaimRequest{Now: e.clock.Now(), Limit: 3, Lease: testLease})
			if err != nil {
				t.Errorf("Claim: %v", err)
				return
			}
			if len(jobs) == 0 {
				return
			}
			mu.Lock()
			for _, j := range jobs {
				count[j.DeliveryID]++
				if j.Attempt != 1 {
					t.Errorf("delivery %s claimed as attempt %d", j.DeliveryID, j.Attempt)
				}
			}
			mu.Unlock()
		}
	})
	if len(count) != 3*events {
		t.Errorf("%d deliveries claimed, want %d", len(count), 3*events)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("delivery %s claimed %d times", id, n)
		}
	}
}

func (su suite) testRelease(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.webhook(t, "hook")
	e.publish(t, "a.one")
	e.publish(t, "a.two")
	jobs := e.claim(t, 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %d, want 2", len(jobs))
	}
	e.record(t, e.result(jobs[1], promptd.StatusSucceeded, 200))
	e.clock.Advance(time.Second)
	signalled(e.s)
	unknown := &promptd.Job{DeliveryID: "unknown", Attempt: 1}
	if err := e.s.Release(ctx, []*promptd.Job{jobs[0], jobs[1], unknown}); err != nil {
		t.Fatal(err)
	}
	if !signalled(e.s) {
		t.Error("Notify did not fire after a release")
	}
	d := e.delivery(t, jobs[0].DeliveryID)
	checkEq(t, "released", "status", d.Status, promptd.StatusPending)
	checkEq(t, "released", "attemptCount", d.AttemptCount, 0)
	if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now()) {
		t.Errorf("released: due %v, want now", d.NextAttemptAt)
	}
	checkEq(t, "a finished delivery released", "status", e.delivery(t, jobs[1].DeliveryID).Status, promptd.StatusSucceeded)
	again := e.claimOne(t)
	checkEq(t, "reclaimed after release", "Attempt", again.Attempt, 1)
	if err := e.s.Release(ctx, nil); err != nil {
		t.Errorf("Release(nil): %v", err)
	}

	// Fenced: once the lease has run out and another claim took the delivery, giving back
	// the old claim's job leaves the new claim alone.
	e.clock.Advance(testLease)
	newer := e.claimOne(t)
	checkEq(t, "claimed after the lease ran out", "Attempt", newer.Attempt, 2)
	if err := e.s.Release(ctx, []*promptd.Job{again}); err != nil {
		t.Fatal(err)
	}
	d = e.delivery(t, newer.DeliveryID)
	checkEq(t, "an old claim released", "status", d.Status, promptd.StatusDelivering)
	checkEq(t, "an old claim released", "attemptCount", d.AttemptCount, 2)
	if err := e.s.Release(ctx, []*promptd.Job{newer}); err != nil {
		t.Fatal(err)
	}
	d = e.delivery(t, newer.DeliveryID)
	checkEq(t, "the current claim released", "status", d.Status, promptd.StatusPending)
	checkEq(t, "the current claim released", "attemptCount", d.AttemptCount, 1)
}

func (su suite) testClaimDelivery(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "hook", events("a.b"))
	d, err := e.s.CreateTestDelivery(ctx, e.project, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if jobs := e.claim(t, 10); len(jobs) != 0 {
		t.Fatal("a reserved test delivery was claimed")
	}
	job, err := e.s.ClaimDelivery(ctx, d.ID, e.clock.Now(), testLease)
	if err != nil {
		t.Fatal(err)
	}
	checkEq(t, "test job", "DeliveryID", job.DeliveryID, d.ID)
	checkEq(t, "test job", "EventType", job.EventType, promptd.EventWebhookTest)
	checkEq(t, "test job", "Attempt", job.Attempt, 1)
	checkEq(t, "test job", "Webhook.ID", job.Webhook.ID, w.ID)
	var env webhook.Event
	if err := json.Unmarshal(job.Payload, &env); err != nil || env.ID != job.EventID {
		t.Errorf("test job payload: %s, %v", job.Payload, err)
	}
	if got := e.delivery(t, d.ID); got.Status != promptd.StatusDelivering || !got.NextAttemptAt.Equal(e.clock.Now().Add(testLease)) {
		t.Errorf("claimed test delivery: %s until %v", got.Status, got.NextAttemptAt)
	}
	_, err = e.s.ClaimDelivery(ctx, d.ID, e.clock.Now(), testLease)
	wantErr(t, err, promptd.ECONFLICT, "")
	_, err = e.s.ClaimDelivery(ctx, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", e.clock.Now(), testLease)
	wantErr(t, err, promptd.ENOTFOUND, "")

	// Any pending delivery, whatever its due time.
	e.record(t, e.result(job, promptd.StatusSucceeded, 200))
	e.publish(t, "a.b")
	retry := e.claimOne(t)
	e.record(t, e.result(retry, promptd.StatusPending, 503))
	job, err = e.s.ClaimDelivery(ctx, retry.DeliveryID, e.clock.Now(), testLease)
	if err != nil || job.Attempt != 2 {
		t.Errorf("ClaimDelivery of a retry not yet due: %v, %v", job, err)
	}
}

func (su suite) testNextDueAndStats(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	check := func(step string, wantAt time.Time, want promptd.QueueStats) {
		t.Helper()
		at, ok, err := e.s.NextDue(ctx)
		if err != nil {
			t.Fatalf("%s: NextDue: %v", step, err)
		}
		if ok != !wantAt.IsZero() || ok && !at.Equal(wantAt) {
			t.Errorf("%s: NextDue = %v, %v; want %v", step, at, ok, wantAt)
		}
		st, err := e.s.Stats(ctx, e.clock.Now())
		if err != nil {
			t.Fatalf("%s: Stats: %v", step, err)
		}
		checkJSON(t, step, "stats", st, want)
	}
	check("empty", time.Time{}, promptd.QueueStats{})
	w := e.webhook(t, "hook")
	t0 := e.clock.Now()
	e.publish(t, "a.b")
	check("one new", t0, promptd.QueueStats{Pending: 1, Due: 1})
	job := e.claimOne(t)
	check("claimed", t0.Add(testLease), promptd.QueueStats{Delivering: 1})
	e.record(t, e.result(job, promptd.StatusPending, 503))
	check("retry scheduled", t0.Add(5*time.Second), promptd.QueueStats{Pending: 1})
	e.clock.Advance(5 * time.Second)
	check("retry due", t0.Add(5*time.Second), promptd.QueueStats{Pending: 1, Due: 1})
	upd := e.findWebhook(t, w.ID)
	upd.Enabled = false
	if _, err := e.s.UpdateWebhook(ctx, e.project, upd); err != nil {
		t.Fatal(err)
	}
	check("webhook disabled", time.Time{}, promptd.QueueStats{DisabledWebhooks: 1})
}

func (su suite) testPurge(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	orphan := e.publish(t, "before.webhooks") // no delivery at all
	e.webhook(t, "hook")
	deliver := func(typ, key, status string) (*promptd.Event, string) {
		t.Helper()
		ev, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: typ, IdempotencyKey: key})
		if err != nil {
			t.Fatal(err)
		}
		job := e.claimOne(t)
		res := e.result(job, status, 200)
		if status == promptd.StatusPending {
			res.NextAttemptAt = e.clock.Now().Add(100 * 24 * time.Hour) // out of the way
		}
		e.record(t, res)
		return ev, job.DeliveryID
	}
	ok, okD := deliver("a.ok", "", promptd.StatusSucceeded)
	failed, failedD := deliver("a.failed", "", promptd.StatusFailed)
	keyed, keyedD := deliver("a.keyed", "old-key", promptd.StatusSucceeded)
	pending, pendingD := deliver("a.pending", "", promptd.StatusPending)
	e.clock.Advance(31 * 24 * time.Hour)
	recent, recentD := deliver("a.recent", "new-key", promptd.StatusSucceeded)

	n, err := e.s.Purge(ctx, e.clock.Now().Add(-30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 1 expired key; 3 finished deliveries with their 3 attempts; the events of the orphan,
	// ok, failed, keyed.
	if n != 1+6+4 {
		t.Errorf("Purge removed %d rows, want 11", n)
	}
	for _, id := range []string{okD, failedD, keyedD} {
		_, err := e.s.FindDelivery(ctx, e.project, id)
		wantErr(t, err, promptd.ENOTFOUND, "")
	}
	for _, ev := range []*promptd.Event{orphan, ok, failed, keyed} {
		_, err := e.s.FindEvent(ctx, e.project, ev.ID)
		wantErr(t, err, promptd.ENOTFOUND, "")
	}
	e.delivery(t, pendingD)
	e.delivery(t, recentD)
	for _, ev := range []*promptd.Event{pending, recent} {
		if _, err := e.s.FindEvent(ctx, e.project, ev.ID); err != nil {
			t.Errorf("FindEvent(%s) after purge: %v", ev.Type, err)
		}
	}
	if _, replayed, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "a.recent", IdempotencyKey: "new-key"}); err != nil || !replayed {
		t.Errorf("a live idempotency key did not survive the purge: replayed=%v, %v", replayed, err)
	}
	if n, err := e.s.Purge(ctx, e.clock.Now().Add(-30*24*time.Hour)); err != nil || n != 0 {
		t.Errorf("second Purge: %d, %v", n, err)
	}
}
