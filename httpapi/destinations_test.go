package httpapi

import (
	"strings"
	"testing"

	"github.com/promptd/promptd"
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
