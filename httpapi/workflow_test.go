package httpapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// TestProtectedLabels checks the policy routes' roles and errors, and that a protected label
// is refused to every key in PATCH …/versions/{n} except an admin's recorded override.
func TestProtectedLabels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	projectID := e.defaultProjectID()
	editorKey := e.newKey(projectID, promptd.RoleEditor)
	adminKey := e.newKey(projectID, promptd.RoleAdmin)
	viewerKey := e.newKey(projectID, promptd.RoleViewer)
	path := "/api/v1/projects/" + projectID + "/protected-labels"
	policy := map[string]any{"labels": []map[string]any{{"label": "production"}}}

	var got promptd.ReleasePolicy
	e.call("GET", path, viewerKey, nil, 200, &got)
	if len(got.Labels) != 0 || got.RequiredApprovals != 1 {
		t.Errorf("default policy %+v, want none and 1 approval", got)
	}
	e.send(req{method: "PUT", path: path, key: editorKey, body: policy}).problem(t, 403)
	wantProblem(t, e.send(req{method: "PUT", path: path, key: adminKey, body: map[string]any{
		"labels": []map[string]any{{"label": "production", "require": map[string]any{"evaluation": "regression", "scores": map[string]any{"accuracy": "high"}}}},
	}}), 422, "body.labels[0].require.scores.accuracy")
	wantProblem(t, e.send(req{method: "PUT", path: path, key: adminKey, body: map[string]any{"labels": []map[string]any{{"label": "latest"}}}}), 422, "body.labels[0].label")

	other, otherAdmin := e.newProject("other")
	e.send(req{method: "PUT", path: "/api/v1/projects/" + other.ID + "/protected-labels", key: adminKey, body: policy}).problem(t, 404)
	e.send(req{method: "GET", path: path, key: otherAdmin}).problem(t, 404)

	e.call("PUT", path, adminKey, policy, 200, &got)
	if len(got.Labels) != 1 || got.Labels[0].Label != "production" {
		t.Fatalf("policy %+v", got)
	}

	e.createVersion(editorKey, map[string]any{"name": "a/b", "prompt": "one"})
	resp := e.send(req{method: "POST", path: "/api/v1/prompts", key: adminKey, body: map[string]any{"name": "a/b", "prompt": "two", "labels": []string{"production"}}})
	if p := resp.problem(t, 403); !strings.Contains(p.Detail, `"production" is protected`) || !strings.Contains(p.Detail, "promotions") {
		t.Errorf("create with production: %q does not name the label and the way to proceed", p.Detail)
	}
	versionPath := "/api/v1/prompts/a%2Fb/versions/1"
	for _, key := range []string{editorKey, adminKey, e.admin} {
		e.send(req{method: "PATCH", path: versionPath, key: key, body: map[string]any{"labels": []string{"production"}}}).problem(t, 403)
	}
	wantProblem(t, e.send(req{method: "PATCH", path: versionPath, key: editorKey, body: map[string]any{"labels": []string{"production"}, "force": true, "reason": "x"}}), 403, "body.force")
	wantProblem(t, e.send(req{method: "PATCH", path: versionPath, key: adminKey, body: map[string]any{"labels": []string{"production"}, "force": true}}), 422, "body.reason")

	var v promptd.Version
	e.call("PATCH", versionPath, adminKey, map[string]any{"labels": []string{"production"}, "force": true, "reason": "incident 42"}, 200, &v)
	if !slices.Contains(v.Labels, "production") {
		t.Fatalf("forced: labels %v", v.Labels)
	}
	var page promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events?limit=2", viewerKey, nil, 200, &page)
	if len(page.Items) != 2 || page.Items[0].Type != promptd.EventVersionPromoted || page.Items[1].Type != promptd.EventVersionUpdated {
		t.Fatalf("events after the override: %+v", page.Items)
	}
	var promoted, updated webhook.Event
	if err := json.Unmarshal(page.Items[0].Payload, &promoted); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(page.Items[1].Payload, &updated); err != nil {
		t.Fatal(err)
	}
	if updated.Changes.Override == nil || updated.Changes.Override.Reason != "incident 42" {
		t.Errorf("updated event's changes %+v do not record the override", updated.Changes)
	}
	if promoted.Promotion == nil || promoted.Promotion.Override == nil || promoted.Promotion.NewVersion != 1 || promoted.Promotion.Label != "production" {
		t.Errorf("promoted event: %+v", promoted.Promotion)
	}
}
