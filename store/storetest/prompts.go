package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func (su suite) testCreateVersion(t *testing.T) {
	tests := []struct {
		name       string
		in         promptd.CreateVersionInput
		wantType   promptd.PromptType
		wantPrompt string
		wantConfig string
		wantLabels []string
		wantTags   []string
	}{
		{
			name: "text",
			in: promptd.CreateVersionInput{
				Name: "movie-critic", Type: promptd.TextPrompt,
				Prompt:        json.RawMessage(`"As a {{criticLevel}} movie critic, rate {{movie}} out of 10."`),
				Config:        json.RawMessage(`{ "model": "gpt-4o",  "temperature": 0.7 }`),
				Labels:        []string{"production", "production"},
				Tags:          []string{"entertainment", "critics", "entertainment"},
				CommitMessage: "Improved critic persona",
			},
			wantType:   promptd.TextPrompt,
			wantPrompt: `"As a {{criticLevel}} movie critic, rate {{movie}} out of 10."`,
			wantConfig: `{"model":"gpt-4o","temperature":0.7}`,
			wantLabels: list("latest", "production"),
			wantTags:   list("critics", "entertainment"),
		},
		{
			name: "chat",
			in: promptd.CreateVersionInput{
				Name: "support/chat", Type: promptd.ChatPrompt,
				Prompt: json.RawMessage(`[ {"role": "system", "content": "Be kind."},
					{"content": "{{question}}", "role": "user"} ]`),
			},
			wantType:   promptd.ChatPrompt,
			wantPrompt: `[{"role":"system","content":"Be kind."},{"role":"user","content":"{{question}}"}]`,
			wantConfig: `{}`,
			wantLabels: list("latest"),
			wantTags:   list(),
		},
		{
			name:       "type defaults to text",
			in:         promptd.CreateVersionInput{Name: "plain", Prompt: json.RawMessage(`"hi"`), Config: json.RawMessage(`null`)},
			wantType:   promptd.TextPrompt,
			wantPrompt: `"hi"`,
			wantConfig: `{}`,
			wantLabels: list("latest"),
			wantTags:   list(),
		},
		{
			name: "already normalized input",
			in: func() promptd.CreateVersionInput {
				in := promptd.CreateVersionInput{Name: "twice", Prompt: json.RawMessage(` "x" `), Labels: []string{"b", "a"}}
				if err := in.Normalize(); err != nil {
					panic(err)
				}
				return in
			}(),
			wantType:   promptd.TextPrompt,
			wantPrompt: `"x"`,
			wantConfig: `{}`,
			wantLabels: list("a", "b", "latest"),
			wantTags:   list(),
		},
	}
	e := su.env(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := e.createInput(t, tc.in)
			checkEq(t, tc.name, "Name", v.Name, tc.in.Name)
			checkEq(t, tc.name, "Number", v.Number, 1)
			checkEq(t, tc.name, "ProjectID", v.ProjectID, e.project)
			checkEq(t, tc.name, "Type", v.Type, tc.wantType)
			checkEq(t, tc.name, "Prompt", string(v.Prompt), tc.wantPrompt)
			checkEq(t, tc.name, "Config", string(v.Config), tc.wantConfig)
			checkJSON(t, tc.name, "Labels", v.Labels, tc.wantLabels)
			checkJSON(t, tc.name, "Tags", v.Tags, tc.wantTags)
			checkEq(t, tc.name, "CommitMessage", v.CommitMessage, tc.in.CommitMessage)
			checkEq(t, tc.name, "CreatedBy", v.CreatedBy, e.actor)
			checkEq(t, tc.name, "CreatedAt", v.CreatedAt.Equal(clockStart), true)
			checkEq(t, tc.name, "UpdatedAt", v.UpdatedAt.Equal(clockStart), true)
			if v.ID == "" || v.PromptID == "" || v.ID == v.PromptID {
				t.Errorf("ids: version %q, prompt %q", v.ID, v.PromptID)
			}

			got, err := e.s.FindVersion(t.Context(), e.project, tc.in.Name, promptd.VersionSelector{Version: 1})
			if err != nil {
				t.Fatalf("FindVersion: %v", err)
			}
			checkJSON(t, tc.name, "FindVersion", got, v)

			p := e.prompt(t, tc.in.Name)
			checkEq(t, tc.name, "Prompt.ID", p.ID, v.PromptID)
			checkEq(t, tc.name, "Prompt.LatestVersion", p.LatestVersion, 1)
			checkEq(t, tc.name, "Prompt.VersionCount", p.VersionCount, 1)
			checkJSON(t, tc.name, "Prompt.Tags", p.Tags, tc.wantTags)
			wantLabels := map[string]int{}
			for _, l := range tc.wantLabels {
				wantLabels[l] = 1
			}
			checkJSON(t, tc.name, "Prompt.Labels", p.Labels, wantLabels)
		})
	}

	// A second version of "movie-critic" without tags keeps the prompt's tags.
	v2 := e.create(t, "movie-critic", "v2")
	checkJSON(t, "second version", "Tags", v2.Tags, list("critics", "entertainment"))
	checkEq(t, "second version", "Number", v2.Number, 2)
	checkEq(t, "second version", "PromptID", v2.PromptID, e.prompt(t, "movie-critic").ID)
}

// testConfigCarriedOver checks that a version created without a config (nil or null) gets
// its prompt's latest version's config, like tags, and that an explicit {} clears it.
func (su suite) testConfigCarriedOver(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	cfg := `{"model":"gpt-4o","temperature":0.7}`
	steps := []struct {
		config json.RawMessage
		want   string
	}{
		{nil, `{}`}, // a new prompt without config
		{json.RawMessage(cfg), cfg},
		{nil, cfg},
		{json.RawMessage(`null`), cfg},
		{json.RawMessage(` { } `), `{}`},
		{nil, `{}`},
		{json.RawMessage(`{"model":"small"}`), `{"model":"small"}`},
	}
	for i, st := range steps {
		in := promptd.CreateVersionInput{Name: "carry", Prompt: text(fmt.Sprint("v", i+1)), Config: st.config}
		if err := in.Normalize(); err != nil {
			t.Fatal(err)
		}
		v := e.createInput(t, in)
		if string(v.Config) != st.want {
			t.Errorf("v%d (config %s): config = %s, want %s", v.Number, st.config, v.Config, st.want)
		}
		got, err := e.s.FindVersion(ctx, e.project, "carry", promptd.VersionSelector{Version: v.Number})
		if err != nil || string(got.Config) != st.want {
			t.Errorf("v%d as stored: %s, %v, want %s", v.Number, got.Config, err, st.want)
		}
	}
	// The latest version that still exists is the one carried over.
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "carry", len(steps)); err != nil {
		t.Fatal(err)
	}
	if v := e.createInput(t, promptd.CreateVersionInput{Name: "carry", Prompt: text("after delete")}); string(v.Config) != `{}` {
		t.Errorf("after deleting v%d: config = %s, want v%d's {}", len(steps), v.Config, len(steps)-1)
	}
}

func (su suite) testCreateVersionInvalid(t *testing.T) {
	tests := []struct {
		name  string
		in    promptd.CreateVersionInput
		field string
	}{
		{"no name", promptd.CreateVersionInput{Prompt: text("x")}, "body.name"},
		{"empty segment", promptd.CreateVersionInput{Name: "a//b", Prompt: text("x")}, "body.name"},
		{"dot-dot segment", promptd.CreateVersionInput{Name: "a/../b", Prompt: text("x")}, "body.name"},
		{"bad character", promptd.CreateVersionInput{Name: "a b", Prompt: text("x")}, "body.name"},
		{"bad type", promptd.CreateVersionInput{Name: "p", Type: "image", Prompt: text("x")}, "body.type"},
		{"no prompt", promptd.CreateVersionInput{Name: "p"}, "body.prompt"},
		{"text prompt not a string", promptd.CreateVersionInput{Name: "p", Prompt: json.RawMessage(`42`)}, "body.prompt"},
		{"empty chat", promptd.CreateVersionInput{Name: "p", Type: promptd.ChatPrompt, Prompt: json.RawMessage(`[]`)}, "body.prompt"},
		{"chat without role", promptd.CreateVersionInput{Name: "p", Type: promptd.ChatPrompt, Prompt: json.RawMessage(`[{"content":"x"}]`)}, "body.prompt[0].role"},
		{"config not an object", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Config: json.RawMessage(`[1]`)}, "body.config"},
		{"bad label", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Labels: []string{"no spaces"}}, "body.labels"},
		{"bad tag", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Tags: []string{" padded"}}, "body.tags"},
		// NUL: PostgreSQL cannot store it in text or jsonb, so no store takes it.
		{"NUL in text", promptd.CreateVersionInput{Name: "p", Prompt: json.RawMessage(`"a\u0000b"`)}, "body.prompt"},
		{"NUL in chat", promptd.CreateVersionInput{Name: "p", Type: promptd.ChatPrompt, Prompt: json.RawMessage(`[{"role":"user","content":"a\u0000"}]`)}, "body.prompt[0].content"},
		{"NUL in config", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Config: json.RawMessage(`{"stop":"\u0000"}`)}, "body.config"},
		{"NUL in commit message", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), CommitMessage: "a\x00b"}, "body.commitMessage"},
		{"invalid UTF-8 in config", promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Config: json.RawMessage("{\"a\":\"\xff\"}")}, "body.config"},
	}
	e := su.env(t)
	e.create(t, "existing", "v1")
	e.newEvents(t)
	for _, tc := range tests {
		_, err := e.s.CreateVersion(t.Context(), e.project, e.actor, tc.in)
		wantErr(t, err, promptd.EINVALID, tc.field)
		e.expectNoEvents(t, tc.name)
	}
	// A bad version of an existing prompt leaves it as it was.
	_, err := e.s.CreateVersion(t.Context(), e.project, e.actor, promptd.CreateVersionInput{Name: "existing", Prompt: json.RawMessage(`{}`)})
	wantErr(t, err, promptd.EINVALID, "body.prompt")
	if p := e.prompt(t, "existing"); p.VersionCount != 1 || p.LatestVersion != 1 {
		t.Errorf("after a failed create: %d versions, latest %d; want 1, 1", p.VersionCount, p.LatestVersion)
	}
	page, err := e.s.ListPrompts(t.Context(), e.project, promptd.PromptFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 {
		t.Errorf("failed creates left prompts behind: %d prompts", len(page.Items))
	}
	e.expectNoEvents(t, "a bad version of an existing prompt")
}

func (su suite) testVersionNumbersNeverReused(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	for i := 1; i <= 3; i++ {
		if v := e.create(t, "p", fmt.Sprint("v", i)); v.Number != i {
			t.Fatalf("version %d got number %d", i, v.Number)
		}
	}
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", 3); err != nil {
		t.Fatal(err)
	}
	if p := e.prompt(t, "p"); p.LatestVersion != 2 {
		t.Errorf("after deleting 3: latest is %d, want 2", p.LatestVersion)
	}
	if v := e.create(t, "p", "v4"); v.Number != 4 {
		t.Errorf("after deleting 3, the next version got number %d, want 4", v.Number)
	}
	for _, n := range []int{4, 2} {
		if err := e.s.DeleteVersion(ctx, e.project, e.actor, "p", n); err != nil {
			t.Fatal(err)
		}
	}
	if v := e.create(t, "p", "v5"); v.Number != 5 {
		t.Errorf("after deleting 4 and 2, the next version got number %d, want 5", v.Number)
	}
	page, err := e.s.ListVersions(ctx, e.project, "p", promptd.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int
	for _, v := range page.Items {
		numbers = append(numbers, v.Number)
	}
	checkJSON(t, "ListVersions", "numbers", numbers, []int{5, 1})
	p := e.prompt(t, "p")
	checkEq(t, "prompt", "LatestVersion", p.LatestVersion, 5)
	checkEq(t, "prompt", "VersionCount", p.VersionCount, 2)
	// A deleted number stays deleted.
	_, err = e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Version: 3})
	wantErr(t, err, promptd.ENOTFOUND, "", `prompt "p" has no version 3`)
	wantErr(t, e.s.DeleteVersion(ctx, e.project, e.actor, "p", 3), promptd.ENOTFOUND, "")
}

// testLifecycleEvents walks one prompt through its life and checks the exact events of every
// call, with their changes.
func (su suite) testLifecycleEvents(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	const name = "movie-critic"

	// 1. The first version creates the prompt.
	t1 := e.clock.Now()
	v1 := e.createInput(t, promptd.CreateVersionInput{Name: name, Prompt: text("v1"), Tags: []string{"entertainment"}, CommitMessage: "first"})
	pid := v1.PromptID
	e.checkPromptEvents(t, "first create", e.newEvents(t), []wantEvent{
		{Type: promptd.EventPromptCreated, VersionID: v1.ID, Name: name, Version: 1, Labels: list("latest"), Tags: list("entertainment"), UpdatedAt: t1},
		{Type: promptd.EventVersionCreated, VersionID: v1.ID, Name: name, Version: 1, Labels: list("latest"), Tags: list("entertainment"),
			Changes: changes(list("latest"), nil, list("entertainment"), nil), UpdatedAt: t1},
	})

	// 2. A second version with production: v1 loses latest.
	t2 := e.clock.Advance(time.Minute)
	v2 := e.create(t, name, "v2", "production")
	checkJSON(t, "second create", "labels", v2.Labels, list("latest", "production"))
	e.checkPromptEvents(t, "second create", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionCreated, VersionID: v2.ID, Name: name, Version: 2, Labels: list("latest", "production"), Tags: list("entertainment"),
			Changes: changes(list("latest", "production"), nil, nil, nil), UpdatedAt: t2},
		{Type: promptd.EventVersionUpdated, VersionID: v1.ID, Name: name, Version: 1, Labels: list(), Tags: list("entertainment"),
			Changes: changes(nil, list("latest"), nil, nil), UpdatedAt: t2},
	})

	// 3. Moving production back to v1 (with staging): two events, gainer and loser.
	t3 := e.clock.Advance(time.Minute)
	got := e.setLabels(t, name, 1, "staging", "production")
	checkJSON(t, "SetLabels", "labels", got.Labels, list("production", "staging"))
	checkEq(t, "SetLabels", "UpdatedAt", got.UpdatedAt.Equal(t3), true)
	e.checkPromptEvents(t, "SetLabels", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionUpdated, VersionID: v1.ID, Name: name, Version: 1, Labels: list("production", "staging"), Tags: list("entertainment"),
			Changes: changes(list("production", "staging"), nil, nil, nil), UpdatedAt: t3},
		{Type: promptd.EventVersionUpdated, VersionID: v2.ID, Name: name, Version: 2, Labels: list("latest"), Tags: list("entertainment"),
			Changes: changes(nil, list("production"), nil, nil), UpdatedAt: t3},
	})
	if p := e.prompt(t, name); !p.UpdatedAt.Equal(t3) {
		t.Errorf("prompt updatedAt %v, want %v", p.UpdatedAt, t3)
	}

	// 4. A third version that replaces the tags: every labelled version hears of it.
	t4 := e.clock.Advance(time.Minute)
	v3 := e.createInput(t, promptd.CreateVersionInput{Name: name, Prompt: text("v3"), Tags: []string{"movies", "entertainment"}})
	e.checkPromptEvents(t, "create with new tags", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionCreated, VersionID: v3.ID, Name: name, Version: 3, Labels: list("latest"), Tags: list("entertainment", "movies"),
			Changes: changes(list("latest"), nil, list("movies"), nil), UpdatedAt: t4},
		{Type: promptd.EventVersionUpdated, VersionID: v1.ID, Name: name, Version: 1, Labels: list("production", "staging"), Tags: list("entertainment", "movies"),
			Changes: changes(nil, nil, list("movies"), nil), UpdatedAt: t4},
		{Type: promptd.EventVersionUpdated, VersionID: v2.ID, Name: name, Version: 2, Labels: list(), Tags: list("entertainment", "movies"),
			Changes: changes(nil, list("latest"), list("movies"), nil), UpdatedAt: t4},
	})

	// 5. Replacing the tags: one updated event per labelled version (v2 has none now).
	t5 := e.clock.Advance(time.Minute)
	tags := []string{"movies"}
	p, err := e.s.UpdatePrompt(ctx, e.project, e.actor, name, promptd.PromptUpdate{Tags: &tags})
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "UpdatePrompt tags", "Tags", p.Tags, list("movies"))
	checkEq(t, "UpdatePrompt tags", "UpdatedAt", p.UpdatedAt.Equal(t5), true)
	e.checkPromptEvents(t, "UpdatePrompt tags", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionUpdated, VersionID: v1.ID, Name: name, Version: 1, Labels: list("production", "staging"), Tags: list("movies"),
			Changes: changes(nil, nil, nil, list("entertainment")), UpdatedAt: t5},
		{Type: promptd.EventVersionUpdated, VersionID: v3.ID, Name: name, Version: 3, Labels: list("latest"), Tags: list("movies"),
			Changes: changes(nil, nil, nil, list("entertainment")), UpdatedAt: t5},
	})

	// 6. A rename: prompt.renamed about the latest version, with the new name.
	e.create(t, "other", "x")
	e.newEvents(t)
	taken := "other"
	_, err = e.s.UpdatePrompt(ctx, e.project, e.actor, name, promptd.PromptUpdate{Name: &taken})
	wantErr(t, err, promptd.ECONFLICT, "", `"other"`)
	e.expectNoEvents(t, "a rename to a taken name")

	t6 := e.clock.Advance(time.Minute)
	newName := "critics/movie-critic"
	p, err = e.s.UpdatePrompt(ctx, e.project, e.actor, name, promptd.PromptUpdate{Name: &newName})
	if err != nil {
		t.Fatal(err)
	}
	checkEq(t, "rename", "Name", p.Name, newName)
	checkEq(t, "rename", "ID", p.ID, pid)
	renamed := changes(nil, nil, nil, nil)
	renamed.Name = &promptd.NameChange{From: name, To: newName}
	e.checkPromptEvents(t, "rename", e.newEvents(t), []wantEvent{
		{Type: promptd.EventPromptRenamed, VersionID: v3.ID, Name: newName, Version: 3, Labels: list("latest"), Tags: list("movies"),
			Changes: renamed, UpdatedAt: t5},
	})
	_, err = e.s.FindPrompt(ctx, e.project, name)
	wantErr(t, err, promptd.ENOTFOUND, "", name)
	if p := e.prompt(t, newName); !p.UpdatedAt.Equal(t6) || p.VersionCount != 3 {
		t.Errorf("renamed prompt: updatedAt %v, %d versions; want %v, 3", p.UpdatedAt, p.VersionCount, t6)
	}

	// 7. Deleting the latest version: latest moves to the highest remaining one.
	t7 := e.clock.Advance(time.Minute)
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, newName, 3); err != nil {
		t.Fatal(err)
	}
	e.checkPromptEvents(t, "delete latest", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionDeleted, VersionID: v3.ID, Name: newName, Version: 3, Labels: list("latest"), Tags: list("movies"),
			Changes: changes(nil, nil, nil, nil), UpdatedAt: t5},
		{Type: promptd.EventVersionUpdated, VersionID: v2.ID, Name: newName, Version: 2, Labels: list("latest"), Tags: list("movies"),
			Changes: changes(list("latest"), nil, nil, nil), UpdatedAt: t7},
	})
	p = e.prompt(t, newName)
	checkEq(t, "after delete", "LatestVersion", p.LatestVersion, 2)
	checkJSON(t, "after delete", "Labels", p.Labels, map[string]int{"latest": 2, "production": 1, "staging": 1})

	// 8. Deleting the prompt: one deleted event per version, ascending, then prompt.deleted.
	e.clock.Advance(time.Minute)
	if err := e.s.DeletePrompt(ctx, e.project, e.actor, newName); err != nil {
		t.Fatal(err)
	}
	e.checkPromptEvents(t, "delete prompt", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionDeleted, VersionID: v1.ID, Name: newName, Version: 1, Labels: list("production", "staging"), Tags: list("movies"),
			Changes: changes(nil, nil, nil, nil), UpdatedAt: t5},
		{Type: promptd.EventVersionDeleted, VersionID: v2.ID, Name: newName, Version: 2, Labels: list("latest"), Tags: list("movies"),
			Changes: changes(nil, nil, nil, nil), UpdatedAt: t7},
		{Type: promptd.EventPromptDeleted, VersionID: v2.ID, Name: newName, Version: 2, Labels: list("latest"), Tags: list("movies"), UpdatedAt: t7},
	})
	_, err = e.s.FindPrompt(ctx, e.project, newName)
	wantErr(t, err, promptd.ENOTFOUND, "")
	wantErr(t, e.s.DeletePrompt(ctx, e.project, e.actor, newName), promptd.ENOTFOUND, "")
	e.expectNoEvents(t, "deleting a deleted prompt")

	// 9. Deleting the only version of a prompt deletes the prompt.
	t9 := e.clock.Advance(time.Minute)
	other, err := e.s.FindVersion(ctx, e.project, "other", promptd.VersionSelector{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeleteVersion(ctx, e.project, e.actor, "other", 1); err != nil {
		t.Fatal(err)
	}
	e.checkPromptEvents(t, "delete last version", e.newEvents(t), []wantEvent{
		{Type: promptd.EventVersionDeleted, VersionID: other.ID, Name: "other", Version: 1, Labels: list("latest"), Tags: list(),
			Changes: changes(nil, nil, nil, nil), UpdatedAt: t5},
		{Type: promptd.EventPromptDeleted, VersionID: other.ID, Name: "other", Version: 1, Labels: list("latest"), Tags: list(), UpdatedAt: t5},
	})
	_ = t9
	_, err = e.s.FindPrompt(ctx, e.project, "other")
	wantErr(t, err, promptd.ENOTFOUND, "", `"other"`)
	page, err := e.s.ListPrompts(ctx, e.project, promptd.PromptFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 0 {
		t.Errorf("prompts left after deleting all: %d", len(page.Items))
	}

	// A new prompt of the deleted name starts again at 1.
	if v := e.create(t, "other", "again"); v.Number != 1 {
		t.Errorf("a re-created prompt starts at version %d, want 1", v.Number)
	}

	// Every event is found by id with the same bytes.
	for _, ev := range allEvents(t, e.s, e.project) {
		got, err := e.s.FindEvent(ctx, e.project, ev.ID)
		if err != nil {
			t.Fatalf("FindEvent(%s): %v", ev.ID, err)
		}
		if string(got.Payload) != string(ev.Payload) || got.Type != ev.Type || !got.Timestamp.Equal(ev.Timestamp) {
			t.Errorf("FindEvent(%s) differs from ListEvents:\n%s\n%s", ev.ID, got.Payload, ev.Payload)
		}
	}
}

// testManyVersions checks calls that emit one event per version of a prompt.
func (su suite) testManyVersions(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	const n = 6
	var ids []string
	for i := 1; i <= n; i++ {
		ids = append(ids, e.create(t, "p", fmt.Sprint("v", i), fmt.Sprint("l", i)).ID)
	}
	e.newEvents(t)

	tags := []string{"t"}
	if _, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Tags: &tags}); err != nil {
		t.Fatal(err)
	}
	var want []wantEvent
	for i := 1; i <= n; i++ {
		labels := list(fmt.Sprint("l", i))
		if i == n {
			labels = list(fmt.Sprint("l", i), "latest")
		}
		want = append(want, wantEvent{Type: promptd.EventVersionUpdated, VersionID: ids[i-1], Name: "p", Version: i,
			Labels: labels, Tags: list("t"), Changes: changes(nil, nil, list("t"), nil), UpdatedAt: e.clock.Now()})
	}
	e.checkPromptEvents(t, "tags of a prompt with many labelled versions", e.newEvents(t), want)

	if err := e.s.DeletePrompt(ctx, e.project, e.actor, "p"); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].Type, want[i].Changes = promptd.EventVersionDeleted, changes(nil, nil, nil, nil)
	}
	last := want[n-1]
	last.Type, last.Changes = promptd.EventPromptDeleted, nil
	e.checkPromptEvents(t, "delete a prompt with many versions", e.newEvents(t), append(want, last))
}

func (su suite) testNoOps(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.createInput(t, promptd.CreateVersionInput{Name: "p", Prompt: text("v1"), Tags: []string{"a", "b"}})
	e.create(t, "p", "v2", "production")
	e.newEvents(t)
	before := e.prompt(t, "p")
	v2, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)

	got := e.setLabels(t, "p", 2, "production")
	checkJSON(t, "same labels", "version", got, v2)
	e.expectNoEvents(t, "setting the labels a version has")
	got = e.setLabels(t, "p", 2, "production", "latest") // listing latest where it is: allowed
	checkJSON(t, "same labels with latest", "version", got, v2)
	e.expectNoEvents(t, "setting the labels a version has, with latest")

	sameTags := []string{"b", "a", "b"}
	sameName := "p"
	for _, upd := range []promptd.PromptUpdate{{}, {Tags: &sameTags}, {Name: &sameName}, {Name: &sameName, Tags: &sameTags}} {
		p, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", upd)
		if err != nil {
			t.Fatal(err)
		}
		checkJSON(t, "no-op update", "prompt", p, before)
		e.expectNoEvents(t, "an update that changes nothing")
	}
	checkJSON(t, "after no-ops", "prompt", e.prompt(t, "p"), before)
	after, err := e.s.FindVersion(ctx, e.project, "p", promptd.VersionSelector{Version: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "after no-ops", "version", after, v2)
}

// testFailedChanges checks that a call that fails changes nothing and emits nothing.
func (su suite) testFailedChanges(t *testing.T) {
	e := su.env(t)
	ctx := t.Context()
	e.createInput(t, promptd.CreateVersionInput{Name: "p", Prompt: text("v1"), Tags: []string{"t"}})
	e.create(t, "p", "v2", "production")
	e.create(t, "taken", "x")
	e.newEvents(t)
	before := e.prompt(t, "p")

	taken, badName, newTags := "taken", "a//b", []string{"new"}
	badTags := []string{""}
	tests := []struct {
		name  string
		call  func() error
		kind  string
		field string
	}{
		{"latest by hand", func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 1, []string{"latest"})
			return err
		}, promptd.EINVALID, "body.labels"},
		{"bad label among good ones", func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 1, []string{"staging", "bad label"})
			return err
		}, promptd.EINVALID, "body.labels"},
		{"labels of a missing version", func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "p", 9, []string{"staging"})
			return err
		}, promptd.ENOTFOUND, ""},
		{"labels of a missing prompt", func() error {
			_, err := e.s.SetLabels(ctx, e.project, e.actor, "nope", 1, []string{"staging"})
			return err
		}, promptd.ENOTFOUND, ""},
		{"rename to a taken name", func() error {
			_, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Name: &taken})
			return err
		}, promptd.ECONFLICT, ""},
		{"rename to a taken name with new tags", func() error {
			_, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Name: &taken, Tags: &newTags})
			return err
		}, promptd.ECONFLICT, ""},
		{"rename to a bad name", func() error {
			_, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Name: &badName, Tags: &newTags})
			return err
		}, promptd.EINVALID, "body.name"},
		{"bad tags", func() error {
			_, err := e.s.UpdatePrompt(ctx, e.project, e.actor, "p", promptd.PromptUpdate{Tags: &badTags})
			return err
		}, promptd.EINVALID, "body.tags"},
		{"delete a missing version", func() error {
			return e.s.DeleteVersion(ctx, e.project, e.actor, "p", 9)
		}, promptd.ENOTFOUND, ""},
		{"a bad version", func() error {
			_, err := e.s.CreateVersion(ctx, e.project, e.actor, promptd.CreateVersionInput{Name: "p", Prompt: text("x"), Labels: []string{"-bad"}})
			return err
		}, promptd.EINVALID, "body.labels"},
	}
	for _, tc := range tests {
		e.clock.Advance(time.Minute)
		wantErr(t, tc.call(), tc.kind, tc.field)
		e.expectNoEvents(t, tc.name)
		checkJSON(t, tc.name, "prompt", e.prompt(t, "p"), before)
	}
}
