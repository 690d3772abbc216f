package format

import (
	"encoding/json"
	"slices"
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

// TestPromptLayerOneEventPerLabel checks that a change of several labels on one version is
// one delivery per label (Targets), each rendered as that label's event with its own
// webhook-id, and that a change of one label stays one delivery without a target.
func TestPromptLayerOneEventPerLabel(t *testing.T) {
	c := promptd.NoChanges()
	c.LabelsAdded, c.LabelsMovedFrom = []string{"qa", "latest", "prod"}, map[string]int{"prod": 8, "latest": 8}
	c.LabelsRemoved, c.LabelsMovedTo = []string{"beta", "canary"}, map[string]int{"canary": 7}
	ev := promptEvent(t, promptd.EventVersionUpdated, version("Hello", 9, []string{"latest", "prod", "qa"}, []string{}), c)
	targets := Targets(promptd.FormatPromptLayer, promptd.FormatOptions{}, ev)
	if strings.Join(targets, " ") != "prod qa beta" {
		t.Fatalf("targets %q, want prod qa beta (added, sorted; then deleted; latest and the label that moved away left out)", targets)
	}
	want := map[string]string{
		"prod": `prompt_template_label_moved {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"old_prompt_template_version_number":8,"prompt_template_label":"prod"}`,
		"qa":   `prompt_template_label_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"prompt_template_label":"qa"}`,
		"beta": `prompt_template_label_deleted {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"prompt_template_label":"beta"}`,
		"":     `prompt_template_label_moved {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"old_prompt_template_version_number":8,"prompt_template_label":"prod"}`,
	}
	ids := map[string]bool{}
	for target, w := range want {
		got, r := renderPart(t, ev, target)
		if got != w {
			t.Errorf("target %q:\n got %s\nwant %s", target, got, w)
		}
		wantID := ev.ID
		if target != "" {
			wantID += ":" + target
		}
		if got := r.Header.Get("webhook-id"); got != wantID {
			t.Errorf("target %q: webhook-id %q, want %q", target, got, wantID)
		}
		ids[r.Header.Get("webhook-id")] = true
	}
	if len(ids) != len(want) {
		t.Errorf("webhook-ids %v are not one per part", ids)
	}

	one := promptd.NoChanges()
	one.LabelsAdded, one.LabelsMovedFrom = []string{"prod", "latest"}, map[string]int{"prod": 8, "latest": 8}
	single := promptEvent(t, promptd.EventVersionUpdated, version("Hello", 9, []string{"latest", "prod"}, []string{}), one)
	if got := Targets(promptd.FormatPromptLayer, promptd.FormatOptions{}, single); !slices.Equal(got, []string{""}) {
		t.Errorf("one label moved: targets %q, want one delivery without a target", got)
	}
	if got := Targets(promptd.FormatPromptLayer, promptd.FormatOptions{}, dataEvent(t, "deploy.done", `{}`)); !slices.Equal(got, []string{""}) {
		t.Errorf("a custom event: targets %q", got)
	}

	// A later version created with labels: version_created, then one event per label.
	created := promptd.NoChanges()
	created.LabelsAdded, created.LabelsMovedFrom = []string{"latest", "prod", "qa"}, map[string]int{"latest": 8, "prod": 3}
	newVersion := promptEvent(t, promptd.EventVersionCreated, version("Hello", 9, []string{"latest", "prod", "qa"}, []string{}), created)
	if got := Targets(promptd.FormatPromptLayer, promptd.FormatOptions{}, newVersion); !slices.Equal(got, []string{"", "prod", "qa"}) {
		t.Errorf("a version created with prod and qa: targets %q, want \"\", prod, qa", got)
	}
	for target, w := range map[string]string{
		"":     `prompt_template_version_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9}`,
		"prod": `prompt_template_label_moved {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"old_prompt_template_version_number":3,"prompt_template_label":"prod"}`,
		"qa":   `prompt_template_label_created {"prompt_template_id":12,"prompt_template_name":"Hello","prompt_template_version_number":9,"prompt_template_label":"qa"}`,
	} {
		if got, _ := renderPart(t, newVersion, target); got != w {
			t.Errorf("new version, target %q:\n got %s\nwant %s", target, got, w)
		}
	}
	first := promptEvent(t, promptd.EventVersionCreated, version("Hello", 1, []string{"latest", "prod"}, []string{}), created)
	if got := Targets(promptd.FormatPromptLayer, promptd.FormatOptions{}, first); got != nil {
		t.Errorf("a new prompt's first version: targets %q, want none (prompt_template_created alone)", got)
	}

	if got := Targets(promptd.FormatLangfuse, promptd.FormatOptions{}, ev); !slices.Equal(got, []string{""}) {
		t.Errorf("langfuse, the same event: targets %q, want one", got)
	}
	if got := Targets(promptd.FormatLangfuse, promptd.FormatOptions{}, dataEvent(t, "deploy.done", `{}`)); got != nil {
		t.Errorf("langfuse, a custom event: targets %q, want none", got)
	}
}

// renderPart renders the part target of ev in the promptlayer format and returns its
// event_type and details, and what Render made.
func renderPart(t *testing.T, ev *promptd.Event, target string) (string, *Rendered) {
	t.Helper()
	j := job(ev, promptd.FormatPromptLayer, secret)
	j.Target = target
	r, err := Render(j, t0)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		EventType string          `json:"event_type"`
		Details   json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatal(err)
	}
	return b.EventType + " " + string(b.Details), r
}
