package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/promptd/promptd"
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
