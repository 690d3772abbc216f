package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// testFormats checks that a webhook's payload format settings are stored, that the fan-out
// asks the format which events it wants (promptreports: no label move outside the stages;
// langfuse: prompt-version events only), that claimed jobs carry the settings and a
// user-chosen secret, and that an attempt's rendered body is logged.
func (su suite) testFormats(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	const secret = "a secret of my own, plain"
	plain := e.webhook(t, "promptd")
	langfuse := e.webhook(t, "langfuse", func(w *promptd.Webhook) { w.Format = promptd.FormatLangfuse })
	reports, err := e.s.CreateWebhook(ctx, e.project, newWebhook(t, "reports", func(w *promptd.Webhook) {
		w.Format = promptd.FormatPromptReports
		w.FormatOptions.StageLabels = []string{"qa", "prod"}
		w.SingleSignatureSecret = promptd.SignOldest
	}), secret)
	if err != nil {
		t.Fatalf("CreateWebhook with a plain secret: %v", err)
	}
	got := e.findWebhook(t, reports.ID)
	checkEq(t, "stored", "format", got.Format, promptd.FormatPromptReports)
	checkJSON(t, "stored", "formatOptions", got.FormatOptions, promptd.FormatOptions{StageLabels: []string{"qa", "prod"}})
	checkEq(t, "stored", "singleSignatureSecret", got.SingleSignatureSecret, promptd.SignOldest)
	checkEq(t, "default", "format", e.findWebhook(t, plain.ID).Format, promptd.FormatPromptd)
	checkEq(t, "default", "singleSignatureSecret", e.findWebhook(t, plain.ID).SingleSignatureSecret, promptd.SignNewest)

	const (
		pc = promptd.EventPromptCreated
		vc = promptd.EventVersionCreated
		vu = promptd.EventVersionUpdated
	)
	seen := map[string]int{}
	steps := []struct {
		name string
		do   func()
		want map[string][]string
	}{
		{"a new prompt", func() { e.create(t, "p", "v1") }, map[string][]string{
			plain.ID: {pc, vc}, langfuse.ID: {vc}, reports.ID: {pc, vc},
		}},
		{"a stage label arrives", func() { e.setLabels(t, "p", 1, "prod") }, map[string][]string{
			plain.ID: {vu}, langfuse.ID: {vu}, reports.ID: {vu},
		}},
		{"another label arrives", func() { e.setLabels(t, "p", 1, "prod", "beta") }, map[string][]string{
			plain.ID: {vu}, langfuse.ID: {vu},
		}},
		{"a custom event", func() { e.publish(t, "eval-run.completed") }, map[string][]string{
			plain.ID: {"eval-run.completed"}, reports.ID: {"eval-run.completed"},
		}},
	}
	for _, step := range steps {
		step.do()
		for _, id := range []string{plain.ID, langfuse.ID, reports.ID} {
			all := e.deliveriesOf(t, id)
			types := []string{}
			for _, d := range all[seen[id]:] {
				types = append(types, d.EventType)
			}
			seen[id] = len(all)
			checkJSON(t, step.name, e.findWebhook(t, id).Name+" deliveries", types, list(step.want[id]...))
		}
	}

	// Jobs carry the format settings and the plain secret; the rendered body is logged.
	var job *promptd.Job
	for _, j := range e.claim(t, 100) {
		if j.Webhook.ID == reports.ID {
			job = j
		}
	}
	if job == nil {
		t.Fatal("no job of the promptreports webhook was claimed")
	}
	checkEq(t, "job", "format", job.Webhook.Format, promptd.FormatPromptReports)
	checkEq(t, "job", "singleSignatureSecret", job.Webhook.SingleSignatureSecret, promptd.SignOldest)
	if !slices.Equal(job.Secrets, []string{secret}) {
		t.Errorf("job secrets %q, want the plain secret", job.Secrets)
	}
	e.clock.Advance(time.Second)
	res := e.result(job, promptd.StatusSucceeded, 200)
	res.Attempt.RequestBody = `{"id":"x","type":"prompt.created","data":{"promptName":"é\u2028"}}`
	e.record(t, res)
	d := e.delivery(t, job.DeliveryID)
	if len(d.Attempts) != 1 || d.Attempts[0].RequestBody != res.Attempt.RequestBody {
		t.Errorf("logged attempts %+v, want the rendered body kept", d.Attempts)
	}

	// Changing the format changes what the fan-out asks from now on.
	got.Format = promptd.FormatPromptd
	if _, err := e.s.UpdateWebhook(ctx, e.project, got); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	checkEq(t, "updated", "format", e.findWebhook(t, reports.ID).Format, promptd.FormatPromptd)
	e.setLabels(t, "p", 1, "prod")
	if n := len(e.deliveriesOf(t, reports.ID)) - seen[reports.ID]; n != 1 {
		t.Errorf("after switching to promptd, a label change made %d deliveries, want 1", n)
	}
}

// testLabelMoves checks the facts promptd's payload gives about label moves: where an added
// label came from (labelsMovedFrom) and where a removed one went (labelsMovedTo), so that a
// receiver (or a payload format: PromptLayer's label_moved) can tell a move from an addition
// or a deletion without joining events.
func (su suite) testLabelMoves(t *testing.T) {
	e := su.env(t)
	e.create(t, "p", "v1", "prod")
	e.create(t, "p", "v2")
	e.newEvents(t)
	moves := func(step string) map[int]*webhook.Changes {
		out := map[int]*webhook.Changes{}
		for _, ev := range e.newEvents(t) {
			env := decodePayload(t, step, ev)
			if env != nil && ev.Type == promptd.EventVersionUpdated {
				out[env.Prompt.Version] = env.Changes
			}
		}
		return out
	}
	e.setLabels(t, "p", 2, "prod")
	got := moves("a move")
	if len(got) != 2 || !maps.Equal(got[2].LabelsMovedFrom, map[string]int{"prod": 1}) || got[2].LabelsMovedTo != nil ||
		!maps.Equal(got[1].LabelsMovedTo, map[string]int{"prod": 2}) || got[1].LabelsMovedFrom != nil {
		t.Errorf("a move of prod from 1 to 2: %+v", got)
	}
	e.setLabels(t, "p", 2, "staging")
	got = moves("a deletion and an addition")
	if len(got) != 1 || got[2].LabelsMovedFrom != nil || got[2].LabelsMovedTo != nil {
		t.Errorf("prod deleted, staging added: %+v, want no moves", got)
	}
}

// testFormatParts checks that an event a payload format sends as several requests gets one
// delivery per part, each with its target (promptlayer: one per label a call changed on a
// version), that a claimed job carries its delivery's target and that a resent delivery
// keeps it.
func (su suite) testFormatParts(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	layer := e.webhook(t, "promptlayer", func(w *promptd.Webhook) { w.Format = promptd.FormatPromptLayer })
	e.create(t, "p", "v1", "prod", "old")
	e.create(t, "p", "v2")
	seen := len(e.deliveriesOf(t, layer.ID))
	// On version 2: prod moves from 1, qa is new; on version 1: old is deleted, prod moved away.
	e.setLabels(t, "p", 2, "prod", "qa")
	e.setLabels(t, "p", 1)
	type part struct{ Type, Target string }
	var got []part
	for _, d := range e.deliveriesOf(t, layer.ID)[seen:] {
		got = append(got, part{d.EventType, d.Target})
	}
	checkJSON(t, "two label changes on version 2, then one on version 1", "deliveries (type, target)", got, []part{
		{promptd.EventVersionUpdated, "prod"}, {promptd.EventVersionUpdated, "qa"}, {promptd.EventVersionUpdated, ""},
	})

	var job *promptd.Job
	for _, j := range e.claim(t, 100) {
		if j.Webhook.ID == layer.ID && j.Target == "qa" {
			job = j
		}
	}
	if job == nil {
		t.Fatal("no claimed job of the promptlayer webhook has the target qa")
	}
	e.clock.Advance(time.Second)
	e.record(t, e.result(job, promptd.StatusSucceeded, 200))
	resent, err := e.s.ResendDelivery(ctx, e.project, job.DeliveryID)
	if err != nil {
		t.Fatalf("ResendDelivery: %v", err)
	}
	checkEq(t, "resent", "target", resent.Target, "qa")
	checkEq(t, "resent, read back", "target", e.delivery(t, resent.ID).Target, "qa")
}

// testPromptNumbers checks that each prompt gets a stable integer number within its
// project, in creation order, never reused after a deletion, shown on prompts, versions and
// in event payloads, and independent between projects.
func (su suite) testPromptNumbers(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	a := e.create(t, "a", "v1")
	b := e.create(t, "b", "v1")
	e.create(t, "a", "v2")
	checkEq(t, "first prompt", "number", a.PromptNumber, 1)
	checkEq(t, "second prompt", "number", b.PromptNumber, 2)
	checkEq(t, "a's prompt", "number", e.prompt(t, "a").Number, 1)
	if err := e.s.DeletePrompt(ctx, e.project, e.actor, "b"); err != nil {
		t.Fatalf("DeletePrompt: %v", err)
	}
	c := e.create(t, "c", "v1")
	checkEq(t, "a prompt made after a deletion", "number", c.PromptNumber, 3)
	b2 := e.create(t, "b", "v1")
	checkEq(t, "a deleted name made again", "number", b2.PromptNumber, 4)
	var numbers []int
	for _, ev := range e.newEvents(t) {
		if env := decodePayload(t, "numbers", ev); env != nil && env.Prompt != nil {
			numbers = append(numbers, env.Prompt.Number)
		}
	}
	checkJSON(t, "payloads", "prompt.number", numbers, []int{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4})
	page, err := e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{})
	if err != nil {
		t.Fatalf("ListPrompts: %v", err)
	}
	got := map[string]int{}
	for _, p := range page.Items {
		got[p.Name] = p.Number
	}
	checkJSON(t, "ListPrompts", "numbers", got, map[string]int{"a": 1, "b": 4, "c": 3})

	other, err := e.s.CreateProject(ctx, "numbers-elsewhere")
	if err != nil {
		t.Fatalf("CreateProject: %v", err)
	}
	v, err := e.s.CreateVersion(ctx, other.ID, e.actor, promptd.CreateVersionInput{Name: "a", Prompt: text("v1")})
	if err != nil {
		t.Fatalf("CreateVersion in another project: %v", err)
	}
	checkEq(t, "another project's first prompt", "number", v.PromptNumber, 1)
}

// testQueuedFormat checks that changing a webhook's payload format (or its options) never
// changes the deliveries already queued: they, and their retries, are claimed with the
// format and options the webhook had when they were queued; deliveries queued afterwards,
// and resends, take the new ones.
func (su suite) testQueuedFormat(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	w := e.webhook(t, "formats", func(w *promptd.Webhook) {
		w.Format = "promptreports"
		w.FormatOptions.StageLabels = []string{"qa", "live"}
	})
	publish := func() *promptd.Event {
		t.Helper()
		ev, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval.done", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatalf("PublishEvent: %v", err)
		}
		return ev
	}
	queued := publish()
	retried := publish()
	first := e.claim(t, 10)
	checkEq(t, "claim before the change", "jobs", len(first), 2)
	var retry *promptd.Job
	for _, j := range first {
		checkEq(t, "claim before the change", "format", j.Webhook.Format, "promptreports")
		if j.EventID == retried.ID {
			retry = j
		}
	}
	e.record(t, e.result(retry, promptd.StatusPending, 503))
	// The first job's lease runs out below: a crash; it comes back as it was queued.

	changed := e.findWebhook(t, w.ID)
	changed.Format = "promptha"
	changed.FormatOptions = promptd.FormatOptions{}
	if _, err := e.s.UpdateWebhook(ctx, e.project, changed); err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	after := publish()
	e.clock.Advance(testLease + time.Second)
	got := map[string]*promptd.Job{}
	for _, j := range e.claim(t, 10) {
		got[j.EventID] = j
	}
	for _, c := range []struct {
		name   string
		ev     *promptd.Event
		format string
		stages []string
	}{
		{"queued before, its lease ran out", queued, "promptreports", []string{"qa", "live"}},
		{"queued before, retried", retried, "promptreports", []string{"qa", "live"}},
		{"queued after", after, "promptha", nil},
	} {
		j := got[c.ev.ID]
		if j == nil {
			t.Errorf("%s: not claimed", c.name)
			continue
		}
		checkEq(t, c.name, "format", j.Webhook.Format, c.format)
		checkJSON(t, c.name, "format options' stage labels", j.Webhook.FormatOptions.StageLabels, c.stages)
	}
	if f := e.findWebhook(t, w.ID).Format; f != "promptha" {
		t.Errorf("the webhook's format is %q after the claims, want promptha", f)
	}
	// A resend (of a finished delivery: one still in flight is not duplicated) is a new
	// delivery: it takes the webhook's format now.
	e.record(t, e.result(got[queued.ID], promptd.StatusSucceeded, 200))
	d, err := e.s.ResendDelivery(ctx, e.project, got[queued.ID].DeliveryID)
	if err != nil {
		t.Fatalf("ResendDelivery: %v", err)
	}
	j, err := e.s.ClaimDelivery(ctx, d.ID, e.clock.Now(), testLease)
	if err != nil {
		t.Fatalf("ClaimDelivery: %v", err)
	}
	checkEq(t, "resent", "format", j.Webhook.Format, "promptha")
}
