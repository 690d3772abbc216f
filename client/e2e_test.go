package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// TestEndToEnd drives every client method against a real promptd, decoding every answer
// strictly (an unknown field fails), and GetPrompt's cache invalidated by a real webhook.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := startPromptd(t)
	c, err := New(base, testKey, WithStrictDecoding(), WithCacheTTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	if h, err := c.Healthz(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("Healthz = %+v, %v", h, err)
	}
	if h, err := c.Readyz(ctx); err != nil || h.Status != "ok" {
		t.Fatalf("Readyz = %+v, %v", h, err)
	}

	// prompts: a text prompt in a folder, then a chat version
	const name = "support/critic-ü"
	v1, err := c.CreateVersion(ctx, CreateVersionRequest{Name: "support/critic", Prompt: TextContent("Rate {{movie}}, 日本語."), Config: json.RawMessage(`{"model":"m"}`), Tags: []string{"t1"}, CommitMessage: "first"})
	must(err)
	if v1.Number != 1 || v1.Type != promptd.TextPrompt {
		t.Fatalf("v1 = %+v", v1)
	}
	// "config": {} clears the config (without it, v1's would carry over).
	v2, err := c.CreateVersion(ctx, CreateVersionRequest{Name: "support/critic", Prompt: ChatContent([]promptd.ChatMessage{{Role: "system", Content: "You rate {{movie}}."}}), Config: json.RawMessage(`{}`), Labels: []string{"production"}})
	must(err)
	if v2.Type != promptd.ChatPrompt || !slices.Contains(v2.Labels, "production") || string(v2.Config) != `{}` {
		t.Fatalf("v2 = %+v", v2)
	}
	page, err := c.ListPrompts(ctx, ListPromptsOptions{Name: "support/", Label: "production"})
	must(err)
	if len(page.Items) != 1 || page.Items[0].Labels["production"] != 2 {
		t.Fatalf("ListPrompts = %+v", page)
	}
	all, err := c.AllPrompts(ctx, ListPromptsOptions{Limit: 1})
	must(err)
	if len(all) != 1 {
		t.Fatalf("AllPrompts = %+v", all)
	}
	got, err := c.GetVersion(ctx, "support/critic", VersionSelector{Version: 1})
	must(err)
	if got.ID != v1.ID {
		t.Fatalf("GetVersion(1) = %+v", got)
	}
	vs, err := c.ListVersions(ctx, "support/critic", PageOptions{})
	must(err)
	if len(vs.Items) != 2 || vs.Items[0].Number != 2 {
		t.Fatalf("ListVersions = %+v", vs)
	}
	d, err := c.DiffVersions(ctx, "support/critic", 1, 2)
	must(err)
	if !d.PromptChanged || !d.ConfigChanged || d.Unified == "" || d.FromType != promptd.TextPrompt {
		t.Fatalf("DiffVersions = %+v", d)
	}

	// GetPrompt + Compile
	p, err := c.GetPrompt(ctx, "support/critic", "production")
	must(err)
	out, err := p.Compile(map[string]any{"movie": "Dune"})
	must(err)
	if out.Messages[0].Content != "You rate Dune." {
		t.Fatalf("compiled = %+v", out)
	}

	// the cache follows a label move at once through a webhook to InvalidationHandler
	var handler http.Handler = http.NotFoundHandler()
	var deliveries = make(chan struct{}, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
		deliveries <- struct{}{}
	}))
	defer recv.Close()
	wh, err := c.CreateWebhook(ctx, CreateWebhookRequest{URL: recv.URL, Filters: &WebhookFilters{PromptNames: []string{"support/*"}}})
	must(err)
	if wh.Secret == "" || wh.URL != recv.URL || !wh.Enabled {
		t.Fatalf("CreateWebhook = %+v", wh)
	}
	ver, err := webhook.NewVerifier([]string{wh.Secret})
	must(err)
	handler = c.InvalidationHandler(ver)
	_, err = c.SetLabels(ctx, "support/critic", 1, []string{"production"})
	must(err)
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := c.GetPrompt(ctx, "support/critic", "production")
		must(err)
		if p.Number == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cached prompt still has production on v2 30s after the label moved")
		}
		select {
		case <-deliveries:
		case <-time.After(time.Second):
		}
	}

	// webhooks
	whs, err := c.ListWebhooks(ctx, PageOptions{})
	must(err)
	if len(whs.Items) != 1 {
		t.Fatalf("ListWebhooks = %+v", whs)
	}
	newName := "cache"
	upd, err := c.UpdateWebhook(ctx, wh.ID, UpdateWebhookRequest{Name: &newName, Retry: &WebhookRetry{Schedule: []string{"1s"}}})
	must(err)
	if upd.Name != "cache" || !slices.Equal(upd.Retry.Schedule, []string{"1s"}) {
		t.Fatalf("UpdateWebhook = %+v", upd)
	}
	if g, err := c.GetWebhook(ctx, wh.ID); err != nil || g.Name != "cache" || g.Revision != upd.Revision {
		t.Fatalf("GetWebhook = %+v, %v", g, err)
	}
	// If-Match: at the current revision the update is made; at an old one it is a 412.
	name2 := "cache2"
	if u, err := c.UpdateWebhook(ctx, wh.ID, UpdateWebhookRequest{Name: &name2, Revision: upd.Revision}); err != nil || u.Revision <= upd.Revision {
		t.Fatalf("UpdateWebhook at the current revision = %+v, %v", u, err)
	}
	if _, err := c.UpdateWebhook(ctx, wh.ID, UpdateWebhookRequest{Name: &newName, Revision: upd.Revision}); StatusOf(err) != http.StatusPreconditionFailed {
		t.Fatalf("UpdateWebhook at an old revision: %v, want 412", err)
	}
	res, err := c.TestWebhook(ctx, wh.ID)
	must(err)
	if res.Status != promptd.StatusSucceeded || res.DeliveryID == "" {
		t.Fatalf("TestWebhook = %+v", res)
	}
	dry, err := c.DryRunWebhook(ctx, wh.ID, DryRunRequest{EventType: "eval-run.completed"})
	must(err)
	if dry.Status != promptd.StatusSucceeded || dry.Attempt.RequestHeaders["x-promptd-event"] != "eval-run.completed" {
		t.Fatalf("DryRunWebhook = %+v", dry)
	}
	secrets, err := c.RotateWebhookSecret(ctx, wh.ID, RotateSecretRequest{Overlap: "1h"})
	must(err)
	if len(secrets.Secrets) != 2 || secrets.Secrets[1].Secret != wh.Secret || secrets.ID != wh.ID || secrets.Secret != secrets.Secrets[0].Secret {
		t.Fatalf("RotateWebhookSecret = %+v", secrets)
	}
	if s, err := c.GetWebhookSecret(ctx, wh.ID); err != nil || len(s.Secrets) != 2 {
		t.Fatalf("GetWebhookSecret = %+v, %v", s, err)
	}
	if st, err := c.GetWebhookStats(ctx, wh.ID, time.Time{}); err != nil || st.Attempts == 0 || st.Succeeded == 0 || st.WebhookID != wh.ID {
		t.Fatalf("GetWebhookStats = %+v, %v", st, err)
	}
	if n, err := c.RecoverWebhook(ctx, wh.ID, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("RecoverWebhook = %d, %v", n, err)
	}

	// deliveries
	dl, err := c.ListDeliveries(ctx, ListDeliveriesOptions{WebhookID: wh.ID, Status: promptd.StatusSucceeded})
	must(err)
	if len(dl.Items) == 0 {
		t.Fatalf("ListDeliveries = %+v", dl)
	}
	one, err := c.GetDelivery(ctx, res.DeliveryID)
	must(err)
	if len(one.Attempts) != 1 {
		t.Fatalf("GetDelivery = %+v", one)
	}
	again, err := c.ResendDelivery(ctx, res.DeliveryID)
	must(err)
	if again.ID == res.DeliveryID {
		t.Fatalf("ResendDelivery = %+v", again)
	}

	// events
	ev, replayed, err := c.PublishEvent(ctx, PublishEventRequest{Type: "eval.done", Data: json.RawMessage(`{"score":1}`), IdempotencyKey: "k1"})
	must(err)
	ev2, replayed2, err := c.PublishEvent(ctx, PublishEventRequest{Type: "eval.done", Data: json.RawMessage(`{"score":1}`), IdempotencyKey: "k1"})
	must(err)
	if replayed || !replayed2 || ev2.ID != ev.ID {
		t.Fatalf("PublishEvent twice: %v %v %s %s", replayed, replayed2, ev.ID, ev2.ID)
	}
	evs, err := c.ListEvents(ctx, ListEventsOptions{Type: "eval.done", Since: time.Now().Add(-time.Minute)})
	must(err)
	if len(evs.Items) != 1 {
		t.Fatalf("ListEvents = %+v", evs)
	}
	if g, err := c.GetEvent(ctx, ev.ID); err != nil || g.Type != "eval.done" {
		t.Fatalf("GetEvent = %+v, %v", g, err)
	}

	// projects and keys
	projects, err := c.ListProjects(ctx)
	must(err)
	pid := projects.Items[0].ID
	if _, err := c.CreateProject(ctx, "marketing"); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateAPIKey(ctx, pid, CreateAPIKeyRequest{Name: "ci", Role: promptd.RoleViewer})
	must(err)
	keys, err := c.ListAPIKeys(ctx, pid)
	must(err)
	if len(keys.Items) != 2 || k.Secret == "" {
		t.Fatalf("ListAPIKeys = %+v", keys)
	}
	viewer, err := New(base, k.Secret)
	must(err)
	_, err = viewer.CreateVersion(ctx, CreateVersionRequest{Name: "x", Prompt: TextContent("x")})
	if StatusOf(err) != http.StatusForbidden {
		t.Fatalf("a viewer creating a version: %v, want 403", err)
	}
	must(c.DeleteAPIKey(ctx, pid, k.ID))

	// problems
	_, err = c.CreateVersion(ctx, CreateVersionRequest{Name: "bad name", Prompt: TextContent("x")})
	var pe *Error
	if !errors.As(err, &pe) || pe.Status != 422 || len(pe.Errors) == 0 || pe.Errors[0].Location != "body.name" {
		t.Fatalf("an invalid name: %#v", err)
	}
	if _, err := c.GetVersion(ctx, name, VersionSelector{}); !IsNotFound(err) {
		t.Fatalf("a missing prompt: %v", err)
	}

	// deletes
	must(c.DeleteWebhook(ctx, wh.ID))
	must(c.DeleteVersion(ctx, "support/critic", 2))
	renamed := "support/critic2"
	if p, err := c.UpdatePrompt(ctx, "support/critic", UpdatePromptRequest{Name: &renamed}); err != nil || p.Name != renamed {
		t.Fatalf("UpdatePrompt = %+v, %v", p, err)
	}
	must(c.DeletePrompt(ctx, renamed))

	// unreachable
	down, _ := New("http://127.0.0.1:1", testKey)
	var ue *UnreachableError
	if _, err := down.Healthz(ctx); !errors.As(err, &ue) {
		t.Fatalf("a closed port: %v, want an *UnreachableError", err)
	}
}
