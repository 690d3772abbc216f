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

// TestPromotionEndToEnd follows a promotion through the API to a webhook that watches the
// production label: approval.requested, a refused approval (the gate), an evaluation, then
// approval.completed, the label move and prompt-version.promoted, in that order.
func TestPromotionEndToEnd(t *testing.T) {
	t.Parallel()
	e := newHookEnv(t, hookOptions{run: true})
	projectID := e.defaultProjectID()
	editorKey := e.newKey(projectID, promptd.RoleEditor)
	approverKey := e.newKey(projectID, promptd.RoleAdmin)
	viewerKey := e.newKey(projectID, promptd.RoleViewer)
	e.call("PUT", "/api/v1/projects/"+projectID+"/protected-labels", e.admin, map[string]any{
		"labels": []map[string]any{{"label": "production", "require": map[string]any{"evaluation": "regression", "scores": map[string]any{"accuracy": ">=0.9"}}}},
	}, 200, nil)
	rcv := newReceiver(t, 204, "")
	e.createWebhook(e.admin, map[string]any{"url": rcv.url(), "filters": map[string]any{"labels": []string{"production"}}, "maxInFlight": 1})

	e.createVersion(editorKey, map[string]any{"name": "movie-critic", "prompt": "v1"})
	e.createVersion(editorKey, map[string]any{"name": "other", "prompt": "x"})

	// Bad requests.
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/prompts/movie-critic/promotions", key: editorKey,
		body: map[string]any{"version": 1, "label": "staging"}}), 422, "body.label")
	e.send(req{method: "POST", path: "/api/v1/prompts/movie-critic/promotions", key: viewerKey,
		body: map[string]any{"version": 1, "label": "production"}}).problem(t, 403)
	e.send(req{method: "POST", path: "/api/v1/prompts/nope/promotions", key: editorKey,
		body: map[string]any{"version": 1, "label": "production"}}).problem(t, 404)

	var pr promptd.Promotion
	resp := e.call("POST", "/api/v1/prompts/movie-critic/promotions", editorKey, map[string]any{"version": 1, "label": "production", "comment": "ship it"}, 201, &pr)
	if resp.header.Get("Location") != "/api/v1/promotions/"+pr.ID || pr.State != promptd.PromotionPending || pr.Gate == nil || pr.Gate.Passed {
		t.Fatalf("request: %+v (Location %q)", pr, resp.header.Get("Location"))
	}
	e.send(req{method: "POST", path: "/api/v1/prompts/movie-critic/promotions", key: editorKey,
		body: map[string]any{"version": 1, "label": "production"}}).problem(t, 409)

	first := rcv.next()
	if got := first.header.Get("X-Promptd-Event"); got != promptd.EventApprovalRequested {
		t.Fatalf("the webhook's first event is %s (%s), want approval.requested", got, first.body)
	}

	decide := func(key, action string) *response {
		t.Helper()
		return e.send(req{method: "POST", path: "/api/v1/promotions/" + pr.ID + "/" + action, key: key, body: map[string]any{"comment": "looked at it"}})
	}
	decide(editorKey, "approve").problem(t, 403) // editors do not approve
	decide(e.admin, "cancel").problem(t, 403)    // only the requester cancels
	if p := decide(approverKey, "approve").problem(t, 409); !strings.Contains(p.Detail, `quality gate of "production"`) || !strings.Contains(p.Detail, "regression") {
		t.Errorf("approval behind an unmet gate: %q", p.Detail)
	}

	// CI reports an evaluation; the gate passes.
	var ev promptd.Evaluation
	e.call("POST", "/api/v1/prompts/movie-critic/versions/1/evaluations", editorKey, map[string]any{"name": "regression", "metadata": map[string]any{"run": 42}}, 201, &ev)
	wantProblem(t, e.send(req{method: "PATCH", path: "/api/v1/evaluations/" + ev.ID, key: editorKey, body: map[string]any{"status": "done"}}), 422, "body.status")
	e.call("PATCH", "/api/v1/evaluations/"+ev.ID, editorKey, map[string]any{"status": "completed", "scores": map[string]any{"accuracy": 0.93}, "url": "https://ci.example/42"}, 200, &ev)
	if ev.Status != promptd.EvaluationCompleted || ev.Scores["accuracy"] != 0.93 {
		t.Fatalf("finished evaluation %+v", ev)
	}
	var read promptd.Evaluation
	if e.call("GET", "/api/v1/evaluations/"+ev.ID, viewerKey, nil, 200, &read); read.ID != ev.ID || read.Status != promptd.EvaluationCompleted {
		t.Errorf("get-evaluation = %+v", read)
	}
	var evals struct {
		Items []promptd.Evaluation `json:"items"`
	}
	e.call("GET", "/api/v1/prompts/movie-critic/versions/1/evaluations", viewerKey, nil, 200, &evals)
	if len(evals.Items) != 1 || evals.Items[0].ID != ev.ID {
		t.Errorf("listed evaluations %+v", evals.Items)
	}
	e.call("GET", "/api/v1/promotions/"+pr.ID, viewerKey, nil, 200, &pr)
	if pr.Gate == nil || !pr.Gate.Passed {
		t.Errorf("gate after the evaluation: %+v", pr.Gate)
	}

	e.call("POST", "/api/v1/promotions/"+pr.ID+"/approve", approverKey, map[string]any{"comment": "lgtm"}, 200, &pr)
	if pr.State != promptd.PromotionApproved {
		t.Fatalf("approved: %+v", pr)
	}
	decide(approverKey, "approve").problem(t, 409)

	var types []string
	var promoted webhook.Event
	for range 3 {
		got := rcv.next()
		ev, err := webhook.Parse(got.body)
		if err != nil {
			t.Fatalf("parsing %s: %v", got.body, err)
		}
		if ev.Prompt == nil || ev.Prompt.Name != "movie-critic" {
			t.Errorf("%s is about %+v, want movie-critic", ev.EventType(), ev.Prompt)
		}
		types = append(types, ev.EventType())
		if ev.EventType() == promptd.EventVersionPromoted {
			promoted = *ev
		}
	}
	want := []string{promptd.EventApprovalCompleted, promptd.EventVersionUpdated, promptd.EventVersionPromoted}
	if !slices.Equal(types, want) {
		t.Errorf("the webhook got %v, want %v", types, want)
	}
	if p := promoted.Promotion; p == nil || p.PreviousVersion != nil || p.NewVersion != 1 || p.Label != "production" ||
		p.RequestedBy == nil || len(p.ApprovedBy) != 1 || p.Decision != "approved" || p.Gate == nil || !p.Gate.Passed {
		t.Errorf("prompt-version.promoted carries %+v", promoted.Promotion)
	}
	rcv.none()

	var page promptd.Page[promptd.Promotion]
	e.call("GET", "/api/v1/promotions?state=approved", viewerKey, nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != pr.ID {
		t.Errorf("approved promotions: %+v", page.Items)
	}
	e.call("GET", "/api/v1/prompts/movie-critic/promotions", viewerKey, nil, 200, &page)
	if len(page.Items) != 1 {
		t.Errorf("the prompt's promotions: %+v", page.Items)
	}
	e.send(req{method: "GET", path: "/api/v1/promotions?state=done", key: viewerKey}).problem(t, 422)

	// A request for another version is withdrawn by its requester, without a body.
	e.createVersion(editorKey, map[string]any{"name": "movie-critic", "prompt": "v2"})
	var again promptd.Promotion
	e.call("POST", "/api/v1/prompts/movie-critic/promotions", editorKey, map[string]any{"version": 2, "label": "production"}, 201, &again)
	e.call("POST", "/api/v1/promotions/"+again.ID+"/cancel", editorKey, nil, 200, &again)
	if again.State != promptd.PromotionCancelled {
		t.Errorf("cancelled: %+v", again)
	}
	// v1, in production, lost latest to v2 first.
	for _, typ := range []string{promptd.EventVersionUpdated, promptd.EventApprovalRequested, promptd.EventApprovalCompleted} {
		got := rcv.next()
		if ev := got.header.Get("X-Promptd-Event"); ev != typ {
			t.Errorf("the webhook got %s, want %s", ev, typ)
		}
	}
	// An approver may reject a request.
	var rejected promptd.Promotion
	e.call("POST", "/api/v1/prompts/movie-critic/promotions", editorKey, map[string]any{"version": 2, "label": "production"}, 201, &rejected)
	e.call("POST", "/api/v1/promotions/"+rejected.ID+"/reject", approverKey, map[string]any{"comment": "not yet"}, 200, &rejected)
	if rejected.State != promptd.PromotionRejected {
		t.Errorf("rejected: %+v", rejected)
	}
}
