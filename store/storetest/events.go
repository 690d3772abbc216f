package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func (su suite) testPublishEvent(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	tests := []struct {
		name     string
		in       promptd.PublishEventInput
		wantData string
		field    string // set: the call must fail with EINVALID naming it
	}{
		{"object", promptd.PublishEventInput{Type: "eval-run.completed", Data: json.RawMessage(`{ "score": 0.9, "tags": ["a"] }`)}, `{"score":0.9,"tags":["a"]}`, ""},
		{"nested type", promptd.PublishEventInput{Type: "ci.run.finished", Data: json.RawMessage(`[1, 2]`)}, `[1,2]`, ""},
		{"no data", promptd.PublishEventInput{Type: "approval.granted"}, `{}`, ""},
		{"html stays as sent", promptd.PublishEventInput{Type: "issue.opened", Data: json.RawMessage(`{"title":"<b>&</b>"}`)}, `{"title":"<b>&</b>"}`, ""},
		{"missing type", promptd.PublishEventInput{Data: json.RawMessage(`{}`)}, "", "body.type"},
		{"type without action", promptd.PublishEventInput{Type: "evaluation"}, "", "body.type"},
		{"uppercase type", promptd.PublishEventInput{Type: "Evaluation.Done"}, "", "body.type"},
		{"reserved prompt type", promptd.PublishEventInput{Type: "prompt.created"}, "", "body.type"},
		{"reserved webhook type", promptd.PublishEventInput{Type: "webhook.test"}, "", "body.type"},
		{"bad data", promptd.PublishEventInput{Type: "a.b", Data: json.RawMessage(`{"x":`)}, "", "body.data"},
	}
	for _, tc := range tests {
		ev, replayed, err := e.s.PublishEvent(ctx, e.project, tc.in)
		if tc.field != "" {
			wantErr(t, err, promptd.EINVALID, tc.field)
			e.expectNoEvents(t, tc.name)
			continue
		}
		if err != nil || replayed {
			t.Fatalf("%s: PublishEvent: replayed=%v, %v", tc.name, replayed, err)
		}
		checkEq(t, tc.name, "Type", ev.Type, tc.in.Type)
		checkEq(t, tc.name, "ProjectID", ev.ProjectID, e.project)
		checkEq(t, tc.name, "Timestamp", ev.Timestamp.Equal(e.clock.Now()), true)
		stored := e.newEvents(t)
		if len(stored) != 1 || stored[0].ID != ev.ID {
			t.Fatalf("%s: stored events %v, want just %s", tc.name, eventTypes(stored), ev.ID)
		}
		if string(stored[0].Payload) != string(ev.Payload) {
			t.Errorf("%s: stored payload differs:\n%s\n%s", tc.name, stored[0].Payload, ev.Payload)
		}
		env := decodePayload(t, tc.name, stored[0])
		if env == nil {
			continue
		}
		resource, action := promptd.SplitEventType(tc.in.Type)
		checkEq(t, tc.name, "type", env.Type, resource)
		checkEq(t, tc.name, "action", env.Action, action)
		checkEq(t, tc.name, "data", string(env.Data), tc.wantData)
		if env.Prompt != nil || env.Changes != nil || env.Actor != nil {
			t.Errorf("%s: a custom event carries prompt fields: %s", tc.name, stored[0].Payload)
		}
	}
	_, err := e.s.FindEvent(ctx, e.project, "0192f8a0-7c1e-7b3a-9f00-5c2d1e0a9b11")
	wantErr(t, err, promptd.ENOTFOUND, "")
	_, err = e.s.FindEvent(ctx, e.project, "not-an-id")
	wantErr(t, err, promptd.ENOTFOUND, "")
}

func (su suite) testPublishIdempotency(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	publish := func(typ, data, key string) (*promptd.Event, bool, error) {
		return e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: typ, Data: json.RawMessage(data), IdempotencyKey: key})
	}
	first, replayed, err := publish("eval-run.completed", `{"score":0.9}`, "k1")
	if err != nil || replayed {
		t.Fatalf("first publish: replayed=%v, %v", replayed, err)
	}

	e.clock.Advance(time.Hour)
	again, replayed, err := publish("eval-run.completed", `{ "score": 0.9 }`, "k1")
	if err != nil || !replayed {
		t.Fatalf("replay: replayed=%v, %v", replayed, err)
	}
	if again.ID != first.ID || string(again.Payload) != string(first.Payload) || !again.Timestamp.Equal(first.Timestamp) {
		t.Errorf("the replay returned another event: %s, want %s", again.Payload, first.Payload)
	}

	_, _, err = publish("eval-run.completed", `{"score":0.1}`, "k1")
	wantErr(t, err, promptd.ECONFLICT, "", "k1", "different request")
	_, _, err = publish("eval-run.failed", `{"score":0.9}`, "k1")
	wantErr(t, err, promptd.ECONFLICT, "", "k1")

	// The orderingKey is part of the request: a replay with another one is a conflict.
	withKey := func(key, orderingKey string) (*promptd.Event, bool, error) {
		return e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: "eval-run.completed", Data: json.RawMessage(`{"score":0.9}`),
			IdempotencyKey: key, OrderingKey: orderingKey})
	}
	_, _, err = withKey("k1", "prompt-1")
	wantErr(t, err, promptd.ECONFLICT, "", "k1", "different request")
	ordered, replayed, err := withKey("k3", "prompt-1")
	if err != nil || replayed {
		t.Fatalf("publish with an orderingKey: replayed=%v, %v", replayed, err)
	}
	if again, replayed, err := withKey("k3", "prompt-1"); err != nil || !replayed || again.ID != ordered.ID {
		t.Errorf("replay with the same orderingKey: %v, replayed=%v, %v; want %s", again, replayed, err, ordered.ID)
	}
	_, _, err = withKey("k3", "prompt-2")
	wantErr(t, err, promptd.ECONFLICT, "", "k3", "different request")
	_, _, err = withKey("k3", "")
	wantErr(t, err, promptd.ECONFLICT, "", "k3", "different request")

	other, replayed, err := publish("eval-run.completed", `{"score":0.9}`, "k2")
	if err != nil || replayed || other.ID == first.ID {
		t.Errorf("another key: %v, replayed=%v, %v", other, replayed, err)
	}
	a, _, err1 := publish("eval-run.completed", `{"score":0.9}`, "")
	b, _, err2 := publish("eval-run.completed", `{"score":0.9}`, "")
	if err1 != nil || err2 != nil || a.ID == b.ID {
		t.Errorf("without a key every publish is new: %v %v", err1, err2)
	}
	if got := len(e.newEvents(t)); got != 5 {
		t.Errorf("%d events stored, want 5 (k1, k3, k2 and two without key)", got)
	}

	// The same key in another project is another key.
	p2, err := e.s.CreateProject(ctx, "second")
	if err != nil {
		t.Fatal(err)
	}
	ev, replayed, err := e.s.PublishEvent(ctx, p2.ID, promptd.PublishEventInput{Type: "eval-run.completed", Data: json.RawMessage(`{"score":0.1}`), IdempotencyKey: "k1"})
	if err != nil || replayed || ev.ProjectID != p2.ID {
		t.Errorf("k1 in another project: %v, replayed=%v, %v", ev, replayed, err)
	}

	// After the window, a key may name a new request.
	e.clock.Advance(promptd.IdempotencyWindow)
	renewed, replayed, err := publish("eval-run.completed", `{"score":0.5}`, "k1")
	if err != nil || replayed || renewed.ID == first.ID {
		t.Fatalf("k1 after the window: %v, replayed=%v, %v", renewed, replayed, err)
	}
	again, replayed, err = publish("eval-run.completed", `{"score":0.5}`, "k1")
	if err != nil || !replayed || again.ID != renewed.ID {
		t.Errorf("replay of the renewed key: %v, replayed=%v, %v; want %s", again, replayed, err, renewed.ID)
	}
	_, _, err = publish("eval-run.completed", `{"score":0.9}`, "k1")
	wantErr(t, err, promptd.ECONFLICT, "")
	if got := len(e.newEvents(t)); got != 1 {
		t.Errorf("%d new events after the window, want 1", got)
	}
	// The first event is still in the log.
	if _, err := e.s.FindEvent(ctx, e.project, first.ID); err != nil {
		t.Errorf("FindEvent(first): %v", err)
	}
}

func (su suite) testListEvents(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	var ids []string // oldest first
	times := []time.Time{}
	for i := 0; i < 6; i++ {
		typ := "build.started"
		if i%2 == 1 {
			typ = "build.finished"
		}
		ev, _, err := e.s.PublishEvent(ctx, e.project, promptd.PublishEventInput{Type: typ})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
		times = append(times, e.clock.Now())
		e.clock.Advance(time.Minute)
	}
	list := func(f promptd.EventFilter) []string {
		t.Helper()
		var got []string
		for i := 0; i < 10; i++ {
			page, err := e.s.ListEvents(ctx, e.project, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page.Items {
				got = append(got, ev.ID)
			}
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
		if got == nil {
			got = []string{}
		}
		return got
	}
	rev := func(ids ...string) []string {
		out := []string{}
		for i := len(ids) - 1; i >= 0; i-- {
			out = append(out, ids[i])
		}
		return out
	}
	page := func(limit int) promptd.PageRequest { return promptd.PageRequest{Limit: limit} }
	tests := []struct {
		name string
		f    promptd.EventFilter
		want []string
	}{
		{"all, newest first", promptd.EventFilter{}, rev(ids...)},
		{"pages of 4", promptd.EventFilter{PageRequest: page(4)}, rev(ids...)},
		{"pages of 1", promptd.EventFilter{PageRequest: page(1)}, rev(ids...)},
		{"type", promptd.EventFilter{Type: "build.finished"}, rev(ids[1], ids[3], ids[5])},
		{"type, pages of 2", promptd.EventFilter{Type: "build.started", PageRequest: page(2)}, rev(ids[0], ids[2], ids[4])},
		{"since (inclusive)", promptd.EventFilter{Since: times[3]}, rev(ids[3:]...)},
		{"until (exclusive)", promptd.EventFilter{Until: times[3]}, rev(ids[:3]...)},
		{"since and until", promptd.EventFilter{Since: times[1], Until: times[4], PageRequest: page(2)}, rev(ids[1:4]...)},
		{"type and since", promptd.EventFilter{Type: "build.started", Since: times[1]}, rev(ids[2], ids[4])},
		{"unknown type", promptd.EventFilter{Type: "nothing.here"}, []string{}},
	}
	for _, tc := range tests {
		checkJSON(t, tc.name, "ids", list(tc.f), tc.want)
	}
	_, err := e.s.ListEvents(ctx, e.project, promptd.EventFilter{PageRequest: promptd.PageRequest{Cursor: "%%%"}})
	wantErr(t, err, promptd.EINVALID, "query.cursor")
	_, err = e.s.ListEvents(ctx, e.project, promptd.EventFilter{PageRequest: promptd.PageRequest{Limit: -5}})
	wantErr(t, err, promptd.EINVALID, "query.limit")
}
