package httpapi

import (
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

// TestFilterPreviewRoute tries routing settings on the project's recent events through the
// API: a viewer may, nothing is saved, each event says why, bad settings are 422 naming the
// field (CEL with its position), and another project's events are not tried.
func TestFilterPreviewRoute(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{})
	e.createVersion(e.admin, map[string]any{"name": "production/a", "prompt": "x", "labels": []string{"production"}})
	e.createVersion(e.admin, map[string]any{"name": "staging/b", "prompt": "y"})
	other, otherKey := e.newProject("other")
	_ = other
	e.createVersion(otherKey, map[string]any{"name": "production/z", "prompt": "z"})
	viewer := e.newKey(e.defaultProjectID(), promptd.RoleViewer)

	var res promptd.FilterPreviewResult
	e.call("POST", "/api/v1/webhooks/filter-preview", viewer, map[string]any{
		"events": []string{"prompt-version.*"}, "filters": map[string]any{"promptNames": []string{"production/*"}},
		"filter": `"production" in event.prompt.labels`,
	}, 200, &res)
	if res.Tried != 4 || res.Matched != 1 || len(res.Events) != 4 {
		t.Fatalf("preview: tried %d, matched %d, %d events; want 4 (this project's), 1: %+v", res.Tried, res.Matched, len(res.Events), res)
	}
	want := []struct {
		typ, prompt string
		match       bool
		reason      string
	}{ // newest first
		{"prompt-version.created", "staging/b", false, "staging/b matches no name pattern"},
		{"prompt.created", "staging/b", false, "prompt.created is not among the webhook's events"},
		{"prompt-version.created", "production/a", true, "passes the event types, prompt filters and the CEL filter"},
		{"prompt.created", "production/a", false, "not among the webhook's events"},
	}
	for i, w := range want {
		got := res.Events[i]
		if got.Type != w.typ || got.PromptName != w.prompt || got.Match != w.match || !strings.Contains(got.Reason, w.reason) || got.ID == "" {
			t.Errorf("event %d = %+v; want %s about %s, match %v, %q", i, got, w.typ, w.prompt, w.match, w.reason)
		}
	}
	e.call("POST", "/api/v1/webhooks/filter-preview", viewer, map[string]any{"limit": 1}, 200, &res)
	if res.Tried != 1 || res.Matched != 1 || !strings.Contains(res.Events[0].Reason, "passes the event types and prompt filters") {
		t.Errorf("limit 1 without settings: %+v", res)
	}

	p := wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks/filter-preview", key: viewer,
		body: map[string]any{"filter": "event.prompt.name =="}}), 422, "body.filter")
	if !strings.Contains(p.Detail, "line 1, column 21") {
		t.Errorf("the CEL error does not give its position: %+v", p)
	}
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks/filter-preview", key: viewer,
		body: map[string]any{"events": []string{"prompt*"}}}), 422, "body.events")
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/webhooks/filter-preview", key: viewer,
		body: map[string]any{"filters": map[string]any{"promptNames": []string{"a/[b"}}}}), 422, "body.filters.promptNames")
	if resp := e.send(req{method: "POST", path: "/api/v1/webhooks/filter-preview", body: map[string]any{}}); resp.status != 401 {
		t.Errorf("without a key: %d", resp.status)
	}
	var hooks promptd.Page[promptd.Webhook]
	e.call("GET", "/api/v1/webhooks", e.admin, nil, 200, &hooks)
	if len(hooks.Items) != 0 {
		t.Errorf("the preview saved a webhook: %+v", hooks.Items)
	}
}
