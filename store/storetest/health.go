package storetest

import (
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testWebhookHealth checks DeliveryService.WebhookHealth: counts, success rate, median and
// 95th percentile durations (over answered attempts only) and last failure per webhook, the time window, and project isolation.
func (su suite) testWebhookHealth(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w1, w2 := e.webhook(t, "one"), e.webhook(t, "two")
	_ = e.webhook(t, "quiet")

	// An old attempt, outside the window: a failure of w1 that must not count.
	e.publish(t, "a.old")
	for _, j := range e.claim(t, 10) {
		e.record(t, e.result(j, promptd.StatusFailed, 0))
	}
	e.clock.Advance(25 * time.Hour)
	since := e.clock.Now().Add(-24 * time.Hour)

	durations := map[string][]int64{w1.ID: {30, 10, 20}, w2.ID: {5, 7}}
	codes := map[string][]int{w1.ID: {200, 503, 204}, w2.ID: {200, 0}}
	var failAt time.Time
	for i := range 3 {
		e.clock.Advance(time.Minute)
		e.publish(t, "a.now")
		for _, j := range e.claim(t, 10) {
			ds, cs := durations[j.Webhook.ID], codes[j.Webhook.ID]
			if i >= len(ds) {
				e.record(t, e.result(j, promptd.StatusSucceeded, 200))
				continue
			}
			status := promptd.StatusSucceeded
			if cs[i] < 200 || cs[i] > 299 {
				status = promptd.StatusFailed
				if j.Webhook.ID == w1.ID {
					failAt = e.clock.Now()
				}
			}
			res := e.result(j, status, cs[i])
			res.Attempt.DurationMs = ds[i]
			e.record(t, res)
		}
	}

	got, err := e.s.WebhookHealth(ctx, e.project, since)
	if err != nil {
		t.Fatalf("WebhookHealth: %v", err)
	}
	h1 := got[w1.ID]
	checkEq(t, "one", "attempts", h1.Attempts, 3)
	checkEq(t, "one", "succeeded", h1.Succeeded, 2)
	checkEq(t, "one", "answered", h1.Answered, 3)
	checkEq(t, "one", "p50", h1.P50Ms, int64(20))
	checkEq(t, "one", "p95", h1.P95Ms, int64(30))
	checkEq(t, "one", "last failure", h1.LastFailure, "HTTP 503")
	if h1.LastFailureAt == nil || !h1.LastFailureAt.Equal(failAt) {
		t.Errorf("one: last failure at %v, want %v", h1.LastFailureAt, failAt)
	}
	h2 := got[w2.ID]
	checkEq(t, "two", "attempts", h2.Attempts, 3)
	checkEq(t, "two", "succeeded", h2.Succeeded, 2)
	// The refused attempt (7 ms) has no latency: the median is over 5 and 12 ms.
	checkEq(t, "two", "answered", h2.Answered, 2)
	checkEq(t, "two", "p50", h2.P50Ms, int64(5))
	checkEq(t, "two", "p95", h2.P95Ms, int64(12)) // not 7: the refused attempt has no latency
	checkEq(t, "two", "last failure", h2.LastFailure, "connection refused")
	if len(got) != 3 {
		t.Errorf("got health for %d webhooks, want 3 (quiet has its attempts too): %v", len(got), got)
	}
	if r := h1.SuccessRate(); r < 0.66 || r > 0.67 {
		t.Errorf("one: success rate %v, want 2/3", r)
	}

	// Nothing in a window after the last attempt; nothing for another project.
	later, err := e.s.WebhookHealth(ctx, e.project, e.clock.Now().Add(time.Second))
	if err != nil {
		t.Fatalf("WebhookHealth: %v", err)
	}
	checkEq(t, "later", "webhooks", len(later), 0)
	other, err := e.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	none, err := e.s.WebhookHealth(ctx, other.ID, since)
	if err != nil {
		t.Fatalf("WebhookHealth: %v", err)
	}
	checkEq(t, "other project", "webhooks", len(none), 0)
}
