package httpapi

import (
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// TestChatWebhookURLIsACredential checks that a slack, discord or teams webhook's URL is
// shown whole to admins only, and that such a webhook refuses the fields of http webhooks.
func TestChatWebhookURLIsACredential(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{httpsOnly: true})
	viewerKey := e.newKey(e.defaultProjectID(), promptd.RoleViewer)
	const hookURL = "https://hooks.slack.com/services/T0/B0/secretpart"
	w := e.createWebhook(e.admin, map[string]any{"type": "slack", "url": hookURL})
	if w.Type != promptd.TypeSlack || w.URL != hookURL || strings.Contains(w.Name, "secretpart") {
		t.Fatalf("created: type %q, url %q, name %q", w.Type, w.URL, w.Name)
	}
	path := "/api/v1/webhooks/" + w.ID
	var got webhookView
	e.call("GET", path, e.admin, nil, 200, &got)
	if got.URL != hookURL {
		t.Errorf("admin sees url %q", got.URL)
	}
	e.call("GET", path, viewerKey, nil, 200, &got)
	if got.URL != "https://hooks.slack.com/services/"+promptd.MaskedSuffix {
		t.Errorf("viewer sees url %q, want it masked", got.URL)
	}
	var page struct{ Items []webhookView }
	e.call("GET", "/api/v1/webhooks", viewerKey, nil, 200, &page)
	if len(page.Items) != 1 || strings.Contains(page.Items[0].URL, "secretpart") {
		t.Errorf("viewer's list shows %+v", page.Items)
	}

	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"http url", map[string]any{"type": "discord", "url": "http://discord.com/api/webhooks/1/x"}, "body.url"},
		{"headers", map[string]any{"type": "teams", "url": "https://x.logic.azure.com/wf", "headers": map[string]string{"X-Key": "1"}}, "body.headers"},
		{"signature header", map[string]any{"type": "slack", "url": hookURL, "signatureHeader": "x-sig"}, "body.signatureHeader"},
	} {
		wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: tc.body}), 422, tc.field)
	}
	// An http webhook with custom headers cannot become a slack one without dropping them.
	h := e.createWebhook(e.admin, map[string]any{"url": "https://ci.example.com/hook", "headers": map[string]string{"X-Key": "1"}})
	wantProblem(t, e.send(req{method: "PATCH", path: "/api/v1/webhooks/" + h.ID, key: e.admin, body: map[string]any{"type": "slack", "url": hookURL}}), 422, "body.headers")
	e.call("PATCH", "/api/v1/webhooks/"+h.ID, e.admin, map[string]any{"type": "slack", "url": hookURL, "headers": map[string]string{}}, 200, &got)
	if got.Type != promptd.TypeSlack || got.URL != hookURL {
		t.Errorf("patched to slack: %+v", got)
	}
}

// TestWebhookDryRun checks the Test call's dry run: a real event's payload about a prompt
// version, sent to this webhook only, and the 422s of a bad body.
func TestWebhookDryRun(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{}) // no engine: only the Test call sends
	rcv := newReceiver(t, 200, "ok")
	other := newReceiver(t, 200, "ok")
	w := e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "events": []string{"evaluation.completed"}})
	e.createWebhook(e.admin, map[string]any{"url": other.url()})
	e.createVersion(e.admin, map[string]any{"name": "support/billing", "prompt": "v1", "commitMessage": "first"})
	e.createVersion(e.admin, map[string]any{"name": "support/billing", "prompt": "v2", "labels": []string{"production"}, "commitMessage": "second"})
	path := "/api/v1/webhooks/" + w.ID + "/test"

	var res testResult
	e.call("POST", path, e.admin, map[string]any{"eventType": "prompt-version.updated", "promptName": "support/billing", "version": 1}, 200, &res)
	got := rcv.next()
	ev, err := webhook.Parse(got.body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != promptd.StatusSucceeded || got.header.Get("X-Promptd-Event") != promptd.EventVersionUpdated ||
		ev.EventType() != promptd.EventVersionUpdated || ev.Prompt == nil || ev.Prompt.Name != "support/billing" ||
		ev.Prompt.Version != 1 || ev.Prompt.CommitMessage != "first" || ev.Changes == nil {
		t.Errorf("dry run: result %+v, payload %s", res, got.body)
	}
	// Without a version: the one the default label selects.
	e.call("POST", path, e.admin, map[string]any{"eventType": "prompt-version.created", "promptName": "support/billing"}, 200, &res)
	if ev, err := webhook.Parse(rcv.next().body); err != nil || ev.Prompt == nil || ev.Prompt.Version != 2 || !ev.Prompt.HasLabel("production") {
		t.Errorf("dry run without version: %+v, %v", ev, err)
	}
	e.call("POST", path, e.admin, map[string]any{"eventType": "webhook.disabled"}, 200, &res)
	if body := string(rcv.next().body); !strings.Contains(body, "dry run") || !strings.Contains(body, w.ID) {
		t.Errorf("webhook.disabled dry run: %s", body)
	}
	e.call("POST", path, e.admin, map[string]any{"eventType": "eval-run.completed", "promptName": "support/billing"}, 200, &res)
	if body := string(rcv.next().body); !strings.Contains(body, `"dryRun":true`) || !strings.Contains(body, "support/billing") {
		t.Errorf("custom dry run: %s", body)
	}
	e.call("POST", path, e.admin, map[string]any{}, 200, &res)
	if got := rcv.next(); got.header.Get("X-Promptd-Event") != promptd.EventWebhookTest {
		t.Errorf("an empty body sends %s", got.header.Get("X-Promptd-Event"))
	}
	other.none()

	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"unknown field", map[string]any{"eventType": "prompt-version.updated", "prompt": "x"}, 422, "body.prompt"},
		{"no prompt name", map[string]any{"eventType": "prompt-version.updated"}, 422, "body.promptName"},
		{"bad event type", map[string]any{"eventType": "Prompt Updated"}, 422, "body.eventType"},
		{"prompt with webhook.test", map[string]any{"promptName": "support/billing"}, 422, "body.promptName"},
		{"bad version", map[string]any{"eventType": "prompt-version.updated", "promptName": "support/billing", "version": 0.5}, 422, "body.version"},
		{"unknown prompt", map[string]any{"eventType": "prompt-version.updated", "promptName": "nope"}, 404, ""},
		{"unknown version", map[string]any{"eventType": "prompt-version.updated", "promptName": "support/billing", "version": 9}, 404, ""},
	} {
		wantProblem(t, e.send(req{method: "POST", path: path, key: e.admin, body: tc.body}), tc.status, tc.field)
	}
	rcv.none()
}

// TestGitHubWebhookAPI checks a github webhook through the API: its token is never shown,
// a patch that leaves the token out keeps it, and bad settings are 422s naming the field.
func TestGitHubWebhookAPI(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{httpsOnly: true})
	w := e.createWebhook(e.admin, map[string]any{"type": "github", "github": map[string]any{"repository": "acme/prompts", "token": "ghp_secrettoken"}})
	if w.Type != promptd.TypeGitHub || w.URL != "" || w.GitHub == nil || w.GitHub.Repository != "acme/prompts" ||
		w.GitHub.EventType != promptd.DefaultGitHubEventType || w.GitHub.Token != maskedHeaderValue || w.Name != "github:acme/prompts" {
		t.Fatalf("created: %+v %+v", w, w.GitHub)
	}
	path := "/api/v1/webhooks/" + w.ID
	var got webhookView
	e.call("PATCH", path, e.admin, map[string]any{"github": map[string]any{"repository": "acme/prompts", "eventType": "prompt-changed"}}, 200, &got)
	if got.GitHub == nil || got.GitHub.Repository != "acme/prompts" || got.GitHub.EventType != "prompt-changed" {
		t.Errorf("patched: %+v", got.GitHub)
	}
	stored, err := e.store.FindWebhook(t.Context(), e.defaultProjectID(), w.ID)
	if err != nil || stored.GitHub.Token != "ghp_secrettoken" {
		t.Errorf("the patch lost the token: %+v, %v", stored.GitHub, err)
	}
	// Back to http: the github settings go.
	e.call("PATCH", path, e.admin, map[string]any{"type": "http", "url": "https://ci.example.com/hook"}, 200, &got)
	if got.GitHub != nil || got.URL != "https://ci.example.com/hook" {
		t.Errorf("patched to http: %+v", got)
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no github", map[string]any{"type": "github"}, "body.github"},
		{"github with a url", map[string]any{"type": "github", "url": "https://api.github.com", "github": map[string]any{"repository": "a/b", "token": "t"}}, "body.url"},
		{"bad repository", map[string]any{"type": "github", "github": map[string]any{"repository": "a", "token": "t"}}, "body.github.repository"},
		{"no token", map[string]any{"type": "github", "github": map[string]any{"repository": "a/b"}}, "body.github.token"},
		{"github on http", map[string]any{"url": "https://ci.example.com", "github": map[string]any{"repository": "a/b", "token": "t"}}, "body.github"},
		{"unknown github field", map[string]any{"type": "github", "github": map[string]any{"repository": "a/b", "token": "t", "ref": "main"}}, "body.github.ref"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks", key: e.admin, body: tc.body}), 422, tc.field)
		})
	}
}
