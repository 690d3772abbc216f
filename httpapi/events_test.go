package httpapi

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// TestPublishEventIdempotent checks 201 for a new event, 200 with Idempotent-Replayed for
// a replay, and 409 when the key is reused with other data.
func TestPublishEventIdempotent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	body := map[string]any{"type": "eval-run.completed", "data": map[string]any{"score": 0.93}}
	idem := map[string]string{"Idempotency-Key": "run-42"}

	first := e.send(req{method: "POST", path: "/api/v1/events", key: e.admin, body: body, header: idem})
	if first.status != 201 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first publish: %d, Idempotent-Replayed %q; %s", first.status, first.header.Get("Idempotent-Replayed"), first.body)
	}
	var ev promptd.Event
	if err := json.Unmarshal(first.body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "eval-run.completed" || ev.ID == "" {
		t.Errorf("event = %+v", ev)
	}
	if loc := first.header.Get("Location"); loc != "/api/v1/events/"+ev.ID {
		t.Errorf("Location = %q", loc)
	}
	var env webhook.Event
	if err := json.Unmarshal(ev.Payload, &env); err != nil {
		t.Fatalf("payload %s: %v", ev.Payload, err)
	}
	if env.Type != "eval-run" || env.Action != "completed" || string(env.Data) != `{"score":0.93}` {
		t.Errorf("envelope = %+v (data %s)", env, env.Data)
	}

	replay := e.send(req{method: "POST", path: "/api/v1/events", key: e.admin, body: body, header: idem})
	if replay.status != 200 || replay.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d, Idempotent-Replayed %q; %s", replay.status, replay.header.Get("Idempotent-Replayed"), replay.body)
	}
	var again promptd.Event
	if err := json.Unmarshal(replay.body, &again); err != nil {
		t.Fatal(err)
	}
	if again.ID != ev.ID {
		t.Errorf("replay answered event %s, want %s", again.ID, ev.ID)
	}

	other := map[string]any{"type": "eval-run.completed", "data": map[string]any{"score": 0.1}}
	e.send(req{method: "POST", path: "/api/v1/events", key: e.admin, body: other, header: idem}).problem(t, 409)

	// Without a key, the same request publishes again.
	e.call("POST", "/api/v1/events", e.admin, body, 201, nil)
	e.call("POST", "/api/v1/events", e.admin, body, 201, nil)
	long := map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}
	wantProblem(t, e.send(req{method: "POST", path: "/api/v1/events", key: e.admin, body: body, header: long}), 422, "header.Idempotency-Key")
}

// TestEventLog checks GET /api/v1/events (filters, paging) and GET /api/v1/events/{id}.
func TestEventLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	e.createVersion(e.admin, map[string]any{"name": "movie-critic", "prompt": "Rate {{movie}}", "labels": []string{"production"}})
	before := time.Now().Add(-time.Minute)
	var custom promptd.Event
	e.call("POST", "/api/v1/events", e.admin, map[string]any{"type": "approval.granted", "data": map[string]any{"by": "ana"}}, 201, &custom)

	var page promptd.Page[promptd.Event]
	e.call("GET", "/api/v1/events", e.admin, nil, 200, &page)
	types := eventTypes(page.Items)
	if !slices.Equal(types, []string{"approval.granted", promptd.EventVersionCreated, promptd.EventPromptCreated}) &&
		!slices.Equal(types, []string{"approval.granted", promptd.EventPromptCreated, promptd.EventVersionCreated}) {
		t.Errorf("event log = %v", types)
	}

	e.call("GET", "/api/v1/events?type="+promptd.EventVersionCreated, e.admin, nil, 200, &page)
	if types := eventTypes(page.Items); !slices.Equal(types, []string{promptd.EventVersionCreated}) {
		t.Errorf("type filter = %v", types)
	}
	var env webhook.Event
	if err := json.Unmarshal(page.Items[0].Payload, &env); err != nil {
		t.Fatal(err)
	}
	if env.Prompt == nil || env.Prompt.Name != "movie-critic" || env.Actor == nil || env.Actor.Name != "bootstrap" {
		t.Errorf("prompt-version.created payload = %s", page.Items[0].Payload)
	}

	future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	e.call("GET", "/api/v1/events?since="+future, e.admin, nil, 200, &page)
	if len(page.Items) != 0 {
		t.Errorf("since the future: %v", eventTypes(page.Items))
	}
	e.call("GET", "/api/v1/events?until="+url.QueryEscape(before.Format(time.RFC3339Nano)), e.admin, nil, 200, &page)
	if len(page.Items) != 0 {
		t.Errorf("until a minute ago: %v", eventTypes(page.Items))
	}
	e.call("GET", "/api/v1/events?since="+url.QueryEscape(before.Format(time.RFC3339)), e.admin, nil, 200, &page)
	if len(page.Items) != 3 {
		t.Errorf("since a minute ago: %v", eventTypes(page.Items))
	}

	e.call("GET", "/api/v1/events?limit=2", e.admin, nil, 200, &page)
	if len(page.Items) != 2 || page.NextCursor == "" {
		t.Fatalf("limit=2: %d items, nextCursor %q", len(page.Items), page.NextCursor)
	}
	e.call("GET", "/api/v1/events?limit=2&cursor="+page.NextCursor, e.admin, nil, 200, &page)
	if len(page.Items) != 1 || page.NextCursor != "" {
		t.Errorf("second page: %d items, nextCursor %q", len(page.Items), page.NextCursor)
	}

	var got promptd.Event
	e.call("GET", "/api/v1/events/"+custom.ID, e.admin, nil, 200, &got)
	if got.ID != custom.ID || string(got.Payload) != string(custom.Payload) {
		t.Errorf("GET event = %+v, want %+v", got, custom)
	}
	e.send(req{method: "GET", path: "/api/v1/events/" + promptd.NewEventID(), key: e.admin}).problem(t, 404)
}

func eventTypes(evs []promptd.Event) []string {
	out := []string{}
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}
