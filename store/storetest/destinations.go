package storetest

import (
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// testDestinations checks the type-specific settings of webhooks: a chat webhook's URL (its
// own credential) reads back whole through every path that sends (find, list, claim), while
// what leaves the store for others to see (the webhook.disabled event) carries it masked.
func (su suite) testDestinations(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	hookURL := "https://hooks.slack.com/services/T01/B02/secretpart"
	w := e.webhook(t, "chat", func(w *promptd.Webhook) {
		w.Type, w.URL, w.Headers, w.Name = promptd.TypeSlack, hookURL, nil, ""
	})
	if w.Type != promptd.TypeSlack || w.URL != hookURL {
		t.Fatalf("created: type %q, url %q", w.Type, w.URL)
	}
	if strings.Contains(w.Name, "secretpart") {
		t.Errorf("the default name %q holds the URL's secret part", w.Name)
	}
	if got := e.findWebhook(t, w.ID); got.Type != promptd.TypeSlack || got.URL != hookURL {
		t.Errorf("FindWebhook: type %q, url %q", got.Type, got.URL)
	}
	page, err := e.s.ListWebhooks(ctx, e.project, promptd.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].URL != hookURL {
		t.Errorf("ListWebhooks: %+v", page.Items)
	}

	e.publish(t, "eval-run.completed")
	job := e.claimOne(t)
	if job.Webhook.Type != promptd.TypeSlack || job.Webhook.URL != hookURL {
		t.Errorf("claimed job: type %q, url %q", job.Webhook.Type, job.Webhook.URL)
	}

	// Another type, another URL; then back to http, whose URL is stored as it is.
	discordURL := "https://discord.com/api/webhooks/123/tokenpart"
	w.Type, w.URL = promptd.TypeDiscord, discordURL
	if got, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil || got.URL != discordURL || got.Type != promptd.TypeDiscord {
		t.Fatalf("UpdateWebhook to discord: %+v, %v", got, err)
	}
	if got := e.findWebhook(t, w.ID); got.URL != discordURL || got.Type != promptd.TypeDiscord {
		t.Errorf("after update: type %q, url %q", got.Type, got.URL)
	}

	// Disabled by a result: the webhook.disabled event shows the URL masked.
	res := e.result(job, promptd.StatusFailed, 404)
	res.DisableReason = "the webhook was deleted in Slack"
	e.record(t, res)
	events, err := e.s.ListEvents(ctx, e.project, promptd.EventFilter{Type: promptd.EventWebhookDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if len(events.Items) != 1 {
		t.Fatalf("webhook.disabled events: %d, want 1", len(events.Items))
	}
	payload := string(events.Items[0].Payload)
	if strings.Contains(payload, "tokenpart") || !strings.Contains(payload, "https://discord.com/api/") {
		t.Errorf("webhook.disabled payload does not show the URL masked: %s", payload)
	}

	plain := "https://ci.example.com/hooks/promptd"
	w = e.findWebhook(t, w.ID)
	w.Type, w.URL = promptd.TypeHTTP, plain
	if got, err := e.s.UpdateWebhook(ctx, e.project, w); err != nil || got.URL != plain {
		t.Fatalf("UpdateWebhook to http: %+v, %v", got, err)
	}
	if got := e.findWebhook(t, w.ID); got.URL != plain || got.Type != promptd.TypeHTTP {
		t.Errorf("after update to http: type %q, url %q", got.Type, got.URL)
	}
}

// testDryRunDelivery checks CreateDryRunDelivery: the given event is recorded and delivered
// to the one webhook, due after the test reservation, never fanned out.
func (su suite) testDryRunDelivery(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	target := e.webhook(t, "target", events("evaluation.completed"))
	bystander := e.webhook(t, "bystander") // every event, no filters
	ev, err := promptd.NewDataEvent(e.project, promptd.EventVersionUpdated, []byte(`{"dryRun":true}`), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.s.CreateDryRunDelivery(ctx, e.project, target.ID, ev)
	if err != nil {
		t.Fatal(err)
	}
	if d.WebhookID != target.ID || d.EventID != ev.ID || d.EventType != promptd.EventVersionUpdated || d.Status != promptd.StatusPending ||
		d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(e.clock.Now().Add(promptd.TestReservation)) {
		t.Errorf("dry run delivery: %+v", d)
	}
	job, err := e.s.ClaimDelivery(ctx, d.ID, e.clock.Now(), testLease)
	if err != nil {
		t.Fatal(err)
	}
	if string(job.Payload) != string(ev.Payload) || job.EventType != promptd.EventVersionUpdated {
		t.Errorf("claimed job: %s %s", job.EventType, job.Payload)
	}
	if ds := e.deliveriesOf(t, bystander.ID); len(ds) != 0 {
		t.Errorf("the dry run was fanned out to another webhook: %+v", ds)
	}
	_, err = e.s.CreateDryRunDelivery(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11", ev)
	wantErr(t, err, promptd.ENOTFOUND, "")
	foreign, err := promptd.NewDataEvent("another-project", "evaluation.completed", nil, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.CreateDryRunDelivery(ctx, e.project, target.ID, foreign)
	wantErr(t, err, promptd.EINVALID, "body")
}
