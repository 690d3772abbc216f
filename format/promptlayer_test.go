package format

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/promptd/promptd"
)

func TestPromptLayer(t *testing.T) {
	ch := func(f func(c *promptd.Changes)) *promptd.Changes {
		c := promptd.NoChanges()
		f(c)
		return c
	}
	v := func(n int, labels ...string) *promptd.Version { return version("Hello", n, labels, []string{}) }
	renamed := ch(func(c *promptd.Changes) { c.Name = &promptd.NameChange{From: "Old", To: "Hello"} })
	for _, c := range []struct {
		name string
		ev   *promptd.Event
		want string // the body's event_type and details; "" when not sent
	}{
		{"a new prompt", promptEvent(t, promptd.EventPromptCreated, v(1, "latest"), nil),
			`prompt_template_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":1}`},
		{"its first version", promptEvent(t, promptd.EventVersionCreated, v(1, "latest"), ch(func(c *promptd.Changes) { c.LabelsAdded = []string{"latest"} })), ""},
		{"a new version", promptEvent(t, promptd.EventVersionCreated, v(9, "latest"), ch(func(c *promptd.Changes) {
			c.LabelsAdded, c.LabelsMovedFrom = []string{"latest"}, map[string]int{"latest": 8}
		})), `prompt_template_version_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9}`},
		{"latest leaving the old version", promptEvent(t, promptd.EventVersionUpdated, v(8), ch(func(c *promptd.Changes) {
			c.LabelsRemoved, c.LabelsMovedTo = []string{"latest"}, map[string]int{"latest": 9}
		})), ""},
		{"prod arriving from 8", promptEvent(t, promptd.EventVersionUpdated, v(9, "latest", "prod"), ch(func(c *promptd.Changes) {
			c.LabelsAdded, c.LabelsMovedFrom = []string{"prod"}, map[string]int{"prod": 8}
		})), `prompt_template_label_moved {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"old_prompt_template_version_number":8,"prompt_template_label":"prod"}`},
		{"prod leaving 8 (the other half of the move)", promptEvent(t, promptd.EventVersionUpdated, v(8), ch(func(c *promptd.Changes) {
			c.LabelsRemoved, c.LabelsMovedTo = []string{"prod"}, map[string]int{"prod": 9}
		})), ""},
		{"a new label", promptEvent(t, promptd.EventVersionUpdated, v(9, "latest", "qa"), ch(func(c *promptd.Changes) { c.LabelsAdded = []string{"qa"} })),
			`prompt_template_label_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"prompt_template_label":"qa"}`},
		{"a label removed", promptEvent(t, promptd.EventVersionUpdated, v(9, "latest"), ch(func(c *promptd.Changes) { c.LabelsRemoved = []string{"qa"} })),
			`prompt_template_label_deleted {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"prompt_template_label":"qa"}`},
		{"a tag change", promptEvent(t, promptd.EventVersionUpdated, v(9, "latest"), ch(func(c *promptd.Changes) { c.TagsAdded = []string{"x"} })), ""},
		{"a rename", promptEvent(t, promptd.EventPromptRenamed, v(9, "latest"), renamed),
			`prompt_template_name_changed {"prompt_template_id":12,"prompt_template_name":"Hello","old_prompt_template_name":"Old"}`},
		{"a version deleted", promptEvent(t, promptd.EventVersionDeleted, v(3), promptd.NoChanges()), ""},
		{"the prompt deleted", promptEvent(t, promptd.EventPromptDeleted, v(9, "latest"), nil),
			`prompt_template_deleted {"prompt_template_id":12,"prompt_template_name":"Hello"}`},
		{"a custom event", dataEvent(t, "eval-run.completed", `{"score":0.5}`), `eval-run.completed {"score":0.5}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			wants := Wants(promptd.FormatPromptLayer, promptd.FormatOptions{}, c.ev)
			if wants != (c.want != "") {
				t.Fatalf("Wants = %v", wants)
			}
			if !wants {
				return
			}
			r, err := Render(job(c.ev, promptd.FormatPromptLayer, secret), t0)
			if err != nil {
				t.Fatal(err)
			}
			var b struct {
				EventType   string          `json:"event_type"`
				Details     json.RawMessage `json:"details"`
				UserID      *int            `json:"user_id"`
				WorkspaceID *int            `json:"workspace_id"`
				Timestamp   string          `json:"timestamp"`
			}
			if err := json.Unmarshal(r.Body, &b); err != nil {
				t.Fatal(err)
			}
			if got := b.EventType + " " + string(b.Details); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if !strings.HasPrefix(string(r.Body), `{"event_type":`) || !strings.Contains(string(r.Body), `"user_id":null,"workspace_id":null,"timestamp":"2026-12-02T20:30:00.123Z"}`) {
				t.Errorf("envelope %s", r.Body)
			}
			if r.Header.Get("webhook-signature") == "" {
				t.Error("no Standard Webhooks signature")
			}
		})
	}
}
