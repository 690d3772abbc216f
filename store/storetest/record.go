package storetest

// Recording results: the delivery's new state fenced on its claim, the attempt log, and
// the webhooks' health (consecutive failures, auto-disable, a result's DisableReason).

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func (su suite) testRecord(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.webhook(t, "hook")
	e.publish(t, "a.ok")
	job := e.claimOne(t)
	e.clock.Advance(time.Second)
	res := e.result(job, promptd.StatusSucceeded, 200)
	res.Attempt.ResponseBody = "ok\x00\xff" // PostgreSQL text takes neither NUL nor invalid UTF-8
	e.record(t, res)
	d := e.delivery(t, job.DeliveryID)
	checkEq(t, "succeeded", "status", d.Status, promptd.StatusSucceeded)
	checkEq(t, "succeeded", "lastStatusCode", d.LastStatusCode, 200)
	checkEq(t, "succeeded", "attemptCount", d.AttemptCount, 1)
	checkEq(t, "succeeded", "updatedAt", d.UpdatedAt.Equal(e.clock.Now()), true)
	if d.NextAttemptAt != nil {
		t.Errorf("a succeeded delivery is due at %v", d.NextAttemptAt)
	}
	if len(d.Attempts) != 1 {
		t.Fatalf("%d attempts, want 1", len(d.Attempts))
	}
	want := res.Attempt
	want.ResponseBody = "ok\uFFFD\uFFFD"
	checkJSON(t, "succeeded", "attempt", d.Attempts[0], want)

	// A retry, then exhaustion.
	e.publish(t, "a.retry")
	job = e.claimOne(t)
	signalled(e.s)
	e.record(t, e.result(job, promptd.StatusPending, 503))
	if !signalled(e.s) {
		t.Error("Notify did not fire after a retry was scheduled")
	}
	d = e.delivery(t, job.DeliveryID)
	checkEq(t, "retry", "status", d.Status, promptd.StatusPending)
	checkEq(t, "retry", "lastStatusCode", d.LastStatusCode, 503)
	if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now().Add(5*time.Second)) {
		t.Errorf("retry: nextAttemptAt %v, want in 5s", d.NextAttemptAt)
	}
	if jobs := e.claim(t, 10); len(jobs) != 0 {
		t.Errorf("a retry was claimed before it was due")
	}
	e.clock.Advance(5 * time.Second)
	job2 := e.claimOne(t)
	checkEq(t, "retry", "DeliveryID", job2.DeliveryID, job.DeliveryID)
	checkEq(t, "retry", "Attempt", job2.Attempt, 2)
	e.record(t, e.result(job2, promptd.StatusFailed, 0))
	d = e.delivery(t, job.DeliveryID)
	checkEq(t, "exhausted", "status", d.Status, promptd.StatusFailed)
	checkEq(t, "exhausted", "lastError", d.LastError, "connection refused")
	checkEq(t, "exhausted", "lastStatusCode", d.LastStatusCode, 0)
	checkEq(t, "exhausted", "attemptCount", d.AttemptCount, 2)
	if len(d.Attempts) != 2 || d.Attempts[0].Number != 1 || d.Attempts[1].Number != 2 || d.Attempts[1].Error != "connection refused" {
		t.Errorf("exhausted: attempts %+v", d.Attempts)
	}

	if err := e.s.Record(ctx, nil); err != nil {
		t.Errorf("Record(nil): %v", err)
	}
	bad := e.result(job2, "delivering", 200)
	wantErr(t, e.s.Record(ctx, []*promptd.JobResult{bad}), promptd.EINVALID, "")
}

// testRecordFencing checks that the result of a claim whose lease ran out, overtaken by a
// newer claim, is logged but does not change the delivery; and that a result for a delivery
// that is gone does not fail its batch.
func (su suite) testRecordFencing(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.webhook(t, "hook", events("a.b"))
	doomed := e.webhook(t, "doomed", events("doomed.event"))
	e.publish(t, "a.b")
	stale := e.claimOne(t)
	e.clock.Advance(testLease)
	fresh := e.claimOne(t)
	if fresh.DeliveryID != stale.DeliveryID || fresh.Attempt != 2 {
		t.Fatalf("reclaim: %s attempt %d", fresh.DeliveryID, fresh.Attempt)
	}
	e.record(t, e.result(stale, promptd.StatusSucceeded, 200))
	d := e.delivery(t, stale.DeliveryID)
	checkEq(t, "after the stale result", "status", d.Status, promptd.StatusDelivering)
	checkEq(t, "after the stale result", "attemptCount", d.AttemptCount, 2)
	if len(d.Attempts) != 1 || d.Attempts[0].Number != 1 {
		t.Errorf("the stale attempt is not logged: %+v", d.Attempts)
	}

	e.publish(t, "doomed.event")
	gone := e.claimOne(t)
	if gone.Webhook.ID != doomed.ID {
		t.Fatal("claimed the wrong delivery")
	}
	if err := e.s.DeleteWebhook(ctx, e.project, doomed.ID); err != nil {
		t.Fatal(err)
	}
	e.record(t, e.result(gone, promptd.StatusSucceeded, 200), e.result(fresh, promptd.StatusFailed, 500))
	d = e.delivery(t, stale.DeliveryID)
	checkEq(t, "after the fresh result", "status", d.Status, promptd.StatusFailed)
	checkEq(t, "after the fresh result", "lastStatusCode", d.LastStatusCode, 500)
	if len(d.Attempts) != 2 {
		t.Errorf("%d attempts logged, want 2", len(d.Attempts))
	}

	// A late duplicate changes nothing either, and the attempt it repeats (same number,
	// same start: the journal replaying a result whose commit a kill overtook) is logged
	// once, also when it comes twice in one batch.
	e.record(t, e.result(fresh, promptd.StatusSucceeded, 200))
	e.record(t, e.result(fresh, promptd.StatusFailed, 500), e.result(stale, promptd.StatusSucceeded, 200))
	d = e.delivery(t, stale.DeliveryID)
	checkEq(t, "after a duplicate result", "status", d.Status, promptd.StatusFailed)
	if len(d.Attempts) != 2 || d.Attempts[0].Number != 1 || d.Attempts[1].Number != 2 {
		t.Errorf("after results recorded again: attempts %+v, want numbers 1 and 2 once each", d.Attempts)
	}
	e.publish(t, "a.b")
	twice := e.claimOne(t)
	e.record(t, e.result(twice, promptd.StatusFailed, 500), e.result(twice, promptd.StatusFailed, 500))
	if d := e.delivery(t, twice.DeliveryID); len(d.Attempts) != 1 {
		t.Errorf("a result twice in one batch: %d attempts logged, want 1", len(d.Attempts))
	}
}

// testRecordSuccesses checks one batch of successes whose deliveries each take something
// else of Record: a plain one; the head of an ordering line, whose end makes the next in
// line due; and the result of a claim that was overtaken, logged without changing the
// delivery. A second batch repeats the plain result (a replay, logged once) beside the
// overtaking claim's success. Every attempt appears once, every delivery as it should.
func (su suite) testRecordSuccesses(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	plain := e.webhook(t, "plain", events("p.ok"))
	ordered := e.webhook(t, "ordered", events("o.ok"), func(w *promptd.Webhook) { w.Ordering = promptd.OrderingPerPrompt })
	e.webhook(t, "late", events("l.ok"))
	publishKey := func(typ, key string) {
		t.Helper()
		if _, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(`{}`), OrderingKey: key}); err != nil {
			t.Fatalf("PublishEvent(%s): %v", typ, err)
		}
	}

	// The late delivery's first claim runs out.
	e.publish(t, "l.ok")
	stale := e.claimOne(t)
	e.clock.Advance(testLease)
	fresh := e.claimOne(t)
	e.publish(t, "p.ok")
	publishKey("o.ok", "k")
	publishKey("o.ok", "k")
	jobs := e.claim(t, 10)
	var plainJob, headJob *promptd.Job
	for _, j := range jobs {
		switch j.Webhook.ID {
		case plain.ID:
			plainJob = j
		case ordered.ID:
			headJob = j
		}
	}
	if len(jobs) != 2 || plainJob == nil || headJob == nil {
		t.Fatalf("claimed %d jobs, want the plain delivery and the head of the line", len(jobs))
	}

	e.clock.Advance(time.Second)
	e.record(t, e.result(plainJob, promptd.StatusSucceeded, 200), e.result(headJob, promptd.StatusSucceeded, 200),
		e.result(stale, promptd.StatusSucceeded, 200))
	e.record(t, e.result(plainJob, promptd.StatusSucceeded, 200), e.result(fresh, promptd.StatusSucceeded, 201))

	for _, c := range []struct {
		name     string
		id       string
		status   string
		code     int
		attempts int
	}{
		{"plain", plainJob.DeliveryID, promptd.StatusSucceeded, 200, 1},
		{"head of the line", headJob.DeliveryID, promptd.StatusSucceeded, 200, 1},
		{"overtaken, then fresh", fresh.DeliveryID, promptd.StatusSucceeded, 201, 2},
	} {
		d := e.delivery(t, c.id)
		checkEq(t, c.name, "status", d.Status, c.status)
		checkEq(t, c.name, "lastStatusCode", d.LastStatusCode, c.code)
		checkEq(t, c.name, "updatedAt", d.UpdatedAt.Equal(e.clock.Now()), true)
		if len(d.Attempts) != c.attempts {
			t.Errorf("%s: %d attempts logged, want %d: %+v", c.name, len(d.Attempts), c.attempts, d.Attempts)
		}
	}
	next := e.claim(t, 10)
	if len(next) != 1 || next[0].Webhook.ID != ordered.ID || next[0].DeliveryID == headJob.DeliveryID {
		t.Errorf("after the head's success the next in its line is not due: claimed %d jobs", len(next))
	}
}

// testAutoDisable checks the health bookkeeping on the store clock: a webhook is disabled
// after AutoDisableFailures consecutive failed deliveries spanning at least AutoDisableSpan,
// retries do not count, a success resets the count, enabling resets it too, and
// webhook.disabled reaches the webhooks subscribed to it.
func (su suite) testAutoDisable(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	h := e.webhook(t, "failing", events("h.try"))
	g := e.webhook(t, "flaky", events("g.try"))
	ops := e.webhook(t, "ops", events(promptd.EventWebhookDisabled))
	deliver := func(typ, status string) {
		t.Helper()
		e.publish(t, typ)
		job := e.claimOne(t)
		e.record(t, e.result(job, status, 500))
	}
	enabled := func(w *promptd.Webhook) bool { t.Helper(); return e.findWebhook(t, w.ID).Enabled }

	// Retries are not failed deliveries.
	e.publish(t, "g.try")
	for range 2 * promptd.AutoDisableFailures {
		e.record(t, e.result(e.claimOne(t), promptd.StatusPending, 503))
		e.clock.Advance(15 * time.Minute)
	}
	if !enabled(g) {
		t.Error("retries disabled the webhook")
	}
	e.record(t, e.result(e.claimOne(t), promptd.StatusSucceeded, 200))

	start := e.clock.Now()
	for i := range promptd.AutoDisableFailures {
		if i > 0 {
			e.clock.Advance(10 * time.Minute)
		}
		deliver("h.try", promptd.StatusFailed)
	}
	if !enabled(h) {
		t.Fatalf("disabled after %d failures over %s", promptd.AutoDisableFailures, e.clock.Now().Sub(start))
	}
	e.publish(t, "h.try")
	e.publish(t, "h.try")
	e.newEvents(t)
	e.clock.Advance(start.Add(promptd.AutoDisableSpan).Sub(e.clock.Now()))
	job := e.claim(t, 1)[0]
	queued := e.claim(t, 1)[0]
	e.record(t, e.result(queued, promptd.StatusPending, 503)) // back in the queue
	signalled(e.s)
	e.record(t, e.result(job, promptd.StatusFailed, 500))
	if !signalled(e.s) {
		t.Error("Notify did not fire after webhook.disabled was queued")
	}

	got := e.findWebhook(t, h.ID)
	if got.Enabled || got.DisabledReason == "" {
		t.Fatalf("after %d failures over an hour: enabled %v, reason %q", promptd.AutoDisableFailures+1, got.Enabled, got.DisabledReason)
	}
	if !got.UpdatedAt.Equal(e.clock.Now()) {
		t.Errorf("disabled webhook: updatedAt %v, want now", got.UpdatedAt)
	}
	d := e.delivery(t, queued.DeliveryID)
	checkEq(t, "the disabled webhook's queued delivery", "status", d.Status, promptd.StatusCancelled)
	evs := e.newEvents(t)
	if len(evs) != 1 || evs[0].Type != promptd.EventWebhookDisabled {
		t.Fatalf("events %v, want one webhook.disabled", eventTypes(evs))
	}
	env := decodePayload(t, "webhook.disabled", evs[0])
	checkEq(t, "webhook.disabled", "type", env.Type, "webhook")
	checkEq(t, "webhook.disabled", "action", env.Action, "disabled")
	var data map[string]string
	if err := json.Unmarshal(env.Data, &data); err != nil {
		t.Fatalf("webhook.disabled data %s: %v", env.Data, err)
	}
	checkJSON(t, "webhook.disabled", "data", data, map[string]string{
		"webhookId": h.ID, "name": h.Name, "url": h.URL, "reason": got.DisabledReason,
	})
	subs := e.deliveriesOf(t, ops.ID)
	if len(subs) != 1 || subs[0].EventID != evs[0].ID || subs[0].Status != promptd.StatusPending {
		t.Fatalf("the ops webhook's deliveries: %+v", subs)
	}
	if jobs := e.claim(t, 10); len(jobs) != 1 || jobs[0].EventType != promptd.EventWebhookDisabled {
		t.Errorf("claimed %d jobs, want the webhook.disabled one", len(jobs))
	} else {
		e.record(t, e.result(jobs[0], promptd.StatusSucceeded, 200))
	}
	if st, err := e.s.Stats(ctx, e.clock.Now()); err != nil || st.DisabledWebhooks != 1 {
		t.Errorf("Stats: %+v, %v; want one disabled webhook", st, err)
	}
	e.publish(t, "h.try")
	if ds := e.deliveriesOf(t, h.ID); ds[len(ds)-1].Status != promptd.StatusCancelled {
		t.Errorf("a new event for the disabled webhook is %s, want cancelled", ds[len(ds)-1].Status)
	}

	// Enabling resets the count: one more failure does not disable it again.
	upd := e.findWebhook(t, h.ID)
	upd.Enabled = true
	if _, err := e.s.UpdateWebhook(ctx, e.project, upd); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	deliver("h.try", promptd.StatusFailed)
	if !enabled(h) {
		t.Error("one failure after enabling disabled the webhook again")
	}

	// A success in between resets the count.
	e.clock.Advance(time.Hour)
	for range promptd.AutoDisableFailures - 1 {
		deliver("g.try", promptd.StatusFailed)
		e.clock.Advance(20 * time.Minute)
	}
	deliver("g.try", promptd.StatusSucceeded)
	for range promptd.AutoDisableFailures - 1 {
		e.clock.Advance(20 * time.Minute)
		deliver("g.try", promptd.StatusFailed)
	}
	if !enabled(g) {
		t.Error("failures on both sides of a success disabled the webhook")
	}
}

func (su suite) testDisableReason(t *testing.T) {
	e := su.env(t)
	w := e.webhook(t, "gone", events("a.b"))
	ops := e.webhook(t, "ops", events(promptd.EventWebhookDisabled))
	e.publish(t, "a.b")
	e.clock.Advance(time.Second)
	e.publish(t, "a.b")
	job := e.claim(t, 1)[0]
	res := e.result(job, promptd.StatusFailed, 410)
	res.DisableReason = "the endpoint answered 410 Gone"
	e.record(t, res)
	got := e.findWebhook(t, w.ID)
	if got.Enabled || got.DisabledReason != res.DisableReason {
		t.Errorf("after a DisableReason: enabled %v, reason %q", got.Enabled, got.DisabledReason)
	}
	checkEq(t, "the recorded result", "Disabled", res.Disabled, res.DisableReason)
	// Recording another 410 for the webhook, disabled already, disables nothing.
	again := e.result(job, promptd.StatusFailed, 410)
	again.DisableReason = res.DisableReason
	e.record(t, again)
	checkEq(t, "a result for a webhook disabled already", "Disabled", again.Disabled, "")
	ds := e.deliveriesOf(t, w.ID)
	checkEq(t, "the other delivery", "status", ds[1].Status, promptd.StatusCancelled)
	subs := e.deliveriesOf(t, ops.ID)
	if len(subs) != 1 || subs[0].EventType != promptd.EventWebhookDisabled {
		t.Fatalf("the ops webhook's deliveries: %+v", subs)
	}
	ev, err := e.s.FindEvent(t.Context(), e.project, subs[0].EventID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ev.Payload), `"reason":"the endpoint answered 410 Gone"`) {
		t.Errorf("webhook.disabled payload: %s", ev.Payload)
	}
}
