package httpapi

import (
	"slices"
	"testing"

	"github.com/promptd/promptd"
)

// TestCrossProjectIsolation checks every prompt and event route with the admin key of a
// second project B (made through the projects routes) against the data of project A: B
// never sees, changes or deletes A's prompts, versions or events.
func TestCrossProjectIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	keyA := e.admin
	_, keyB := e.newProject("tenant-b")

	const name, path = "team/secret", "/api/v1/prompts/team%2Fsecret"
	e.createVersion(keyA, map[string]any{"name": name, "prompt": "one", "tags": []string{"a-only"}})
	e.createVersion(keyA, map[string]any{"name": name, "prompt": "two", "labels": []string{"production"}})
	var eventA promptd.Event
	idem := map[string]string{"Idempotency-Key": "shared-key"}
	resp := e.send(req{method: "POST", path: "/api/v1/events", key: keyA, body: map[string]any{"type": "audit.logged", "data": 1}, header: idem})
	if resp.status != 201 {
		t.Fatalf("A publishes: %d %s", resp.status, resp.body)
	}
	var eventsA promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events", keyA, nil, 200, &eventsA)
	if len(eventsA.Items) < 4 {
		t.Fatalf("A's event log has %d events", len(eventsA.Items))
	}
	eventA = eventsA.Items[0]

	// B's lists are empty.
	var prompts promptd.Page[promptd.Prompt]
	e.call("GET", "/api/v1/prompts", keyB, nil, 200, &prompts)
	if len(prompts.Items) != 0 {
		t.Errorf("B lists A's prompts: %v", promptNames(prompts.Items))
	}
	for _, q := range []string{"?name=team%2F", "?label=production", "?tag=a-only"} {
		e.call("GET", "/api/v1/prompts"+q, keyB, nil, 200, &prompts)
		if len(prompts.Items) != 0 {
			t.Errorf("B lists A's prompts with %s: %v", q, promptNames(prompts.Items))
		}
	}
	var events promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events", keyB, nil, 200, &events)
	if len(events.Items) != 0 {
		t.Errorf("B lists A's events: %v", eventTypes(events.Items))
	}

	// Every route addressing A's prompt, versions or events answers B 404.
	for _, r := range []req{
		{method: "GET", path: path},
		{method: "GET", path: path + "?version=1"},
		{method: "GET", path: path + "?label=latest"},
		{method: "GET", path: path + "?label=production"},
		{method: "PATCH", path: path, body: map[string]any{"tags": []string{"stolen"}}},
		{method: "PATCH", path: path, body: map[string]any{"name": "mine"}},
		{method: "DELETE", path: path},
		{method: "GET", path: path + "/versions"},
		{method: "PATCH", path: path + "/versions/1", body: map[string]any{"labels": []string{"production"}}},
		{method: "DELETE", path: path + "/versions/1"},
		{method: "DELETE", path: path + "/versions/2"},
		{method: "GET", path: "/api/v1/events/" + eventA.ID},
	} {
		r.key = keyB
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			e.send(r).problem(t, 404)
		})
	}
	for _, ev := range eventsA.Items {
		e.send(req{method: "GET", path: "/api/v1/events/" + ev.ID, key: keyB}).problem(t, 404)
	}

	// B's project admin key cannot reach the projects routes either.
	e.send(req{method: "GET", path: "/api/v1/projects", key: keyB}).problem(t, 403)

	// B's writes stay in B: the same prompt name starts at version 1, and the same
	// Idempotency-Key publishes a new event rather than replaying or conflicting with A's.
	vB := e.createVersion(keyB, map[string]any{"name": name, "prompt": "b's own"})
	if vB.Number != 1 || vB.ProjectID == eventA.ProjectID {
		t.Errorf("B's version = %+v", vB)
	}
	resp = e.send(req{method: "POST", path: "/api/v1/events", key: keyB, body: map[string]any{"type": "audit.logged", "data": 2}, header: idem})
	if resp.status != 201 || resp.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("B publishes with A's Idempotency-Key: %d %s", resp.status, resp.body)
	}
	e.call("GET", "/api/v1/events", keyB, nil, 200, &events)
	for _, ev := range events.Items {
		if ev.ProjectID == eventA.ProjectID {
			t.Errorf("B's log holds A's event %s", ev.ID)
		}
	}

	// A's data is untouched.
	var p promptd.Page[promptd.Version]
	e.call("GET", path+"/versions", keyA, nil, 200, &p)
	if nums := versionNumbers(p.Items); !slices.Equal(nums, []int{2, 1}) {
		t.Errorf("A's versions = %v", nums)
	}
	var v promptd.Version
	e.call("GET", path, keyA, nil, 200, &v)
	if v.Number != 2 || string(v.Prompt) != `"two"` || !slices.Equal(v.Tags, []string{"a-only"}) {
		t.Errorf("A's production version = %+v", v)
	}
	e.call("GET", "/api/v1/events/"+eventA.ID, keyA, nil, 200, nil)
}
