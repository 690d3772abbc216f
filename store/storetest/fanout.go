package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

// testFanOut checks that every event reaches, as a pending delivery due now, exactly the
// webhooks whose event types and prompt filters (names, labels, tags; kinds ANDed, values
// ORed) match it.
func (su suite) testFanOut(t *testing.T) {
	e := su.env(t)
	hooks := []struct {
		name string
		opts []func(*promptd.Webhook)
	}{
		{"all", nil},
		{"created", []func(*promptd.Webhook){events(promptd.EventVersionCreated)}},
		{"billing", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.PromptNames = []string{"billing/*"} }}},
		{"deep", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.PromptNames = []string{"other/*", "billing/**"} }}},
		{"production", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.Labels = []string{"production", "staging"} }}},
		{"tagged", []func(*promptd.Webhook){func(w *promptd.Webhook) { w.Filters.Tags = []string{"x"} }}},
		{"custom", []func(*promptd.Webhook){events("eval-run.completed")}},
		{"combined", []func(*promptd.Webhook){func(w *promptd.Webhook) {
			w.Filters.PromptNames, w.Filters.Labels = []string{"billing/**"}, []string{"production"}
		}}},
	}
	ids := map[string]string{}
	seen := map[string]int{}
	for _, h := range hooks {
		ids[h.name] = e.webhook(t, h.name, h.opts...).ID
	}
	const (
		pc = promptd.EventPromptCreated
		vc = promptd.EventVersionCreated
		vu = promptd.EventVersionUpdated
	)
	steps := []struct {
		name string
		do   func()
		want map[string][]string // webhook → the event types of its new deliveries, in order
	}{
		{"a labelled, tagged prompt in billing/", func() {
			e.createInput(t, promptd.CreateVersionInput{Name: "billing/a", Prompt: text("v1"), Labels: []string{"production"}, Tags: []string{"x"}})
		}, map[string][]string{
			"all": {pc, vc}, "created": {vc}, "billing": {pc, vc}, "deep": {pc, vc},
			"production": {pc, vc}, "tagged": {pc, vc}, "combined": {pc, vc},
		}},
		{"a bare prompt in a subfolder", func() { e.create(t, "billing/x/y", "v1") }, map[string][]string{
			"all": {pc, vc}, "created": {vc}, "deep": {pc, vc},
		}},
		{"a label added", func() { e.setLabels(t, "billing/x/y", 1, "production") }, map[string][]string{
			"all": {vu}, "deep": {vu}, "production": {vu}, "combined": {vu},
		}},
		{"a label removed (matched by the label it lost)", func() { e.setLabels(t, "billing/x/y", 1) }, map[string][]string{
			"all": {vu}, "deep": {vu}, "production": {vu}, "combined": {vu},
		}},
		{"a custom event (no subject: filtered webhooks skip it)", func() { e.publish(t, "eval-run.completed") }, map[string][]string{
			"all": {"eval-run.completed"}, "custom": {"eval-run.completed"},
		}},
	}
	for _, step := range steps {
		e.clock.Advance(time.Minute)
		signalled(e.s)
		step.do()
		if !signalled(e.s) {
			t.Errorf("%s: Notify did not fire after a commit that queued deliveries", step.name)
		}
		byID := map[string]promptd.Event{}
		for _, ev := range e.newEvents(t) {
			byID[ev.ID] = ev
		}
		for _, h := range hooks {
			all := e.deliveriesOf(t, ids[h.name])
			fresh := all[seen[h.name]:]
			seen[h.name] = len(all)
			types := []string{}
			for _, d := range fresh {
				types = append(types, d.EventType)
				where := step.name + ": " + h.name
				ev, ok := byID[d.EventID]
				if !ok {
					t.Errorf("%s: delivery of event %s, not one of this step's", where, d.EventID)
				} else {
					checkEq(t, where, "eventType", d.EventType, ev.Type)
				}
				checkEq(t, where, "status", d.Status, promptd.StatusPending)
				checkEq(t, where, "projectId", d.ProjectID, e.project)
				checkEq(t, where, "webhookId", d.WebhookID, ids[h.name])
				checkEq(t, where, "attemptCount", d.AttemptCount, 0)
				checkEq(t, where, "createdAt", d.CreatedAt.Equal(e.clock.Now()), true)
				if d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now()) {
					t.Errorf("%s: nextAttemptAt %v, want now %v", where, d.NextAttemptAt, e.clock.Now())
				}
			}
			checkJSON(t, step.name, h.name+" deliveries", types, list(step.want[h.name]...))
		}
	}
}

// testFanOutDisabled checks that a disabled webhook's events are recorded as cancelled
// deliveries, not dropped, and are not claimed.
func (su suite) testFanOutDisabled(t *testing.T) {
	e := su.env(t)
	on := e.webhook(t, "on")
	off := e.webhook(t, "off", disabled)
	ev := e.publish(t, "a.happened")
	ds := e.deliveriesOf(t, off.ID)
	if len(ds) != 1 {
		t.Fatalf("the disabled webhook has %d deliveries, want 1", len(ds))
	}
	d := ds[0]
	checkEq(t, "disabled webhook's delivery", "status", d.Status, promptd.StatusCancelled)
	checkEq(t, "disabled webhook's delivery", "lastError", d.LastError, "webhook disabled")
	checkEq(t, "disabled webhook's delivery", "eventId", d.EventID, ev.ID)
	if d.NextAttemptAt != nil {
		t.Errorf("a cancelled delivery is due at %v", d.NextAttemptAt)
	}
	jobs := e.claim(t, 10)
	if len(jobs) != 1 || jobs[0].Webhook.ID != on.ID {
		t.Errorf("claimed %d jobs, want the enabled webhook's only", len(jobs))
	}
}

// testRollback checks that a change that fails after its events were written (here: at
// commit) leaves no event and no delivery, and that the store works on afterwards.
func (su suite) testRollback(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	cf, ok := e.s.(CommitFailer)
	if !ok {
		t.Fatalf("storetest: %T does not implement storetest.CommitFailer", e.s)
	}
	hook := e.webhook(t, "all")
	watcher := e.webhook(t, "watcher", events(promptd.EventWebhookDisabled))
	e.create(t, "p", "v1")
	e.publish(t, "a.b")
	e.newEvents(t)
	job := e.claim(t, 1)[0]
	count := func() int { return len(e.deliveries(t, promptd.DeliveryFilter{})) }
	before := count()

	boom := errors.New("injected commit failure")
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateVersion", func() error {
			_, err := e.s.CreateVersion(ctx, e.project, e.actor, promptd.CreateVersionInput{Name: "p", Prompt: text("v2"), Labels: []string{"production"}})
			return err
		}},
		{"SetLabels", func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 1, []string{"staging"})
			return err
		}},
		{"DeletePrompt", func() error { return e.s.DeletePrompt(ctx, e.project, e.actor, "p") }},
		{"PublishEvent", func() error {
			_, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "a.b", IdempotencyKey: "k"})
			return err
		}},
		{"Record disabling the webhook", func() error {
			res := e.result(job, promptd.StatusFailed, 410)
			res.DisableReason = "410 Gone"
			return e.s.Record(ctx, []*promptd.JobResult{res})
		}},
	}
	for _, c := range calls {
		cf.FailNextCommit(boom)
		if err := c.call(); !errors.Is(err, boom) {
			t.Errorf("%s: got %v, want the injected failure", c.name, err)
		}
		e.expectNoEvents(t, "a failed "+c.name)
		if n := count(); n != before {
			t.Errorf("after a failed %s: %d deliveries, want %d", c.name, n, before)
		}
	}
	if w := e.findWebhook(t, hook.ID); !w.Enabled {
		t.Error("a failed Record disabled the webhook")
	}
	if d := e.delivery(t, job.DeliveryID); d.Status != promptd.StatusDelivering || len(d.Attempts) != 0 {
		t.Errorf("after a failed Record the delivery is %s with %d attempts", d.Status, len(d.Attempts))
	}
	if n := len(e.deliveriesOf(t, watcher.ID)); n != 0 {
		t.Errorf("the watcher got %d deliveries from failed changes", n)
	}

	// The same calls succeed afterwards; the idempotency key was not taken.
	ev, replayed, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "a.b", IdempotencyKey: "k"})
	if err != nil || replayed {
		t.Fatalf("PublishEvent after a failed one: replayed=%v, %v", replayed, err)
	}
	if ds := e.deliveries(t, promptd.DeliveryFilter{EventID: ev.ID}); len(ds) != 1 {
		t.Errorf("the event has %d deliveries, want 1", len(ds))
	}
}
