package httpapi

import (
	"testing"

	"github.com/promptd/promptd"
)

// TestPromptDiff compares a text version with the next, two chat versions, and asks for
// versions and prompts that do not exist.
func TestPromptDiff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	const path = "/api/v1/prompts/team%2Fcritic/diff"
	e.createVersion(e.admin, map[string]any{"name": "team/critic", "prompt": "Rate {{movie}}.", "config": map[string]any{"temperature": 0.7}})
	e.createVersion(e.admin, map[string]any{"name": "team/critic", "prompt": "Rate {{movie}}.\nExplain why.", "config": map[string]any{"temperature": 0.7}})
	e.createVersion(e.admin, map[string]any{"name": "team/critic", "type": "chat", "prompt": []map[string]string{{"role": "system", "content": "Critic."}, {"role": "user", "content": "{{movie}}"}}})
	e.createVersion(e.admin, map[string]any{"name": "team/critic", "type": "chat", "prompt": []map[string]string{{"role": "system", "content": "Critic."}, {"role": "user", "content": "Rate {{movie}}"}}})

	var d promptd.VersionDiff
	e.call("GET", path+"?from=1&to=2", e.admin, nil, 200, &d)
	want := "--- team/critic v1\n+++ team/critic v2\n@@ -1,4 +1,5 @@\n Rate {{movie}}.\n+Explain why.\n \n ── config ──\n {\n"
	if d.Name != "team/critic" || d.From != 1 || d.To != 2 || d.Identical || !d.PromptChanged || d.ConfigChanged ||
		d.Added != 1 || d.Removed != 0 || d.Unified != want || len(d.Hunks) != 1 || d.Messages != nil {
		t.Errorf("v1 → v2 = %+v\nunified:\n%s", d, d.Unified)
	}

	e.call("GET", path+"?from=2&to=2", e.admin, nil, 200, &d)
	if !d.Identical || d.Unified != "" || d.Hunks == nil || len(d.Hunks) != 0 {
		t.Errorf("v2 → v2 = %+v, want identical with hunks []", d)
	}

	e.call("GET", path+"?from=3&to=4", e.admin, nil, 200, &d)
	if len(d.Messages) != 2 || d.Messages[0].Status != promptd.MessageUnchanged || d.Messages[1].Status != promptd.MessageChanged ||
		d.Messages[1].From.Content != "{{movie}}" || d.Messages[1].To.Content != "Rate {{movie}}" {
		t.Errorf("v3 → v4 messages = %+v", d.Messages)
	}

	wantProblem(t, e.send(req{method: "GET", path: path + "?from=1&to=9", key: e.admin}), 404, "")
	wantProblem(t, e.send(req{method: "GET", path: "/api/v1/prompts/nope/diff?from=1&to=2", key: e.admin}), 404, "")
	wantProblem(t, e.send(req{method: "GET", path: path + "?to=2", key: e.admin}), 422, "query.from")
	wantProblem(t, e.send(req{method: "GET", path: path + "?from=0&to=2", key: e.admin}), 422, "query.from")
	e.send(req{method: "GET", path: path + "?from=1&to=2"}).problem(t, 401)
}
