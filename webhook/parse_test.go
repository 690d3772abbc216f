package webhook_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/webhook"
)

// seedPayload is the first seed's sample payload, verbatim: receivers written against it
// must keep working.
const seedPayload = `{
  "id": "550e8400-e29b-41d4-a716-446655440000",
  "timestamp": "2024-07-10T10:30:00Z",
  "type": "prompt-version",
  "apiVersion": "v1",
  "action": "created",
  "prompt": {
    "id": "prompt_abc123",
    "name": "movie-critic",
    "version": 3,
    "projectId": "xyz789",
    "labels": ["production", "latest"],
    "prompt": "As a {{criticLevel}} movie critic, rate {{movie}} out of 10.",
    "type": "text",
    "config": { "model": "gpt-4o", "temperature": 0.7 },
    "commitMessage": "Improved critic persona",
    "tags": ["entertainment"],
    "createdAt": "2024-07-10T10:30:00Z",
    "updatedAt": "2024-07-10T10:30:00Z"
  }
}`

func TestParseSeedPayload(t *testing.T) {
	t.Parallel()
	ev, err := webhook.Parse([]byte(seedPayload))
	if err != nil {
		t.Fatal(err)
	}
	if ev.EventType() != webhook.EventVersionCreated || ev.ID != "550e8400-e29b-41d4-a716-446655440000" {
		t.Errorf("event = %s %s", ev.EventType(), ev.ID)
	}
	if !ev.Timestamp.Equal(time.Date(2024, 7, 10, 10, 30, 0, 0, time.UTC)) {
		t.Errorf("timestamp = %v", ev.Timestamp)
	}
	p := ev.Prompt
	if text, ok := p.Text(); !ok || text != "As a {{criticLevel}} movie critic, rate {{movie}} out of 10." {
		t.Errorf("Text() = %q, %v", text, ok)
	}
	if p.Name != "movie-critic" || p.Version != 3 || !p.HasLabel("production") || p.Tags[0] != "entertainment" || p.CommitMessage != "Improved critic persona" {
		t.Errorf("prompt = %+v", p)
	}
	var cfg struct {
		Model       string  `json:"model"`
		Temperature float64 `json:"temperature"`
	}
	if err := json.Unmarshal(p.Config, &cfg); err != nil || cfg.Model != "gpt-4o" || cfg.Temperature != 0.7 {
		t.Errorf("config = %+v, %v", cfg, err)
	}
	if ev.Changes != nil || ev.Actor != nil || ev.Data != nil {
		t.Errorf("the seed payload has no changes, actor or data: %+v", ev)
	}
	if err := ev.DecodeData(&struct{}{}); !errors.Is(err, webhook.ErrNoData) {
		t.Errorf("DecodeData on a prompt event = %v", err)
	}
}

// TestParseServerPayloads parses every event type of the spec as the server builds it
// (package promptd), so that the receiver side and the sender side cannot drift apart.
func TestParseServerPayloads(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 10, 30, 0, 123e6, time.UTC)
	text := &promptd.Version{
		ID: "ver_1", PromptID: "pr_1", ProjectID: "proj_1", Name: "customer-support/billing", Number: 3,
		Type: "text", Prompt: json.RawMessage(`"Hello {{name}} — ünïcödé <b>"`), Config: json.RawMessage(`{"model":"gpt-4o"}`),
		Labels: []string{"production", "latest"}, Tags: []string{"billing"}, CommitMessage: "tone",
		CreatedAt: now, UpdatedAt: now,
	}
	chat := *text
	chat.Type = "chat"
	chat.Prompt = json.RawMessage(`[{"role":"system","content":"You are terse."},{"role":"user","content":"{{q}}"}]`)
	actor := webhook.Actor{APIKeyID: "key_1", Name: "ci-bot"}
	moved := &webhook.Changes{LabelsAdded: []string{"production"}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{}}
	lost := &webhook.Changes{LabelsAdded: []string{}, LabelsRemoved: []string{"production"}, TagsAdded: []string{"x"}, TagsRemoved: []string{"y"}}
	renamed := &webhook.Changes{LabelsAdded: []string{}, LabelsRemoved: []string{}, TagsAdded: []string{}, TagsRemoved: []string{},
		Name: &webhook.NameChange{From: "billing", To: "customer-support/billing"}}

	type check func(t *testing.T, ev *webhook.Event)
	prompt := func(typ string, v *promptd.Version, ch *webhook.Changes, c check) func(*testing.T) (*promptd.Event, check) {
		return func(t *testing.T) (*promptd.Event, check) {
			ev, err := promptd.NewPromptEvent(typ, v, ch, actor, now)
			if err != nil {
				t.Fatal(err)
			}
			return ev, func(t *testing.T, got *webhook.Event) {
				if got.Prompt == nil || got.Prompt.Name != v.Name || got.Prompt.Version != v.Number || got.Actor == nil || *got.Actor != actor {
					t.Errorf("prompt/actor = %+v %+v", got.Prompt, got.Actor)
				}
				if !reflect.DeepEqual(got.Changes, ch) {
					t.Errorf("changes = %+v, want %+v", got.Changes, ch)
				}
				if c != nil {
					c(t, got)
				}
			}
		}
	}
	data := func(typ, payload string, c check) func(*testing.T) (*promptd.Event, check) {
		return func(t *testing.T) (*promptd.Event, check) {
			ev, err := promptd.NewDataEvent("proj_1", typ, json.RawMessage(payload), now)
			if err != nil {
				t.Fatal(err)
			}
			return ev, func(t *testing.T, got *webhook.Event) {
				if got.Prompt != nil || got.Changes != nil || got.IsPromptEvent() {
					t.Errorf("a data event with a prompt: %+v", got)
				}
				c(t, got)
			}
		}
	}
	tests := []struct {
		typ  string
		make func(*testing.T) (*promptd.Event, check)
	}{
		{webhook.EventVersionCreated, prompt(webhook.EventVersionCreated, text, moved, func(t *testing.T, ev *webhook.Event) {
			if s, ok := ev.Prompt.Text(); !ok || s != "Hello {{name}} — ünïcödé <b>" {
				t.Errorf("Text() = %q, %v", s, ok)
			}
			if _, ok := ev.Prompt.Messages(); ok {
				t.Error("a text prompt has messages")
			}
		})},
		{webhook.EventVersionCreated, prompt(webhook.EventVersionCreated, &chat, moved, func(t *testing.T, ev *webhook.Event) {
			msgs, ok := ev.Prompt.Messages()
			if !ok || len(msgs) != 2 || msgs[0] != (webhook.ChatMessage{Role: "system", Content: "You are terse."}) {
				t.Errorf("Messages() = %+v, %v", msgs, ok)
			}
			if _, ok := ev.Prompt.Text(); ok {
				t.Error("a chat prompt has text")
			}
		})},
		{webhook.EventVersionUpdated, prompt(webhook.EventVersionUpdated, text, moved, nil)},
		{webhook.EventVersionUpdated, prompt(webhook.EventVersionUpdated, text, lost, nil)},
		{webhook.EventVersionDeleted, prompt(webhook.EventVersionDeleted, text, nil, nil)},
		{webhook.EventPromptCreated, prompt(webhook.EventPromptCreated, text, nil, nil)},
		{webhook.EventPromptRenamed, prompt(webhook.EventPromptRenamed, text, renamed, func(t *testing.T, ev *webhook.Event) {
			if ev.Changes.Name.From != "billing" || ev.Changes.Name.To != ev.Prompt.Name {
				t.Errorf("rename = %+v", ev.Changes.Name)
			}
		})},
		{webhook.EventPromptDeleted, prompt(webhook.EventPromptDeleted, text, nil, nil)},
		{webhook.EventWebhookTest, data(webhook.EventWebhookTest, `{"webhookId":"wh_1","message":"hello"}`, func(t *testing.T, ev *webhook.Event) {
			var d struct{ WebhookID, Message string }
			if err := ev.DecodeData(&d); err != nil || d.WebhookID != "wh_1" || d.Message != "hello" {
				t.Errorf("DecodeData = %+v, %v", d, err)
			}
		})},
		{webhook.EventWebhookDisabled, data(webhook.EventWebhookDisabled, `{"webhookId":"wh_1","reason":"5 failed deliveries"}`, func(t *testing.T, ev *webhook.Event) {
			var d map[string]any
			if err := ev.DecodeData(&d); err != nil || d["reason"] != "5 failed deliveries" {
				t.Errorf("DecodeData = %+v, %v", d, err)
			}
		})},
		{"evaluation.run.completed", data("evaluation.run.completed", `{"score": 0.93, "prompt": "a/b"}`, func(t *testing.T, ev *webhook.Event) {
			if ev.Type != "evaluation.run" || ev.Action != "completed" {
				t.Errorf("type/action = %q/%q", ev.Type, ev.Action)
			}
			var d struct {
				Score  float64 `json:"score"`
				Prompt string  `json:"prompt"`
			}
			if err := ev.DecodeData(&d); err != nil || d.Score != 0.93 || d.Prompt != "a/b" {
				t.Errorf("DecodeData = %+v, %v", d, err)
			}
			var wrong []int
			if err := ev.DecodeData(&wrong); err == nil {
				t.Error("DecodeData into the wrong type succeeded")
			}
		})},
		{"deploy.done", data("deploy.done", ``, func(t *testing.T, ev *webhook.Event) {
			var d map[string]any
			if err := ev.DecodeData(&d); err != nil || len(d) != 0 {
				t.Errorf("DecodeData of empty data = %+v, %v", d, err)
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			sent, c := tt.make(t)
			got, err := webhook.Parse(sent.Payload)
			if err != nil {
				t.Fatalf("Parse(%s) = %v", sent.Payload, err)
			}
			if got.ID != sent.ID || got.EventType() != tt.typ || got.APIVersion != webhook.APIVersion || !got.Timestamp.Equal(now) {
				t.Errorf("envelope = %s %s %s %v", got.ID, got.EventType(), got.APIVersion, got.Timestamp)
			}
			c(t, got)
		})
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       error
	}{
		{"empty", ``, webhook.ErrInvalidPayload},
		{"not JSON", `hello`, webhook.ErrInvalidPayload},
		{"form", `a=1&b=2`, webhook.ErrInvalidPayload},
		{"array", `[{"apiVersion":"v1"}]`, webhook.ErrInvalidPayload},
		{"null", `null`, webhook.ErrInvalidPayload},
		{"truncated", `{"id":"1","apiVersion":"v1"`, webhook.ErrInvalidPayload},
		{"no apiVersion", `{"id":"1","type":"a","action":"b"}`, webhook.ErrUnsupportedAPIVersion},
		{"apiVersion v2", `{"id":"1","type":"a","action":"b","apiVersion":"v2","prompt":"a new shape"}`, webhook.ErrUnsupportedAPIVersion},
		{"apiVersion not a string", `{"apiVersion":1}`, webhook.ErrInvalidPayload},
		{"no id", `{"type":"a","action":"b","apiVersion":"v1"}`, webhook.ErrInvalidPayload},
		{"no action", `{"id":"1","type":"a","apiVersion":"v1"}`, webhook.ErrInvalidPayload},
		{"prompt event without prompt", `{"id":"1","type":"prompt-version","action":"created","apiVersion":"v1"}`, webhook.ErrInvalidPayload},
		{"version not a number", `{"id":"1","type":"prompt","action":"created","apiVersion":"v1","prompt":{"version":"3"}}`, webhook.ErrInvalidPayload},
		{"bad timestamp", `{"id":"1","type":"a","action":"b","apiVersion":"v1","timestamp":"yesterday"}`, webhook.ErrInvalidPayload},
	}
	for _, tt := range tests {
		ev, err := webhook.Parse([]byte(tt.body))
		if !errors.Is(err, tt.want) || ev != nil {
			t.Errorf("%s: Parse = %v, %v; want %v", tt.name, ev, err, tt.want)
		}
	}
	// Unknown fields are fine: a newer promptd may add some.
	if _, err := webhook.Parse([]byte(`{"id":"1","type":"a","action":"b","apiVersion":"v1","newField":{"x":1},"timestamp":null}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}
