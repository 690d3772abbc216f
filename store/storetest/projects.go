package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/promptd/promptd"
)

func (su suite) testProjectIsolation(t *testing.T) {
	a := su.env(t)
	ctx := t.Context()
	a.create(t, "shared/p", "a1")
	a.create(t, "shared/p", "a2", "production")
	ev, _, err := a.s.PublishEvent(ctx, a.project, promptd.PublishEventInput{Type: "a.happened", IdempotencyKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	aKey, err := a.s.CreateAPIKey(ctx, a.project, promptd.CreateAPIKeyInput{Name: "a-key", Role: promptd.RoleAdmin}, promptd.NewAPIKeySecret())
	if err != nil {
		t.Fatal(err)
	}
	a.newEvents(t)
	aPrompt := a.prompt(t, "shared/p")

	pb, err := a.s.CreateProject(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	b := &env{s: a.s, clock: a.clock, project: pb.ID, actor: promptd.Actor{APIKeyID: "key-b", Name: "b"}}
	newName, tags := "stolen", []string{"x"}
	calls := map[string]func() error{
		"FindPrompt": func() error { _, err := b.s.FindPrompt(ctx, b.project, "shared/p"); return err },
		"FindVersion": func() error {
			_, err := b.s.FindVersion(ctx, b.project, "shared/p", promptd.VersionSelector{Version: 1})
			return err
		},
		"FindVersion by label": func() error {
			_, err := b.s.FindVersion(ctx, b.project, "shared/p", promptd.VersionSelector{Label: "production"})
			return err
		},
		"ListVersions": func() error {
			_, err := b.s.ListVersions(ctx, b.project, "shared/p", promptd.PageRequest{})
			return err
		},
		"UpdatePrompt": func() error {
			_, err := b.s.UpdatePrompt(ctx, b.project, b.actor, "shared/p", promptd.PromptUpdate{Name: &newName, Tags: &tags})
			return err
		},
		"SetLabels": func() error {
			_, err := b.s.SetLabels(ctx, b.project, b.actor, "shared/p", 1, []string{"production"})
			return err
		},
		"DeleteVersion": func() error { return b.s.DeleteVersion(ctx, b.project, b.actor, "shared/p", 1) },
		"DeletePrompt":  func() error { return b.s.DeletePrompt(ctx, b.project, b.actor, "shared/p") },
		"FindEvent":     func() error { _, err := b.s.FindEvent(ctx, b.project, ev.ID); return err },
		"DeleteAPIKey":  func() error { return b.s.DeleteAPIKey(ctx, b.project, aKey.ID) },
	}
	for name, call := range calls {
		wantErr(t, call(), promptd.ENOTFOUND, "")
		a.expectNoEvents(t, "project b's "+name)
		b.expectNoEvents(t, "project b's "+name)
	}
	checkJSON(t, "project a's prompt", "after project b's calls", a.prompt(t, "shared/p"), aPrompt)

	prompts, err := b.s.ListPrompts(ctx, b.project, promptd.PromptFilter{})
	if err != nil || len(prompts.Items) != 0 {
		t.Errorf("project b lists prompts %v, %v", prompts, err)
	}
	events, err := b.s.ListEvents(ctx, b.project, promptd.EventFilter{})
	if err != nil || len(events.Items) != 0 {
		t.Errorf("project b lists events %v, %v", events, err)
	}
	keys, err := b.s.ListAPIKeys(ctx, b.project)
	if err != nil || len(keys) != 0 {
		t.Errorf("project b lists keys %v, %v", keys, err)
	}

	// Project b has its own namespace and idempotency keys.
	v := b.create(t, "shared/p", "b1")
	if v.Number != 1 || v.PromptID == aPrompt.ID {
		t.Errorf("project b's prompt: version %d, id %s (a's is %s)", v.Number, v.PromptID, aPrompt.ID)
	}
	bev, replayed, err := b.s.PublishEvent(ctx, b.project, promptd.PublishEventInput{Type: "a.happened", Data: json.RawMessage(`{"b":1}`), IdempotencyKey: "k"})
	if err != nil || replayed || bev.ID == ev.ID {
		t.Errorf("project b reusing a's idempotency key: %v, replayed=%v, %v", bev, replayed, err)
	}
	if got := len(b.newEvents(t)); got != 3 {
		t.Errorf("project b has %d events, want 3", got)
	}
	a.expectNoEvents(t, "project b's own changes")
	checkJSON(t, "project a's prompt", "after project b's changes", a.prompt(t, "shared/p"), aPrompt)
}

func (su suite) testProjectsAndKeys(t *testing.T) {
	s, clock := su.store(t)
	ctx := t.Context()
	acme, err := s.CreateProject(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	checkEq(t, "CreateProject", "CreatedAt", acme.CreatedAt.Equal(clockStart), true)
	clock.Advance(time.Second)
	beta, err := s.CreateProject(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateProject(ctx, "acme")
	wantErr(t, err, promptd.ECONFLICT, "", `"acme"`)
	_, err = s.CreateProject(ctx, "Not Valid")
	wantErr(t, err, promptd.EINVALID, "body.name")

	got, err := s.FindProject(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "FindProject", "project", got, acme)
	_, err = s.FindProject(ctx, "no-such-project")
	wantErr(t, err, promptd.ENOTFOUND, "")
	projects, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "ListProjects", "projects", projects, []promptd.Project{*acme, *beta})

	secret := promptd.NewAPIKeySecret()
	key, err := s.CreateAPIKey(ctx, acme.ID, promptd.CreateAPIKeyInput{Name: "ci-bot", Role: promptd.RoleEditor}, secret)
	if err != nil {
		t.Fatal(err)
	}
	checkEq(t, "CreateAPIKey", "Name", key.Name, "ci-bot")
	checkEq(t, "CreateAPIKey", "Role", key.Role, promptd.RoleEditor)
	checkEq(t, "CreateAPIKey", "ProjectID", key.ProjectID, acme.ID)
	checkEq(t, "CreateAPIKey", "Prefix", key.Prefix, promptd.KeyDisplayPrefix(secret))
	checkEq(t, "CreateAPIKey", "InstanceAdmin", key.InstanceAdmin, false)
	clock.Advance(time.Second)
	adminSecret := promptd.NewAPIKeySecret()
	admin, err := s.CreateAPIKey(ctx, acme.ID, promptd.CreateAPIKeyInput{Name: "ops", Role: promptd.RoleAdmin, InstanceAdmin: true}, adminSecret)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		project string
		in      promptd.CreateAPIKeyInput
		secret  string
		kind    string
		field   string
	}{
		{"unknown project", "no-such-project", promptd.CreateAPIKeyInput{Name: "x", Role: promptd.RoleViewer}, promptd.NewAPIKeySecret(), promptd.ENOTFOUND, ""},
		{"bad role", acme.ID, promptd.CreateAPIKeyInput{Name: "x", Role: "root"}, promptd.NewAPIKeySecret(), promptd.EINVALID, "body.role"},
		{"no name", acme.ID, promptd.CreateAPIKeyInput{Role: promptd.RoleViewer}, promptd.NewAPIKeySecret(), promptd.EINVALID, "body.name"},
		{"short secret", acme.ID, promptd.CreateAPIKeyInput{Name: "x", Role: promptd.RoleViewer}, "pd_short", promptd.EINVALID, ""},
		{"same secret", beta.ID, promptd.CreateAPIKeyInput{Name: "x", Role: promptd.RoleViewer}, secret, promptd.ECONFLICT, ""},
	} {
		_, err := s.CreateAPIKey(ctx, tc.project, tc.in, tc.secret)
		wantErr(t, err, tc.kind, tc.field)
	}

	keys, err := s.ListAPIKeys(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "ListAPIKeys", "keys", keys, []promptd.APIKey{*key, *admin})

	for _, tc := range []struct {
		secret string
		want   *promptd.APIKey
	}{
		{secret, key},
		{adminSecret, admin},
		{secret + "x", nil},
		{secret[:len(secret)-1], nil},
		{promptd.NewAPIKeySecret(), nil},
		{"", nil},
	} {
		got, err := s.Authenticate(ctx, tc.secret)
		if tc.want == nil {
			wantErr(t, err, promptd.EUNAUTHORIZED, "")
			continue
		}
		if err != nil {
			t.Errorf("Authenticate(%s…): %v", promptd.KeyDisplayPrefix(tc.secret), err)
			continue
		}
		if got.LastUsedAt == nil {
			t.Errorf("Authenticate(%s…): LastUsedAt is nil, want the time of this use", promptd.KeyDisplayPrefix(tc.secret))
		}
		got.LastUsedAt = nil // see testKeyLastUsed
		checkJSON(t, "Authenticate", "key", got, tc.want)
	}

	if err := s.DeleteAPIKey(ctx, acme.ID, key.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, secret)
	wantErr(t, err, promptd.EUNAUTHORIZED, "")
	wantErr(t, s.DeleteAPIKey(ctx, acme.ID, key.ID), promptd.ENOTFOUND, "")
	keys, err = s.ListAPIKeys(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range keys {
		keys[i].LastUsedAt = nil // see testKeyLastUsed
	}
	checkJSON(t, "ListAPIKeys after delete", "keys", keys, []promptd.APIKey{*admin})
}

func (su suite) testBootstrap(t *testing.T) {
	s, _ := su.store(t)
	ctx := t.Context()
	_, err := s.Bootstrap(ctx, "short", false)
	wantErr(t, err, promptd.EINVALID, "")

	key1 := promptd.NewAPIKeySecret()
	created, err := s.Bootstrap(ctx, key1, false)
	if err != nil || !created {
		t.Fatalf("first Bootstrap: created=%v, %v", created, err)
	}
	key2 := promptd.NewAPIKeySecret()
	created, err = s.Bootstrap(ctx, key2, false)
	if err != nil || created {
		t.Fatalf("second Bootstrap: created=%v, %v", created, err)
	}
	projects, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != 1 || projects[0].Name != promptd.DefaultProjectName {
		t.Fatalf("projects after two Bootstraps: %+v", projects)
	}
	k, err := s.Authenticate(ctx, key1)
	if err != nil {
		t.Fatal(err)
	}
	if k.Name != "bootstrap" || k.Role != promptd.RoleAdmin || !k.InstanceAdmin || k.ProjectID != projects[0].ID {
		t.Errorf("bootstrap key: %+v", k)
	}
	_, err = s.Authenticate(ctx, key2)
	wantErr(t, err, promptd.EUNAUTHORIZED, "")

	// force (PROMPTD_BOOTSTRAP_KEY) adds the key to an initialised store, once.
	for i := 0; i < 2; i++ {
		created, err = s.Bootstrap(ctx, key2, true)
		if err != nil || created {
			t.Fatalf("forced Bootstrap: created=%v, %v", created, err)
		}
	}
	k2, err := s.Authenticate(ctx, key2)
	if err != nil {
		t.Fatal(err)
	}
	if !k2.InstanceAdmin || k2.ProjectID != projects[0].ID {
		t.Errorf("forced bootstrap key: %+v", k2)
	}
	keys, err := s.ListAPIKeys(ctx, projects[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Errorf("%d keys after bootstrapping twice with force, want 2", len(keys))
	}
	if created, err := s.Bootstrap(ctx, key1, true); err != nil || created {
		t.Errorf("forced Bootstrap with the first key: created=%v, %v", created, err)
	}
}
